/*
 * Several threads work on disjoint parts of one region at once: split,
 * commit, map, protect, discard, unmap, coalesce. Every call must succeed,
 * every byte must be what its thread wrote, and at the end the region must
 * be back to one placeholder per thread, one kernel mapping in all.
 * A plain program so that ThreadSanitizer can run it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_maps.h"
#include "vmplace.h"

#define THREADS 4
#define SLICE_PAGES 64
#define ITERATIONS 150

static vmp_region *region;
static atomic_int failures;

#define EXPECT(cond, ...)                                  \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "thread %d, iteration %d: ", t, it); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      atomic_fetch_add(&failures, 1);                      \
      return NULL;                                         \
    }                                                      \
  } while (0)

#define EXPECT_OK(call)                                                            \
  do {                                                                             \
    int rc_ = (call);                                                              \
    EXPECT(rc_ == 0, "%s = %s (%s)", #call, vmp_err_name(rc_), vmp_strerror(rc_)); \
  } while (0)

static int all_bytes(const unsigned char *p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

static void *worker(void *arg) {
  const int t = (int)(intptr_t)arg;
  const size_t pg = vmp_page_size();
  const size_t s = (size_t)t * SLICE_PAGES * pg;
  unsigned char *base = (unsigned char *)vmp_base(region) + s;
  vmp_mem *mem = NULL;
  int it = -1;
  vmp_span_info info;

  EXPECT_OK(vmp_mem_create(16 * pg, 0, &mem));
  for (it = 0; it < ITERATIONS; it++) {
    unsigned char mark = (unsigned char)(t * 50 + it % 50 + 1);
    unsigned char before = (unsigned char)(it ? t * 50 + (it - 1) % 50 + 1 : 0);
    EXPECT_OK(vmp_split(region, s, 16 * pg));
    EXPECT_OK(vmp_split(region, s + 16 * pg, 16 * pg));
    EXPECT_OK(vmp_commit(region, s, 16 * pg, VMP_PROT_RW));
    EXPECT(all_bytes(base, 16 * pg, 0), "fresh private memory is not zero");
    memset(base, mark, 16 * pg);
    EXPECT_OK(vmp_map(region, s + 16 * pg, 16 * pg, mem, 0, VMP_PROT_RW));
    EXPECT(all_bytes(base + 16 * pg, 16 * pg, before), "view lost the last iteration's bytes");
    memset(base + 16 * pg, mark, 16 * pg);
    EXPECT_OK(vmp_protect(region, s, 8 * pg, VMP_PROT_READ));
    EXPECT_OK(vmp_query(region, base + 3 * pg, &info));
    EXPECT(info.kind == VMP_PRIVATE && info.prot == VMP_PROT_READ && info.size == 16 * pg,
           "query of a read-only private page: kind %d prot %d size %zu", (int)info.kind, info.prot,
           info.size);
    EXPECT_OK(vmp_query(region, base + 20 * pg, &info));
    EXPECT(info.kind == VMP_VIEW && info.mem == mem && info.mem_offset == 0,
           "query of a view page: kind %d", (int)info.kind);
    EXPECT_OK(vmp_protect(region, s, 8 * pg, VMP_PROT_RW));
    EXPECT_OK(vmp_discard(region, s + 12 * pg, 4 * pg));
    EXPECT(all_bytes(base + 12 * pg, 4 * pg, 0), "discarded pages are not zero");
    EXPECT(all_bytes(base, 12 * pg, mark), "private bytes changed");
    EXPECT_OK(vmp_unmap(region, s + 4 * pg, 4 * pg));
    EXPECT(all_bytes(base, 4 * pg, mark) && all_bytes(base + 8 * pg, 4 * pg, mark),
           "private pieces lost their bytes");
    EXPECT_OK(vmp_unmap(region, s, 4 * pg));
    EXPECT_OK(vmp_unmap(region, s + 8 * pg, 8 * pg));
    EXPECT_OK(vmp_unmap(region, s + 16 * pg, 16 * pg));
    EXPECT_OK(vmp_coalesce(region, s, SLICE_PAGES * pg));
  }
  EXPECT_OK(vmp_mem_close(mem));
  return NULL;
}

int main(void) {
  const size_t pg = vmp_page_size();
  pthread_t threads[THREADS];
  char why[4096];
  int rc = vmp_reserve(THREADS * SLICE_PAGES * pg, 0, &region);
  if (rc) {
    fprintf(stderr, "vmp_reserve: %s\n", vmp_strerror(rc));
    return 1;
  }
  for (int t = 1; t < THREADS; t++) {
    rc = vmp_split(region, (size_t)t * SLICE_PAGES * pg, (THREADS - (size_t)t) * SLICE_PAGES * pg);
    if (rc) {
      fprintf(stderr, "vmp_split: %s\n", vmp_strerror(rc));
      return 1;
    }
  }
  for (int t = 0; t < THREADS; t++)
    if (pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t)) {
      fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);

  if (vmp_span_count(region) != THREADS) {
    fprintf(stderr, "expected %d spans at the end, got %zu\n", THREADS, vmp_span_count(region));
    atomic_fetch_add(&failures, 1);
  }
  if (vmpt_maps_check_region(region, why, sizeof why)) {
    fprintf(stderr, "maps disagree with spans: %s\n", why);
    atomic_fetch_add(&failures, 1);
  }
  if (vmpt_maps_count_in(vmp_base(region), vmp_size(region)) != 1) {
    fprintf(stderr, "adjacent placeholders cost %zu kernel mappings, expected 1\n",
            vmpt_maps_count_in(vmp_base(region), vmp_size(region)));
    atomic_fetch_add(&failures, 1);
  }
  rc = vmp_release(region);
  if (rc) {
    fprintf(stderr, "vmp_release: %s\n", vmp_strerror(rc));
    atomic_fetch_add(&failures, 1);
  }
  if (atomic_load(&failures)) {
    fprintf(stderr, "threads_stress: %d failure(s)\n", atomic_load(&failures));
    return 1;
  }
  printf("threads_stress: %d threads x %d iterations ok\n", THREADS, ITERATIONS);
  return 0;
}
