/* Small helpers shared by the tests (no test framework here). */
#ifndef VMPT_SUPPORT_POSIX_H
#define VMPT_SUPPORT_POSIX_H

#include <stddef.h>
#include <stdint.h>

#include "vmplace.h"

#define PG (vmp_page_size())

/* Whether this build runs under ASan or TSan, whose allocators need
 * mappings of their own at any moment: with the process's mapping table
 * full they abort before the library is reached. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* Creates a regular file of `size` bytes, every byte `fill`, in a fresh
 * private directory; writes its path to `path`. Returns 0 or -errno. */
int vmpt_temp_file(size_t size, int fill, char *path, size_t path_len);

/* Removes a file made by vmpt_temp_file() and its directory. */
void vmpt_temp_file_remove(const char *path);

/* Open descriptors of the process (entries of /proc/self/fd). */
size_t vmpt_fd_count(void);

/* A fingerprint of the names in a directory (0 if it cannot be read), to
 * show that nothing named was left behind. In /dev/shm only the names this
 * process's library could have made (vmplace-<pid>-...) count. */
uint64_t vmpt_dir_fingerprint(const char *dir, size_t *entries);

/* Removes the entries of `dir` whose names start with `prefix` (what a
 * failed "nothing named" check found), so a failing test does not litter.
 * Returns how many. */
size_t vmpt_remove_names(const char *dir, const char *prefix);

/* Writes a formatted explanation into why (when there is room for one). */
void vmpt_say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* $TMPDIR or /tmp. */
const char *vmpt_tmpdir(void);

/* Fills each page of [addr, addr+len) with a byte derived from `seed`
 * and the page index, so that pages are told apart. */
void vmpt_fill_pages(void *addr, size_t len, unsigned seed);

#endif
