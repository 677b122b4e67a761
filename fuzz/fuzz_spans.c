/*
 * The span tree (src/spans.h) against a reference that is trivially
 * correct: an array with one cell per page saying which span covers it.
 * The input drives splits (in two or three), coalesces of runs of spans,
 * edits in place through find (the way a protect run changes a span),
 * bulk splits that grow the tree to several levels, and inserts with the
 * allocator failing, with and without a reservation. After every operation
 * the tree's invariants are checked through its interface: entries in
 * strictly increasing order and equal to the reference's, the count, the
 * walk back equal to the walk forward, a cursor's leaf holding consecutive
 * entries, the height bounded by the count, and find giving the greatest
 * start at or below a page for pages all over the region.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "spans.h"
#include "testing.h"
#include "vmplace.h"

#define MAX_PAGES 8192

typedef struct ref_span {
  size_t pages;
  uint64_t tag;
  uint8_t prot;
} ref_span;

/* owner[p]: the first page of the span covering page p; info[s] is valid
 * where owner[s] == s. */
static size_t owner[MAX_PAGES];
static ref_span info[MAX_PAGES];
static size_t total_pages;

static void ref_set(size_t start, size_t pages, uint64_t tag, uint8_t prot) {
  for (size_t p = start; p < start + pages; p++) owner[p] = start;
  info[start] = (ref_span){pages, tag, prot};
}

static size_t ref_count(void) {
  size_t n = 0;
  for (size_t p = 0; p < total_pages; p++) n += owner[p] == p;
  return n;
}

static vmp__span entry(size_t start, const ref_span *r) {
  vmp__span s;
  memset(&s, 0, sizeof s);
  s.start = start;
  s.pages = r->pages;
  s.mem_page = r->tag;
  s.prot = r->prot;
  s.kind = (uint8_t)(r->tag % 3);
  return s;
}

static void check_entry(const vmp__span *s, size_t start, const char *where) {
  const ref_span *r = &info[start];
  if (!s) fuzz_fail("%s: no entry where the reference has a span at %zu", where, start);
  if (s->start != start || s->pages != r->pages || s->mem_page != r->tag || s->prot != r->prot ||
      s->kind != r->tag % 3)
    fuzz_fail("%s: entry {start %zu, pages %zu, tag %llu, prot %u}, reference {%zu, %zu, %llu, %u}",
              where, s->start, s->pages, (unsigned long long)s->mem_page, s->prot, start, r->pages,
              (unsigned long long)r->tag, r->prot);
}

static void check_tree(vmp__spans *t, const fuzz_input *in) {
  size_t n = ref_count();
  if (vmp__spans_count(t) != n) fuzz_fail("count %zu, reference %zu", vmp__spans_count(t), n);
  /* A tree whose nodes have at least two children has at most this height. */
  unsigned bound = 1;
  for (size_t c = n; c > 1; c /= 2) bound++;
  if ((n == 0) != (t->height == 0) || t->height > bound)
    fuzz_fail("height %u for %zu entries", t->height, n);

  vmp__spans_cursor at, prev_at = {NULL, 0};
  size_t seen = 0, p = 0, leaves = 0;
  for (vmp__span *s = vmp__spans_first(t, &at); s; s = vmp__spans_step(t, &at, 1)) {
    while (p < total_pages && owner[p] != p) p++;
    if (p >= total_pages) fuzz_fail("more entries than the reference's %zu", n);
    check_entry(s, p, "walk forward");
    if (at.leaf != prev_at.leaf) {
      leaves++;
      if (at.index != 0) fuzz_fail("a walk enters leaf %p at index %u", (void *)at.leaf, at.index);
    } else if (at.index != prev_at.index + 1) {
      fuzz_fail("a walk steps from index %u to %u in one leaf", prev_at.index, at.index);
    }
    prev_at = at;
    seen++;
    p++;
  }
  if (seen != n) fuzz_fail("walk forward saw %zu entries, reference %zu", seen, n);
  if (n && leaves > n) fuzz_fail("%zu leaves for %zu entries", leaves, n);

  /* The walk back, from the last entry. */
  if (n) {
    vmp__span *s = vmp__spans_find(t, SIZE_MAX, &at);
    size_t back = 0;
    p = total_pages;
    for (; s; s = vmp__spans_step(t, &at, -1)) {
      do p--;
      while (owner[p] != p);
      check_entry(s, p, "walk back");
      back++;
      if (p == 0) {
        if (vmp__spans_step(t, &at, -1)) fuzz_fail("an entry before the first");
        break;
      }
    }
    if (back != n) fuzz_fail("walk back saw %zu entries, reference %zu", back, n);
  }

  /* find at the ends and at pages spread by a generator seeded from the
   * input's position (the input's own bytes are kept for operations). */
  size_t probes[40];
  size_t k = 0;
  uint64_t x = in->pos * 0x9e3779b97f4a7c15u + n;
  probes[k++] = 0;
  probes[k++] = total_pages - 1;
  while (k < 40) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    probes[k++] = (size_t)(x >> 33) % total_pages;
  }
  for (size_t i = 0; i < k; i++) {
    size_t q = probes[i];
    vmp__span *s = vmp__spans_find(t, q, &at);
    check_entry(s, owner[q], "find");
    vmp__span *again = vmp__spans_step(t, &at, 0 - 1);
    size_t before = owner[q] ? owner[owner[q] - 1] : SIZE_MAX;
    if (before == SIZE_MAX ? again != NULL : !again || again->start != before)
      fuzz_fail("step back from find(%zu) reaches the wrong entry", q);
  }
}

