/*
 * What every fuzz target shares: reading the fuzzer's bytes as a stream of
 * small decisions, counting operations, and failing loudly.
 *
 * A target decodes its input one decision at a time; once the bytes run
 * out every decision reads as 0, so any prefix of an input is an input too
 * (which is what lets libFuzzer's minimiser cut reproducers short).
 */
#ifndef VMP_FUZZ_UTIL_H
#define VMP_FUZZ_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fuzz_input {
  const uint8_t *data;
  size_t size;
  size_t pos;
} fuzz_input;

static inline int fuzz_more(const fuzz_input *in) { return in->pos < in->size; }

static inline uint8_t fuzz_u8(fuzz_input *in) {
  return in->pos < in->size ? in->data[in->pos++] : 0;
}

static inline uint16_t fuzz_u16(fuzz_input *in) {
  uint16_t lo = fuzz_u8(in);
  return (uint16_t)(lo | (uint16_t)(fuzz_u8(in) << 8));
}

static inline uint32_t fuzz_u32(fuzz_input *in) {
  uint32_t lo = fuzz_u16(in);
  return lo | ((uint32_t)fuzz_u16(in) << 16);
}

static inline uint64_t fuzz_u64(fuzz_input *in) {
  uint64_t lo = fuzz_u32(in);
  return lo | ((uint64_t)fuzz_u32(in) << 32);
}

/* A number below n (n > 0). */
static inline unsigned fuzz_below(fuzz_input *in, unsigned n) {
  return n <= 256 ? (unsigned)(fuzz_u8(in) % n) : (unsigned)(fuzz_u16(in) % n);
}

/* Operations done by the target in this process; printed at exit as
 * "vmp-fuzz: N operations" for fuzz/run.sh to add up. */
extern unsigned long long fuzz_operations;
void fuzz_report_operations_at_exit(const char *target);

/* A finding: prints what was expected and what happened, then aborts so
 * that libFuzzer writes the reproducer. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void fuzz_fail(const char *fmt, ...);

/* Entries of /proc/self/fd now (including the one listing it): compared
 * before and after an input, so a leaked descriptor is a finding. */
int fuzz_open_fds(void);

#endif
