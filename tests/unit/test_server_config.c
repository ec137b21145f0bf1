/* test_server_config.c - recserve's command line, the option table that
 * drives it and the config file, --help, and listen addresses. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "config.h"
#include "options.h"

/* argv for a NULL-terminated argument list of at most 62 (argv[0] added);
 * returns argc. */
static int make_argv(const char **args, char *argv[64])
{
    int argc = 0;
    argv[argc++] = (char *)"recserve";
    for (; *args && argc < 63; args++) argv[argc++] = (char *)*args;
    ck_assert_ptr_null(*args);
    argv[argc] = NULL;
    return argc;
}

static int parse(rs_server_config *cfg, rs_error *err, const char **args)
{
    char *argv[64];
    int argc = make_argv(args, argv);
    return rs_config_parse(argc, argv, cfg, err);
}

START_TEST(test_defaults)
{
    rs_server_config cfg;
    rs_error err;
    const char *args[] = {"--store", "/tmp/s", NULL};
    ck_assert_int_eq(parse(&cfg, &err, args), 0);
    ck_assert_str_eq(cfg.store_dir, "/tmp/s");
    ck_assert_uint_eq(cfg.http.max_body, 1024 * 1024);
    ck_assert_uint_ge(cfg.http.threads, 1);
    ck_assert_uint_eq(cfg.limits.max_history, RS_DEFAULT_MAX_HISTORY);
    ck_assert_int_eq(cfg.verify, 1);
    /* Default listen address: loopback only. */
    const struct sockaddr_in *a = (const struct sockaddr_in *)&cfg.http.addr;
    ck_assert_int_eq(a->sin_family, AF_INET);
    ck_assert_uint_eq(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_uint_eq(ntohs(a->sin_port), 8080);
}
END_TEST

START_TEST(test_every_option)
{
    rs_server_config cfg;
    rs_error err;
    const char *args[] = {"--store",
                          "d",
                          "--listen",
                          "[::1]:0",
                          "--threads",
                          "3",
                          "--max-body",
                          "64K",
                          "--timeout",
                          "7",
                          "--max-connections",
                          "10",
                          "--default-variant",
                          "exp",
                          "--max-n",
                          "50",
                          "--max-history",
                          "20",
                          "--max-exclude",
                          "0",
                          "--shutdown-grace",
                          "2.5",
                          "--no-verify",
                          "--port-file",
                          "pf",
                          "--log-level",
                          "warn",
                          "--retrieval",
                          "midx",
                          "--midx-k",
                          "64",
                          "--midx-budget",
                          "5000",
                          NULL};
    ck_assert_msg(parse(&cfg, &err, args) == 0, "%s", err.msg);
    ck_assert_int_eq(cfg.http.addr.ss_family, AF_INET6);
    ck_assert_uint_eq(cfg.http.threads, 3);
    ck_assert_uint_eq(cfg.http.max_body, 64 * 1024);
    ck_assert_uint_eq(cfg.http.timeout_s, 7);
    ck_assert_uint_eq(cfg.http.max_connections, 10);
    ck_assert_str_eq(cfg.default_variant, "exp");
    ck_assert_uint_eq(cfg.limits.max_n, 50);
    ck_assert_uint_eq(cfg.limits.max_history, 20);
    ck_assert_uint_eq(cfg.limits.max_exclude, 0);
    ck_assert_double_eq(cfg.shutdown_grace, 2.5);
    ck_assert_int_eq(cfg.verify, 0);
    ck_assert_str_eq(cfg.port_file, "pf");
    ck_assert_int_eq(cfg.log_level, RS_LOG_WARN);
    ck_assert_int_eq(cfg.retrieval.method, RS_RETRIEVAL_MIDX);
    ck_assert_uint_eq(cfg.retrieval.midx_k, 64);
    ck_assert_uint_eq(cfg.retrieval.midx_budget, 5000);
}
END_TEST

START_TEST(test_errors_name_the_option)
{
    struct {
        const char *args[6];
        const char *expect;
    } cases[] = {
        {{NULL}, "--store"},
        {{"--store", "d", "--listen", "127.0.0.1:99999", NULL}, "--listen"},
        {{"--store", "d", "--listen", "127.0.0.1:abc", NULL}, "--listen"},
        {{"--store", "d", "--listen", "127.0.0.1:", NULL}, "--listen"},
        {{"--store", "d", "--listen", "not-an-ip:80", NULL}, "--listen"},
        {{"--store", "d", "--listen", "::1:80", NULL}, "--listen"},
        {{"--store", "d", "--threads", "0", NULL}, "--threads"},
        {{"--store", "d", "--threads", "-2", NULL}, "--threads"},
        {{"--store", "d", "--max-body", "12Q", NULL}, "--max-body"},
        {{"--store", "d", "--timeout", "", NULL}, "--timeout"},
        {{"--store", "d", "--bogus", NULL}, "--bogus"},
        {{"--store", "d", "--threads", NULL}, "--threads"},
        {{"--store", "d", "extra", NULL}, "extra"},
        {{"--store", "d", "--log-level", "loud", NULL}, "--log-level"},
        {{"--store", "d", "--retrieval", "faiss", NULL}, "--retrieval"},
        {{"--store", "d", "--midx-k", "0", NULL}, "--midx-k"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rs_server_config cfg;
        rs_error err = {{0}};
        ck_assert_msg(parse(&cfg, &err, cases[i].args) == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].expect) != NULL, "case %zu: \"%s\" lacks %s", i,
                      err.msg, cases[i].expect);
    }
}
END_TEST

