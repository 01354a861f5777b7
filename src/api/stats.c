/* Statistics: the always-on figures (gathered on demand from what the allocator keeps anyway: no
 * cost per malloc/free) and, when compiled in, the debug counters (counters.h). Everything is
 * collected with the allocator's locks held and printed after they are dropped, so printing may
 * allocate (stdio) without deadlocking. */
#include <stdio.h>
#include <string.h>
#include "api/init.h"
#include "core/size_class.h"
#include "core/superslab.h"
#include "core/central.h"
#include "core/large.h"
#include "core/background.h"
#include "core/options.h"
#include "core/counters.h"
#include "core/stats_gather.h"
#include "platform/os.h"

_Static_assert(HAK_C_COUNT == HAK_STATS_COUNTERS, "hakmem.h HAK_STATS_COUNTERS != counter list");
_Static_assert(HAK_NUM_CLASSES == HAK_STATS_CLASSES, "hakmem.h HAK_STATS_CLASSES != classes");

static const char *const counter_names[] = {
#define HAK_COUNTER_NAME(name, desc) #name,
    HAK_COUNTER_LIST(HAK_COUNTER_NAME)
#undef HAK_COUNTER_NAME
};

HAK_API const char *hak_stats_counter_name(unsigned i) { return i < HAK_C_COUNT ? counter_names[i] : NULL; }

HAK_API void hak_stats_get(hak_stats_t *out) {
    stats_gather(out, hak_is_ready());
    out->debug_counters = HAK_COUNTERS_ON;
#if HAKMEM_DEBUG_COUNTERS
    counters_sum(out->counters);
#endif
}

/* Did the refill daemon help this program? New slabs it had ready versus those threads claimed
 * themselves (each ready one saved the thread a claim and its page faults), and what it prepared
 * for nothing. */
static void print_daemon_value(FILE *f, const hak_stats_t *s) {
    uint64_t new_slabs = s->refills_ring + s->refills_sync;
    fprintf(f, "  refill daemon: %llu of %llu new slabs came ready from its pool (%.0f%%); it prepared %llu, "
               "gave back %llu unused; %llu wake-ups\n",
            (unsigned long long)s->refills_ring, (unsigned long long)new_slabs,
            new_slabs ? 100.0 * (double)s->refills_ring / (double)new_slabs : 0.0,
            (unsigned long long)s->daemon_batches, (unsigned long long)s->ring_unused,
            (unsigned long long)s->daemon_wakeups);
    if (!s->daemon_batches) return;
    fprintf(f, "    %10s %10s %12s\n", "block size", "taken", "self-claimed");
    for (unsigned c = 0; c < HAK_STATS_CLASSES; c++)
        if (s->class_ring_taken[c])
            fprintf(f, "    %10u %10llu %12llu\n", s->class_size[c], (unsigned long long)s->class_ring_taken[c],
                    (unsigned long long)s->class_sync_claims[c]);
}

static void print_table(FILE *f, const hak_stats_t *s) {
    fprintf(f, "hakmem statistics\n");
#define ROW(name) fprintf(f, "  %-28s %llu\n", #name, (unsigned long long)s->name);
    HAK_STATS_FIELDS(ROW)
#undef ROW
    fprintf(f, "  slabs per class (block size: slabs):");
    for (unsigned c = 0; c < HAK_STATS_CLASSES; c++)
        if (s->class_slabs[c]) fprintf(f, " %u:%u", s->class_size[c], s->class_slabs[c]);
    fputc('\n', f);
    print_daemon_value(f, s);
    if (!s->debug_counters) return;
    fprintf(f, "  debug counters\n");
    for (unsigned i = 0; i < HAK_STATS_COUNTERS; i++)
        fprintf(f, "    %-26s %llu\n", counter_names[i], (unsigned long long)s->counters[i]);
}

static void print_json(FILE *f, const hak_stats_t *s) {
    fputc('{', f);
#define FIELD(name) fprintf(f, "\"%s\":%llu,", #name, (unsigned long long)s->name);
    HAK_STATS_FIELDS(FIELD)
#undef FIELD
    fprintf(f, "\"classes\":[");
    for (unsigned c = 0; c < HAK_STATS_CLASSES; c++)
        fprintf(f, "%s{\"size\":%u,\"slabs\":%u,\"ring_taken\":%llu,\"sync_claims\":%llu}",
                c ? "," : "", s->class_size[c], s->class_slabs[c], (unsigned long long)s->class_ring_taken[c],
                (unsigned long long)s->class_sync_claims[c]);
    fprintf(f, "],\"debug_counters\":%s", s->debug_counters ? "{" : "null");
    for (unsigned i = 0; s->debug_counters && i < HAK_STATS_COUNTERS; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", counter_names[i], (unsigned long long)s->counters[i]);
    fputs(s->debug_counters ? "}}\n" : "}\n", f);
}

HAK_API void hak_stats_print(FILE *out) {
    hak_stats_t s;
    hak_stats_get(&s);
    print_table(out, &s);
}

HAK_API void hak_stats_print_json(FILE *out) {
    hak_stats_t s;
    hak_stats_get(&s);
    print_json(out, &s);
}

void stats_at_exit(void) {
    /* Appended when the live statistics go to the same file (HAKMEM_STATS_INTERVAL_MS). */
    FILE *f = hak_opt->stats_file[0] ? fopen(hak_opt->stats_file, hak_opt->stats_interval_ms ? "a" : "w") : stderr;
    if (!f) {
        hak_message("hakmem: cannot open HAKMEM_STATS_FILE '%s'", hak_opt->stats_file);
        return;
    }
    if (hak_opt->stats == 2) hak_stats_print_json(f);
    else hak_stats_print(f);
    if (f != stderr) fclose(f);
    else fflush(f);
}
