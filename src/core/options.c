/* Options: one table, one row per HAKMEM_* variable (docs/configuration.md mirrors it).
 * Read once at start-up straight from `environ` (no getenv, no allocation). Booleans take
 * 1/0/on/off/yes/no/true/false; numbers are decimal. A bad value gives one warning line naming the
 * variable and the value, and the default stays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/options.h"
#include "platform/os.h"

extern char **environ;

/* The only writable copy: written by options_load before hak_init publishes start-up (release),
 * read by everyone after (acquire), never written again. */
static hak_options_t opts;
const hak_options_t *const hak_opt = &opts;

typedef enum { OPT_BOOL, OPT_LONG, OPT_STATS, OPT_PATH } opt_kind_t;

typedef struct option_row {
    const char *name;
    opt_kind_t  kind;
    long       *value;
    long        def, min, max;
    const char *effect;
} option_row_t;

static option_row_t options[] = {
    { "HAKMEM_TINY_REFILL_COUNT", OPT_LONG, &opts.refill_count, 32, 1, 256,
      "blocks per refill batch for classes up to 128 B (larger classes: 32 KiB per batch, 4 to this many blocks; 2 above 32 KiB)" },
    { "HAKMEM_TLS_CAP_BATCHES", OPT_LONG, &opts.tls_cap_batches, 2, 1, 64,
      "a thread's list per class holds at most this many batches before one goes back" },
    { "HAKMEM_REFILL_THREAD", OPT_BOOL, &opts.refill_thread, 1, 0, 1,
      "1: a background thread keeps a pool of fresh pre-faulted slabs ready while the heap grows; 0: threads claim every slab themselves" },
    { "HAKMEM_RING_SIZE", OPT_LONG, &opts.ring_size, 64, 4, 1024,
      "slots of the ring that holds the pool of fresh slabs (rounded up to a power of two; holds one less)" },
    { "HAKMEM_RING_HIGH", OPT_LONG, &opts.ring_high, 32, 1, 1023,
      "the most fresh slabs the refill thread keeps ready (at most 2 MiB of them; clamped to the ring's capacity)" },
    { "HAKMEM_PURGE_DELAY_MS", OPT_LONG, &opts.purge_delay_ms, 500, 0, 3600000,
      "free slabs, empty SuperSlabs and cached large mappings idle this long are returned to the OS" },
    { "HAKMEM_RETAIN_MB", OPT_LONG, &opts.retain_mb, 16, 0, 1 << 20,
      "empty (purged) SuperSlabs kept mapped for reuse up to this many MiB; beyond, unmapped" },
    { "HAKMEM_LARGE_CACHE_MB", OPT_LONG, &opts.large_cache_mb, 64, 0, 1 << 20,
      "freed large mappings kept for reuse, in MiB" },
    { "HAKMEM_VERBOSE", OPT_BOOL, &opts.verbose, 0, 0, 1,
      "1: print the effective settings once at start-up" },
    { "HAKMEM_CHECK", OPT_BOOL, &opts.check, 0, 0, 1,
      "1: checking mode: every malloc and free takes a checked slow path that also catches cross-thread double frees and writes past the end of a block (docs/security.md)" },
    { "HAKMEM_STATS", OPT_STATS, &opts.stats, 0, 0, 2,
      "1: print statistics as a table to stderr at exit; json: as one JSON object" },
    { "HAKMEM_STATS_FILE", OPT_PATH, NULL, 0, 0, 0,
      "write the exit statistics to this file instead of stderr (and the live statistics, appended)" },
    { "HAKMEM_STATS_INTERVAL_MS", OPT_LONG, &opts.stats_interval_ms, 0, 0, 3600000,
      "append one JSON line of statistics every N ms (0: off) to HAKMEM_STATS_FILE, default ./hakmem-stats.<pid>.jsonl" },
};

#define NUM_OPTIONS (sizeof options / sizeof options[0])

static const char *env_lookup(const char *name) {
    size_t len = strlen(name);
    if (!environ) return NULL;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
    return NULL;
}

static bool parse_bool(const char *s, long *out) {
    static const char *const yes[] = { "1", "on", "yes", "true" }, *const no[] = { "0", "off", "no", "false" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = 1; return true; }
        if (strcasecmp(s, no[i]) == 0) { *out = 0; return true; }
    }
    return false;
}

static bool parse_long(const char *s, long min, long max, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

static bool parse_row(const option_row_t *row, const char *s) {
    switch (row->kind) {
    case OPT_BOOL: return parse_bool(s, row->value);
    case OPT_LONG: return parse_long(s, row->min, row->max, row->value);
    case OPT_STATS:
        if (strcasecmp(s, "json") == 0) { *row->value = 2; return true; }
        return parse_bool(s, row->value);
    case OPT_PATH:
        if (strlen(s) >= sizeof opts.stats_file) return false;
        strcpy(opts.stats_file, s);
        return true;
    }
    return false;
}

void options_load(void) {
    for (size_t i = 0; i < NUM_OPTIONS; i++) {
        option_row_t *row = &options[i];
        if (row->value) *row->value = row->def;
        const char *s = env_lookup(row->name);
        if (s && !parse_row(row, s)) {
            if (row->value) *row->value = row->def;
            if (row->kind == OPT_LONG)
                hak_message("hakmem: warning: invalid %s='%s' (expected %ld..%ld); using %ld",
                            row->name, s, row->min, row->max, row->def);
            else
                hak_message("hakmem: warning: invalid %s='%s'; using the default", row->name, s);
        }
    }
    /* Settings that depend on each other: the ring holds size-1 entries, high <= capacity. */
    long ring = 4;
    while (ring < opts.ring_size) ring <<= 1;
    opts.ring_size = ring;
    if (opts.ring_high > ring - 1) opts.ring_high = ring - 1;
}

void options_print(void) {
    hak_message("hakmem: settings (see docs/configuration.md):");
    for (size_t i = 0; i < NUM_OPTIONS; i++) {
        const option_row_t *row = &options[i];
        if (row->kind == OPT_PATH)
            hak_message("  %-26s %s", row->name, opts.stats_file[0] ? opts.stats_file : "(stderr)");
        else if (row->kind == OPT_STATS)
            hak_message("  %-26s %s", row->name, *row->value == 2 ? "json" : *row->value ? "1" : "0");
        else
            hak_message("  %-26s %ld", row->name, *row->value);
    }
}
