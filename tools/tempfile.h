/*
 * Scratch files for scenario scripts: a file that exists only as an open
 * memory object, so a script (even one that crashes) leaves nothing behind.
 */
#ifndef VMPLACE_TOOLS_TEMPFILE_H
#define VMPLACE_TOOLS_TEMPFILE_H

#include <stdint.h>

#include "vmplace.h"

/* Creates a zero-filled regular file of `size` bytes in $TMPDIR (or /tmp),
 * opens it with vmp_mem_open(path, flags) and removes its name at once.
 * Returns 0 or a negative code (a library error from vmp_mem_open, or an
 * OS error as vmp_err_name() understands it). */
int vmp_cli_temp_file(uint64_t size, unsigned flags, vmp_mem **out);

#endif
