/* dataset_report.c - the load report as the user reads it
 * (rs_data_report_print, see dataset.h): kept apart from the loader so
 * that dataset.c stays about parsing and splitting. */
#include <stdio.h>

#include "dataset.h"

static const char *sep_name(const char *sep)
{
    return sep[0] == '\t' ? "tab" : sep[0] == ',' ? "comma" : "'::'";
}

static void print_count(FILE *f, uint64_t v)
{
    /* Thousands separators make counts of millions readable. */
    char digits[32], outb[48];
    int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v), w = 0;
    for (int k = 0; k < n; k++) {
        if (k > 0 && (n - k) % 3 == 0) outb[w++] = ',';
        outb[w++] = digits[k];
    }
    outb[w] = '\0';
    fputs(outb, f);
}

/* Which columns were read and which were used or ignored. */
static void print_columns(const rs_data_report *r, FILE *f)
{
    fputs("  columns: user, item", f);
    if (r->rows_weighted) {
        fputs(", weight (", f);
        print_count(f, r->rows_weighted);
        if (r->min_rating_applied)
            fprintf(f, " rows; used: rows below --min-rating %g are not trained on)",
                    r->min_rating);
        else
            fputs(" rows; ignored: every row counts as one interaction, give --min-rating R to "
                  "keep only ratings >= R)",
                  f);
    }
    if (r->rows_timestamped) {
        fputs(", timestamp (", f);
        print_count(f, r->rows_timestamped);
        fputs(r->timestamps_used ? " rows; used by --split time)"
                                 : " rows; ignored: --split time holds out each user's latest)",
              f);
    }
    if (r->rows_quoted) {
        fputs("; ", f);
        print_count(f, r->rows_quoted);
        fputs(" rows had quoted fields", f);
    }
    fputc('\n', f);
}

void rs_data_report_print(const rs_data_report *r, FILE *f)
{
    fputs("data: ", f);
    print_count(f, r->lines_read);
    fprintf(f, " train lines (separator %s, %s)", r->separator[0] ? sep_name(r->separator) : "?",
            r->header_skipped ? "header skipped" : "no header");
    fputs(", ", f);
    print_count(f, r->interactions_kept);
    fputs(" interactions kept", f);
    if (r->below_min_rating || r->duplicates) {
        fputs(" (dropped ", f);
        print_count(f, r->below_min_rating);
        fputs(" below min rating, ", f);
        print_count(f, r->duplicates);
        fputs(" duplicates)", f);
    }
    fputc('\n', f);
    print_columns(r, f);
    if (r->kcore_users_removed || r->kcore_items_removed) {
        fprintf(f, "  k-core: %u rounds removed ", r->kcore_rounds);
        print_count(f, r->kcore_users_removed);
        fputs(" users, ", f);
        print_count(f, r->kcore_items_removed);
        fputs(" items, ", f);
        print_count(f, r->kcore_interactions_removed);
        fputs(" interactions\n", f);
    }
    fputs("  ", f);
    print_count(f, r->n_users);
    fputs(" users x ", f);
    print_count(f, r->n_items);
    fputs(" items; train ", f);
    print_count(f, r->train_interactions);
    if (r->valid_users) {
        fputs(", validation ", f);
        print_count(f, r->valid_interactions);
        fputs(" (", f);
        print_count(f, r->valid_users);
        fputs(" users)", f);
    }
    if (r->heldout_users) {
        fputs("; ", f);
        print_count(f, r->heldout_users);
        fputs(" held-out users", f);
    }
    fputs("; test ", f);
    print_count(f, r->test_interactions);
    fputs(" for ", f);
    print_count(f, r->test_users);
    fputs(" users\n", f);
    fputs("  seen by the users: ", f);
    print_count(f, r->seen_interactions);
    fputs(" interactions (every input row of a known user and item, whatever its rating or "
          "split; published as the seen-set the server leaves out)\n",
          f);
    if (r->test_lines) {
        fputs("  test file: ", f);
        print_count(f, r->test_lines);
        fprintf(f, " lines (separator %s, %s)",
                r->test_separator[0] ? sep_name(r->test_separator) : "?",
                r->test_header_skipped ? "header skipped" : "no header");
        if (r->test_unknown_user || r->test_unknown_item || r->test_in_train ||
            r->test_duplicates || r->test_below_min_rating) {
            fputs("; skipped ", f);
            print_count(f, r->test_unknown_user);
            fputs(" unknown user", f);
            if (r->test_unknown_user)
                fprintf(f, " (first '%s', line %llu)", r->first_unknown_user,
                        (unsigned long long)r->first_unknown_user_line);
            fputs(", ", f);
            print_count(f, r->test_unknown_item);
            fputs(" unknown item", f);
            if (r->test_unknown_item)
                fprintf(f, " (first '%s', line %llu)", r->first_unknown_item,
                        (unsigned long long)r->first_unknown_item_line);
            fputs(", ", f);
            print_count(f, r->test_in_train);
            fputs(" already in train, ", f);
            print_count(f, r->test_duplicates);
            fputs(" duplicates, ", f);
            print_count(f, r->test_below_min_rating);
            fputs(" below min rating", f);
        }
        fputc('\n', f);
    }
    fprintf(f, "  loaded in %.2f s\n", r->load_seconds);
}
