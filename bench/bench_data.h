/* bench_data.h - reading the retrieval benchmarks' data directory (items.f32,
 * queries.f32 and meta.json, as bench/gen_vectors.py writes them), shared by
 * bench_retrieval and bench_filter. Header-only: each bench/ source is a
 * program of its own.
 */
#ifndef RS_BENCH_DATA_H
#define RS_BENCH_DATA_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

/* count floats of DIR/NAME, aligned; NULL (said on stderr) on a short file. */
static float *read_f32(const char *dir, const char *name, size_t count)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        return NULL;
    }
    rs_error err;
    float *buf = rs_aligned_alloc(count, sizeof(float), &err);
    if (!buf || fread(buf, sizeof(float), count, f) != count) {
        fprintf(stderr, "bench: %s: expected %zu floats\n", path, count);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* items, dim and queries from DIR/meta.json; -1 (said on stderr) when one
 * is missing or the dimension is below 2. */
static int read_meta(const char *dir, uint32_t *n, uint32_t *d, uint32_t *nq)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    json_error_t jerr;
    json_t *m = json_load_file(path, 0, &jerr);
    if (!m) {
        fprintf(stderr, "bench: %s: %s\n", path, jerr.text);
        return -1;
    }
    *n = (uint32_t)json_integer_value(json_object_get(m, "items"));
    *d = (uint32_t)json_integer_value(json_object_get(m, "dim"));
    *nq = (uint32_t)json_integer_value(json_object_get(m, "queries"));
    json_decref(m);
    if (*n && *d >= 2 && *nq) return 0;
    fprintf(stderr, "bench: %s lacks items/dim/queries\n", path);
    return -1;
}

#endif
