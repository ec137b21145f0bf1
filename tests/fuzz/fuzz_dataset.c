/* fuzz_dataset.c - libFuzzer target for the data-file loader
 * (core/dataset.c): separators, headers, weights, timestamps, ids, k-core,
 * the splits and the validation carve-out.
 *
 * The first input byte picks the options; the rest is the training file.
 * With the explicit test-file split, the rest is cut at its first "\n\n\n"
 * into the training and the test file. Both are written to memory files
 * that the loader opens by path, as it opens any file.
 *
 * Invariants are checked, not just "no crash": a refused input says why;
 * an accepted one has well-formed matrices (row pointers monotone, columns
 * in range and strictly increasing in each row), train and valid disjoint
 * with known their union, test disjoint from known when a test file was
 * given, id tables as large as the matrices, and popularity that counts the
 * training rows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dataset.h"
#include "idtable.h"

/* A memory file holding data; its path in *path (a /proc/self/fd name). */
static int memory_file(const char *name, const uint8_t *data, size_t size, char *path,
                       size_t path_cap)
{
    int fd = memfd_create(name, 0);
    if (fd < 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) abort();
        done += (size_t)n;
    }
    snprintf(path, path_cap, "/proc/self/fd/%d", fd);
    return fd;
}

static void check_csr(const rs_csr *m, uint32_t rows, uint32_t cols)
{
    if (m->n_rows != rows || m->n_cols != cols) abort();
    if (rows && m->indptr[0] != 0) abort();
    for (uint32_t r = 0; r < rows; r++) {
        if (m->indptr[r + 1] < m->indptr[r]) abort();
        for (uint64_t p = m->indptr[r]; p < m->indptr[r + 1]; p++) {
            if (m->indices[p] >= cols) abort();
            if (p > m->indptr[r] && m->indices[p] <= m->indices[p - 1]) abort();
        }
    }
}

/* 1 when column c is in row r of m (rows are sorted). */
static int has(const rs_csr *m, uint32_t r, uint32_t c)
{
    for (uint64_t p = m->indptr[r]; p < m->indptr[r + 1]; p++)
        if (m->indices[p] == c) return 1;
    return 0;
}

static void check_dataset(const rs_dataset *d, int test_file)
{
    uint32_t users = d->report.n_users, items = d->report.n_items;
    if (rs_idtable_count(d->users) != users || rs_idtable_count(d->items) != items) abort();
    check_csr(&d->train, users, items);
    check_csr(&d->valid, users, items);
    check_csr(&d->known, users, items);
    check_csr(&d->test, users, items);
    check_csr(&d->test_input, users, items);
    check_csr(&d->seen, users, items);
    if (rs_csr_nnz(&d->known) != rs_csr_nnz(&d->train) + rs_csr_nnz(&d->valid)) abort();
    for (uint32_t u = 0; u < users; u++) {
        for (uint64_t p = d->train.indptr[u]; p < d->train.indptr[u + 1]; p++)
            if (has(&d->valid, u, d->train.indices[p]) || !has(&d->known, u, d->train.indices[p]))
                abort();
        for (uint64_t p = d->valid.indptr[u]; p < d->valid.indptr[u + 1]; p++)
            if (!has(&d->known, u, d->valid.indices[p])) abort();
        if (test_file)
            for (uint64_t p = d->test.indptr[u]; p < d->test.indptr[u + 1]; p++)
                if (has(&d->known, u, d->test.indices[p])) abort();
        /* The seen-set holds everything the user is known to have seen. */
        for (uint64_t p = d->known.indptr[u]; p < d->known.indptr[u + 1]; p++)
            if (!has(&d->seen, u, d->known.indices[p])) abort();
        for (uint64_t p = d->test.indptr[u]; p < d->test.indptr[u + 1]; p++)
            if (!has(&d->seen, u, d->test.indices[p])) abort();
    }
    if (rs_csr_nnz(&d->seen) != d->report.seen_interactions) abort();
    float *count = calloc(items ? items : 1, sizeof(float));
    if (!count) abort();
    for (uint64_t p = 0; p < rs_csr_nnz(&d->train); p++) count[d->train.indices[p]] += 1.0f;
    for (uint32_t i = 0; i < items; i++)
        if (count[i] != d->popularity[i]) abort();
    free(count);
}

/* The options byte: bits 0-1 the split, 2 a minimum rating of 4, 3 a
 * 2-core on both sides, 4 a validation carve-out, 5-6 the header mode
 * (auto, none, present, auto). */
static void options_from(uint8_t bits, rs_data_options *o)
{
    static const rs_split splits[] = {RS_SPLIT_NONE, RS_SPLIT_HOLDOUT, RS_SPLIT_USERS,
                                      RS_SPLIT_FILE};
    rs_data_options_default(o);
    o->split = splits[bits & 3];
    o->heldout_users = 2;
    o->min_split_items = 2;
    if (bits & 4) {
        o->has_min_rating = 1;
        o->min_rating = 4.0;
    }
    if (bits & 8) o->kcore_users = o->kcore_items = 2;
    if (bits & 16) o->valid_users = 3;
    static const int headers[] = {-1, 0, 1, -1};
    o->header = headers[(bits >> 5) & 3];
    o->seed = bits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    rs_data_options o;
    options_from(data[0], &o);
    data++, size--;
    size_t train_size = size;
    const uint8_t *test = NULL;
    size_t test_size = 0;
    if (o.split == RS_SPLIT_FILE) {
        const uint8_t *cut = memmem(data, size, "\n\n\n", 3);
        if (cut) {
            train_size = (size_t)(cut - data);
            test = cut + 3;
            test_size = size - train_size - 3;
        } else {
            test = data + size; /* an empty test file */
        }
    }
    char train_path[64], test_path[64];
    int train_fd = memory_file("train", data, train_size, train_path, sizeof(train_path));
    int test_fd = -1;
    o.train_path = train_path;
    if (o.split == RS_SPLIT_FILE) {
        test_fd = memory_file("test", test, test_size, test_path, sizeof(test_path));
        o.test_path = test_path;
    }
    rs_dataset d;
    rs_error err = {0};
    if (rs_dataset_load(&o, &d, &err) == 0) {
        check_dataset(&d, o.split == RS_SPLIT_FILE);
        rs_dataset_free(&d);
    } else if (err.msg[0] == '\0') {
        abort(); /* refused without saying why */
    }
    close(train_fd);
    if (test_fd >= 0) close(test_fd);
    return 0;
}
