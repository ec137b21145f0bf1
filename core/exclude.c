/* exclude.c - the items a query may not return (see exclude.h). */
#include "exclude.h"

int rs_exclude_check(const rs_exclude *ex, rs_error *err)
{
    if (!ex) return 0;
    if (ex->n_ids && !ex->ids) return rs_fail(err, "exclusion list of %u ids is NULL", ex->n_ids);
    if (ex->n_bits && !ex->bits)
        return rs_fail(err, "exclusion bitmap of %u bits is NULL", ex->n_bits);
    if (ex->n_allow && !ex->allow)
        return rs_fail(err, "allow bitmap of %u bits is NULL", ex->n_allow);
    for (uint32_t i = 1; i < ex->n_ids; i++)
        if (ex->ids[i] < ex->ids[i - 1])
            return rs_fail(err, "exclusion list is not sorted: id %u at index %u follows %u",
                           ex->ids[i], i, ex->ids[i - 1]);
    return 0;
}

int rs_exclude_allows(const rs_exclude *ex, uint32_t id)
{
    if (!ex) return 1;
    if (rs_exclude_disallowed(ex, id)) return 0;
    if (id < ex->n_bits && (ex->bits[id >> 6] >> (id & 63) & 1)) return 0;
    uint32_t lo = 0, hi = ex->n_ids;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ex->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return !(lo < ex->n_ids && ex->ids[lo] == id);
}