START_TEST(test_listen_forms)
{
    struct sockaddr_storage ss;
    socklen_t len;
    rs_error err;
    ck_assert_int_eq(rs_parse_listen("9000", &ss, &len, &err), 0);
    ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9000);
    ck_assert_uint_eq(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_int_eq(rs_parse_listen("0.0.0.0:1", &ss, &len, &err), 0);
    ck_assert_int_eq(rs_parse_listen("localhost:2", &ss, &len, &err), 0);
    ck_assert_int_eq(rs_parse_listen("[::]:3", &ss, &len, &err), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_int_eq(rs_parse_listen("[::1]3", &ss, &len, &err), -1);
    ck_assert_int_eq(rs_parse_listen("65536", &ss, &len, &err), -1);
}
END_TEST

START_TEST(test_help_and_routes)
{
    rs_server_config cfg;
    rs_error err;
    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(parse(&cfg, &err, help), 0);
    ck_assert_int_eq(cfg.help, 1);
    /* --print-routes needs no store. */
    const char *routes[] = {"--print-routes", NULL};
    ck_assert_int_eq(parse(&cfg, &err, routes), 0);
    ck_assert_int_eq(cfg.print_routes, 1);
    /* The usage text mentions every long option. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rs_config_usage(f, "recserve");
    fclose(f);
    const char *opts[] = {"--store",       "--listen",          "--threads",         "--max-body",
                          "--timeout",     "--max-connections", "--default-variant", "--max-n",
                          "--max-history", "--max-exclude",     "--shutdown-grace",  "--no-verify",
                          "--port-file",   "--log-level",       "--print-routes",    "--version",
                          "--retrieval",   "--midx-k",          "--midx-budget",     "--help"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        ck_assert_msg(strstr(text, opts[i]) != NULL, "usage lacks %s", opts[i]);
    free(text);
}
END_TEST

/* A settings struct and table with one row of every type, to test the
 * engine apart from recserve's rows. */
typedef struct demo {
    const char *name, *dir;
    uint32_t count;
    uint64_t bytes;
    double wait;
    int color, quiet, help;
} demo;

#define DEMO(field) .offset = offsetof(demo, field), .size = sizeof(((demo *)0)->field)

static int no_x(const char *value, rs_error *err)
{
    return strchr(value, 'x') ? rs_fail(err, "no x allowed") : 0;
}

static const rs_option_choice colors[] = {{"red", 1}, {"green", 2}, {"blue", 3}, {0}};
static const rs_option demo_table[] = {
    {.name = "name",
     .arg = "S",
     .file_key = "name",
     .type = RS_OPT_STRING,
     DEMO(name),
     .check = no_x,
     .default_value = "anon",
     .help = "a name"},
    {.name = "dir",
     .arg = "D",
     .file_key = "paths.dir",
     .type = RS_OPT_PATH,
     DEMO(dir),
     .help = "a directory"},
    {.name = "count",
     .arg = "N",
     .file_key = "count",
     .type = RS_OPT_UINT,
     DEMO(count),
     .min = 2,
     .max = 9,
     .default_value = "3",
     .help = "a count"},
    {.name = "bytes",
     .arg = "B",
     .file_key = "bytes",
     .type = RS_OPT_SIZE,
     DEMO(bytes),
     .min = 0,
     .max = 1ULL << 40,
     .default_value = "1K",
     .help = "a size"},
    {.name = "wait",
     .arg = "SECS",
     .file_key = "paths.wait",
     .type = RS_OPT_SECONDS,
     DEMO(wait),
     .min = 0,
     .max = 60,
     .min_nonzero = 0.5,
     .default_value = "1.5",
     .help = "a wait"},
    {.name = "color",
     .arg = "C",
     .file_key = "color",
     .type = RS_OPT_ENUM,
     DEMO(color),
     .choices = colors,
     .default_value = "green",
     .help = "a color"},
    {.name = "quiet",
     .file_key = "loud",
     .type = RS_OPT_FLAG,
     DEMO(quiet),
     .flag_value = 0,
     .default_value = "true",
     .help = "be quiet"},
    {.name = "help",
     .short_name = 'h',
     .type = RS_OPT_FLAG,
     DEMO(help),
     .flag_value = 1,
     .flags = RS_OPT_STOP,
     .help = "help"},
    {0},
};

static int demo_parse(demo *d, rs_error *err, const char **args)
{
    char *argv[64];
    int argc = make_argv(args, argv);
    ck_assert_int_eq(rs_options_defaults(demo_table, d, err), 0);
    return rs_options_parse(demo_table, argc, argv, d, err);
}

START_TEST(test_tables_are_consistent)
{
    rs_error err;
    ck_assert_msg(rs_options_check(rs_server_options, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_options_check(demo_table, &err) == 0, "%s", err.msg);
    /* The check catches a target that does not fit, bounds beyond the
     * target, a default that does not parse and a name used twice. */
    rs_option broken[3] = {demo_table[2], {0}, {0}};
    broken[0].size = sizeof(uint16_t);
    ck_assert_int_eq(rs_options_check(broken, &err), -1);
    broken[0] = demo_table[2];
    broken[0].max = 1e10;
    ck_assert_int_eq(rs_options_check(broken, &err), -1);
    broken[0] = demo_table[2];
    broken[0].default_value = "1";
    ck_assert_int_eq(rs_options_check(broken, &err), -1);
    ck_assert_msg(strstr(err.msg, "default of --count"), "%s", err.msg);
    broken[0] = demo_table[2];
    broken[1] = demo_table[2];
    broken[1].file_key = NULL;
    ck_assert_int_eq(rs_options_check(broken, &err), -1);
}
END_TEST

START_TEST(test_engine_command_line)
{
    demo d;
    rs_error err;
    const char *none[] = {NULL};
    ck_assert_msg(demo_parse(&d, &err, none) == 0, "%s", err.msg);
    ck_assert_str_eq(d.name, "anon");
    ck_assert_ptr_null(d.dir);
    ck_assert_uint_eq(d.count, 3);
    ck_assert_uint_eq(d.bytes, 1024);
    ck_assert_double_eq(d.wait, 1.5);
    ck_assert_int_eq(d.color, 2);
    ck_assert_int_eq(d.quiet, 1);
    const char *all[] = {"--name",  "bob",     "--dir",   "rel",       "--count",
                         "9",       "--bytes", "2M",      "--wait",    "0",
                         "--color", "BLUE",    "--quiet", "--count=4", NULL};
    ck_assert_msg(demo_parse(&d, &err, all) == 0, "%s", err.msg);
    ck_assert_str_eq(d.name, "bob");
    ck_assert_str_eq(d.dir, "rel"); /* command-line paths are kept as given */
    ck_assert_uint_eq(d.count, 4);  /* the later one wins */
    ck_assert_uint_eq(d.bytes, 2 << 20);
    ck_assert_double_eq(d.wait, 0);
    ck_assert_int_eq(d.color, 3);
    ck_assert_int_eq(d.quiet, 0);
    /* Parsing stops at a RS_OPT_STOP option. */
    const char *stop[] = {"-h", "--count", "nonsense", NULL};
    ck_assert_msg(demo_parse(&d, &err, stop) == 0, "%s", err.msg);
    ck_assert_int_eq(d.help, 1);

    struct {
        const char *args[4];
        const char *expect;
    } cases[] = {
        {{"--count", "1", NULL}, "--count 1: out of range (expected 2..9)"},
        {{"--count", "+3", NULL}, "--count +3: expected a non-negative integer"},
        {{"--count", "3K", NULL}, "--count 3K: expected a non-negative integer"},
        {{"--bytes", "2G", NULL}, "--bytes 2G: expected a non-negative integer (optionally"},
        {{"--bytes", "2000000M", NULL},
         "--bytes 2000000M: out of range (expected 0..1099511627776)"},
        {{"--wait", "0.2", NULL}, "--wait 0.2: at least 0.5 (or 0)"},
        {{"--wait", "61", NULL}, "--wait 61: expected seconds in 0..60"},
        {{"--wait", "1s", NULL}, "--wait 1s: expected seconds in 0..60"},
        {{"--color", "pink", NULL}, "--color pink: expected red, green or blue"},
        {{"--name", "xavier", NULL}, "--name xavier: no x allowed"},
        {{"--count", NULL}, "option --count needs a value"},
        {{"--quiet=1", NULL}, "unknown option --quiet=1"},
        {{"--nope", NULL}, "unknown option --nope"},
        {{"stray", NULL}, "unexpected argument \"stray\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(demo_parse(&d, &err, cases[i].args) == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].expect), "case %zu: \"%s\" lacks \"%s\"", i, err.msg,
                      cases[i].expect);
    }
}
END_TEST

/* Loads JSON text into d (after the defaults) with the demo table. */
static int demo_json(demo *d, rs_option_strings *strings, const char *text, rs_error *err)
{
    static const char *const others[] = {"extra", NULL};
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    ck_assert_msg(root != NULL, "bad test JSON %s: %s", text, jerr.text);
    ck_assert_int_eq(rs_options_defaults(demo_table, d, err), 0);
    int rc = rs_options_load_json(demo_table, root, others, "f.json", "/base", d, strings, err);
    json_decref(root);
    return rc;
}

START_TEST(test_engine_config_file)
{
    demo d;
    rs_error err;
    rs_option_strings strings = {0};
    ck_assert_msg(demo_json(&d, &strings,
                            "{\"name\":\"ann\",\"count\":5,\"bytes\":\"64K\",\"color\":\"red\","
                            "\"loud\":false,\"paths\":{\"dir\":\"sub\",\"wait\":0.5},"
                            "\"extra\":[1]}",
                            &err) == 0,
                  "%s", err.msg);
    ck_assert_str_eq(d.name, "ann");
    ck_assert_str_eq(d.dir, "/base/sub"); /* relative to the file */
    ck_assert_uint_eq(d.count, 5);
    ck_assert_uint_eq(d.bytes, 64 * 1024);
    ck_assert_double_eq(d.wait, 0.5);
    ck_assert_int_eq(d.color, 1);
    ck_assert_int_eq(d.quiet, 0);
    rs_option_strings_free(&strings);
    /* null is "not given"; absolute paths stay. */
    ck_assert_msg(demo_json(&d, &strings, "{\"name\":null,\"paths\":{\"dir\":\"/abs\"}}", &err) ==
                      0,
                  "%s", err.msg);
    ck_assert_str_eq(d.name, "anon");
    ck_assert_str_eq(d.dir, "/abs");
    rs_option_strings_free(&strings);

    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"nmae\":\"a\"}",
         "f.json: unknown field \"nmae\" (known fields: name, paths, count, bytes, color, loud, "
         "extra)"},
        {"{\"paths\":{\"wiat\":1}}",
         "f.json: paths: unknown field \"wiat\" (known fields: dir, wait)"},
        {"{\"paths\":3}", "f.json: paths: must be an object"},
        {"{\"name\":\"\"}", "f.json: \"name\" must be a non-empty string"},
        {"{\"name\":\"rex\"}", "f.json: \"name\": no x allowed"},
        {"{\"count\":\"5\"}", "f.json: \"count\" must be an integer in 2..9"},
        {"{\"count\":10}", "f.json: \"count\" must be an integer in 2..9"},
        {"{\"count\":-1}", "f.json: \"count\" must be an integer in 2..9"},
        {"{\"bytes\":\"1Q\"}", "\"bytes\" must be an integer in 0..1099511627776 (or a string"},
        {"{\"paths\":{\"wait\":\"1\"}}", "\"paths.wait\" must be a number of seconds in 0..60"},
        {"{\"paths\":{\"wait\":0.1}}", "\"paths.wait\": 0.1 is too short (at least 0.5, or 0)"},
        {"{\"color\":\"pink\"}", "\"color\" must be \"red\", \"green\" or \"blue\""},
        {"{\"loud\":1}", "\"loud\" must be true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(demo_json(&d, &strings, cases[i].json, &err) == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].expect), "case %zu: \"%s\" lacks \"%s\"", i, err.msg,
                      cases[i].expect);
        rs_option_strings_free(&strings);
    }
}
END_TEST

/* Writes text to a fresh file in a fresh directory; returns its path. */
static char *write_config(char *dir, const char *text)
{
    static char path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

START_TEST(test_file_then_command_line)
{
    char dir[] = "/tmp/rs-config-XXXXXX";
    char *path = write_config(dir, "{\"store\":\"store\",\"listen\":\"127.0.0.1:9\",\"threads\":3,"
                                   "\"reload\":{\"interval_seconds\":0,\"verify\":false},"
                                   "\"admin\":{\"token_file\":\"tok\"}}");
    char expect_store[300], expect_token[300];
    snprintf(expect_store, sizeof(expect_store), "%s/store", dir);
    snprintf(expect_token, sizeof(expect_token), "%s/tok", dir);
    rs_server_config cfg;
    rs_error err;
    /* The file's values apply... */
    const char *file_only[] = {"--config", path, NULL};
    ck_assert_msg(parse(&cfg, &err, file_only) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.store_dir, expect_store);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:9");
    ck_assert_uint_eq(cfg.http.threads, 3);
    ck_assert_double_eq(cfg.reload_interval, 0);
    ck_assert_int_eq(cfg.verify, 0);
    ck_assert_str_eq(cfg.admin_token_file, expect_token);
    ck_assert_uint_eq(cfg.http.timeout_s, 30); /* not in the file: the default */
    rs_config_free(&cfg);
    /* ...and the command line overrides them, wherever --config stands. */
    const char *both[] = {"--threads",         "5",   "--config", path, "--store", "other",
                          "--reload-interval", "2.5", "--listen", "7",  NULL};
    ck_assert_msg(parse(&cfg, &err, both) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.store_dir, "other");
    ck_assert_uint_eq(cfg.http.threads, 5);
    ck_assert_double_eq(cfg.reload_interval, 2.5);
    ck_assert_str_eq(cfg.listen, "7");
    ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&cfg.http.addr)->sin_port), 7);
    ck_assert_int_eq(cfg.verify, 0);
    rs_config_free(&cfg);
    /* --help reads no file, not even a broken one. */
    unlink(path);
    const char *help[] = {"--config", path, "--help", NULL};
    ck_assert_msg(parse(&cfg, &err, help) == 0, "%s", err.msg);
    ck_assert_int_eq(cfg.help, 1);
    rs_config_free(&cfg);
    const char *missing[] = {"--config", path, NULL};
    ck_assert_int_eq(parse(&cfg, &err, missing), -1);
    ck_assert_msg(strstr(err.msg, "c.json"), "%s", err.msg);
    rs_config_free(&cfg);
    rmdir(dir);
}
END_TEST

