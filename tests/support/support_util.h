/*
 * Helpers shared by the portable suites: sizes that work on every backend,
 * temporary files made with the C library, and a region's complete state
 * (spans, bytes, the kernel's view) to compare before and after a call.
 */
#ifndef VMPT_SUPPORT_UTIL_H
#define VMPT_SUPPORT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "support_kernel.h"
#include "vmplace.h"

/* The page, and 64 KiB rounded up to the page: object offsets and sizes
 * in shared tests are multiples of it so that they work on Windows too. */
size_t util_page(void);
size_t util_grain(void);

/* The name vmp_err_name() gives the system's "no such file" error. */
const char *util_missing_file_error_name(void);
/* Whether the system opens a directory like a file (POSIX does, and the
 * library then refuses it with VMP_EINVAL; Windows refuses the open). */
int util_directories_open(void);

/* The system's own code (errno, or GetLastError()) for out of memory, an
 * I/O error and access denied: the errors a fault test makes calls fail
 * with, so that the library's handling of each is seen. */
typedef enum util_error { UTIL_ERR_NOMEM, UTIL_ERR_IO, UTIL_ERR_ACCESS } util_error;
int util_system_error(util_error which);

/* A native descriptor or HANDLE of the file (what vmp_mem_adopt takes),
 * opened read-only or read-write, or -1; and its close. */
intptr_t util_open_native(const char *path, int writable);
void util_close_native(intptr_t fd);
/* Whether the descriptor or HANDLE still works (nobody closed it). */
int util_native_usable(intptr_t fd);

/* The byte that util_fill() writes at byte i of a buffer with this seed:
 * one value per page, so misplaced pages show. */
unsigned char util_pattern(unsigned seed, size_t i);
void util_fill(void *p, size_t size, unsigned seed);
/* Index of the first byte that differs from the pattern, or (size_t)-1. */
size_t util_find_mismatch(const void *p, size_t size, unsigned seed);
/* Whether every byte is `value`. */
int util_all_bytes(const void *p, size_t size, unsigned char value);

/* The system's temporary directory (GetTempPathA, $TMPDIR or /tmp). */
const char *util_temp_directory(char *buf, size_t len);

/* Creates a file of `size` bytes holding util_fill(seed) with fopen and
 * fwrite, in the system's temporary directory; its path goes to path. */
int util_temp_file(char *path, size_t len, size_t size, unsigned seed);
/* Reads `size` bytes at `offset` of a file with the C library. */
int util_read_file(const char *path, size_t offset, void *buf, size_t size);

/* A region of region_size bytes and an anonymous object of object_size:
 * 0 with both made, or nonzero (reported as a check failure) with neither. */
int util_region_and_object(size_t region_size, uint64_t object_size, vmp_region **r, vmp_mem **m);

/* One thread running fn(arg), with the system's threads. */
typedef struct util_thread {
  void *system; /* HANDLE, or a pthread_t of its own */
  void (*fn)(void *);
  void *arg;
} util_thread;
/* Nonzero when the thread started. */
int util_thread_start(util_thread *t, void (*fn)(void *), void *arg);
void util_thread_join(util_thread *t);

/* Sleeps for about ms milliseconds. */
void util_sleep_ms(unsigned ms);

/* Descriptors (POSIX) or handles (Windows) the process holds. */
long util_open_handles(void);

/* What a failed call must not leave behind in the process: handles and
 * reserved address space. */
typedef struct leftovers {
  long handles;
  int have_reserved;
  kv_reservations reserved;
} leftovers;
void leftovers_take(leftovers *l);
/* Reports (as check failures at file:line) what was left since
 * leftovers_take(); frees what it took. */
void leftovers_check(leftovers *l, const char *file, int line, const char *context);
void leftovers_free(leftovers *l);
#define CHECK_NO_LEFTOVERS(l, context) leftovers_check((l), __FILE__, __LINE__, (context))

/* Everything a failed call must leave as it was: the spans, every page's
 * protection as vmp_query() says it, the bytes of every page that is not a
 * placeholder (those without access too, where the system lets a process
 * read them: POSIX), the kernel's view page by page and, where the system
 * shows it, its mappings with their bounds. */
#define UTIL_MAX_SPANS 64
typedef struct region_state {
  void *base;
  size_t pages;
  size_t span_count;
  vmp_span_info spans[UTIL_MAX_SPANS];
  int *page_prot; /* vmp_query() of every page; -1 where it failed */
  int have_kernel;
  kv_snapshot kernel;
  char *kernel_text;       /* kv_mappings_text(), or NULL */
  unsigned char *bytes;    /* a copy of every page it could read */
  unsigned char *captured; /* per page: the copy holds it */
} region_state;

int state_take(vmp_region *r, region_state *s);
void state_free(region_state *s);

/* 0 when the two states are the same; otherwise nonzero and the first
 * difference in why. */
int state_compare(const region_state *a, const region_state *b, char *why, size_t why_len);

/* Reports (as a check failure at file:line) how b differs from a; returns
 * nonzero when they are the same. */
int state_same(const region_state *a, const region_state *b, const char *file, int line,
               const char *context);

/* A call that must be refused with `want` and change nothing at all:
 * spans, readable bytes and the kernel's view (a check of
 * support_check.h, which the suite includes). */
#define REFUSED(r, call, want)                                                                 \
  do {                                                                                         \
    region_state before_, after_;                                                              \
    int have_ = state_take((r), &before_) == 0;                                                \
    int rc_ = (call);                                                                          \
    CHECK(rc_ == (want), "%s: %s, expected %s", #call, vmp_err_name(rc_), vmp_err_name(want)); \
    if (have_ && CHECK(state_take((r), &after_) == 0, "cannot read the state")) {              \
      state_same(&before_, &after_, __FILE__, __LINE__, #call);                                \
      state_free(&after_);                                                                     \
    }                                                                                          \
    if (have_) state_free(&before_);                                                           \
  } while (0)

/* Checks every page of the region: the kernel's view agrees with
 * vmp_query() (kind, protection, object offset). Reports at file:line. */
int util_kernel_agrees(vmp_region *r, const char *file, int line);
#define CHECK_KERNEL_AGREES(r) util_kernel_agrees((r), __FILE__, __LINE__)

/* The span holding region offset off (kind, start, size), via vmp_query. */
int util_span_is(vmp_region *r, size_t off, vmp_kind kind, size_t start, size_t size,
                 const char *file, int line);
#define CHECK_SPAN(r, off, kind, start, size) \
  util_span_is((r), (off), (kind), (start), (size), __FILE__, __LINE__)

#endif
