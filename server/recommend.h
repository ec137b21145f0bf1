/* recommend.h - the ranking behind every request, without JSON or HTTP.
 *
 * Owns what happens between a parsed request and its answer: mapping the
 * history's item ids (or a known user's training history) to item indices,
 * the exclusions and the seen-item filter (filter_history: the encoded
 * history and, for a known user, their stored seen-set, i.e. every
 * interaction of the training input whatever its rating or split;
 * rs_model_user_seen), encoding and retrieval, the
 * popularity fallback, and the cosine ranking of similar items (with the row
 * norms it needs, computed once per loaded version: rs_similarity).
 *
 * Non-finite scores, one rule on every route: an item whose score is NaN or
 * infinite is never returned. The answer is the best n among the items with a
 * finite score, so it holds fewer than n items when fewer have one (none when
 * the encoder produced a non-finite user vector).
 *
 * Item-item models (core/itemitem.h, sparse EASE) are ranked without a
 * retriever: the history's kept rows are summed and the best n of the items
 * they touch returned (retrieval.scored = the touched count). When fewer
 * than n touched items are left after the seen filter and exclusions, the
 * answer is filled up with the most popular items neither seen (when
 * filtering), excluded nor already ranked, each with its popularity count
 * as score, and `filled` says how many of the trailing items are such
 * fill-up. Similar items of such a model are the item's kept row by
 * descending weight (negative weights included, after the positive ones).
 *
 * Filters and pages (rs_reco_query.filter, .offset): only the items a
 * filter passes are ranked (retrieval skips the others, so exact stays
 * exact), in every path: the popularity fallback, an item-item model's rows
 * and fill-up, similar items. A filter leaving fewer than offset + n items
 * gives a shorter answer (`exhausted`), never items it does not pass. A page
 * is ranks offset .. offset + n - 1 of the top-(offset + n), so for one
 * version page k + 1 continues page k exactly.
 *
 * Memory: each calling thread keeps its own scratch (vectors, scores, the
 * exclusion mask), grown on demand through rs_malloc and freed when the
 * thread exits, so the hot path allocates little and locks nothing. A
 * result points into that scratch and stays valid until the same thread's
 * next call. Failures: RS_ERR_NOT_FOUND for a similar-items query naming an
 * unknown item, RS_ERR_NO_MEMORY when scratch cannot grow, else the kind
 * the model or the retriever reported.
 */
#ifndef RS_RECOMMEND_H
#define RS_RECOMMEND_H

#include <stdint.h>

#include "catalog.h"
#include "common.h"
#include "model.h"
#include "request.h"
#include "retrieve.h"
#include "topk.h"

/* ---- recommendations ---- */

typedef struct rs_similarity rs_similarity;

typedef struct rs_reco_query {
    const rs_model *model;         /* the variant's version: both borrowed */
    const rs_retriever *retriever; /* ranks model's item matrix */
    const rs_id *user;             /* NULL: none; else encoded when there is no history */
    int has_history;               /* history was given (possibly empty) */
    const rs_id *history;
    uint32_t n_history;
    const rs_id *exclude; /* never returned; unknown ids are ignored */
    uint32_t n_exclude;
    uint32_t n;         /* how many items to return at most */
    int filter_history; /* leave out the encoded history's items and a known user's seen-set */
    /* Only items the filter passes are returned (NULL or not given: all);
     * names resolve against the model's ids and catalog (NULL: none). */
    const rs_filter_request *filter;
    const rs_catalog *catalog;
    uint32_t offset; /* the items at ranks offset .. offset + n - 1 */
    /* Sample mode: n distinct items drawn from softmax(score / temperature)
     * (rs_retrieve_sample) with this seed, instead of the top n. Not for
     * item-item models (RS_ERR_INVALID); the popularity fallback is not
     * sampled. */
    int sample;
    double temperature;
    uint64_t seed;
    /* Reasons: per returned item, the RS_EXPLAIN_REASONS history items that
     * contributed most (explain.method below); sim is the version's
     * similarity vectors (unused for an item-item model). */
    int explain;
    const rs_similarity *sim;
} rs_reco_query;

