/* dataset.h - loading user-item interactions and splitting them for training
 * and evaluation.
 *
 * Owns the whole data pipeline from text files to binary CSR matrices: parsing
 * (`user<sep>item[<sep>weight[<sep>timestamp]]`, separator tab, comma or `::`
 * detected per file, optional header, whole-field CSV quoting; in
 * dataset_parse.c), binarisation by a minimum rating, de-duplication,
 * iterative k-core filtering, id tables, the seen-set, and the splits used
 * by the trainer (explicit test file, per-user random holdout, each user's
 * latest items by timestamp, held-out users with fold-in) plus an optional
 * validation carve-out. The report's printing is dataset_report.c.
 *
 * Ownership: an rs_dataset owns every table and matrix in it; release it with
 * rs_dataset_free() (safe on a zeroed or partially filled dataset). On
 * failure rs_dataset_load() leaves *out zeroed and fills err with
 * "FILE:LINE: what is wrong" for malformed input.
 *
 * Determinism: every random choice is drawn from core/rng.h streams derived
 * from options.seed, so the same files and options give the same dataset.
 */
#ifndef RS_DATASET_H
#define RS_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "idtable.h"

/* A sparse matrix in compressed sparse row form. Row r's column indices
 * are indices[indptr[r] .. indptr[r+1]), sorted ascending and unique.
 * indptr has n_rows + 1 entries (indptr[0] == 0); indices has
 * indptr[n_rows] entries. values, when not NULL, holds each entry's weight
 * (indptr[n_rows] floats, e.g. ProRec's soft labels); NULL means every
 * entry weighs 1 (the binary matrices the loader builds). The arrays are
 * owned (malloc'd) by the matrix. */
typedef struct rs_csr {
    uint32_t n_rows, n_cols;
    uint64_t *indptr;
    uint32_t *indices;
    float *values;
} rs_csr;

/* The weight of stored entry p (1 when m has no values). */
static inline float rs_csr_value(const struct rs_csr *m, uint64_t p)
{
    return m->values ? m->values[p] : 1.0f;
}

/* Frees the arrays and zeroes the struct (safe on a zeroed struct). */
void rs_csr_free(rs_csr *m);
/* Number of stored entries (indptr[n_rows], 0 for an empty matrix). */
uint64_t rs_csr_nnz(const rs_csr *m);
/* Length of row r. */
static inline uint32_t rs_csr_row_len(const rs_csr *m, uint32_t r)
{
    return (uint32_t)(m->indptr[r + 1] - m->indptr[r]);
}

typedef enum rs_split {
    RS_SPLIT_FILE,    /* test_path gives the test interactions */
    RS_SPLIT_HOLDOUT, /* per-user random holdout of holdout_fraction */
    RS_SPLIT_USERS,   /* held-out users, fold-in fraction as encoder input
                         (strong generalisation) */
    RS_SPLIT_NONE,    /* everything is training data; test is empty */
    RS_SPLIT_TIME     /* per user, the latest holdout_fraction by timestamp
                         (every train row needs one; a repeated row counts
                         at its latest time; ties: the later row in item
                         index order) */
} rs_split;

typedef struct rs_data_options {
    const char *train_path;
    const char *test_path; /* required for RS_SPLIT_FILE, ignored otherwise */
    int header;            /* -1 auto-detect, 0 no header, 1 first line is a header */
    int has_min_rating;    /* binarise: keep rows with weight >= min_rating; */
    double min_rating;     /* rows without a weight count as weight 1 */
    /* Iterative k-core on the train file's interactions: repeat removing
     * users with < kcore_users items and items with < kcore_items users until
     * nothing changes. 0 disables each side. */
    uint32_t kcore_users, kcore_items;
    rs_split split;
    double holdout_fraction; /* RS_SPLIT_HOLDOUT and RS_SPLIT_TIME, default 0.2 */
    uint32_t heldout_users;  /* RS_SPLIT_USERS: how many users are held out */
    double foldin_fraction;  /* RS_SPLIT_USERS: part of a held-out user's
                                items given as input, default 0.8 */
    /* Users with fewer items than this are never split (RS_SPLIT_HOLDOUT),
     * held out (RS_SPLIT_USERS) or chosen for validation. Default 5. */
    uint32_t min_split_items;
    /* Validation carve-out: valid_users users (clamped to the number of
     * eligible training users) each move valid_fraction of their training
     * items (at least 1, keeping at least 1) from train to valid. 0 = none. */
    uint32_t valid_users;
    double valid_fraction; /* default 0.2 */
    /* When not 0: valid_users is min(valid_users_auto, 10% of the users),
     * counted after the split (one load instead of a probe load first). */
    uint32_t valid_users_auto;
    uint64_t seed;
} rs_data_options;

