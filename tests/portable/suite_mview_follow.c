/*
 * Multi-file views for live logs on whatever backend is compiled in,
 * Windows under Wine included: a growing last segment followed in place
 * (refresh), rolling to the next file (append), retiring old segments so
 * that their files can be deleted, no descriptors kept
 * (VMP_MVIEW_CLOSE_FILES), padding after the end, reads and scans that
 * report bytes gone instead of faulting, 10^4 segments, and failure at
 * every system call and allocation of refresh, retire and append leaving
 * the kernel's view, the handles and the view as they were.
 *
 * Lengths of segments that are not last and file offsets are whole grains
 * (G: 64 KiB rounded up to the page), as in suite_mview.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_check.h"
#include "support_files.h"
#include "support_kernel.h"
#include "support_mview_steps.h"
#include "support_util.h"
#include "vmplace.h"

#define P (util_page())
#define G (util_grain())
#define NONE ((size_t)-1)

/* ---- files ------------------------------------------------------------------------ */

/* The view's bytes [at, at+n) are bytes [from, from+n) of the seed's file. */
static int shows(vmp_mview *v, uint64_t at, unsigned seed, uint64_t from, uint64_t n) {
  const unsigned char *p = (const unsigned char *)vmp_mview_base(v);
  uint64_t i = 0;
  while (i < n && p[at + i] == files_byte(seed, from + i)) i++;
  return CHECK(i == n, "view byte %llu is 0x%02x, file byte %llu is 0x%02x",
               (unsigned long long)(at + i), i < n ? p[at + i] : 0, (unsigned long long)(from + i),
               i < n ? files_byte(seed, from + i) : 0);
}

static int zeros(vmp_mview *v, uint64_t at, uint64_t n) {
  const unsigned char *p = (const unsigned char *)vmp_mview_base(v);
  return CHECK(util_all_bytes(p + at, (size_t)n, 0), "bytes [%llu, +%llu) are not zero",
               (unsigned long long)at, (unsigned long long)n);
}

static uint64_t first_equal(const unsigned char *p, uint64_t from, uint64_t n, unsigned char c) {
  const unsigned char *hit = memchr(p + from, c, (size_t)n);
  return hit ? (uint64_t)(hit - p) : from + n;
}

/* ---- follow ------------------------------------------------------------------------ */

/* A view with room for 8 grains of one file of `size` bytes (the seed's
 * pattern) that is to grow; NULL (reported) when either cannot be made. */
static vmp_mview *growing_view(const char **path, uint64_t size, unsigned seed) {
  *path = files_make(size, seed);
  if (!*path) return NULL;
  vmp_segment seg = {*path, -1, 0, 0};
  vmp_mview *v;
  return CHECK_RC(vmp_mview_open(&seg, 1, 8 * G, 0, &v, NULL), 0) ? v : NULL;
}

CHECK_TEST(refresh_follows_the_file) {
  const char *f;
  vmp_mview *v = growing_view(&f, G + 100, 1);
  if (!v) goto out;
  char *base = vmp_mview_base(v);
  uint64_t len = 0;
  CHECK_RC(vmp_mview_refresh(v, &len), 0);
  CHECK(len == G + 100, "length %llu", (unsigned long long)len);
  /* Written into the page already mapped: the view shows it at once. */
  files_write(f, 1, G + 100, G + 300);
  CHECK_RC(vmp_mview_refresh(v, &len), 0);
  CHECK(len == G + 300, "length %llu", (unsigned long long)len);
  shows(v, 0, 1, 0, G + 300);
  /* Whole pages and a partial one. */
  files_write(f, 1, G + 300, 3 * G + 7);
  CHECK_RC(vmp_mview_refresh(v, &len), 0);
  CHECK(len == 3 * G + 7 && vmp_mview_length(v) == 3 * G + 7, "length %llu",
        (unsigned long long)len);
  CHECK(vmp_mview_base(v) == base, "the base moved");
  shows(v, 0, 1, 0, 3 * G + 7);
  zeros(v, 3 * G + 7, P - 7);
  kv_snapshot snap;
  if (kv_take(&snap, base, 8 * G) == 0) {
    for (size_t page = 0; page < (3 * G + P) / P; page++)
      CHECK(snap.page[page].state == KV_SHARED && (snap.page[page].prot & VMP_PROT_READ),
            "page %zu is not a readable view", page);
    CHECK(snap.page[(3 * G + P) / P].state != KV_SHARED, "the room is mapped");
    kv_free(&snap);
  }
  size_t seg_at;
  uint64_t off;
  CHECK_RC(vmp_mview_locate(v, 3 * G + 6, &seg_at, &off), 0);
  CHECK(seg_at == 0 && off == 3 * G + 6, "located at %zu, %llu", seg_at, (unsigned long long)off);
  CHECK_RC(vmp_mview_check(v, NULL), 0);
  /* Grown past the capacity: refused, nothing mapped. */
  files_write(f, 1, 3 * G + 7, vmp_mview_capacity(v) + 1);
  CHECK_RC(vmp_mview_refresh(v, &len), VMP_ERANGE);
  CHECK(len == 3 * G + 7, "length %llu", (unsigned long long)len);
  CHECK_RC(vmp_mview_close(v), 0);
  CHECK_RC(vmp_mview_refresh(NULL, NULL), VMP_EINVAL);
out:
  files_remove();
}

