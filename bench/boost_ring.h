/*
 * The second outside baseline: boost::lockfree::spsc_queue<char> behind a
 * C interface, with its bulk push and pop. Built only when a C++ compiler
 * and the boost headers are found (VMP_BENCH_BOOST is then defined).
 */
#ifndef VMP_BENCH_BOOST_RING_H
#define VMP_BENCH_BOOST_RING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct boost_ring boost_ring;

/* A queue holding `size` bytes. 0 or -ENOMEM. */
int boost_ring_create(size_t size, boost_ring **out);
void boost_ring_destroy(boost_ring *r);

/* Copies up to n bytes in or out; returns how many (0: full / empty). */
size_t boost_ring_push(boost_ring *r, const void *src, size_t n);
size_t boost_ring_pop(boost_ring *r, void *dst, size_t n);

#ifdef __cplusplus
}
#endif

#endif
