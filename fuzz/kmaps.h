/*
 * What the kernel maps at an address, for the checks over /proc/self/maps.
 * Linux 6.11 and later answer one address at a time (the PROCMAP_QUERY
 * ioctl on /proc/self/maps), which keeps a check after every operation
 * cheap; older kernels get the text of /proc/self/maps parsed once per
 * kmaps_refresh().
 */
#ifndef VMP_FUZZ_KMAPS_H
#define VMP_FUZZ_KMAPS_H

#include <stdint.h>

typedef struct kvma {
  uintptr_t start, end;
  int readable, writable, executable, shared;
  uint64_t offset; /* file offset of start */
  uint64_t inode;  /* 0 for anonymous private memory */
} kvma;

/* Call before a round of lookups: the text fallback reads the file here. */
void kmaps_refresh(void);

/* The mapping that covers addr: 1 and *out, or 0 when addr is unmapped. */
int kmaps_at(uintptr_t addr, kvma *out);

#endif
