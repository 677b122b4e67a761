/*
 * Printing a region for people: the library's span table and the kernel's
 * own view of the same address range. Shared by `shell` (show) and `demo`.
 */
#ifndef VMPLACE_TOOLS_LAYOUT_H
#define VMPLACE_TOOLS_LAYOUT_H

#include <stdio.h>

#include "vmplace.h"

/* Gives a display name for an object, or NULL when it has none. */
typedef const char *vmp_cli_mem_namer(const vmp_mem *mem, void *arg);

/* "none", "r", "rw", "rx", "rwx" (or "?" for anything else). */
const char *vmp_cli_prot_name(int prot);

/* One row per span: offset and size in pages, kind, protection of the
 * span's first page, and for views the object's name and page offset.
 * Each line starts with `indent`. Returns 0 or the vmp_foreach_span error. */
int vmp_cli_print_spans(FILE *out, vmp_region *region, const char *indent, vmp_cli_mem_namer *namer,
                        void *namer_arg);

/* The kernel's own view of the region: a line at `indent` naming where it
 * comes from, then one line per mapping indented two more (kernel_view_posix.c: /proc/self/maps;
 * kernel_view_windows.c: VirtualQuery), or one line saying it is
 * unavailable. */
void vmp_cli_print_kernel_maps(FILE *out, vmp_region *region, const char *indent);

#endif
