/*
 * The kernel's view of the address space (/proc/self/maps), compared with
 * the library's bookkeeping. Plain C, no test framework: every check
 * returns 0 when it holds, or nonzero with a message in `why`.
 */
#ifndef VMPT_SUPPORT_MAPS_H
#define VMPT_SUPPORT_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "vmplace.h"

typedef struct vmpt_vma {
  uintptr_t start, end;
  char perms[5];
  uint64_t offset;
  unsigned dev_major, dev_minor;
  uint64_t inode;
  char path[128];
} vmpt_vma;

/* Reads /proc/self/maps. Returns the number of entries, or 0 on failure.
 * The array is static storage, overwritten by the next call: reading the
 * maps must not itself allocate, or it would disturb what it measures. */
size_t vmpt_maps_read(const vmpt_vma **out);

/* The mapping that holds addr (static storage, as vmpt_maps_read's), or
 * NULL. */
const vmpt_vma *vmpt_maps_at(const void *addr);

/* Number of kernel mappings that intersect [base, base+size). */
size_t vmpt_maps_count_in(const void *base, size_t size);

/* Page by page over the whole region: placeholders are private anonymous
 * ---p; private pages are private anonymous with the protection
 * vmp_query() reports for them; view pages are shared mappings of their
 * object's inode at the right file offset, with the right protection. */
int vmpt_maps_check_region(vmp_region *region, char *why, size_t why_len);

/* The mappings outside [base, base+size), to prove an operation did not
 * touch them. Anonymous writable mappings (the allocator's heap and
 * arenas, which legitimately come and go while a test runs) are not
 * compared; under a sanitizer only file and shared mappings are, since the
 * sanitizer's allocator reserves and commits anonymous memory at will. */
typedef struct vmpt_outside vmpt_outside;
vmpt_outside *vmpt_outside_take(const void *base, size_t size);
int vmpt_outside_compare(const vmpt_outside *before, char *why, size_t why_len);
void vmpt_outside_free(vmpt_outside *o);

/* The region's mappings as text, clipped to [base, base+size), one line a
 * mapping, for exact before/after comparison. Caller frees. */
char *vmpt_maps_region_text(const void *base, size_t size);

#endif
