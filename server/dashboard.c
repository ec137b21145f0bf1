/* dashboard.c - serves the compiled-in dashboard assets (see dashboard.h). */
#include "dashboard.h"

#include <stdlib.h>
#include <string.h>

/* The page loads only its own script and stylesheet and talks only to this
 * server; inline script and style are refused, so an item id or manifest
 * value rendered into the page cannot run as code. */
static const char policy[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                             "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                             "form-action 'none'; frame-ancestors 'none'";

const rs_dashboard_asset *rs_dashboard_find(const char *name, size_t len)
{
    for (int i = 0; i < rs_dashboard_n_assets; i++)
        if (strlen(rs_dashboard_assets[i].name) == len &&
            memcmp(rs_dashboard_assets[i].name, name, len) == 0)
            return &rs_dashboard_assets[i];
    return NULL;
}

static void serve(const rs_dashboard_asset *a, rs_response *resp)
{
    char *copy = malloc(a->len + 1);
    if (!copy) {
        rs_response_error(resp, 503, "out_of_memory", "out of memory serving %s", a->name);
        return;
    }
    memcpy(copy, a->data, a->len);
    copy[a->len] = '\0';
    rs_response_text(resp, 200, a->content_type, copy, a->len);
    rs_response_header(resp, "Content-Security-Policy", policy);
    rs_response_header(resp, "X-Content-Type-Options", "nosniff");
    rs_response_header(resp, "Referrer-Policy", "no-referrer");
}

void rs_dashboard_page(void *ctx, rs_request *req, rs_response *resp)
{
    const rs_dashboard_asset *a = rs_dashboard_find("index.html", strlen("index.html"));
    if (!a) {
        rs_response_error(resp, 404, "not_found", "this build has no dashboard");
        return;
    }
    serve(a, resp);
}

void rs_dashboard_file(void *ctx, rs_request *req, rs_response *resp)
{
    const rs_dashboard_asset *a = rs_dashboard_find(req->param[0], req->param_len[0]);
    if (!a) {
        rs_response_error(resp, 404, "not_found", "the dashboard has no file by that name");
        return;
    }
    serve(a, resp);
}