/* Splits the span covering page `at` so that a span starts there. */
static int split_at(vmp__spans *t, size_t at) {
  size_t start = owner[at];
  if (start == at) return 0;
  ref_span *r = &info[start];
  vmp__span *s = vmp__spans_find(t, at, NULL);
  if (!s || s->start != start) fuzz_fail("find(%zu) does not give the span at %zu", at, start);
  size_t rest = start + r->pages - at;
  if (vmp__spans_reserve(t, 1) != 0) return -1;
  s->pages = at - start;
  uint64_t tag = r->tag * 31 + at;
  r->pages = at - start; /* the lower part keeps its pages' owner */
  ref_set(at, rest, tag, r->prot);
  vmp__span upper = entry(at, &info[at]);
  if (vmp__spans_insert(t, &upper) != 0) fuzz_fail("an insert failed after a reservation");
  return 0;
}

static void op_split(vmp__spans *t, fuzz_input *in) {
  size_t a = fuzz_u16(in) % total_pages;
  size_t len = 1 + fuzz_u8(in) % 16;
  split_at(t, a);
  if (a + len < total_pages) split_at(t, a + len);
}

static void op_bulk_split(vmp__spans *t, fuzz_input *in) {
  size_t stride = 1 + fuzz_u8(in) % 5, from = fuzz_u16(in) % total_pages;
  size_t count = 64 + fuzz_u16(in) % 2048;
  if (from + (count - 1) * stride >= total_pages) count = (total_pages - 1 - from) / stride + 1;
  /* From the back, so that each split relabels only the few pages above it. */
  for (size_t i = count; i-- > 0;) split_at(t, from + i * stride);
}

/* Merges the span covering a page with the next k spans. */
static void op_coalesce(vmp__spans *t, fuzz_input *in) {
  size_t start = owner[fuzz_u16(in) % total_pages];
  unsigned k = 1 + fuzz_u8(in) % 40;
  size_t end = start + info[start].pages, last_start = start;
  for (unsigned i = 0; i < k && end < total_pages; i++) {
    last_start = end;
    end += info[end].pages;
  }
  if (last_start == start) return;
  if (fuzz_u8(in) & 1) {
    vmp__spans_remove_range(t, start + 1, last_start);
  } else {
    for (size_t s = last_start; s > start; s = owner[s - 1]) vmp__spans_remove(t, s);
  }
  vmp__span *s = vmp__spans_find(t, start, NULL);
  check_entry(s, start, "coalesce");
  s->pages = end - start;
  ref_set(start, end - start, info[start].tag, info[start].prot);
}

/* An edit in place through find, as a protect run does. */
static void op_edit(vmp__spans *t, fuzz_input *in) {
  size_t q = fuzz_u16(in) % total_pages;
  vmp__span *s = vmp__spans_find(t, q, NULL);
  check_entry(s, owner[q], "edit");
  uint8_t prot = fuzz_u8(in) & 7;
  s->prot = prot;
  info[owner[q]].prot = prot;
}

/* Inserts with the allocator failing: with a reservation none may fail;
 * without one a failure must leave the tree unchanged. */
static void op_insert_failing(vmp__spans *t, fuzz_input *in) {
  unsigned n = 1 + fuzz_u8(in) % 40;
  int reserved = fuzz_u8(in) & 1;
  if (reserved && vmp__spans_reserve(t, n) != 0) return;
  vmp__testing_alloc_fail_after(fuzz_u8(in) % 3);
  for (unsigned i = 0; i < n; i++) {
    size_t a = fuzz_u16(in) % total_pages, start = owner[a];
    if (start == a) continue;
    ref_span *r = &info[start];
    vmp__span upper = {0};
    upper.start = a;
    upper.pages = start + r->pages - a;
    upper.mem_page = r->tag * 7 + a;
    upper.prot = r->prot;
    upper.kind = (uint8_t)(upper.mem_page % 3);
    int rc = vmp__spans_insert(t, &upper);
    if (rc != 0) {
      if (reserved) fuzz_fail("insert %u of %u failed after a reservation", i + 1, n);
      if (rc != VMP_ENOMEM) fuzz_fail("a failed insert returned %d", rc);
      continue; /* unchanged: the next check proves it */
    }
    vmp__span *s = vmp__spans_find(t, start, NULL);
    check_entry(s, start, "insert");
    s->pages = a - start;
    ref_set(a, upper.pages, upper.mem_page, upper.prot);
    info[start].pages = a - start;
  }
  vmp__testing_alloc_disarm();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_report_operations_at_exit("spans");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size, 0};
  total_pages = 1 + fuzz_u16(&in) % MAX_PAGES;
  vmp__spans t;
  vmp__spans_init(&t);
  ref_set(0, total_pages, 1, 0);
  vmp__span whole = entry(0, &info[0]);
  if (vmp__spans_insert(&t, &whole) != 0) fuzz_fail("the first insert failed");
  for (int n = 0; n < 200 && fuzz_more(&in); n++) {
    switch (fuzz_u8(&in) % 8) {
      case 0:
      case 1:
      case 2:
        op_split(&t, &in);
        break;
      case 3:
        op_bulk_split(&t, &in);
        break;
      case 4:
      case 5:
        op_coalesce(&t, &in);
        break;
      case 6:
        op_edit(&t, &in);
        break;
      default:
        op_insert_failing(&t, &in);
        break;
    }
    fuzz_operations++;
    check_tree(&t, &in);
  }
  vmp__spans_destroy(&t);
  return 0;
}
