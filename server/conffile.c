/* conffile.c - the serving config file (see conffile.h, etc/README.md). */
#include "conffile.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "names.h"

void rs_conffile_free(rs_conffile *c)
{
    if (!c) return;
    free(c->store);
    free(c->listen);
    free(c->default_variant);
    for (int i = 0; i < c->n_variants; i++) free(c->variants[i]);
    free(c->variants);
    free(c->admin_token_file);
    rs_ab_free(c->ab);
    free(c);
}

/* base_dir + "/" + path unless path is absolute. */
static char *resolve(const char *base_dir, const char *path, rs_error *err)
{
    char *out;
    int n;
    if (path[0] == '/' || !base_dir || !*base_dir)
        n = asprintf(&out, "%s", path);
    else
        n = asprintf(&out, "%s/%s", base_dir, path);
    if (n < 0) {
        rs_fail(err, "out of memory");
        return NULL;
    }
    return out;
}

static int get_string(json_t *root, const char *field, const char *origin, const json_t **out,
                      rs_error *err)
{
    json_t *v = json_object_get(root, field);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return rs_fail(err, "%s: \"%s\" must be a non-empty string", origin, field);
    if (memchr(json_string_value(v), 0, json_string_length(v)))
        return rs_fail(err, "%s: \"%s\" must not contain a NUL character", origin, field);
    *out = v;
    return 0;
}

static int check_fields(json_t *obj, const char *const *allowed, const char *where, rs_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(key, *a) == 0;
        if (!ok) {
            char list[300] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         a == allowed ? "" : ", ", *a);
            return rs_fail(err, "%s: unknown field \"%.64s\" (known fields: %s)", where, key, list);
        }
    }
    return 0;
}

static int parse_variants(json_t *v, const char *origin, rs_conffile *c, rs_error *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return rs_fail(err, "%s: \"variants\" must be a non-empty array of variant names", origin);
    size_t n = json_array_size(v);
    if (n > RS_MAX_VARIANTS_LISTED)
        return rs_fail(err, "%s: \"variants\" lists %zu; at most %d can be served", origin, n,
                       RS_MAX_VARIANTS_LISTED);
    c->variants = rs_calloc(n, sizeof(char *), err);
    if (!c->variants) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_array_get(v, i);
        rs_error nerr;
        if (!json_is_string(name))
            return rs_fail(err, "%s: variants[%zu] must be a variant name string", origin, i);
        if (rs_store_check_name("variant", json_string_value(name), &nerr) != 0)
            return rs_fail(err, "%s: variants[%zu]: %s", origin, i, nerr.msg);
        for (int j = 0; j < c->n_variants; j++)
            if (strcmp(c->variants[j], json_string_value(name)) == 0)
                return rs_fail(err, "%s: variants[%zu]: duplicate variant \"%s\"", origin, i,
                               c->variants[j]);
        if (!(c->variants[i] = strdup(json_string_value(name))))
            return rs_fail(err, "out of memory");
        c->n_variants = (int)i + 1;
    }
    return 0;
}

static int parse_reload(json_t *v, const char *origin, rs_conffile *c, rs_error *err)
{
    static const char *const fields[] = {"interval_seconds", "verify", NULL};
    char where[300];
    snprintf(where, sizeof(where), "%s: reload", origin);
    if (!json_is_object(v)) return rs_fail(err, "%s: must be an object", where);
    if (check_fields(v, fields, where, err) != 0) return -1;
    json_t *iv = json_object_get(v, "interval_seconds"), *verify = json_object_get(v, "verify");
    if (iv && !json_is_null(iv)) {
        double s = json_is_number(iv) ? json_number_value(iv) : -1;
        if (!(s >= 0 && s <= 86400))
            return rs_fail(err,
                           "%s.interval_seconds: expected a number of seconds in 0..86400 (0 "
                           "turns polling off)",
                           where);
        if (s > 0 && s < 0.01)
            return rs_fail(err, "%s.interval_seconds: %g is too short (at least 0.01)", where, s);
        c->reload_interval = s;
    }
    if (verify && !json_is_null(verify)) {
        if (!json_is_boolean(verify))
            return rs_fail(err, "%s.verify: expected true or false", where);
        c->verify = json_is_true(verify);
    }
    return 0;
}

static int parse_admin(json_t *v, const char *origin, const char *base_dir, rs_conffile *c,
                       rs_error *err)
{
    static const char *const fields[] = {"token_file", NULL};
    char where[300];
    snprintf(where, sizeof(where), "%s: admin", origin);
    if (!json_is_object(v)) return rs_fail(err, "%s: must be an object", where);
    if (check_fields(v, fields, where, err) != 0) return -1;
    const json_t *tf;
    if (get_string(v, "token_file", where, &tf, err) != 0) return -1;
    if (tf && !(c->admin_token_file = resolve(base_dir, json_string_value(tf), err))) return -1;
    return 0;
}

