/* events_tool.c - reads an events environment for the integration tests.
 *
 *   events_tool dump DIR     one line per event, in order:
 *                            SEQ KIND KEY ITEM TYPE VALUE TIMESTAMP REQUEST_ID
 *                            (tab-separated; KIND user or session, VALUE and
 *                            REQUEST_ID "-" when absent)
 *   events_tool count DIR    the number of events
 *
 * Every record is verified; a damaged environment prints the error and
 * exits 1.
 */
#include <stdio.h>
#include <string.h>

#include "eventlog.h"

static int dump_one(void *ctx, uint64_t seq, const rs_event *e, rs_error *err)
{
    int *count_only = ctx;
    if (*count_only) return 0;
    printf("%llu\t%s\t%.*s\t%.*s\t%.*s\t", (unsigned long long)seq, e->session ? "session" : "user",
           (int)e->key_len, e->key, (int)e->item_len, e->item, (int)e->type_len, e->type);
    if (e->has_value)
        printf("%.17g\t", e->value);
    else
        printf("-\t");
    printf("%.6f\t%.*s\n", e->timestamp, e->request_id_len ? (int)e->request_id_len : 1,
           e->request_id_len ? e->request_id : "-");
    return 0;
}

static int counter(void *ctx, uint64_t seq, const rs_event *e, rs_error *err)
{
    (*(unsigned long long *)ctx)++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "dump") && strcmp(argv[1], "count"))) {
        fprintf(stderr, "usage: events_tool dump|count DIR\n");
        return 2;
    }
    rs_eventlog *log;
    rs_error err = {0};
    if (rs_eventlog_open(argv[2], RS_EVENTLOG_READONLY, 0, &log, &err) != 0) {
        fprintf(stderr, "events_tool: %s\n", err.msg);
        return 1;
    }
    int rc;
    unsigned long long n = 0;
    int count_only = 0;
    if (!strcmp(argv[1], "count"))
        rc = rs_eventlog_scan(log, 0, counter, &n, &err);
    else
        rc = rs_eventlog_scan(log, 0, dump_one, &count_only, &err);
    rs_eventlog_close(log);
    if (rc != 0) {
        fprintf(stderr, "events_tool: %s\n", err.msg);
        return 1;
    }
    if (!strcmp(argv[1], "count")) printf("%llu\n", n);
    return 0;
}
