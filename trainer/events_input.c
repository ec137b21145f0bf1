/* events_input.c - an events environment as training interactions (see
 * events_input.h). */
#include "events_input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventlog.h"

/* The separator the loader will detect in data_path's first line (tab,
 * else "::", else comma; tab without a file). */
static int data_separator(const char *data_path, char sep[3], rs_error *err)
{
    strcpy(sep, "\t");
    if (!data_path) return 0;
    FILE *f = fopen(data_path, "rb");
    if (!f) return rs_fail(err, "--data %s: %s", data_path, strerror(errno));
    char line[65536];
    while (fgets(line, sizeof(line), f)) {
        size_t n = strspn(line, " \t\r\n");
        if (line[n] == '\0') continue;
        if (strchr(line, '\t'))
            strcpy(sep, "\t");
        else if (strstr(line, "::"))
            strcpy(sep, "::");
        else if (strchr(line, ','))
            strcpy(sep, ",");
        break;
    }
    fclose(f);
    return 0;
}

/* Copies data_path into out, ending with a newline. */
static int copy_data(const char *data_path, FILE *out, rs_error *err)
{
    FILE *f = fopen(data_path, "rb");
    if (!f) return rs_fail(err, "--data %s: %s", data_path, strerror(errno));
    char buf[65536];
    size_t n, total = 0;
    int last = '\n';
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            fclose(f);
            return rs_fail(err, "writing the events input: %s", strerror(errno));
        }
        last = buf[n - 1];
        total += n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) return rs_fail(err, "--data %s: read error", data_path);
    if (total && last != '\n' && fputc('\n', out) == EOF)
        return rs_fail(err, "writing the events input: %s", strerror(errno));
    return 0;
}

typedef struct writer {
    FILE *out;
    const char *sep;
    const char *types;
    rs_events_input *in;
} writer;

static int has_type(const char *types, const char *t, size_t len)
{
    for (const char *p = types; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && memcmp(p, t, len) == 0) return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* An id fits a line when it holds no separator and no line break. */
static int fits(const char *s, size_t len, const char *sep)
{
    size_t sl = strlen(sep);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || s[i] == '\r') return 0;
        if (i + sl <= len && memcmp(s + i, sep, sl) == 0) return 0;
    }
    return 1;
}

static int write_event(void *ctx, uint64_t seq, const rs_event *e, rs_error *err)
{
    writer *w = ctx;
    rs_events_input *in = w->in;
    in->read++;
    in->cutoff_seq = seq;
    if (e->timestamp > in->cutoff_time) in->cutoff_time = e->timestamp;
    if (!has_type(w->types, e->type, e->type_len)) return 0;
    if (!fits(e->key, e->key_len, w->sep) || !fits(e->item, e->item_len, w->sep)) {
        in->skipped++;
        return 0;
    }
    if (fprintf(w->out, "%.*s%s%.*s\n", (int)e->key_len, e->key, w->sep, (int)e->item_len,
                e->item) < 0)
        return rs_fail(err, "writing the events input: %s", strerror(errno));
    in->used++;
    return 0;
}

int rs_events_input_make(const char *dir, const char *types, const char *data_path,
                         rs_events_input *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    char sep[3];
    if (data_separator(data_path, sep, err) != 0) return -1;
    rs_eventlog *log;
    if (rs_eventlog_open(dir, RS_EVENTLOG_READONLY, 0, &log, err) != 0)
        return rs_error_prefix(err, "--events");
    const char *tmp = getenv("TMPDIR");
    snprintf(out->path, sizeof(out->path), "%s/rectrain-events.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(out->path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        rs_fail(err, "--events: cannot create a temporary file %s: %s", out->path, strerror(errno));
        out->path[0] = '\0';
        rs_eventlog_close(log);
        return -1;
    }
    writer w = {f, sep, types, out};
    int rc = data_path ? copy_data(data_path, f, err) : 0;
    if (rc == 0 && rs_eventlog_scan(log, 0, write_event, &w, err) != 0)
        rc = rs_error_prefix(err, "--events");
    if (fclose(f) != 0 && rc == 0)
        rc = rs_fail(err, "writing the events input: %s", strerror(errno));
    rs_eventlog_close(log);
    if (rc == 0 && out->used == 0 && !data_path)
        rc = rs_fail(err, "--events %s: no event of the types %s (and no --data)", dir, types);
    if (rc != 0) rs_events_input_remove(out);
    return rc;
}

void rs_events_input_remove(rs_events_input *in)
{
    if (in->path[0]) unlink(in->path);
    in->path[0] = '\0';
}

json_t *rs_events_input_json(const rs_events_input *in, const char *dir, const char *types)
{
    /* Only the directory's own name: the manifest is shown to anyone. */
    char name[4096];
    snprintf(name, sizeof(name), "%s", dir);
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') name[--n] = '\0';
    const char *slash = strrchr(name, '/');
    return json_pack("{s:s,s:s,s:I,s:f,s:I,s:I,s:I}", "dir", slash && slash[1] ? slash + 1 : name,
                     "types", types, "cutoff_seq", (json_int_t)in->cutoff_seq, "cutoff_time",
                     in->cutoff_time, "read", (json_int_t)in->read, "used", (json_int_t)in->used,
                     "skipped", (json_int_t)in->skipped);
}
