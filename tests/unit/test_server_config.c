/* test_server_config.c - recserve's command line and listen addresses. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "config.h"

/* Parses a NULL-terminated argument list (argv[0] added). */
static int parse(rs_server_config *cfg, rs_error *err, const char **args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"recserve";
    for (; *args; args++) argv[argc++] = (char *)*args;
    argv[argc] = NULL;
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
                          "2",
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
    ck_assert_double_eq(cfg.shutdown_grace, 2.0);
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

int main(void)
{
    Suite *s = suite_create("server_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_option);
    tcase_add_test(tc, test_errors_name_the_option);
    tcase_add_test(tc, test_listen_forms);
    tcase_add_test(tc, test_help_and_routes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
