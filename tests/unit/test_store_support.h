/* test_store_support.h - fixtures of the store's unit tests (test_store.c,
 * test_store_damage.c): a temporary directory tree, opening a store, and a
 * small version to publish and read back. Header only. */
#ifndef RS_TEST_STORE_SUPPORT_H
#define RS_TEST_STORE_SUPPORT_H

#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "test_support.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_ASAN 1
#endif
#endif

static char tmp_root[256];

static inline char *new_dir(const char *leaf)
{
    if (!tmp_root[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_root, sizeof(tmp_root), "%s/rs_store_XXXXXX", t && *t ? t : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    }
    static int counter;
    char *dir = malloc(512);
    snprintf(dir, 512, "%s/%s%d", tmp_root, leaf, counter++);
    return dir;
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void cleanup(void)
{
    if (tmp_root[0]) nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmp_root[0] = '\0';
}

static inline rs_store *open_store(const char *dir, int flags)
{
    rs_store *s = NULL;
    rs_error err = {{0}};
    int rc = rs_store_open(dir, flags, 0, &s, &err);
    ck_assert_msg(rc == 0, "open %s: %s", dir, err.msg);
    return s;
}

static inline uint64_t publish_simple(rs_store *s, const char *variant, uint64_t seed,
                                      uint32_t keep)
{
    rs_error err = {{0}};
    rs_publish *pub;
    uint64_t version;
    ck_assert_msg(rs_publish_begin(s, variant, &pub, &version, &err) == 0, "%s", err.msg);
    static float x[1000];
    for (int j = 0; j < 1000; j++) x[j] = (float)(seed * 1000 + (uint64_t)j);
    uint64_t shape[1] = {1000};
    ck_assert_msg(rs_publish_tensor(pub, "x", RS_F32, 1, shape, x, &err) == 0, "%s", err.msg);
    char manifest[128];
    snprintf(manifest, sizeof(manifest), "{\"seed\": %llu}", (unsigned long long)seed);
    ck_assert_msg(rs_publish_commit(pub, manifest, keep, &err) == 0, "%s", err.msg);
    return version;
}

/* Value of x[0] in the snapshot, i.e. its seed * 1000. */
static inline float snapshot_x0(const rs_snapshot *snap)
{
    rs_tensor_view v;
    rs_error err = {{0}};
    ck_assert_msg(rs_snapshot_tensor(snap, "x", RS_F32, &v, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(v.count, 1000);
    const float *x = v.data;
    for (int j = 1; j < 1000; j++) ck_assert(x[j] == x[0] + (float)j);
    return x[0];
}

#endif
