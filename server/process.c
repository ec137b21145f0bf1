/* process.c - process_* and build-info metrics (see process.h). */
#include "process.h"

#include <dirent.h>
#include <jansson.h>
#include <lmdb.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "blas_kernel.h"

/* Fields of /proc/self/stat after the command name (which may hold spaces
 * and parentheses, so parsing starts after its last ')'). */
typedef struct proc_stat {
    unsigned long long utime, stime; /* clock ticks */
    long threads;
    unsigned long long vsize; /* bytes */
    long rss;                 /* pages */
} proc_stat;

static int read_stat(proc_stat *s)
{
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice threads itrealvalue starttime
     * vsize rss */
    int got = sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %ld "
                     "%*d %*u %llu %ld",
                     &s->utime, &s->stime, &s->threads, &s->vsize, &s->rss);
    return got == 5 ? 0 : -1;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void gauge(FILE *out, const char *name, const char *type, const char *help, double v)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void rs_process_render(FILE *out, double started)
{
    proc_stat s;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (read_stat(&s) == 0 && ticks > 0 && page > 0) {
        gauge(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.",
              (double)(s.utime + s.stime) / (double)ticks);
        gauge(out, "process_resident_memory_bytes", "gauge",
              "Resident memory (mapped store pages that were read count too).",
              (double)s.rss * (double)page);
        gauge(out, "process_virtual_memory_bytes", "gauge",
              "Virtual memory (includes the store's map-size reservation).", (double)s.vsize);
        gauge(out, "process_threads", "gauge", "Threads of the process.", (double)s.threads);
    }
    long fds = open_fds();
    if (fds >= 0) gauge(out, "process_open_fds", "gauge", "Open file descriptors.", (double)fds);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
        gauge(out, "process_max_fds", "gauge", "Limit on open file descriptors.",
              (double)lim.rlim_cur);
    gauge(out, "process_start_time_seconds", "gauge", "Start of the process (Unix time).", started);
    fprintf(
        out,
        "# HELP recsys_build_info The server's version and the libraries it runs with.\n"
        "# TYPE recsys_build_info gauge\n"
        "recsys_build_info{version=\"%s\",libmicrohttpd=\"%s\",jansson=\"%s\",lmdb=\"%d.%d.%d\","
        "blas_kernel=\"%s\"} 1\n",
        RS_SERVER_VERSION, MHD_get_version(), jansson_version_str(), MDB_VERSION_MAJOR,
        MDB_VERSION_MINOR, MDB_VERSION_PATCH, rs_blas_kernel_name());
}
