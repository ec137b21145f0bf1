/* dashboard.h - the operator console served at GET /dashboard: one HTML
 * page, its stylesheet and script (server/dashboard/), compiled into the
 * binary so that nothing is read from disk or fetched from elsewhere at run
 * time. The page itself only calls the server's public API (and the admin
 * routes with a token the operator types in, kept in the page's memory).
 *
 * The asset table is generated at build time by scripts/embed_assets.sh
 * (build/server/dashboard_assets.c); the handlers serve it read-only, so
 * they need no lock and own nothing.
 */
#ifndef RS_DASHBOARD_H
#define RS_DASHBOARD_H

#include <stddef.h>

#include "http.h"

typedef struct rs_dashboard_asset {
    const char *name;         /* file name under server/dashboard/ */
    const char *content_type; /* from the file's extension */
    const unsigned char *data;
    size_t len;
} rs_dashboard_asset;

extern const rs_dashboard_asset rs_dashboard_assets[];
extern const int rs_dashboard_n_assets;

/* The asset called name (len bytes), or NULL. */
const rs_dashboard_asset *rs_dashboard_find(const char *name, size_t len);

/* GET /dashboard (the page) and GET /dashboard/{file} (its assets). */
void rs_dashboard_page(void *ctx, rs_request *req, rs_response *resp);
void rs_dashboard_file(void *ctx, rs_request *req, rs_response *resp);

#endif
