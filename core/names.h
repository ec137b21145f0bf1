/* names.h - the rules for variant, tensor and string-table names.
 *
 * Names become parts of LMDB keys (proto/snapshot.md) and appear in URLs,
 * metrics labels and config files, so the store, the server and the config
 * loader all check them with the same rule: [A-Za-z0-9_.-]{1,64}. This header
 * needs nothing but common.h, so code that only handles names (the server's
 * config and statistics) does not depend on the store.
 */
#ifndef RS_NAMES_H
#define RS_NAMES_H

#include <stddef.h>

#include "common.h"

#define RS_NAME_MAX 64 /* variant and tensor names: [A-Za-z0-9_.-]{1,64} */

/* 0 when name matches [A-Za-z0-9_.-]{1,64}; otherwise -1 with a message that
 * calls it `what` ("variant", "tensor"). */
int rs_store_check_name(const char *what, const char *name, rs_error *err);

/* n when the n bytes at p (not NUL-terminated) form a valid name, else 0. */
size_t rs_name_length_ok(const char *p, size_t n);

#endif
