/*
 * The outside baseline for the ring lines: a memfd mirrored single-producer
 * single-consumer byte ring as a competent user writes one, with nothing
 * from the library (no shared tuning, no shared spin policy). It never
 * sleeps: a caller that gets 0 spins and retries.
 */
#ifndef VMP_BENCH_HANDWRITTEN_RING_H
#define VMP_BENCH_HANDWRITTEN_RING_H

#include <stddef.h>

typedef struct hw_ring hw_ring;

/* size: a power of two and a multiple of the page size. 0 or -errno. */
int hw_ring_create(size_t size, hw_ring **out);
void hw_ring_destroy(hw_ring *r);

/* Copies up to n bytes in or out; returns how many (0: full / empty). */
size_t hw_ring_write(hw_ring *r, const void *src, size_t n);
size_t hw_ring_read(hw_ring *r, void *dst, size_t n);

/* In place: a pointer to the contiguous free (readable) space and its
 * length in *len. The other side's index is re-read only when the cached
 * copy shows fewer than `want` bytes, so *len may still be short of it. */
void *hw_ring_write_begin(hw_ring *r, size_t want, size_t *len);
void hw_ring_write_commit(hw_ring *r, size_t n);
const void *hw_ring_read_begin(hw_ring *r, size_t want, size_t *len);
void hw_ring_read_release(hw_ring *r, size_t n);

#endif
