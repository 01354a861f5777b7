/* stats_output_program: a small program linked against libhakmem.so (standard malloc names), run by
 * test_counters_stats_output.py to check what the statistics print.
 *
 *   stats_output_program names      prints "name <counter>" for every hak_stats_counter_name(i)
 *                                   until NULL, then "debug_counters <0|1>"
 *   stats_output_program work       mallocs and frees (small, medium, large, malloc(0), free(NULL))
 *                                   and exits normally: HAKMEM_STATS prints at exit
 *   stats_output_program memstream  the same work, then hak_stats_print_json() into an
 *                                   open_memstream buffer (which grows through hakmem's own realloc:
 *                                   printing must not hold the allocator's locks) and writes that
 *                                   buffer to stdout; also checks hak_stats_print() into a tmpfile */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/check.h"
#include "hakmem.h"

/* Through volatile pointers: the compiler cannot pair or drop the calls. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

static void work(void)
{
    enum { N = 3000 };
    static void *v[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t size = i % 100 == 99 ? 300 * 1024 : i % 10 == 9 ? 40000 : (size_t)(16 + (i % 7) * 24);
            CHECK((v[i] = do_malloc(size)) != NULL, "malloc(%zu)", size);
        }
        for (int i = 0; i < N; i++) do_free(v[i]);
    }
    do_free(NULL);
    void *z = do_malloc(0);
    CHECK(z != NULL, "malloc(0)");
    do_free(z);
}

static void memstream(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL, "open_memstream");
    hak_stats_print_json(f);
    CHECK(fclose(f) == 0, "fclose(memstream)");
    hak_stats_t s;
    hak_stats_get(&s);
    /* A light check here; the test script parses it with a real JSON parser. */
    CHECK(len > 2 && buf[0] == '{' && buf[len - 1] == '\n' && buf[len - 2] == '}', "one JSON object per line");
    CHECK(strstr(buf, s.debug_counters ? "\"debug_counters\":{" : "\"debug_counters\":null") != NULL,
          "debug_counters is %s", s.debug_counters ? "an object" : "null");
    for (unsigned i = 0; s.debug_counters && i < HAK_STATS_COUNTERS; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", hak_stats_counter_name(i));
        CHECK(strstr(buf, key) != NULL, "no %s in the JSON", key);
    }
    fwrite(buf, 1, len, stdout);
    free(buf);

    FILE *t = tmpfile();
    CHECK(t != NULL, "tmpfile");
    hak_stats_print(t);
    long size = ftell(t);
    CHECK(size > 0, "hak_stats_print wrote nothing");
    rewind(t);
    char *table = calloc(1, (size_t)size + 1);
    CHECK(table && fread(table, 1, (size_t)size, t) == (size_t)size, "read back the table");
    fclose(t);
    CHECK(strstr(table, "hakmem statistics") != NULL, "table title");
    CHECK((strstr(table, "debug counters") != NULL) == (s.debug_counters != 0),
          "the table has a 'debug counters' section iff they are compiled in");
    free(table);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "work";
    if (strcmp(mode, "names") == 0) {
        unsigned i = 0;
        for (const char *n; (n = hak_stats_counter_name(i)); i++) printf("name %s\n", n);
        CHECK(i == HAK_STATS_COUNTERS, "%u names, HAK_STATS_COUNTERS is %d", i, HAK_STATS_COUNTERS);
        hak_stats_t s;
        hak_stats_get(&s);
        printf("debug_counters %d\n", s.debug_counters);
        return 0;
    }
    work();
    if (strcmp(mode, "memstream") == 0) memstream();
    else CHECK(strcmp(mode, "work") == 0, "usage: %s names|work|memstream", argv[0]);
    return 0;
}