/* Defaults: header auto, no min rating, no k-core, RS_SPLIT_NONE,
 * holdout 0.2, fold-in 0.8, min_split_items 5, no validation, fraction 0.2,
 * seed 2026. */
void rs_data_options_default(rs_data_options *o);

#define RS_REPORT_ID_MAX 64

/* What loading did, for the user to read (rs_data_report_print) and for the
 * trainer to record. "Lines" count every line of the file, blank ones
 * included. Example ids are truncated to RS_REPORT_ID_MAX-1 bytes and
 * non-printable bytes replaced by '?'. */
typedef struct rs_data_report {
    /* train file */
    uint64_t lines_read;
    int header_skipped; /* 1 when the first line was taken as a header */
    char separator[4];  /* "\t", "," or "::" */
    uint64_t rows_read; /* data rows (not blank, not the header) */
    /* Which columns the rows had and what became of them (the report says
     * so: a rating column without --min-rating is ignored). */
    uint64_t rows_weighted;    /* rows with a third field (weight / rating) */
    uint64_t rows_timestamped; /* rows with a fourth field (timestamp) */
    uint64_t rows_quoted;      /* rows with a quoted field */
    int min_rating_applied;
    double min_rating;
    int timestamps_used;       /* the split ordered the rows by time */
    uint64_t below_min_rating; /* rows dropped by min_rating */
    uint64_t duplicates;       /* repeated (user, item) rows dropped */
    uint32_t kcore_rounds;
    uint32_t kcore_users_removed, kcore_items_removed;
    uint64_t kcore_interactions_removed;
    uint64_t interactions_kept; /* after filtering, before any split */

    /* test file (RS_SPLIT_FILE) */
    uint64_t test_lines;
    int test_header_skipped;
    char test_separator[4];
    uint64_t test_rows_read;
    uint64_t test_below_min_rating;
    uint64_t test_unknown_user; /* rows skipped: user not in the train data */
    uint64_t test_unknown_item; /* rows skipped: item not in the train data
                                   (user known) */
    char first_unknown_user[RS_REPORT_ID_MAX];
    uint64_t first_unknown_user_line;
    char first_unknown_item[RS_REPORT_ID_MAX];
    uint64_t first_unknown_item_line;
    uint64_t test_in_train;   /* rows skipped: (user, item) already in train */
    uint64_t test_duplicates; /* repeated test rows dropped */

    /* result */
    uint32_t n_users, n_items;
    uint64_t train_interactions;
    uint32_t valid_users;
    uint64_t valid_interactions;
    uint32_t heldout_users; /* RS_SPLIT_USERS */
    uint64_t test_input_interactions;
    uint32_t test_users; /* users with at least one test item */
    uint64_t test_interactions;
    uint64_t seen_interactions; /* the seen-set's size (rs_dataset.seen) */
    double load_seconds;
    /* rs_idtable_hash() of the raw bytes of each file (0 when not read):
     * together with the options, a fingerprint of the training data. */
    uint64_t train_file_hash, test_file_hash;
} rs_data_report;

/* A concise multi-line human summary. */
void rs_data_report_print(const rs_data_report *r, FILE *f);

typedef struct rs_dataset {
    rs_idtable *users, *items;
    /* Every matrix has n_rows = number of users and n_cols = number of items
     * (the users and items of the train data, in order of first appearance in
     * the train file; users/items removed by k-core are not in the tables). */
    rs_csr train; /* what the model trains on */
    rs_csr valid; /* validation targets: for validation users the carved-out
                     part of their training rows (not in train); empty rows
                     for the others */
    rs_csr known; /* train + valid per user: a known user's full history */
    rs_csr test;  /* test targets */
    /* Encoder input for test users: the known rows (RS_SPLIT_FILE,
     * RS_SPLIT_HOLDOUT, RS_SPLIT_NONE); for RS_SPLIT_USERS the fold-in part of
     * held-out users' items (held-out users have empty train/valid/known
     * rows; other users have empty test and test_input rows). */
    rs_csr test_input;
    /* The seen-set: every interaction of the input files whose user and
     * item are in the tables, whatever its rating (rows below min_rating
     * included), split or not (validation, test and held-out items
     * included). The server leaves it out of a known user's
     * recommendations; only known is encoded. */
    rs_csr seen;
    float *popularity; /* n_items: number of users with the item in train */
    rs_data_report report;
    struct rs_catalog *catalog; /* item attributes (rectrain --items) or NULL: set and freed by
                                   rectrain's main, not by rs_dataset_load/_free */
} rs_dataset;

int rs_dataset_load(const rs_data_options *o, rs_dataset *out, rs_error *err);
void rs_dataset_free(rs_dataset *d);

#endif