/* ---- roll and retire ---------------------------------------------------------------- */

CHECK_TEST(roll_retire_and_delete) {
  const char *s0 = files_make(P, 10), *s1 = files_make(0, 11), *s2 = files_make(G, 12);
  if (!s0 || !s1 || !s2) goto out;
  vmp_segment first = {s0, -1, 0, 0};
  vmp_mview *v;
  if (!CHECK_RC(vmp_mview_open(&first, 1, 16 * G, 0, &v, NULL), 0)) goto out;
  char *base = vmp_mview_base(v);
  vmp_segment next = {s1, -1, 0, 0};
  files_write(s0, 10, P, G);
  CHECK_RC(vmp_mview_refresh(v, NULL), 0);
  CHECK_RC(vmp_mview_append(v, &next), 0);
  files_write(s1, 11, 0, G + 3);
  uint64_t len;
  CHECK_RC(vmp_mview_refresh(v, &len), 0);
  CHECK(len == 2 * G + 3, "length %llu", (unsigned long long)len);
  shows(v, 0, 10, 0, G);
  shows(v, G, 11, 0, G + 3);

  /* A system that keeps a mapped file from being cut keeps it from being
   * deleted too (Windows): only retire frees it. */
  if (!vmp_capabilities()->mapped_files_shrink)
    CHECK(!files_unheld(s0), "the mapped file is free before it is retired");
  long handles = util_open_handles();
  CHECK_RC(vmp_mview_retire(v, 1), 0);
  CHECK(vmp_mview_retired(v) == 1, "retired %zu", vmp_mview_retired(v));
  /* Wine counts no handles (0): there files_unheld() is the test. */
  if (handles > 0)
    CHECK(util_open_handles() < handles, "retire closed nothing (%ld handles, %ld before)",
          util_open_handles(), handles);
  CHECK(files_unheld(s0), "the retired file is still held");
  CHECK(remove(s0) == 0, "the retired file cannot be deleted");
  kv_snapshot snap;
  if (kv_take(&snap, base, G) == 0) {
    for (size_t page = 0; page < G / P; page++)
      CHECK(!kv_accessible(&snap, page), "retired page %zu can be touched", page);
    kv_free(&snap);
  }
  CHECK(vmp_mview_base(v) == base, "the base moved");
  shows(v, G, 11, 0, G + 3);
  size_t seg;
  uint64_t off;
  CHECK_RC(vmp_mview_locate(v, 0, &seg, &off), VMP_ESTATE);
  unsigned char buf[16];
  CHECK_RC(vmp_mview_read(v, G - 8, buf, 16), VMP_ESTATE);
  CHECK_RC(vmp_mview_check(v, NULL), 0);
  CHECK_RC(vmp_mview_retire(v, 0), 0);
  CHECK_RC(vmp_mview_retire(v, 3), VMP_ERANGE);

  files_write(s1, 11, G + 3, G + P);
  CHECK_RC(vmp_mview_refresh(v, NULL), 0);
  vmp_segment third = {s2, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &third), 0);
  CHECK_RC(vmp_mview_retire(v, 3), 0);
  CHECK(files_unheld(s1) && files_unheld(s2), "retired files are still held");
  CHECK_RC(vmp_mview_append(v, &third), 0);
  shows(v, 3 * G + P, 12, 0, G);
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* ---- descriptors -------------------------------------------------------------------- */

