/* test_cli.c - the trainer's command line (trainer/cli.h): every option of
 * every family is accepted for that family with a value inside its bounds,
 * and an unknown option is refused. The first check guards the getopt
 * table: options were once returned by index, and the 64th collided with
 * getopt's '?' (63), so `--lr-g` failed silently with exit status 2. */
#include <check.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "family.h"
#include "options.h"

/* A value the option accepts: its default when it has one, else its lower
 * bound (or a word for strings and custom parsers without a default). */
static const char *valid_value(const rs_option *o, char *buf, size_t size)
{
    if (o->def) return o->def;
    switch (o->type) {
    case RS_OPT_INT:
    case RS_OPT_LONG:
    case RS_OPT_U32:
    case RS_OPT_U64:
        snprintf(buf, size, "%ld", o->min);
        return buf;
    case RS_OPT_FLOAT:
    case RS_OPT_DOUBLE:
        snprintf(buf, size, "%.17g", o->lo);
        return buf;
    default:
        return NULL;
    }
}

START_TEST(test_every_family_option_parses)
{
    int n_families, checked = 0;
    const rs_family *const *families = rs_families(&n_families);
    for (int f = 0; f < n_families; f++) {
        for (int i = 0; i < families[f]->n_options; i++) {
            const rs_option *o = &families[f]->options[i];
            if (o->type == RS_OPT_SECTION) continue;
            char flag[96], buf[64];
            snprintf(flag, sizeof(flag), "--%s", o->name);
            const char *value = o->type == RS_OPT_FLAG ? NULL : valid_value(o, buf, sizeof(buf));
            if (o->type != RS_OPT_FLAG && !value) continue; /* no value known to be valid */
            char *argv[8] = {
                "rectrain", "--data",      "train.tsv", "--model", (char *)families[f]->name,
                flag,       (char *)value, NULL};
            int argc = value ? 7 : 6;
            rs_cli c;
            optind = 0; /* a fresh getopt scan */
            int rc = rs_cli_parse(argc, argv, &c);
            ck_assert_msg(rc == 0, "--model %s %s %s refused", families[f]->name, flag,
                          value ? value : "");
            rs_cli_free(&c);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 40);
}
END_TEST

START_TEST(test_unknown_option_is_refused)
{
    char *argv[] = {"rectrain", "--data", "train.tsv", "--no-such-option", "1", NULL};
    rs_cli c;
    optind = 0;
    ck_assert_int_ne(rs_cli_parse(5, argv, &c), 0);
    rs_cli_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_test(tc, test_every_family_option_parses);
    tcase_add_test(tc, test_unknown_option_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
