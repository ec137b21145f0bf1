/* dataset_parse.h - reading the data files, for core/dataset.c only:
 * lines, the separator, the header, fields (CSV quoting included), weights
 * and timestamps. Errors are "FILE:LINE: what is wrong". */
#ifndef RS_DATASET_PARSE_H
#define RS_DATASET_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct file_info {
    uint64_t lines, rows;
    int header_skipped;
    char sep[4];
    uint64_t weighted, timestamped; /* rows with a third, a fourth field */
    uint64_t quoted;                /* rows with a quoted field */
} file_info;

/* Called for each data row; weight is 1 when the row has none, ts NaN. */
typedef int (*row_fn)(void *ctx, const char *user, size_t ulen, const char *item, size_t ilen,
                      double weight, double ts, uint64_t line, rs_error *err);

/* Copies up to max-1 bytes of s into dst as printable text ('?' for other
 * bytes), for error messages and the report. */
void rs_data_printable(char *dst, size_t max, const char *s, size_t len);
/* "tab", "comma" or "'::'". */
const char *rs_data_sep_name(const char *sep);
/* Parses every line of buf (len bytes) and calls fn for each data row;
 * header_mode -1 auto, 0 none, 1 the first line. */
int rs_data_parse_buffer(const char *path, const char *buf, size_t len, int header_mode, row_fn fn,
                         void *ctx, file_info *info, rs_error *err);
/* Reads a whole file into a NUL-terminated malloc'd buffer. */
int rs_data_read_file(const char *path, char **out, size_t *len, rs_error *err);

#endif