START_TEST(test_refused_file_changes_nothing)
{
    rs_server_config cfg;
    rs_error err;
    memset(&cfg, 0, sizeof(cfg));
    ck_assert_int_eq(rs_options_defaults(rs_server_options, &cfg, &err), 0);
    rs_server_config before = cfg;
    rs_conffile *c = (rs_conffile *)&cfg; /* must become NULL */
    const char *text = "{\"store\":\"s\",\"threads\":2,\"variants\":[\"a\"],"
                       "\"default_variant\":\"b\"}";
    ck_assert_int_eq(rs_conffile_parse(text, strlen(text), "t.json", NULL, &cfg, &c, &err), -1);
    ck_assert_msg(strstr(err.msg, "t.json: default_variant \"b\" is not in \"variants\""), "%s",
                  err.msg);
    ck_assert_ptr_null(c);
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
    /* A default variant name is checked in the file and on the command line. */
    text = "{\"default_variant\":\"a b\"}";
    ck_assert_int_eq(rs_conffile_parse(text, strlen(text), "t.json", NULL, &cfg, &c, &err), -1);
    ck_assert_msg(strstr(err.msg, "t.json: \"default_variant\": variant name 'a b'"), "%s",
                  err.msg);
    const char *args[] = {"--store", "d", "--default-variant", "a b", NULL};
    ck_assert_int_eq(parse(&cfg, &err, args), -1);
    ck_assert_msg(strstr(err.msg, "--default-variant a b: variant name"), "%s", err.msg);
}
END_TEST

