/* Always-on statistics: gathered on demand from counters the allocator keeps anyway (no cost per
 * malloc/free). Collected with the locks held, printed after they are dropped. */
#include <stdio.h>
#include <string.h>
#include "core/internal.h"

HAK_API void hak_stats_get(hak_stats_t *out) {
    memset(out, 0, sizeof *out);
    out->bytes_mapped = atomic_load_explicit(&hak_bytes_mapped, memory_order_relaxed);
    out->purges = atomic_load_explicit(&hak_purges, memory_order_relaxed);
    out->daemon_wakeups = atomic_load_explicit(&hak_daemon_wakeups, memory_order_relaxed);
    out->daemon_batches = atomic_load_explicit(&hak_daemon_batches, memory_order_relaxed);
    if (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) return;
    superslab_stats(out);
    large_stats(out);
    central_stats(out);
}

#define STATS_FIELDS(X) \
    X(bytes_mapped) X(superslabs_active) X(superslabs_empty) X(superslabs_mapped_total) \
    X(superslabs_unmapped_total) X(slabs_in_use) X(purges) X(large_live) X(large_live_bytes) \
    X(large_cached) X(large_cached_bytes) X(refills_ring) X(refills_sync) X(daemon_wakeups) \
    X(daemon_batches)

static void print_table(FILE *f, const hak_stats_t *s) {
    fprintf(f, "hakmem statistics\n");
#define ROW(name) fprintf(f, "  %-28s %llu\n", #name, (unsigned long long)s->name);
    STATS_FIELDS(ROW)
#undef ROW
}

static void print_json(FILE *f, const hak_stats_t *s) {
    const char *sep = "";
    fputc('{', f);
#define FIELD(name) fprintf(f, "%s\"%s\":%llu", sep, #name, (unsigned long long)s->name), sep = ",";
    STATS_FIELDS(FIELD)
#undef FIELD
    fputs("}\n", f);
}

HAK_API void hak_stats_print(FILE *out) {
    hak_stats_t s;
    hak_stats_get(&s);
    print_table(out, &s);
}

void stats_at_exit(void) HAK_INTERNAL;
void stats_at_exit(void) {
    hak_stats_t s;
    hak_stats_get(&s);
    FILE *f = hak_opt.stats_file[0] ? fopen(hak_opt.stats_file, "w") : stderr;
    if (!f) {
        hak_message("hakmem: cannot open HAKMEM_STATS_FILE '%s'", hak_opt.stats_file);
        return;
    }
    if (hak_opt.stats == 2) print_json(f, &s);
    else print_table(f, &s);
    if (f != stderr) fclose(f);
    else fflush(f);
}
