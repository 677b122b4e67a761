/*
 * Growing a region in place while other threads use it: vmp_extend under
 * the region's lock, the range checks reading the size without it. Plain
 * C (no Criterion) so that it runs under ThreadSanitizer too. Exit 0 when
 * every call gave an allowed answer and the region ended as expected.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "vmplace.h"

#define GROWTHS 64
#define WORKERS 2

static vmp_region *region;
static size_t grain;
static atomic_int done, failures;

static void fail(const char *what, int rc) {
  fprintf(stderr, "threads_placement: %s: %s\n", what, vmp_err_name(rc));
  atomic_fetch_add(&failures, 1);
}

/* Works at the start of the region, and probes just past what it saw as
 * the end: ERANGE until the growth that covers it is visible. */
static void *worker(void *arg) {
  size_t id = (size_t)arg, off = id * grain;
  while (!atomic_load(&done)) {
    int rc = vmp_commit(region, off, grain, VMP_PROT_RW);
    if (rc) fail("commit", rc);
    memset((char *)vmp_base(region) + off, (int)id + 1, grain);
    rc = vmp_unmap(region, off, grain);
    if (rc) fail("unmap", rc);
    size_t size = vmp_size(region);
    vmp_span_info info;
    rc = vmp_query(region, (char *)vmp_base(region) + size - 1, &info);
    if (rc) fail("query of the last byte", rc);
    rc = vmp_carve(region, size, grain);
    if (rc != VMP_ERANGE && rc != 0) fail("carve past the end", rc);
    if (vmp_mapping_count(region) == 0) fail("mapping count", -1);
  }
  return NULL;
}

int main(void) {
  grain = vmp_granularity() > 16 * vmp_page_size() ? vmp_granularity() : 16 * vmp_page_size();
  size_t room = (GROWTHS + WORKERS + 8) * grain, margin = (size_t)64 << 20;
  vmp_region *probe;
  int rc = vmp_reserve(room + 2 * margin, grain, &probe);
  if (rc) return fail("reserve", rc), 1;
  char *addr = (char *)vmp_base(probe) + margin;
  vmp_release(probe);
  rc = vmp_reserve_at(addr, WORKERS * grain, &region);
  if (rc) return fail("reserve_at", rc), 1;
  for (size_t i = 1; i < WORKERS; i++) vmp_split(region, i * grain, grain);
  pthread_t t[WORKERS];
  for (size_t i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < GROWTHS; i++) {
    rc = vmp_extend(region, grain);
    if (rc) fail("extend", rc);
    /* Let the workers see each size. */
    for (int k = 0; k < 20; k++) sched_yield();
  }
  atomic_store(&done, 1);
  for (size_t i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
  if (vmp_size(region) != (WORKERS + GROWTHS) * grain) fail("final size", -1);
  if (vmp_base(region) != addr) fail("the base moved", -1);
  rc = vmp_release(region);
  if (rc) fail("release", rc);
  int n = atomic_load(&failures);
  printf("threads_placement: %d growths beside %d workers, %d failures\n", GROWTHS, WORKERS, n);
  return n == 0 ? 0 : 1;
}
