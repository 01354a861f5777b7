/* Live statistics: with HAKMEM_STATS_INTERVAL_MS=N, one JSON object per line every N ms appended
 * to HAKMEM_STATS_FILE (default ./hakmem-stats.<pid>.jsonl), for tools/hakmem-stats to plot.
 *
 * Who writes: the refill daemon's thread (daemon.c calls stats_stream_tick on every pass and
 * sleeps no longer than stats_stream_timeout), so the stream costs no thread of its own; with
 * HAKMEM_REFILL_THREAD=0 that thread runs for the stream only and does no refill work (the core
 * is not told it runs: background_running() stays false, so no ring is used). One more sample is
 * written at exit (atexit), so even a program shorter than N ms leaves one line.
 *
 * Like the daemon, this file sits above the core and only calls down: it gathers the figures from
 * the core's own statistics functions, not through hak_stats_get (api/, the layer above).
 *
 * Nothing here allocates: each line is formatted into a stack buffer by hand (no stdio, whose
 * buffers would come from the application's malloc, i.e. from this allocator's caches on the
 * daemon's thread) and written with one write(2) to a file opened O_APPEND, so lines of several
 * processes (a forking program; HAKMEM_STATS_FILE shared by exec'd children) never interleave;
 * each line carries its pid. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "refill_thread/stats_stream.h"
#include "hakmem.h"
#include "core/background.h"
#include "core/central.h"
#include "core/superslab.h"
#include "core/large.h"
#include "core/stats_gather.h"
#include "core/options.h"
#include "platform/os.h"

/* Set once at init, before the daemon thread is created (pthread_create orders it for the daemon);
 * read at exit by whichever thread exits, hence atomic. -1: stream off. */
static _Atomic int stream_fd = -1;
static uint64_t start_ms;   /* written at init, before the daemon exists; read-only after */
/* Wall-clock start (ms since the epoch): with the pid, names one run of the library, since an
 * exec keeps the pid (the tool separates the runs of a shell that execs a program). */
static uint64_t start_wall_ms;
static uint64_t next_due;   /* the daemon's thread only */

/* ---- Formatting into a fixed buffer ---------------------------------------------------------- */
/* 8 KiB: a line is at most about 3.5 KiB (20-digit values in all four class arrays). */
typedef struct line { char buf[8192]; size_t len; } line_t;

static void put_str(line_t *l, const char *s) {
    size_t n = strlen(s);
    if (l->len + n < sizeof l->buf) {
        memcpy(l->buf + l->len, s, n);
        l->len += n;
    }
}

static void put_u64(line_t *l, uint64_t v) {
    char tmp[24];
    int i = (int)sizeof tmp;
    do tmp[--i] = (char)('0' + v % 10); while ((v /= 10) != 0);
    if (l->len + (sizeof tmp - (size_t)i) < sizeof l->buf) {
        memcpy(l->buf + l->len, tmp + i, sizeof tmp - (size_t)i);
        l->len += sizeof tmp - (size_t)i;
    }
}

static void put_field(line_t *l, const char *name, uint64_t v) {
    put_str(l, ",\"");
    put_str(l, name);
    put_str(l, "\":");
    put_u64(l, v);
}

/* Resident bytes, from /proc/self/statm (read(2) into the stack; 0 if unreadable). */
static uint64_t rss_bytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *p = strchr(buf, ' ');
    return p ? strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void write_sample(int fd, uint64_t now) {
    hak_stats_t s;
    stats_gather(&s, true);   /* the stream starts once the allocator is ready */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    line_t l = { .len = 0 };
    put_str(&l, "{\"pid\":");
    put_u64(&l, (uint64_t)getpid());
    put_field(&l, "time_ms", (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000);
    put_field(&l, "started_ms", start_wall_ms);
    put_field(&l, "uptime_ms", now - start_ms);
    put_field(&l, "rss", rss_bytes());
#define FIELD(name) put_field(&l, #name, s.name);
    HAK_STATS_FIELDS(FIELD)
#undef FIELD
    /* Per class: its block size, its slabs now, and what the daemon did for it (fresh slabs its
     * threads took from the pool, new slabs they claimed themselves). */
#define ARRAY(name)                                                                                \
    put_str(&l, ",\"" #name "\":[");                                                              \
    for (unsigned c = 0; c < HAK_STATS_CLASSES; c++) {                                            \
        if (c) put_str(&l, ",");                                                                  \
        put_u64(&l, s.name[c]);                                                                   \
    }                                                                                             \
    put_str(&l, "]");
    ARRAY(class_size)
    ARRAY(class_slabs)
    ARRAY(class_ring_taken)
    ARRAY(class_sync_claims)
#undef ARRAY
    put_str(&l, "}\n");
    /* One write: O_APPEND makes it atomic with respect to other writers of the file. */
    while (write(fd, l.buf, l.len) < 0 && errno == EINTR) {
    }
}

/* ---- Start, tick, exit ---------------------------------------------------------------------------- */

static void stream_at_exit(void) {
    int fd = atomic_load_explicit(&stream_fd, memory_order_acquire);
    if (fd >= 0) write_sample(fd, os_now_ms());
}

bool stats_stream_start(void) {
    if (hak_opt->stats_interval_ms <= 0) return false;
    char def[64];
    const char *path = hak_opt->stats_file;
    if (!path[0]) {   /* ./hakmem-stats.<pid>.jsonl, built by hand (no stdio) */
        line_t l = { .len = 0 };
        put_str(&l, "hakmem-stats.");
        put_u64(&l, (uint64_t)getpid());
        put_str(&l, ".jsonl");
        memcpy(def, l.buf, l.len);
        def[l.len] = '\0';
        path = def;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        hak_message("hakmem: cannot open the statistics stream '%s' (errno %d); HAKMEM_STATS_INTERVAL_MS ignored",
                    path, errno);
        return false;
    }
    start_ms = os_now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    start_wall_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    next_due = start_ms;   /* the daemon's first pass writes the first sample */
    atomic_store_explicit(&stream_fd, fd, memory_order_release);
    if (atexit(stream_at_exit) != 0)   /* the allocator is ready: atexit may allocate */
        hak_message("hakmem: warning: atexit failed: no last statistics line at exit");
    return true;
}

void stats_stream_tick(void) {
    int fd = atomic_load_explicit(&stream_fd, memory_order_relaxed);
    if (fd < 0) return;
    uint64_t now = os_now_ms();
    if (now < next_due) return;
    next_due = now + (uint64_t)hak_opt->stats_interval_ms;   /* late: no burst of catch-up samples */
    write_sample(fd, now);
}

long stats_stream_timeout(long timeout) {
    if (atomic_load_explicit(&stream_fd, memory_order_relaxed) < 0) return timeout;
    uint64_t now = os_now_ms();
    long left = next_due > now ? (long)(next_due - now) : 0;
    return timeout < 0 || left < timeout ? left : timeout;
}
