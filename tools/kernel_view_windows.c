/* The kernel's own view of a region on Windows: VirtualQuery, one line per
 * run of pages with the same state, type, protection and allocation. */
#include "layout.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

static const char *state_name(DWORD state) {
  switch (state) {
    case MEM_COMMIT:
      return "commit";
    case MEM_RESERVE:
      return "reserve";
    case MEM_FREE:
      return "free";
    default:
      return "?";
  }
}

static const char *type_name(DWORD type) {
  switch (type) {
    case MEM_PRIVATE:
      return "private";
    case MEM_MAPPED:
      return "mapped";
    case MEM_IMAGE:
      return "image";
    default:
      return "-";
  }
}

void vmp_cli_print_kernel_maps(FILE *out, vmp_region *region, const char *indent) {
  char *p = vmp_base(region), *end = p + vmp_size(region);
  fprintf(out, "%skernel (VirtualQuery):\n", indent);
  while (p < end) {
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(p, &mbi, sizeof mbi) != sizeof mbi) {
      fprintf(out, "%s  (VirtualQuery failed at 0x%" PRIxPTR ": error %lu)\n", indent, (uintptr_t)p,
              (unsigned long)GetLastError());
      return;
    }
    char *next = (char *)mbi.BaseAddress + mbi.RegionSize;
    if (next > end) next = end;
    fprintf(out,
            "%s  %" PRIxPTR "-%" PRIxPTR " %-7s %-7s protect 0x%03lx allocation %" PRIxPTR "\n",
            indent, (uintptr_t)p, (uintptr_t)next, state_name(mbi.State), type_name(mbi.Type),
            (unsigned long)mbi.Protect, (uintptr_t)mbi.AllocationBase);
    p = next;
  }
}
