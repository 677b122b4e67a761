/* The kernel's own view of a region on POSIX systems that have
 * /proc/self/maps (Linux); elsewhere it says the view is unavailable. */
#include "layout.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void vmp_cli_print_kernel_maps(FILE *out, vmp_region *region, const char *indent) {
  FILE *maps = fopen("/proc/self/maps", "r");
  fprintf(out, "%skernel (/proc/self/maps):\n", indent);
  if (maps == NULL) {
    fprintf(out, "%s  (unavailable: /proc/self/maps cannot be read)\n", indent);
    return;
  }
  uintptr_t lo = (uintptr_t)vmp_base(region);
  uintptr_t hi = lo + vmp_size(region);
  char line[1024];
  int printed = 0;
  while (fgets(line, sizeof line, maps) != NULL) {
    uintmax_t start = 0, end = 0;
    if (sscanf(line, "%jx-%jx", &start, &end) != 2) continue;
    /* A long line (a path) arrives in pieces; only the first piece of a
     * line starts with an address range, so stray pieces must not print. */
    int whole = strchr(line, '\n') != NULL;
    if (end > lo && start < hi) {
      fprintf(out, "%s  %s%s", indent, line, whole ? "" : "...\n");
      printed = 1;
    }
    while (!whole && fgets(line, sizeof line, maps) != NULL) whole = strchr(line, '\n') != NULL;
  }
  fclose(maps);
  if (!printed) fprintf(out, "%s  (no kernel mapping overlaps the region)\n", indent);
}
