/* test_counters_compiled_out_zero: in a build without HAKMEM_DEBUG_COUNTERS, hak_stats_get() says
 * so (debug_counters == 0) and every counter stays zero however much the program allocates, while
 * the always-on statistics still count. The counter names stay available (the printers and
 * docs/counters.md use them). */
#include <stdio.h>

#include "support/check.h"
#include "hakmem.h"

int main(void)
{
    enum { N = 5000 };
    static void *v[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t size = i % 500 == 499 ? 300 * 1024 : (size_t)(i % 64) * 16;
            CHECK((v[i] = hak_malloc(size)) != NULL, "hak_malloc(%zu)", size);
        }
        for (int i = 0; i < N; i++) hak_free(v[i]);
    }
    hak_free(NULL);
    hak_stats_t s;
    hak_stats_get(&s);
    CHECK(s.debug_counters == 0, "debug_counters is %d in a build without the counters", s.debug_counters);
    for (unsigned i = 0; i < HAK_STATS_COUNTERS; i++)
        CHECK(s.counters[i] == 0, "counter %s is %llu", hak_stats_counter_name(i),
              (unsigned long long)s.counters[i]);
    OK("hak_stats_get: debug_counters 0, all %d counters 0 after %d mallocs and frees", HAK_STATS_COUNTERS,
       3 * N);
    CHECK(s.refills_sync + s.refills_ring > 0 && s.superslabs_mapped_total > 0 && s.bytes_mapped > 0,
          "the always-on statistics count without the debug counters");
    OK("always-on statistics still count: %llu refills, %llu SuperSlabs mapped",
       (unsigned long long)(s.refills_sync + s.refills_ring), (unsigned long long)s.superslabs_mapped_total);
    CHECK(hak_stats_counter_name(0) && hak_stats_counter_name(HAK_STATS_COUNTERS - 1) &&
              !hak_stats_counter_name(HAK_STATS_COUNTERS),
          "hak_stats_counter_name gives %d names", HAK_STATS_COUNTERS);
    OK("hak_stats_counter_name still names the %d counters", HAK_STATS_COUNTERS);
    return 0;
}