static int parse_root(json_t *root, const char *origin, const char *base_dir, rs_conffile *c,
                      rs_error *err)
{
    static const char *const fields[] = {"description",     "store",    "listen", "threads",
                                         "default_variant", "variants", "reload", "admin",
                                         "experiments",     NULL};
    if (!json_is_object(root))
        return rs_fail(err, "%s: the top level must be a JSON object", origin);
    if (check_fields(root, fields, origin, err) != 0) return -1;
    const json_t *s;
    if (get_string(root, "description", origin, &s, err) != 0) return -1;
    if (get_string(root, "store", origin, &s, err) != 0) return -1;
    if (s && !(c->store = resolve(base_dir, json_string_value(s), err))) return -1;
    if (get_string(root, "listen", origin, &s, err) != 0) return -1;
    if (s && !(c->listen = strdup(json_string_value(s)))) return rs_fail(err, "out of memory");
    json_t *threads = json_object_get(root, "threads");
    if (threads && !json_is_null(threads)) {
        json_int_t t = json_is_integer(threads) ? json_integer_value(threads) : 0;
        if (t < 1 || t > 1024)
            return rs_fail(err, "%s: \"threads\" must be an integer in 1..1024", origin);
        c->threads = (unsigned)t;
    }
    json_t *variants = json_object_get(root, "variants");
    if (variants && !json_is_null(variants) && parse_variants(variants, origin, c, err) != 0)
        return -1;
    if (get_string(root, "default_variant", origin, &s, err) != 0) return -1;
    if (s) {
        rs_error nerr;
        if (rs_store_check_name("variant", json_string_value(s), &nerr) != 0)
            return rs_fail(err, "%s: default_variant: %s", origin, nerr.msg);
        int known = !c->variants;
        for (int i = 0; i < c->n_variants; i++)
            known |= strcmp(c->variants[i], json_string_value(s)) == 0;
        if (!known)
            return rs_fail(err, "%s: default_variant \"%s\" is not in \"variants\"", origin,
                           json_string_value(s));
        if (!(c->default_variant = strdup(json_string_value(s))))
            return rs_fail(err, "out of memory");
    }
    json_t *reload = json_object_get(root, "reload");
    if (reload && !json_is_null(reload) && parse_reload(reload, origin, c, err) != 0) return -1;
    json_t *admin = json_object_get(root, "admin");
    if (admin && !json_is_null(admin) && parse_admin(admin, origin, base_dir, c, err) != 0)
        return -1;
    json_t *exps = json_object_get(root, "experiments");
    json_t *none = NULL;
    if (!exps || json_is_null(exps)) exps = none = json_array();
    int rc = rs_ab_parse(exps, (const char *const *)c->variants, c->n_variants, &c->ab, err);
    if (none) json_decref(none);
    if (rc != 0) return rs_error_prefix(err, "%s", origin);
    return 0;
}

int rs_conffile_parse(const char *text, size_t len, const char *origin, const char *base_dir,
                      rs_conffile **out, rs_error *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return rs_fail(err, "%s:%d:%d: %s", origin, jerr.line, jerr.column, jerr.text);
    rs_conffile *c = rs_calloc(1, sizeof(*c), err);
    if (!c) {
        json_decref(root);
        return -1;
    }
    c->reload_interval = -1;
    c->verify = -1;
    int rc = parse_root(root, origin, base_dir, c, err);
    json_decref(root);
    if (rc != 0) {
        rs_conffile_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Reads a whole small file. */
static int slurp(const char *path, size_t max, char **text, size_t *len, rs_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rs_fail(err, "%s: %s", path, strerror(errno));
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return rs_fail(err, "out of memory");
    }
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return rs_fail(err, "%s: read error", path);
    }
    if (n > max) {
        free(buf);
        return rs_fail(err, "%s: larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

int rs_conffile_load(const char *path, rs_conffile **out, rs_error *err)
{
    char *text;
    size_t len;
    *out = NULL;
    if (slurp(path, RS_CONFFILE_MAX_BYTES, &text, &len, err) != 0) return -1;
    char *dir = strdup(path);
    if (!dir) {
        free(text);
        return rs_fail(err, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    else
        dir[0] = '\0';
    int rc = rs_conffile_parse(text, len, path, dir, out, err);
    free(dir);
    free(text);
    return rc;
}

int rs_admin_token_load(const char *path, char **token, rs_error *err)
{
    char *text;
    size_t len;
    *token = NULL;
    if (slurp(path, 8192, &text, &len, err) != 0) return rs_error_prefix(err, "admin token file");
    char *start = text;
    while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n') start++;
    char *end = start;
    while (*end && *end != '\n' && *end != '\r') end++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t n = (size_t)(end - start);
    int printable = 1;
    for (size_t i = 0; i < n; i++) printable &= start[i] > ' ' && start[i] < 0x7f;
    if (n < 16 || n > 4096 || !printable) {
        free(text);
        return rs_fail(err,
                       "admin token file %s: the token must be 16..4096 printable characters "
                       "without spaces on the first line (got %zu)",
                       path, n);
    }
    memmove(text, start, n);
    text[n] = '\0';
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 0077))
        rs_log(RS_LOG_WARN,
               "admin token file %s is readable by other users (mode %03o); chmod 600 it", path,
               (unsigned)(st.st_mode & 0777));
    *token = text;
    return 0;
}
