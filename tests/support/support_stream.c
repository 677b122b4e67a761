#include "support_stream.h"

unsigned char stream_byte(uint64_t k) {
  uint64_t x = k * 0x9E3779B97F4A7C15ull;
  return (unsigned char)((x >> 56) ^ (k >> 12));
}

void stream_fill(unsigned char *p, size_t n, uint64_t at) {
  for (size_t i = 0; i < n; i++) p[i] = stream_byte(at + i);
}

size_t stream_mismatch(const unsigned char *p, size_t n, uint64_t at) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != stream_byte(at + i)) return i;
  return (size_t)-1;
}

uint64_t stream_rng(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}
