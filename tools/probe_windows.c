/*
 * Windows fault probe. IsBadReadPtr and IsBadWritePtr perform the access
 * inside the system's own structured exception handler and report whether
 * it faulted, which is exactly what the runner needs; IsBadWritePtr writes
 * back the byte it read, so a writable page keeps its contents. (Their
 * documented hazard, swallowing a guard-page exception of a thread's
 * stack, does not apply to region pages: the library never sets
 * PAGE_GUARD.)
 */
#include "probe.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

int vmp_probe_read(const volatile void *p, unsigned char *out) {
  if (IsBadReadPtr((const void *)p, 1)) return 1;
  *out = *(const volatile unsigned char *)p;
  return 0;
}

int vmp_probe_write(volatile void *p, unsigned char v) {
  if (IsBadWritePtr((void *)p, 1)) return 1;
  *(volatile unsigned char *)p = v;
  return 0;
}
