/* conffile.c - the serving config file (see conffile.h, etc/README.md). */
#include "conffile.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "names.h"

void rs_conffile_free(rs_conffile *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_variants; i++) free(c->variants[i]);
    free(c->variants);
    for (int i = 0; i < c->n_pins; i++) free((char *)c->pins[i].variant);
    free(c->pins);
    rs_option_strings_free(&c->strings);
    rs_ab_free(c->ab);
    free(c);
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

/* The default variant the file names must be one it serves. */
static int check_default_variant(json_t *root, const char *origin, const rs_conffile *c,
                                 const rs_server_config *settings, rs_error *err)
{
    json_t *given = json_object_get(root, "default_variant");
    if (!given || json_is_null(given) || !c->variants) return 0;
    for (int i = 0; i < c->n_variants; i++)
        if (strcmp(c->variants[i], settings->default_variant) == 0) return 0;
    return rs_fail(err, "%s: default_variant \"%s\" is not in \"variants\"", origin,
                   settings->default_variant);
}

/* "pins": {"VARIANT": VERSION, ...}: variants served at a fixed version. */
static int parse_pins(json_t *pins, const char *origin, rs_conffile *c, rs_error *err)
{
    if (!json_is_object(pins))
        return rs_fail(err, "%s: \"pins\" must be an object of variant name: version", origin);
    size_t n = json_object_size(pins);
    if (n > RS_MAX_VARIANTS_LISTED)
        return rs_fail(err, "%s: \"pins\" lists %zu; at most %d", origin, n,
                       RS_MAX_VARIANTS_LISTED);
    if (n && !(c->pins = rs_calloc(n, sizeof(*c->pins), err))) return -1;
    const char *name;
    json_t *version;
    json_object_foreach(pins, name, version)
    {
        rs_error nerr;
        if (rs_store_check_name("variant", name, &nerr) != 0)
            return rs_fail(err, "%s: pins: %s", origin, nerr.msg);
        if (!json_is_integer(version) || json_integer_value(version) < 1)
            return rs_fail(err, "%s: pins.%s must be a version number (a positive integer)", origin,
                           name);
        int listed = !c->variants;
        for (int i = 0; i < c->n_variants && !listed; i++) listed = !strcmp(c->variants[i], name);
        if (!listed)
            return rs_fail(err, "%s: pins.%s: the variant is not in \"variants\"", origin, name);
        if (!(c->pins[c->n_pins].variant = strdup(name))) return rs_fail(err, "out of memory");
        c->pins[c->n_pins++].version = (uint64_t)json_integer_value(version);
    }
    return 0;
}

static int parse_root(json_t *root, const char *origin, const char *base_dir,
                      rs_server_config *settings, rs_conffile *c, rs_error *err)
{
    /* The fields parsed here; the option table names the others. */
    static const char *const structured[] = {"description", "variants", "experiments", "pins",
                                             NULL};
    if (!json_is_object(root))
        return rs_fail(err, "%s: the top level must be a JSON object", origin);
    if (rs_options_load_json(rs_server_options, root, structured, origin, base_dir, settings,
                             &c->strings, err) != 0)
        return -1;
    json_t *description = json_object_get(root, "description");
    if (description && !json_is_null(description) &&
        (!json_is_string(description) || json_string_length(description) == 0))
        return rs_fail(err, "%s: \"description\" must be a non-empty string", origin);
    json_t *variants = json_object_get(root, "variants");
    if (variants && !json_is_null(variants) && parse_variants(variants, origin, c, err) != 0)
        return -1;
    if (check_default_variant(root, origin, c, settings, err) != 0) return -1;
    json_t *pins = json_object_get(root, "pins");
    if (pins && !json_is_null(pins) && parse_pins(pins, origin, c, err) != 0) return -1;
    json_t *exps = json_object_get(root, "experiments");
    json_t *none = NULL;
    if (!exps || json_is_null(exps)) exps = none = json_array();
    int rc = rs_ab_parse(exps, (const char *const *)c->variants, c->n_variants, &c->ab, err);
    if (none) json_decref(none);
    if (rc != 0) return rs_error_prefix(err, "%s", origin);
    return 0;
}

int rs_conffile_parse(const char *text, size_t len, const char *origin, const char *base_dir,
                      rs_server_config *settings, rs_conffile **out, rs_error *err)
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
    /* Into a copy, so that a refused file leaves the settings as they were. */
    rs_server_config parsed = *settings;
    int rc = parse_root(root, origin, base_dir, &parsed, c, err);
    json_decref(root);
    if (rc != 0) {
        rs_conffile_free(c);
        return -1;
    }
    *settings = parsed;
    *out = c;
    return 0;
}

int rs_conffile_load(const char *path, rs_server_config *settings, rs_conffile **out, rs_error *err)
{
    char *text;
    size_t len;
    *out = NULL;
    if (rs_read_small_file(path, RS_CONFFILE_MAX_BYTES, &text, &len, err) != 0) return -1;
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
    int rc = rs_conffile_parse(text, len, path, dir, settings, out, err);
    free(dir);
    free(text);
    return rc;
}

int rs_admin_token_load(const char *path, char **token, rs_error *err)
{
    char *text;
    size_t len;
    *token = NULL;
    if (rs_read_small_file(path, 8192, &text, &len, err) != 0)
        return rs_error_prefix(err, "admin token file");
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
