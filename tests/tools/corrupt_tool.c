/* corrupt_tool.c - flips one bit inside a tensor payload of one version in a
 * store's data.mdb, for the hot-reload tests (a corrupted version must be
 * refused while the old one keeps serving).
 *
 *   corrupt_tool DIR VARIANT VERSION
 *
 * It opens the version without verification, walks the manifest for tensor
 * names, and takes the largest tensor for which 64 bytes from the middle of
 * its payload occur exactly once in data.mdb (so no other version shares
 * them); it flips one bit there with pwrite and prints "flipped TENSOR at
 * OFFSET". Exit 1 when no such tensor exists.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define CHUNK 64

typedef struct candidate {
    char name[RS_NAME_MAX + 1];
    size_t bytes;
    unsigned char chunk[CHUNK];
} candidate;

static candidate cands[256];
static int n_cands;

/* Collects every string of the manifest that names a tensor of snap. */
static void collect(const rs_snapshot *snap, json_t *v)
{
    if (json_is_string(v)) {
        const char *name = json_string_value(v);
        if (strlen(name) == 0 || strlen(name) > RS_NAME_MAX || !rs_snapshot_has(snap, name)) return;
        for (int i = 0; i < n_cands; i++)
            if (!strcmp(cands[i].name, name)) return;
        rs_tensor_view t;
        rs_error err;
        if (n_cands == 256 || rs_snapshot_tensor(snap, name, 0, &t, &err) != 0) return;
        size_t bytes = t.count * rs_dtype_size(t.dtype);
        if (bytes < 2 * CHUNK) return;
        candidate *c = &cands[n_cands++];
        snprintf(c->name, sizeof(c->name), "%s", name);
        c->bytes = bytes;
        memcpy(c->chunk, (const unsigned char *)t.data + bytes / 2 - CHUNK / 2, CHUNK);
    } else if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) collect(snap, x);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) collect(snap, x);
    }
}

static int by_size_desc(const void *a, const void *b)
{
    size_t x = ((const candidate *)a)->bytes, y = ((const candidate *)b)->bytes;
    return x < y ? 1 : x > y ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: corrupt_tool DIR VARIANT VERSION\n");
        return 2;
    }
    rs_error err;
    rs_store *store;
    rs_snapshot *snap;
    if (rs_store_open(argv[1], RS_STORE_READONLY, 0, &store, &err) != 0 ||
        rs_snapshot_open(store, argv[2], strtoull(argv[3], NULL, 10), 0, &snap, &err) != 0) {
        fprintf(stderr, "corrupt_tool: %s\n", err.msg);
        return 1;
    }
    json_t *manifest = json_loads(rs_snapshot_manifest(snap), 0, NULL);
    collect(snap, manifest);
    json_decref(manifest);
    rs_snapshot_close(snap);
    rs_store_close(store);
    qsort(cands, (size_t)n_cands, sizeof(cands[0]), by_size_desc);

    char path[4096];
    snprintf(path, sizeof(path), "%s/data.mdb", argv[1]);
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return 1;
    }
    unsigned char *file = malloc((size_t)st.st_size);
    if (!file || pread(fd, file, (size_t)st.st_size, 0) != st.st_size) {
        fprintf(stderr, "corrupt_tool: cannot read %s\n", path);
        return 1;
    }
    for (int i = 0; i < n_cands; i++) {
        unsigned char *hit = memmem(file, (size_t)st.st_size, cands[i].chunk, CHUNK);
        if (!hit) continue;
        size_t at = (size_t)(hit - file);
        if (memmem(hit + 1, (size_t)st.st_size - at - 1, cands[i].chunk, CHUNK)) continue;
        unsigned char b = hit[CHUNK / 2] ^ 0x10;
        if (pwrite(fd, &b, 1, (off_t)(at + CHUNK / 2)) != 1 || fsync(fd) != 0) {
            perror("pwrite");
            return 1;
        }
        printf("flipped %s at %zu\n", cands[i].name, at + CHUNK / 2);
        close(fd);
        free(file);
        return 0;
    }
    fprintf(stderr, "corrupt_tool: no tensor of %s version %s has a unique payload chunk\n",
            argv[2], argv[3]);
    return 1;
}
