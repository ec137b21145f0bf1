/* apikeys.h - API keys for the public routes: a file of keys, one per line
 * ("KEY" or "NAME KEY"; blank lines and lines starting with '#' ignored),
 * loaded at start and again on SIGHUP (key rotation without a restart).
 * With keys configured, every route not marked open in the route table
 * (health, readiness, metrics and the dashboard's files are; the admin routes
 * have their own token) needs `X-Api-Key: KEY` or `Authorization: Bearer
 * KEY`, else 401 before its body is read.
 *
 * A key set is immutable once loaded; comparisons take the same time
 * whatever the key's content. rs_api_keys_free zeroes the keys.
 */
#ifndef RS_APIKEYS_H
#define RS_APIKEYS_H

#include <stddef.h>

#include "common.h"

#define RS_API_KEYS_MAX 1024 /* keys per file */

typedef struct rs_api_keys rs_api_keys;

/* Reads path; fails naming the file and line for a bad key (16..4096
 * printable characters without spaces), a duplicate or an empty file. */
int rs_api_keys_load(const char *path, rs_api_keys **out, rs_error *err);
void rs_api_keys_free(rs_api_keys *keys);

/* The number of keys. */
int rs_api_keys_count(const rs_api_keys *keys);

/* The name of the key equal to candidate (len bytes; its line's NAME, or
 * "key N" for line N without one), or NULL when none is. */
const char *rs_api_keys_match(const rs_api_keys *keys, const char *candidate, size_t len);

#endif
