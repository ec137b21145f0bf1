/* catalog.h - item attributes published with a model version (categories
 * and numeric fields such as a price or a timestamp), and the item filters
 * built from them.
 *
 * Layout (proto/model.md, "The item catalogue"): per category the ascending
 * item indices that carry it (posting lists), per item its ascending
 * category indices, per numeric field a column of doubles (NaN: no value)
 * and the items that have a value sorted by it, so a range is two binary
 * searches. An rs_catalog is either built from a file (rs_catalog_read, the
 * trainer; it owns its arrays) or a zero-copy view of a snapshot
 * (rs_catalog_load, the server; it owns only a name hash table). Read-only
 * after creation: any number of threads may filter with one catalogue.
 *
 * Filters: rs_item_filter_bits turns a filter into a bitmap of the items
 * that pass (bit i % 64 of word i / 64), in O(n_items / 64) word operations
 * per term plus the posting lists and range entries it reads.
 */
#ifndef RS_CATALOG_H
#define RS_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "idtable.h"
#include "store.h"

typedef struct rs_catalog {
    uint32_t n_items; /* the model's items, index order */
    uint32_t n_categories, n_fields;
    uint32_t n_described;        /* items the catalogue file named */
    const uint64_t *cat_offsets; /* category names: string table */
    const char *cat_bytes;
    const uint64_t *field_offsets; /* numeric field names: string table */
    const char *field_bytes;
    const uint32_t *cat_indptr;   /* n_categories + 1 */
    const uint32_t *cat_items;    /* per category: ascending item indices */
    const uint32_t *item_indptr;  /* n_items + 1 */
    const uint32_t *item_cats;    /* per item: ascending category indices */
    const double *values;         /* n_fields x n_items; NaN = no value */
    const uint32_t *order_indptr; /* n_fields + 1 */
    const uint32_t *order;        /* per field: items with a value, by value then index */
    const uint8_t *described;     /* n_items: 1 when the file named the item */
    uint32_t *name_slots;         /* category name hash: index + 1, 0 = empty (owned) */
    uint32_t n_slots;             /* a power of two */
    void *owned[12];              /* arrays a built catalogue owns */
} rs_catalog;

/* What reading a catalogue file found. */
typedef struct rs_catalog_report {
    uint64_t lines;     /* records read */
    uint64_t unknown;   /* records whose id the model does not know (skipped) */
    uint64_t described; /* model items described */
} rs_catalog_report;

/* Reads an item catalogue for the items of `items` (the model's id table):
 * JSON lines ({"id": "i1", "categories": ["a", "b"], "price": 9.5, ...},
 * every other key a numeric field, null for none) when the file name ends
 * in .jsonl, .ndjson or .json or its first record starts with '{', else
 * CSV (a header "id,categories,FIELD..." with ',' or tab, categories
 * separated by '|', an empty numeric cell = no value, no quoting). A bad
 * line fails with "FILE:LINE: what is wrong"; ids the model does not know
 * are counted and skipped; an id named twice is an error. */
int rs_catalog_read(const char *path, const rs_idtable *items, rs_catalog *out,
                    rs_catalog_report *report, rs_error *err);

/* Writes the catalogue's tensors under prefix in the caller's publish
 * transaction and returns its manifest entry (a new object) in *spec. */
int rs_catalog_publish(rs_publish *pub, const char *prefix, const rs_catalog *cat, json_t **spec,
                       rs_error *err);

/* Maps the catalogue the manifest entry spec names (zero-copy) and checks
 * every index and the value order (O(entries)). n_items: the model's. */
int rs_catalog_load(const rs_snapshot *snap, const json_t *spec, uint32_t n_items, rs_catalog *out,
                    rs_error *err);
void rs_catalog_free(rs_catalog *cat);

/* Bytes a loaded catalogue adds to the process (the name hash). */
size_t rs_catalog_bytes(const rs_catalog *cat);

/* Category / field names (not NUL-terminated) and lookups by name
 * (0 and the index, or -1 when absent). */
const char *rs_catalog_category(const rs_catalog *cat, uint32_t c, size_t *len);
const char *rs_catalog_field(const rs_catalog *cat, uint32_t f, size_t *len);
int rs_catalog_find_category(const rs_catalog *cat, const char *name, size_t len, uint32_t *c);
int rs_catalog_find_field(const rs_catalog *cat, const char *name, size_t len, uint32_t *f);

/* ---- filters ---- */

typedef struct rs_value_range {
    uint32_t field;
    double min, max; /* inclusive; -INFINITY / INFINITY when open */
} rs_value_range;

/* An item passes when it is in the allow-list (if one is given), in none of
 * the deny-list, carries at least one category of `any` (if given), every
 * category of `all`, none of `none`, and has a value within each range.
 * Categories and fields are catalogue indices; allow and deny item indices
 * (any order, repeats allowed). `any_given` with n_any 0 (every named
 * category unknown) passes nothing; so does `nothing` (set by a caller that
 * found an unknown category in `all`). */
typedef struct rs_item_filter {
    int any_given;
    const uint32_t *any;
    uint32_t n_any;
    const uint32_t *all;
    uint32_t n_all;
    const uint32_t *none;
    uint32_t n_none;
    const rs_value_range *ranges;
    uint32_t n_ranges;
    int allow_given;
    const uint32_t *allow;
    uint32_t n_allow;
    const uint32_t *deny;
    uint32_t n_deny;
    int nothing;
} rs_item_filter;

/* Words of an n-item bitmap. */
static inline size_t rs_bitmap_words(uint32_t n)
{
    return ((size_t)n + 63) / 64;
}

static inline int rs_bitmap_get(const uint64_t *bits, uint32_t i)
{
    return (int)(bits[i >> 6] >> (i & 63) & 1);
}

/* Fills bits (rs_bitmap_words(n_items) words) with the items f passes and
 * returns their count; tmp is scratch of the same size. cat may be NULL
 * when f names no category and no range. Ids >= n_items are ignored. */
uint32_t rs_item_filter_bits(const rs_catalog *cat, uint32_t n_items, const rs_item_filter *f,
                             uint64_t *bits, uint64_t *tmp);

#endif