#define MANY 400

CHECK_TEST(close_files) {
  const char *f = files_make(4 * G, 5), *g = files_make(P + 1, 6);
  if (!f || !g) goto out;
  vmp_segment *segs = calloc(MANY + 1, sizeof *segs);
  if (!CHECK(segs != NULL, "no memory")) goto out;
  for (size_t i = 0; i < MANY; i++) segs[i] = (vmp_segment){f, -1, (i % 4) * G, G};
  segs[MANY] = (vmp_segment){g, -1, 0, 0};
  long handles = util_open_handles();
  vmp_mview *v;
  if (CHECK_RC(vmp_mview_open(segs, MANY + 1, 0, VMP_MVIEW_CLOSE_FILES, &v, NULL), 0)) {
    long now = util_open_handles();
    CHECK(now <= handles + 1, "%ld handles for %d segments", now - handles, MANY + 1);
    for (size_t i = 0; i < MANY; i += 37) shows(v, i * G, 5, (i % 4) * G, G);
    shows(v, (uint64_t)MANY * G, 6, 0, P + 1);
    vmp_mview_segment_info info;
    CHECK_RC(vmp_mview_describe(v, 0, &info), 0);
    CHECK(info.fd == -1, "a closed segment has a descriptor");
    CHECK_RC(vmp_mview_check(v, NULL), 0);
    files_write(g, 6, P + 1, 2 * P);
    CHECK_RC(vmp_mview_refresh(v, NULL), 0);
    shows(v, (uint64_t)MANY * G, 6, 0, 2 * P);
    CHECK_RC(vmp_mview_close(v), 0);
  }
  CHECK(util_open_handles() == handles, "close left %ld handles", util_open_handles() - handles);
  vmp_segment by_fd[] = {{f, -1, 0, G}, {NULL, 0, 0, 0}};
  size_t bad = 77;
  CHECK_RC(vmp_mview_open(by_fd, 2, 0, VMP_MVIEW_CLOSE_FILES, &v, &bad), VMP_EINVAL);
  CHECK(bad == 1, "bad segment %zu", bad);
  free(segs);
out:
  files_remove();
}

/* ---- padding ------------------------------------------------------------------------ */

CHECK_TEST(padding) {
  const char *f = files_make(P + 10, 7), *g = files_make(G, 8);
  if (!f || !g) goto out;
  vmp_segment seg = {f, -1, 0, 0};
  vmp_mview *v;
  if (!CHECK_RC(vmp_mview_open(&seg, 1, 2 * G, 0, &v, NULL), 0)) goto out;
  uint64_t capacity = vmp_mview_capacity(v);
  CHECK_RC(vmp_mview_set_padding(v, (size_t)capacity), VMP_ERANGE);
  CHECK_RC(vmp_mview_set_padding(v, 3 * P), 0);
  zeros(v, P + 10, 4 * P - 10);
  kv_snapshot snap;
  char *base = vmp_mview_base(v);
  if (kv_take(&snap, base, (size_t)capacity) == 0) {
    CHECK(kv_readable(&snap, 4) && !kv_writable(&snap, 4), "padding is not read-only");
    CHECK(!kv_accessible(&snap, 5), "the room after the padding can be touched");
    kv_free(&snap);
  }
  files_write(f, 7, P + 10, 2 * P);
  CHECK_RC(vmp_mview_refresh(v, NULL), 0);
  shows(v, 0, 7, 0, 2 * P);
  zeros(v, 2 * P, 3 * P);
  /* A roll that would push it past the capacity is refused. */
  CHECK_RC(vmp_mview_set_padding(v, (size_t)(capacity - 2 * P)), 0);
  vmp_segment more = {g, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &more), VMP_ERANGE);
  zeros(v, 2 * P, capacity - 2 * P);
  CHECK_RC(vmp_mview_set_padding(v, 100), 0);
  CHECK_RC(vmp_mview_append(v, &more), 0);
  shows(v, 2 * P, 8, 0, G);
  zeros(v, 2 * P + G, 100);
  CHECK_RC(vmp_mview_set_padding(v, 0), 0);
  if (kv_take(&snap, base, (size_t)capacity) == 0) {
    CHECK(!kv_accessible(&snap, (2 * P + G) / P), "padding 0 left a page");
    kv_free(&snap);
  }
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* ---- fault-safe reads ---------------------------------------------------------------- */

