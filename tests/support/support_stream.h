/*
 * A reference byte stream for tests that push data through a ring or a
 * view: byte k of the stream is a function of k alone, with no short
 * period, so a byte read from the wrong place (a lap behind, or off by a
 * page) shows; and a small seedable generator for sizes and choices.
 */
#ifndef VMPT_SUPPORT_STREAM_H
#define VMPT_SUPPORT_STREAM_H

#include <stddef.h>
#include <stdint.h>

unsigned char stream_byte(uint64_t k);

/* Writes stream bytes [at, at+n) into p. */
void stream_fill(unsigned char *p, size_t n, uint64_t at);

/* Index of the first byte of p that is not stream byte at+i, or (size_t)-1. */
size_t stream_mismatch(const unsigned char *p, size_t n, uint64_t at);

/* xorshift64: the next value from *state (which must not be 0). */
uint64_t stream_rng(uint64_t *state);

#endif
