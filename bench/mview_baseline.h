/*
 * The outside baselines of the mview_follow and mview_open_scan_1e4 lines,
 * written as a competent user would without the library (nothing from
 * src/): a follower that read()s what a growing log file has gained into a
 * buffer of its own, and 10^4 files mapped with one mmap each.
 *
 * The record format and its parser are shared with the library's side, so
 * both do the same work per record: a 4-byte little-endian payload length,
 * the payload, nothing else.
 */
#ifndef VMP_BENCH_MVIEW_BASELINE_H
#define VMP_BENCH_MVIEW_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#define MVB_HEADER 4u

/* Parses the whole records in [p, p+n): adds their payload bytes (mixed
 * with their position) to *sum and returns the bytes they take; a record
 * cut off at the end is left for the next call. Out of line, one copy for
 * both sides. */
size_t mvb_parse(const unsigned char *p, size_t n, uint64_t *records, uint64_t *sum);

/* A follower by read(): its descriptor, where it is in the file, and the
 * bytes of a record cut off by the last read, kept at the buffer's start. */
typedef struct mvb_follower {
  int fd;
  unsigned char *buffer;
  size_t capacity, kept;
  uint64_t records, sum;
} mvb_follower;

/* 0 or -errno. */
int mvb_follower_open(mvb_follower *f, const char *path, size_t buffer_bytes);
/* Reads what the file has gained since the last call and parses every
 * record now whole. 0 or -errno. */
int mvb_follower_poll(mvb_follower *f);
void mvb_follower_close(mvb_follower *f);

/* Maps each of `count` files whole, read-only and shared, one mmap each
 * (the descriptor closed at once), into maps[i] with sizes[i]; then sums
 * them as mvb_sum_pages does. 0 or -errno; on error nothing stays mapped. */
int mvb_map_each(const char *const *paths, size_t count, void **maps, size_t *sizes);
void mvb_unmap_each(void **maps, const size_t *sizes, size_t count);

/* The sum both sides of mview_open_scan_1e4 compute: every 8-byte word of
 * every page, mixed with its position in the whole. */
uint64_t mvb_sum_words(const uint64_t *w, size_t n, uint64_t index);

#endif
