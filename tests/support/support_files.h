/*
 * The temporary files of a test: made with the C library, each byte known
 * from a seed, and removed when the test is done with them (after its
 * views are closed: Windows keeps mapped files).
 */
#ifndef VMPT_SUPPORT_FILES_H
#define VMPT_SUPPORT_FILES_H

#include <stddef.h>
#include <stdint.h>

/* How many files a test may hold at once. */
#define FILES_MAX 8

/* Byte i of a file made with this seed: it differs inside a page, so a
 * scan has something to find and a misplaced byte shows. */
unsigned char files_byte(unsigned seed, uint64_t i);

/* A file of `size` bytes of the seed's pattern in the system's temporary
 * directory, named with the process ID (ctest runs suites side by side,
 * and under Wine two processes started together share the clock and the
 * stack addresses); NULL, reported as a check failure, when it cannot be
 * made. */
const char *files_make(uint64_t size, unsigned seed);

/* Writes bytes [from, to) of the seed's pattern at their offsets, as the
 * writer of a log would. Nonzero when done; a failure is reported. */
int files_write(const char *path, unsigned seed, uint64_t from, uint64_t to);

/* The file's bytes [offset, offset+size), read with the C library, in
 * memory the caller frees; NULL (reported) when they cannot be read. */
unsigned char *files_read(const char *path, size_t offset, size_t size);

/* Sets the file's size (down as well as up): 0, or -1 when the system
 * refuses (Windows does not shrink a file that has a view). */
int files_set_size(const char *path, uint64_t size);

/* Whether nothing in the process holds the file any more: on Windows, an
 * open that shares nothing succeeds only then (a view's section counts);
 * elsewhere there is no such test (nonzero), and the handle count says it. */
int files_unheld(const char *path);

/* Removes every file files_make() made. */
void files_remove(void);

#endif