CHECK_TEST(read_and_scan) {
  const char *a = files_make(G, 1), *b = files_make(2 * G + 50, 2);
  if (!a || !b) goto out;
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  vmp_mview *v;
  if (!CHECK_RC(vmp_mview_open(segs, 2, 0, 0, &v, NULL), 0)) goto out;
  uint64_t len = vmp_mview_length(v);
  const unsigned char *p = vmp_mview_base(v);
  unsigned char *buf = malloc((size_t)len);
  if (CHECK(buf != NULL, "no memory")) {
    CHECK_RC(vmp_mview_read(v, 0, buf, (size_t)len), 0);
    CHECK(memcmp(buf, p, (size_t)len) == 0, "read differs from the mapping");
    CHECK_RC(vmp_mview_read(v, len - 1, buf, 2), VMP_ERANGE);
    CHECK_RC(vmp_mview_read(v, 0, NULL, 1), VMP_EINVAL);
    uint64_t found;
    unsigned char want = files_byte(2, 9);
    CHECK_RC(vmp_mview_scan(v, G - 5, len - (G - 5), want, &found), 0);
    CHECK(found == first_equal(p, G - 5, len - (G - 5), want), "scan found %llu",
          (unsigned long long)found);
    unsigned char last = p[len - 1];
    CHECK_RC(vmp_mview_scan(v, 0, len, last, &found), 0);
    CHECK(found == first_equal(p, 0, len, last), "scan found %llu", (unsigned long long)found);
    /* A file cut short under the view: Windows refuses the cut, elsewhere
     * the bytes are gone and say so. */
    if (files_set_size(b, G + 20) == 0) {
      CHECK(vmp_capabilities()->mapped_files_shrink,
            "a mapped file was cut where the system refuses it");
      CHECK_RC(vmp_mview_read(v, G, buf, G + 20), 0);
      CHECK_RC(vmp_mview_read(v, G, buf, G + 21), VMP_EGONE);
      CHECK_RC(vmp_mview_scan(v, 0, len, 0, &found), VMP_EGONE);
      size_t which;
      CHECK_RC(vmp_mview_check(v, &which), VMP_EBOUNDS);
    } else {
      CHECK(!vmp_capabilities()->mapped_files_shrink, "the file could not be cut");
      CHECK_RC(vmp_mview_read(v, 0, buf, (size_t)len), 0);
    }
    free(buf);
  }
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* ---- scale -------------------------------------------------------------------------- */

#define SCALE 10000

CHECK_TEST(ten_thousand_segments) {
  /* One file's pages in reverse order: no two neighbours can merge. */
  const char *f = files_make((uint64_t)SCALE * P, 3);
  if (!f) goto out;
  vmp_segment *segs = calloc(SCALE, sizeof *segs);
  if (!CHECK(segs != NULL, "no memory")) goto out;
  for (size_t i = 0; i < SCALE; i++) segs[i] = (vmp_segment){f, -1, (SCALE - 1 - i) * P, P};
  long handles = util_open_handles();
  vmp_mview *v;
  size_t bad = 77;
  int rc = vmp_mview_open(segs, SCALE, 0, VMP_MVIEW_CLOSE_FILES, &v, &bad);
  if (rc == VMP_EALIGN && vmp_capabilities()->view_offset_unit > vmp_page_size()) {
    /* A system found to map files only at granularity offsets. */
    check_note("views at page offsets are not supported here");
  } else if (CHECK_RC(rc, 0)) {
    CHECK(util_open_handles() <= handles + 1, "%ld handles", util_open_handles() - handles);
    for (size_t i = 0; i < SCALE; i += 499) shows(v, i * P, 3, (SCALE - 1 - i) * P, P);
    kv_snapshot snap;
    if (kv_take(&snap, vmp_mview_base(v), SCALE * P) == 0) {
      size_t bad_page = NONE;
      for (size_t i = 0; i < SCALE && bad_page == NONE; i++)
        if (snap.page[i].state != KV_SHARED) bad_page = i;
      CHECK(bad_page == NONE, "page %zu is not a view", bad_page);
      kv_free(&snap);
    }
    uint64_t found;
    CHECK_RC(vmp_mview_scan(v, 0, vmp_mview_length(v), files_byte(3, 0), &found), 0);
    CHECK(found == first_equal(vmp_mview_base(v), 0, vmp_mview_length(v), files_byte(3, 0)),
          "scan found %llu", (unsigned long long)found);
    CHECK_RC(vmp_mview_retire(v, SCALE - 1), 0);
    shows(v, (SCALE - 1) * P, 3, 0, P);
    CHECK_RC(vmp_mview_close(v), 0);
  }
  CHECK(util_open_handles() == handles, "%ld handles left", util_open_handles() - handles);
  free(segs);
out:
  files_remove();
}

/* ---- threads ------------------------------------------------------------------------ */

#define FOLLOW_TOTAL (4 * G + 123)

typedef struct follower {
  vmp_mview *v;
  int rc;
  long refreshes;
} follower;

/* Refreshes until the view holds the whole file, or an error. */
static void follow_to_the_end(follower *f) {
  uint64_t len = 0;
  while (f->rc == 0 && len < FOLLOW_TOTAL) {
    f->rc = vmp_mview_refresh(f->v, &len);
    f->refreshes++;
  }
}

static void follow_to_the_end_thread(void *arg) { follow_to_the_end(arg); }

/* This thread writes the file a few KiB at a time and reads what the view
 * holds so far through the fault-safe read; another refreshes as fast as
 * it can. Every byte read is the file's. */
CHECK_TEST(follow_while_reading) {
  const char *f;
  vmp_mview *v = growing_view(&f, P + 1, 31);
  if (!v) goto out;
  follower fl = {v, 0, 0};
  util_thread thread;
  int started = util_thread_start(&thread, follow_to_the_end_thread, &fl);
  if (!CHECK(started, "cannot start a thread")) {
    vmp_mview_close(v);
    goto out;
  }
  unsigned char buf[3000];
  uint64_t rng = 7;
  for (uint64_t at = P + 1; at < FOLLOW_TOTAL && !check_failures();) {
    uint64_t next = at + 2999 < FOLLOW_TOTAL ? at + 2999 : FOLLOW_TOTAL;
    if (!files_write(f, 31, at, next)) break;
    at = next;
    uint64_t len = vmp_mview_length(v);
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    uint64_t from = (rng >> 33) % len, n = len - from < sizeof buf ? len - from : sizeof buf;
    if (CHECK_RC(vmp_mview_read(v, from, buf, (size_t)n), 0)) {
      uint64_t i = 0;
      while (i < n && buf[i] == files_byte(31, from + i)) i++;
      CHECK(i == n, "byte %llu read as 0x%02x", (unsigned long long)(from + i), i < n ? buf[i] : 0);
    }
  }
  util_thread_join(&thread);
  CHECK_RC(fl.rc, 0);
  CHECK(vmp_mview_length(v) == FOLLOW_TOTAL, "length %llu",
        (unsigned long long)vmp_mview_length(v));
  shows(v, 0, 31, 0, FOLLOW_TOTAL);
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* ---- failure at every step ----------------------------------------------------------- */

static const char *sc_a, *sc_b, *sc_c;

static int prepare_refresh(vmp_mview **v, unsigned flags) {
  if (files_set_size(sc_a, G + 30) != 0) return 0;
  vmp_segment segs[] = {{sc_b, -1, 0, 0}, {sc_a, -1, 0, 0}};
  if (!CHECK_RC(vmp_mview_open(segs, 2, 8 * G, flags, v, NULL), 0)) return 0;
  if (!CHECK_RC(vmp_mview_set_padding(*v, 2 * P), 0)) return vmp_mview_close(*v), 0;
  return files_write(sc_a, 21, G + 30, 3 * G + 1);
}
static int do_refresh(vmp_mview *v) { return vmp_mview_refresh(v, NULL); }
static void verify_refresh(vmp_mview *v) {
  CHECK(vmp_mview_length(v) == 5 * G + 1, "length %llu", (unsigned long long)vmp_mview_length(v));
  shows(v, 2 * G, 21, 0, 3 * G + 1);
  zeros(v, 5 * G + 1, 3 * P - 1);
}

/* Without descriptors, a segment whose pages were taken is mapped again
 * from its path. */
static int prepare_retire(vmp_mview **v, unsigned flags) {
  if (files_set_size(sc_a, G) != 0) return 0;
  vmp_segment segs[] = {{sc_b, -1, 0, 0}, {sc_a, -1, 0, 0}};
  if (!CHECK_RC(vmp_mview_open(segs, 2, 8 * G, flags, v, NULL), 0)) return 0;
  files_write(sc_a, 21, G, 2 * G);
  vmp_segment c = {sc_c, -1, 0, 0};
  if (!CHECK_RC(vmp_mview_refresh(*v, NULL), 0) || !CHECK_RC(vmp_mview_append(*v, &c), 0))
    return vmp_mview_close(*v), 0;
  return 1;
}
static int do_retire(vmp_mview *v) { return vmp_mview_retire(v, 2); }
static void verify_retire(vmp_mview *v) {
  CHECK(vmp_mview_retired(v) == 2, "retired %zu", vmp_mview_retired(v));
  shows(v, 4 * G, 23, 0, P + 5);
}

static int prepare_append(vmp_mview **v, unsigned flags) {
  vmp_segment segs[] = {{sc_b, -1, 0, 0}};
  if (!CHECK_RC(vmp_mview_open(segs, 1, 8 * G, flags, v, NULL), 0)) return 0;
  if (!CHECK_RC(vmp_mview_set_padding(*v, P), 0)) return vmp_mview_close(*v), 0;
  return 1;
}
static int do_append(vmp_mview *v) {
  vmp_segment c = {sc_c, -1, 0, 0};
  return vmp_mview_append(v, &c);
}
static void verify_append(vmp_mview *v) {
  CHECK(vmp_mview_segments(v) == 2, "%zu segments", vmp_mview_segments(v));
  shows(v, 0, 22, 0, 2 * G);
  shows(v, 2 * G, 23, 0, P + 5);
  zeros(v, 2 * G + P + 5, 2 * P - 5);
}

static void fails_cleanly(const mview_scenario *sc, inject_kind kind, int least) {
  sc_a = files_make(G + 30, 21);
  sc_b = files_make(2 * G, 22);
  sc_c = files_make(P + 5, 23);
  if (sc_a && sc_b && sc_c) mview_fails_cleanly(sc, kind, least);
  files_remove();
}

static const mview_scenario refresh_sc = {"refresh",      0, prepare_refresh, do_refresh,
                                          verify_refresh, 0};
static const mview_scenario retire_sc = {"retire", 0, prepare_retire, do_retire, verify_retire, 0};
/* A page mapped again comes from the file opened again, which the kernel
 * does not merge with the pages still mapped from the first opening. */
static const mview_scenario retire_closed_sc = {"retire without descriptors",
                                                VMP_MVIEW_CLOSE_FILES,
                                                prepare_retire,
                                                do_retire,
                                                verify_retire,
                                                1};
static const mview_scenario append_sc = {"append",  VMP_MVIEW_CLOSE_FILES, prepare_append,
                                         do_append, verify_append,         0};

CHECK_TEST(refresh_with_each_system_call_failing) { fails_cleanly(&refresh_sc, INJECT_SYSCALL, 3); }
CHECK_TEST(refresh_with_each_allocation_failing) {
  fails_cleanly(&refresh_sc, INJECT_ALLOCATION, 0);
}
CHECK_TEST(retire_with_each_system_call_failing) { fails_cleanly(&retire_sc, INJECT_SYSCALL, 2); }
CHECK_TEST(retire_with_each_allocation_failing) { fails_cleanly(&retire_sc, INJECT_ALLOCATION, 1); }
CHECK_TEST(retire_without_descriptors_with_each_system_call_failing) {
  fails_cleanly(&retire_closed_sc, INJECT_SYSCALL, 2);
}
CHECK_TEST(append_with_each_system_call_failing) { fails_cleanly(&append_sc, INJECT_SYSCALL, 3); }
CHECK_TEST(append_with_each_allocation_failing) { fails_cleanly(&append_sc, INJECT_ALLOCATION, 2); }
