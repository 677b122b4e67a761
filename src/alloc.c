#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "testing.h"

/* Allocations left before one fails; negative means never. */
static _Atomic long allocs_until_failure = -1;

static int allocation_should_fail(void) {
  long left = atomic_load_explicit(&allocs_until_failure, memory_order_relaxed);
  if (left < 0) return 0;
  if (left == 0) {
    atomic_store_explicit(&allocs_until_failure, -1, memory_order_relaxed);
    return 1;
  }
  atomic_store_explicit(&allocs_until_failure, left - 1, memory_order_relaxed);
  return 0;
}

void *vmp__malloc(size_t size) { return allocation_should_fail() ? NULL : malloc(size); }

void *vmp__calloc(size_t count, size_t size) {
  return allocation_should_fail() ? NULL : calloc(count, size);
}

void vmp__free(void *p) { free(p); }

void vmp__testing_alloc_fail_after(long n) {
  atomic_store_explicit(&allocs_until_failure, n, memory_order_relaxed);
}

int vmp__testing_alloc_disarm(void) {
  return atomic_exchange_explicit(&allocs_until_failure, -1, memory_order_relaxed) < 0;
}