/* Reasons per item, and the most history items they are looked for in (the
 * first ones, in item index order). */
#define RS_EXPLAIN_REASONS 3
#define RS_EXPLAIN_HISTORY 1000

typedef enum rs_fallback {
    RS_FALLBACK_NONE = 0,   /* the model ranked the items */
    RS_FALLBACK_POPULARITY, /* unknown user or no known history item: most popular first */
} rs_fallback;

typedef struct rs_reco_result {
    const rs_scored *items; /* best first (scratch) */
    uint32_t n_items;
    rs_fallback fallback;
    uint32_t history_used; /* distinct known items encoded */
    /* Positions in query->history of the ids the model does not know: the
     * first occurrence of each distinct one, in order (scratch). */
    const uint32_t *unknown;
    uint32_t n_unknown;
    rs_retrieve_stats retrieval; /* how the items were ranked (no fallback) */
    /* Item-item models: how many of the items, at the end, are the popularity
     * fill-up (see the top of the file); 0 for every other model. */
    uint32_t filled;
    int filtered;     /* a filter was given */
    uint32_t allowed; /* items the filter passes */
    int exhausted;    /* fewer than n items were left to return */
    int sampled;      /* the items were drawn (sample mode, not the fallback) */
    rs_sample_info sample;
    /* explain: reasons[j * RS_EXPLAIN_REASONS ..] for items[j], best first,
     * id = a history item's index (UINT32_MAX: no more), score = its weight;
     * reason_method says what the weight is: "row_weight" (an item-item
     * model: the history item's kept weight for the item, the exact term of
     * the score), "anchor_cosine" or "item_cosine" (the cosine of the two
     * items' PIA anchors or item vectors: a heuristic, the encoder mixes the
     * whole history). NULL when not asked or nothing to explain. */
    const rs_scored *reasons;
    const char *reason_method;
} rs_reco_result;

int rs_recommend(const rs_reco_query *q, rs_reco_result *out, rs_error *err);

/* ---- similar items ---- */

/* What similar items are compared on (unused for an item-item model): n_items rows of dim floats
 * (borrowed, e.g. PIA anchors or item vectors viewed in a snapshot), and their norms (owned). */
struct rs_similarity {
    const float *vectors;
    uint32_t n_items, dim;
    int anchors; /* the rows are PIA anchors (else item vectors) */
    float *norms;
};

int rs_similarity_init(rs_similarity *sim, const float *vectors, uint32_t n_items, uint32_t dim,
                       int anchors, rs_error *err);
void rs_similarity_release(rs_similarity *sim);

/* ---- batches ---- */

/* Ranks every query as rs_recommend does (results[i] equal rs_recommend's
 * for qs[i]); top-N queries that share the first query's retriever, with
 * no explain, are ranked together by rs_retrieve_batch (one sgemm per block
 * of items for brute force). A query that fails (an unknown filter field)
 * sets failed[i] and errors[i] and the others go on; -1 only when the batch
 * itself cannot be ranked (memory). The results point into *out until
 * rs_reco_batch_free. */
typedef struct rs_reco_batch rs_reco_batch;
int rs_recommend_batch(const rs_reco_query *qs, uint32_t nq, rs_reco_result *results, int *failed,
                       rs_error *errors, rs_reco_batch **out, rs_error *err);
void rs_reco_batch_free(rs_reco_batch *b);

typedef struct rs_similar_query {
    const rs_model *model; /* resolves the item id */
    const rs_similarity *sim;
    rs_id item;
    uint32_t n;
    const rs_filter_request *filter; /* as in rs_reco_query */
    const rs_catalog *catalog;
    uint32_t offset;
} rs_similar_query;

typedef struct rs_similar_result {
    uint32_t item;          /* the query item's index */
    const rs_scored *items; /* by descending cosine similarity, the item left out (scratch) */
    uint32_t n_items;
    int filtered, exhausted; /* as in rs_reco_result */
    uint32_t allowed;
} rs_similar_result;

/* RS_ERR_NOT_FOUND when the model does not know the item. */
int rs_similar(const rs_similar_query *q, rs_similar_result *out, rs_error *err);

#endif
