/* test_eventlog.c - the events environment: record round trips, every
 * damaged byte of a record caught, appends and ordered scans across
 * reopening, and a corrupted or truncated data.mdb refused. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eventlog.h"
#include "test_support.h"

static rs_event make_event(const char *key, const char *item, const char *type, const char *rid,
                           double ts)
{
    rs_event e = {0};
    e.key = key, e.key_len = strlen(key);
    e.item = item, e.item_len = strlen(item);
    e.type = type, e.type_len = strlen(type);
    e.request_id = rid, e.request_id_len = rid ? strlen(rid) : 0;
    e.timestamp = ts;
    return e;
}

static void assert_same(const rs_event *a, const rs_event *b)
{
    ck_assert_uint_eq(a->key_len, b->key_len);
    ck_assert(!memcmp(a->key, b->key, a->key_len));
    ck_assert_uint_eq(a->item_len, b->item_len);
    ck_assert(!memcmp(a->item, b->item, a->item_len));
    ck_assert_uint_eq(a->type_len, b->type_len);
    ck_assert(!memcmp(a->type, b->type, a->type_len));
    ck_assert_uint_eq(a->request_id_len, b->request_id_len);
    if (a->request_id_len) ck_assert(!memcmp(a->request_id, b->request_id, a->request_id_len));
    ck_assert_int_eq(a->session, b->session);
    ck_assert_int_eq(a->has_value, b->has_value);
    ck_assert(a->timestamp == b->timestamp);
    if (a->has_value) ck_assert(a->value == b->value);
}

START_TEST(test_record_round_trip_and_damage)
{
    rs_event e = make_event("user-\xc3\xa9", "item/42", "purchase", "req-1", 1764000000.25);
    e.session = 1;
    e.has_value = 1;
    e.value = -19.5;
    size_t len = rs_event_record_size(&e);
    ck_assert_uint_eq(len, RS_EVENT_HEADER + 7 + 7 + 8 + 5);
    uint8_t rec[256];
    rs_event_encode(&e, rec);
    rs_event d;
    ASSERT_OK(rs_event_decode(rec, len, &d, &err_));
    assert_same(&e, &d);
    /* Every byte, each bit flipped: caught (the checksum or the bounds). */
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            rec[i] ^= (uint8_t)(1u << bit);
            rs_error err = {0};
            ck_assert_msg(rs_event_decode(rec, len, &d, &err) != 0, "byte %zu bit %d", i, bit);
            ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
            rec[i] ^= (uint8_t)(1u << bit);
        }
    /* A record cut short. */
    rs_error err = {0};
    ck_assert(rs_event_decode(rec, len - 1, &d, &err) != 0);
    ck_assert(rs_event_decode(rec, 10, &d, &err) != 0);
}
END_TEST

typedef struct collected {
    uint64_t seqs[64];
    char items[64][32];
    int n;
} collected;

static int collect(void *ctx, uint64_t seq, const rs_event *e, rs_error *err)
{
    collected *c = ctx;
    ck_assert_int_lt(c->n, 64);
    c->seqs[c->n] = seq;
    snprintf(c->items[c->n], sizeof(c->items[0]), "%.*s", (int)e->item_len, e->item);
    c->n++;
    return 0;
}

static char dir[256];

static void fresh_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_eventlog.%d", (int)getpid());
    test_remove_store(dir);
}

START_TEST(test_append_scan_reopen)
{
    fresh_dir();
    rs_eventlog *log;
    rs_error err = {0};
    ck_assert(rs_eventlog_open(dir, 0, 0, &log, &err) != 0); /* not there, not created */
    ASSERT_OK(rs_eventlog_open(dir, RS_EVENTLOG_CREATE, 1 << 24, &log, &err_));
    uint64_t last, first;
    ASSERT_OK(rs_eventlog_last_seq(log, &last, &err_));
    ck_assert_uint_eq(last, 0);
    rs_event a[3] = {make_event("u1", "i1", "click", NULL, 1),
                     make_event("u1", "i2", "view", "r", 2),
                     make_event("u2", "i3", "click", NULL, 3)};
    ASSERT_OK(rs_eventlog_append(log, a, 3, &first, &err_));
    ck_assert_uint_eq(first, 1);
    ASSERT_OK(rs_eventlog_append(log, a + 1, 2, &first, &err_));
    ck_assert_uint_eq(first, 4);
    rs_eventlog_close(log);

    ASSERT_OK(rs_eventlog_open(dir, RS_EVENTLOG_READONLY, 0, &log, &err_));
    ASSERT_OK(rs_eventlog_last_seq(log, &last, &err_));
    ck_assert_uint_eq(last, 5);
    collected c = {0};
    ASSERT_OK(rs_eventlog_scan(log, 0, collect, &c, &err_));
    ck_assert_int_eq(c.n, 5);
    static const char *const want[] = {"i1", "i2", "i3", "i2", "i3"};
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(c.seqs[i], (uint64_t)i + 1);
        ck_assert_str_eq(c.items[i], want[i]);
    }
    collected tail = {0};
    ASSERT_OK(rs_eventlog_scan(log, 3, collect, &tail, &err_));
    ck_assert_int_eq(tail.n, 2);
    ck_assert_uint_eq(tail.seqs[0], 4);
    ck_assert(rs_eventlog_append(log, a, 1, &first, &err) != 0); /* read-only */
    rs_eventlog_close(log);
    test_remove_store(dir);
}
END_TEST

/* Offset of needle in the file, or -1. */
static long find_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char *at = memmem(buf, n, needle, strlen(needle));
    return at ? at - buf : -1;
}

static void flip_byte(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char b;
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x20;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

START_TEST(test_damaged_file_refused)
{
    fresh_dir();
    rs_eventlog *log;
    ASSERT_OK(rs_eventlog_open(dir, RS_EVENTLOG_CREATE, 1 << 24, &log, &err_));
    rs_event e[2] = {make_event("u1", "marker-item-QQQ", "click", NULL, 5),
                     make_event("u2", "i9", "click", NULL, 6)};
    uint64_t first;
    ASSERT_OK(rs_eventlog_append(log, e, 2, &first, &err_));
    rs_eventlog_close(log);
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    long at = find_in_file(path, "marker-item-QQQ");
    ck_assert_int_gt(at, 0);
    flip_byte(path, at + 3); /* a byte of the item id inside the record */
    ASSERT_OK(rs_eventlog_open(dir, 0, 1 << 24, &log, &err_));
    collected c = {0};
    rs_error err = {0};
    ck_assert(rs_eventlog_scan(log, 0, collect, &c, &err) != 0);
    ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    assert_has(err.msg, "event 1");
    assert_has(err.msg, "checksum");
    ck_assert_int_eq(c.n, 0);
    rs_eventlog_close(log);
    /* Cut to one page: shorter than its pages, refused at open. */
    ck_assert_int_eq(truncate(path, 4096), 0);
    ck_assert(rs_eventlog_open(dir, 0, 1 << 24, &log, &err) != 0);
    test_remove_store(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eventlog");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_record_round_trip_and_damage);
    tcase_add_test(tc, test_append_scan_reopen);
    tcase_add_test(tc, test_damaged_file_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
