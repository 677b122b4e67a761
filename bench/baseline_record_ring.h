/*
 * Outside baselines for the record lines, written the way users write
 * them, with nothing from the library: a classic (not mirrored) ring of
 * length-prefixed records that pays for the wrap with a padding record, as
 * the Linux BPF ring buffer does, so that every record can still be parsed
 * in place; lock-free with cached indices for one producer, or behind a
 * mutex and two condition variables (the textbook bounded buffer) for many.
 */
#ifndef VMP_BENCH_BASELINE_RECORD_RING_H
#define VMP_BENCH_BASELINE_RECORD_RING_H

#include <stddef.h>

typedef struct cr_ring cr_ring;

/* size: a power of two. many_producers: the mutex version. 0 or -errno. */
int cr_ring_create(size_t size, int many_producers, cr_ring **out);
void cr_ring_destroy(cr_ring *r);

/* Producer: room for a record of len bytes, contiguous; the lock-free ring
 * returns NULL while it is full (the caller spins), the mutex ring waits.
 * Then commit publishes it. The mutex ring holds its lock in between. */
void *cr_ring_reserve(cr_ring *r, size_t len);
void cr_ring_commit(cr_ring *r, size_t len);

/* Consumer: the next record in place (NULL while empty for the lock-free
 * ring; the mutex ring waits), then release gives its bytes back. */
const void *cr_ring_peek(cr_ring *r, size_t *len);
void cr_ring_release(cr_ring *r);

#endif
