/*
 * Everything an operation could change about a region, captured so that a
 * failed operation can be proven to have changed nothing: the spans, the
 * protection and contents of every page, and the kernel's mappings.
 */
#ifndef VMPT_SNAPSHOT_H
#define VMPT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmplace.h"

typedef struct vmpt_snapshot {
  void *base;
  size_t size;
  size_t span_count;      /* vmp_span_count() */
  vmp_span_info *spans;   /* from vmp_foreach_span() */
  size_t spans_listed;
  size_t pages;
  int *page_prot;         /* vmp_query() of every page */
  uint64_t *page_hash;    /* contents of every non-placeholder page; 0 otherwise */
  char *maps;             /* vmpt_maps_region_text() */
} vmpt_snapshot;

/* NULL when memory runs out. */
vmpt_snapshot *vmpt_snapshot_take(vmp_region *region);

/* 0 when equal; otherwise nonzero and the first difference in `why`. */
int vmpt_snapshot_compare(const vmpt_snapshot *before, const vmpt_snapshot *after, char *why,
                          size_t why_len);

void vmpt_snapshot_free(vmpt_snapshot *s);

/* Contents of [addr, addr+len) read through /proc/self/mem, so pages the
 * program cannot read (protection none) are hashed too. */
uint64_t vmpt_hash_memory(const void *addr, size_t len);

#endif
