/* router.c - segment-wise route matching (see router.h). */
#include "router.h"

#include <stdio.h>
#include <string.h>

/* Matches the path against one pattern, capturing {params}. */
static int match_pattern(const char *pattern, const char *path, rs_route_match *m)
{
    const char *p = pattern, *s = path;
    m->n_params = 0;
    if (*p != '/' || *s != '/') return 0;
    while (*p == '/' && *s == '/') {
        p++;
        s++;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || m->n_params >= RS_ROUTE_MAX_PARAMS) return 0;
            m->param[m->n_params] = s;
            m->param_len[m->n_params] = slen;
            m->n_params++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen;
        s += slen;
    }
    /* Both must end together: "/healthz/" or "/v1" do not match. */
    return *p == '\0' && *s == '\0';
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    if (!allow || cap == 0) return;
    /* Keep the list free of duplicates (two GET routes on one path shape). */
    size_t mlen = strlen(method);
    for (const char *q = allow; (q = strstr(q, method)) != NULL; q += mlen) {
        int starts = q == allow || q[-1] == ' ';
        int ends = q[mlen] == '\0' || q[mlen] == ',';
        if (starts && ends) return;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method);
}

int rs_router_match(const rs_route *table, int n_routes, const char *method, const char *path,
                    rs_route_match *m, char *allow, size_t allow_cap)
{
    int is_head = strcmp(method, "HEAD") == 0;
    int path_known = 0;
    rs_route_match tmp;
    if (allow && allow_cap) allow[0] = '\0';
    m->route = -1;
    m->n_params = 0;
    for (int i = 0; i < n_routes; i++) {
        if (!match_pattern(table[i].pattern, path, &tmp)) continue;
        const char *rm = table[i].method;
        if (strcmp(rm, method) == 0 || (is_head && strcmp(rm, "GET") == 0)) {
            *m = tmp;
            m->route = i;
            return RS_ROUTE_FOUND;
        }
        path_known = 1;
    }
    if (!path_known) return RS_ROUTE_NOT_FOUND;
    for (int i = 0; i < n_routes; i++) {
        if (!match_pattern(table[i].pattern, path, &tmp)) continue;
        allow_add(allow, allow_cap, table[i].method);
        if (strcmp(table[i].method, "GET") == 0) allow_add(allow, allow_cap, "HEAD");
    }
    return RS_ROUTE_BAD_METHOD;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int rs_percent_decode(const char *src, size_t len, char *dst, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 1 < len ? hex_value(src[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(src[i + 2]) : -1;
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0') return -1;
            i += 2;
        } else if (c == '\0') {
            return -1;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    *out_len = o;
    return 0;
}
