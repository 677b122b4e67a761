/*
 * The baseline for the ring lines: a classic single-producer /
 * single-consumer byte ring, tuned exactly as vmp_ring is (the same
 * control layout with head, tail and the wake-up words on separate cache
 * lines, the same private cached indexes and checks of the peer's, the
 * same sequentially consistent publication, the same "sleeping" flag and
 * futex sleep with no spinning, the same % capacity). It differs only in
 * having one mapping of the data, so copies and parses split at the wrap.
 *
 * Its memory is one MAP_SHARED anonymous mapping, so a child made by
 * fork() shares it as well.
 */
#ifndef VMP_BENCH_CLASSIC_RING_H
#define VMP_BENCH_CLASSIC_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct classic_ring classic_ring;

/* 0 or -errno. */
int classic_create(size_t capacity, classic_ring **out);
void classic_destroy(classic_ring *ring);
size_t classic_capacity(const classic_ring *ring);

/* As vmp_ring_write / vmp_ring_read: up to n bytes, 0 when full or empty,
 * negative when the peer's index is impossible. */
ptrdiff_t classic_write(classic_ring *ring, const void *src, size_t n);
ptrdiff_t classic_read(classic_ring *ring, void *dst, size_t n);

/* Sleep until `want` bytes are free / there. 0 or negative. */
int classic_wait_write(classic_ring *ring, size_t want);
int classic_wait_read(classic_ring *ring, size_t want);

/* Zero-copy sides for the message workload: the free space (or the data)
 * as two pieces, the second at the start of the buffer after the wrap. */
int classic_write_begin(classic_ring *ring, unsigned char **first, size_t *first_len,
                        unsigned char **second, size_t *total);
int classic_write_commit(classic_ring *ring, size_t n);
int classic_read_begin(classic_ring *ring, const unsigned char **first, size_t *first_len,
                       const unsigned char **second, size_t *total);
int classic_read_release(classic_ring *ring, size_t n);

#endif
