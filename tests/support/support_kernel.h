/*
 * The kernel's own view of a range of addresses, page by page, to check
 * the library's bookkeeping against what the system really holds.
 *
 * Windows: VirtualQuery (state, type, protection). The allocation base is
 * deliberately not recorded: the Windows backend cuts kernel placeholders
 * lazily, so where their seams lie is not part of the contract.
 * Linux/POSIX: /proc/self/maps (protection, shared/private, inode, file
 * offset). Where /proc is missing, kv_take() fails and callers skip the
 * kernel checks.
 */
#ifndef VMPT_SUPPORT_KERNEL_H
#define VMPT_SUPPORT_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "vmplace.h"

/* What a page is, as far as the kernel says. */
typedef enum kv_state {
  KV_FREE = 0, /* nothing mapped or reserved */
  KV_RESERVED, /* Windows: MEM_RESERVE (placeholder, or decommitted hole) */
  KV_PRIVATE,  /* committed private memory (on Linux also PROT_NONE placeholders) */
  KV_SHARED    /* a shared view of a section, memfd, shm or file */
} kv_state;

typedef struct kv_page {
  unsigned char state;  /* kv_state */
  unsigned char prot;   /* VMP_PROT_* bits the kernel grants */
  uint64_t ident;       /* Linux: inode of the mapping; 0 elsewhere */
  uint64_t file_offset; /* Linux: object offset of this page; 0 elsewhere */
} kv_page;

typedef struct kv_snapshot {
  char *base;
  size_t page_size;
  size_t pages;
  kv_page *page; /* one entry per page */
} kv_snapshot;

/* Whether the system shows its view at all (Windows: VirtualQuery; POSIX:
 * /proc/self/maps, which a system without procfs lacks). */
int kv_available(void);

/* The alignment the system gives every reservation's base: what
 * GetSystemInfo says on Windows, the page elsewhere. */
size_t kv_granularity(void);

/* Records [base, base+size); returns 0, or -1 when the system cannot say. */
int kv_take(kv_snapshot *snap, const void *base, size_t size);
void kv_free(kv_snapshot *snap);

/* The first page index where two snapshots of the same range differ, or
 * (size_t)-1 when they agree. */
size_t kv_first_difference(const kv_snapshot *a, const kv_snapshot *b);

/* Describes page i into buf (for messages). */
const char *kv_describe(const kv_snapshot *snap, size_t i, char *buf, size_t len);

/* Whether page i can be touched at all / read / written without a fault. */
int kv_accessible(const kv_snapshot *snap, size_t i);
int kv_readable(const kv_snapshot *snap, size_t i);
int kv_writable(const kv_snapshot *snap, size_t i);

/* Whether page i is what the library says it is: kind, protection and, for
 * views, the object offset of the page (checked where the kernel shows it). */
int kv_page_matches(const kv_snapshot *snap, size_t i, vmp_kind kind, int prot,
                    uint64_t view_page_offset);

/* Copies [addr, addr+len) whatever its protection (POSIX: through
 * /proc/self/mem); 0, or -1 where such pages cannot be read (Windows). Not
 * for placeholders: reading would commit memory behind them. */
int kv_read(const void *addr, void *buf, size_t len);

/* The kernel's mappings of [base, base+size) as text, one line a mapping
 * with its bounds, for an exact before/after comparison (a mapping split
 * in two shows); NULL where the system has no such view. Caller frees. */
char *kv_mappings_text(const void *base, size_t size);

/* The process's inaccessible reservations (Linux: private anonymous
 * PROT_NONE mappings; Windows: reserved ranges allocated PAGE_NOACCESS),
 * in address order. The system never places a new mapping over an old one,
 * so bytes reserved afterwards that no earlier range covers were reserved
 * in between; ranges only ever shrink by other causes (an allocator
 * committing part of its reserve), which this comparison ignores. */
typedef struct kv_reservations {
  size_t count, capacity;
  uintptr_t *lo, *hi;
} kv_reservations;
int kv_reservations_take(kv_reservations *res);
void kv_reservations_free(kv_reservations *res);
/* Bytes of `after` that no range of `before` covers. */
uint64_t kv_reservations_new_bytes(const kv_reservations *before, const kv_reservations *after);

/* What the kernel shows of the region beyond kv_page_matches(), where it
 * shows more: on POSIX, that every view's pages map its object's very
 * inode and each mapping's bounds fit the spans (support_maps.c). 0 when
 * it all holds, otherwise nonzero and the first disagreement in why. */
int kv_region_exact(vmp_region *r, char *why, size_t why_len);

/* What a failed call must leave as it was beyond its own range, where the
 * system shows it: on POSIX the process's other mappings (those
 * vmpt_outside_take() compares) and the names the library could leave in
 * /dev/shm and the temporary directory; nothing more on Windows (handles
 * and reservations are leftovers_take()'s). NULL when out of memory. */
typedef struct kv_outside kv_outside;
kv_outside *kv_outside_take(const void *base, size_t size);
/* 0 when nothing changed: the names always, the mappings only when
 * `mappings` (a call that succeeded may map elsewhere); otherwise nonzero
 * and what changed in why (names left behind are removed). */
int kv_outside_compare(const kv_outside *o, int mappings, char *why, size_t why_len);
void kv_outside_free(kv_outside *o);

#endif