/* Every line of --help fits 79 columns and every row appears in --help and
 * as one Markdown table row. */
START_TEST(test_generated_help)
{
    char *help = NULL, *markdown = NULL;
    size_t help_len = 0, markdown_len = 0;
    FILE *f = open_memstream(&help, &help_len);
    rs_config_usage(f, "recserve");
    fclose(f);
    f = open_memstream(&markdown, &markdown_len);
    rs_config_markdown(f);
    fclose(f);
    int rows = 0;
    for (const rs_option *o = rs_server_options; o->name; o++, rows++) {
        char label[80], needle[96];
        snprintf(label, sizeof(label), "--%s%s%s", o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        ck_assert_msg(strstr(help, label), "--help lacks \"%s\"", label);
        snprintf(needle, sizeof(needle), "%s` | ", label);
        ck_assert_msg(strstr(markdown, needle), "Markdown lacks \"%s\"", needle);
        if (o->file_key) {
            snprintf(needle, sizeof(needle), "| `%s` |", o->file_key);
            ck_assert_msg(strstr(markdown, needle), "Markdown lacks %s", needle);
        }
    }
    int lines = 0;
    for (char *line = help, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        ck_assert_msg(end - line <= 79, "a --help line is %d long: %.*s", (int)(end - line),
                      (int)(end - line), line);
    }
    for (char *p = markdown; (p = strchr(p, '\n')); p++) lines++;
    ck_assert_int_eq(lines, rows + 2); /* the header and its rule */
    ck_assert(strstr(help, "(1..1024; default: one per core)"));
    ck_assert(strstr(help, "(64..1024M, K or M suffix; default 1M)"));
    free(help);
    free(markdown);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_option);
    tcase_add_test(tc, test_errors_name_the_option);
    tcase_add_test(tc, test_listen_forms);
    tcase_add_test(tc, test_help_and_routes);
    tcase_add_test(tc, test_tables_are_consistent);
    tcase_add_test(tc, test_engine_command_line);
    tcase_add_test(tc, test_engine_config_file);
    tcase_add_test(tc, test_file_then_command_line);
    tcase_add_test(tc, test_refused_file_changes_nothing);
    tcase_add_test(tc, test_generated_help);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
