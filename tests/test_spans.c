/*
 * The span B+ tree against a sorted-array model: random operations,
 * allocation failure with and without reservations, removals of the first
 * entry of a leaf, and a million-entry build.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "spans.h"
#include "testing.h"
#include "vmplace.h"

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) {
  /* xorshift64*: deterministic, so a failure reproduces. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

static size_t rng_below(size_t n) { return (size_t)(rng_next() % n); }

/* Every field of an entry is derived from its key, so a misplaced or
 * half-copied entry shows up. */
static vmp__span span_for(size_t start) {
  vmp__span s;
  memset(&s, 0, sizeof s);
  s.start = start;
  s.pages = start * 7 + 3;
  s.mem = NULL;
  s.mem_page = (uint64_t)start ^ 0xabcdefULL;
  s.kind = (uint8_t)(start % 3);
  s.prot = (uint8_t)(start % 5);
  s.mixed = (uint8_t)(start % 2);
  return s;
}

static void expect_span(const vmp__span *got, size_t start) {
  cr_assert_not_null(got, "no entry where %zu was expected", start);
  vmp__span want = span_for(start);
  cr_assert_eq(got->start, want.start, "start %zu, expected %zu", got->start, want.start);
  cr_assert_eq(got->pages, want.pages, "entry %zu: pages %zu", start, got->pages);
  cr_assert_eq(got->mem_page, want.mem_page, "entry %zu: mem_page", start);
  cr_assert_eq(got->kind, want.kind, "entry %zu: kind", start);
  cr_assert_eq(got->prot, want.prot, "entry %zu: prot", start);
  cr_assert_eq(got->mixed, want.mixed, "entry %zu: mixed", start);
}

/* A sorted array of keys: the obviously correct version of the tree. */
typedef struct model {
  size_t *keys;
  size_t n, cap;
} model;

static void model_init(model *m, size_t cap) {
  m->keys = malloc(cap * sizeof *m->keys);
  cr_assert_not_null(m->keys);
  m->n = 0;
  m->cap = cap;
}

/* Index of the first key >= key. */
static size_t model_lower(const model *m, size_t key) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->keys[mid] < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int model_has(const model *m, size_t key) {
  size_t i = model_lower(m, key);
  return i < m->n && m->keys[i] == key;
}

static void model_insert(model *m, size_t key) {
  cr_assert_lt(m->n, m->cap);
  size_t i = model_lower(m, key);
  memmove(&m->keys[i + 1], &m->keys[i], (m->n - i) * sizeof *m->keys);
  m->keys[i] = key;
  m->n++;
}

static void model_remove_range(model *m, size_t first, size_t last) {
  size_t from = model_lower(m, first);
  size_t to = last == SIZE_MAX ? m->n : model_lower(m, last + 1);
  if (to <= from) return;
  memmove(&m->keys[from], &m->keys[to], (m->n - to) * sizeof *m->keys);
  m->n -= to - from;
}

/* The greatest key <= page, as a pointer into the model, or NULL. */
static const size_t *model_find(const model *m, size_t page) {
  size_t i = page == SIZE_MAX ? m->n : model_lower(m, page + 1);
  return i == 0 ? NULL : &m->keys[i - 1];
}

static void check_find(vmp__spans *t, const model *m, size_t page) {
  vmp__spans_cursor at;
  vmp__span *got = vmp__spans_find(t, page, &at);
  const size_t *want = model_find(m, page);
  if (!want) {
    cr_assert_null(got, "find(%zu) returned %zu, expected nothing", page, got ? got->start : 0);
    return;
  }
  expect_span(got, *want);
  /* The cursor must sit on the entry returned. */
  vmp__span *again = vmp__spans_step(t, &at, 0);
  cr_assert_eq(again, got, "find(%zu) returned a cursor elsewhere", page);
}

/* Height stays logarithmic: non-root leaves hold at least 8 entries and
 * inner nodes at least 17 children (the last leaf may hold fewer). */
static void check_height(const vmp__spans *t) {
  size_t n = t->count;
  unsigned bound = 1;
  size_t reach = 2 * 8; /* entries a tree of height `bound` can hold at minimum, roughly */
  while (reach < n) {
    reach *= 17;
    bound++;
  }
  cr_assert_leq(t->height, bound + 1, "height %u for %zu entries", t->height, n);
  cr_assert_eq(t->height == 0, n == 0);
}

/* Walks the whole tree both ways and compares it with the model. */
static void check_all(vmp__spans *t, const model *m) {
  cr_assert_eq(vmp__spans_count(t), m->n, "count %zu, model %zu", vmp__spans_count(t), m->n);
  check_height(t);
  vmp__spans_cursor at;
  vmp__span *s = vmp__spans_first(t, &at);
  size_t i = 0;
  for (; s; s = vmp__spans_step(t, &at, 1), i++) {
    cr_assert_lt(i, m->n, "walk forward finds more than %zu entries", m->n);
    expect_span(s, m->keys[i]);
  }
  cr_assert_eq(i, m->n, "walk forward found %zu of %zu entries", i, m->n);
  if (m->n == 0) {
    cr_assert_null(vmp__spans_find(t, SIZE_MAX, NULL));
    return;
  }
  /* At the end, stepping on fails and leaves the cursor where it was. */
  s = vmp__spans_find(t, SIZE_MAX, &at);
  expect_span(s, m->keys[m->n - 1]);
  cr_assert_null(vmp__spans_step(t, &at, 1));
  cr_assert_eq(vmp__spans_step(t, &at, 0), s);
  for (i = m->n; s; s = vmp__spans_step(t, &at, -1)) {
    cr_assert_gt(i, 0, "walk backward finds too many entries");
    expect_span(s, m->keys[--i]);
  }
  cr_assert_eq(i, 0, "walk backward stopped %zu entries short", i);
}

static void insert_ok(vmp__spans *t, model *m, size_t key) {
  vmp__span s = span_for(key);
  cr_assert_eq(vmp__spans_insert(t, &s), 0, "insert %zu failed", key);
  model_insert(m, key);
}

/* Inserts the n keys from key on as one run (none of them in the tree);
 * the cursor must land on the first and walk on through the rest. */
static void insert_run_ok(vmp__spans *t, model *m, size_t key, unsigned n) {
  vmp__span run[4];
  cr_assert_leq(n, 4);
  for (unsigned i = 0; i < n; i++) run[i] = span_for(key + i);
  vmp__spans_cursor at;
  cr_assert_eq(vmp__spans_insert_run(t, run, n, &at), 0, "run of %u at %zu failed", n, key);
  for (unsigned i = 0; i < n; i++) model_insert(m, key + i);
  expect_span(vmp__spans_at(&at), key);
  for (unsigned i = 1; i < n; i++) expect_span(vmp__spans_step(t, &at, 1), key + i);
}

/* The same run put in as the region puts the pieces of a span it cut:
 * the span the run follows is found first, and the run goes in after it
 * (vmp__spans_insert_after), whether or not that span's leaf was the one
 * the find descended to. */
static void insert_after_ok(vmp__spans *t, model *m, size_t key, unsigned n) {
  vmp__spans_cursor after, at;
  if (key == 0 || !vmp__spans_find(t, key - 1, &after)) {
    insert_run_ok(t, m, key, n);
    return;
  }
  vmp__span run[4];
  cr_assert_leq(n, 4);
  for (unsigned i = 0; i < n; i++) run[i] = span_for(key + i);
  cr_assert_eq(vmp__spans_insert_after(t, &after, run, n, &at), 0, "run of %u after %zu failed", n,
               key);
  for (unsigned i = 0; i < n; i++) model_insert(m, key + i);
  expect_span(vmp__spans_at(&at), key);
  for (unsigned i = 1; i < n; i++) expect_span(vmp__spans_step(t, &at, 1), key + i);
}

/* The entries after the one that holds `page`, up to `len` keys past its
 * start, removed as a coalesce removes them (vmp__spans_remove_after). */
static void remove_after_ok(vmp__spans *t, model *m, size_t page, size_t len) {
  vmp__spans_cursor after;
  const vmp__span *e = vmp__spans_find(t, page, &after);
  if (!e) return;
  size_t first = e->start;
  size_t last = len > SIZE_MAX - first ? SIZE_MAX : first + len;
  vmp__spans_remove_after(t, &after, last);
  if (last > first) model_remove_range(m, first + 1, last);
  check_find(t, m, first);
}

/* How many keys from key on (at most want) are free up to the next key,
 * or up to SIZE_MAX (a run's keys ascend). */
static unsigned run_room(const model *m, size_t key, unsigned want) {
  size_t i = model_lower(m, key);
  size_t room = i < m->n ? m->keys[i] - key : SIZE_MAX - key;
  return room < want ? (unsigned)room : want;
}

/* ---- tests ---------------------------------------------------------------------- */

Test(spans, empty_tree) {
  vmp__spans t;
  vmp__spans_init(&t);
  vmp__spans_cursor at;
  cr_assert_eq(vmp__spans_count(&t), 0);
  cr_assert_null(vmp__spans_find(&t, 0, &at));
  cr_assert_null(vmp__spans_find(&t, SIZE_MAX, &at));
  cr_assert_null(vmp__spans_first(&t, &at));
  vmp__spans_remove_range(&t, 0, SIZE_MAX);
  cr_assert_eq(vmp__spans_reserve(&t, 0), 0);
  vmp__spans_destroy(&t);
}

Test(spans, find_below_first_and_between) {
  vmp__spans t;
  vmp__spans_init(&t);
  model m;
  model_init(&m, 16);
  insert_ok(&t, &m, 10);
  insert_ok(&t, &m, 20);
  check_find(&t, &m, 9);
  check_find(&t, &m, 10);
  check_find(&t, &m, 15);
  check_find(&t, &m, 20);
  check_find(&t, &m, SIZE_MAX);
  cr_assert_null(vmp__spans_find(&t, 0, NULL));
  cr_assert_eq(vmp__spans_find(&t, 19, NULL)->start, 10);
  /* Fields other than start may be edited in place. */
  vmp__spans_find(&t, 12, NULL)->pages = 99;
  cr_assert_eq(vmp__spans_find(&t, 10, NULL)->pages, 99);
  vmp__spans_remove(&t, 10);
  cr_assert_null(vmp__spans_find(&t, 15, NULL));
  cr_assert_eq(vmp__spans_find(&t, 25, NULL)->start, 20);
  vmp__spans_remove(&t, 20);
  cr_assert_eq(vmp__spans_count(&t), 0);
  cr_assert_eq(t.height, 0);
  cr_assert_null(vmp__spans_first(&t, NULL));
  vmp__spans_destroy(&t);
  free(m.keys);
}

/* 10^5 random inserts, removes, range removes and finds, in phases that
 * grow the tree to a few thousand entries and shrink it back, so splits,
 * merges, borrows and root changes all happen. */
Test(spans, random_against_model) {
  rng_state = 0x9e3779b97f4a7c15ULL;
  enum { OPS = 100000, KEY_SPACE = 1 << 20, MAX_ENTRIES = 6000 };
  vmp__spans t;
  vmp__spans_init(&t);
  model m;
  model_init(&m, MAX_ENTRIES + 1);
  int growing = 1;
  size_t recent = 0; /* the last key used: the region works on one spot at a time */
  for (int op = 0; op < OPS; op++) {
    if (m.n >= MAX_ENTRIES - 10) growing = 0;
    if (m.n < 50 && !growing) growing = 1;
    unsigned choice = (unsigned)rng_below(100);
    if (choice < (growing ? 45u : 20u)) {
      size_t key = rng_below(KEY_SPACE);
      if (rng_below(8) == 0 && m.n > 0) key = m.keys[m.n - 1] + 1 + rng_below(4); /* append */
      if (rng_below(2) == 0) key = recent + rng_below(64) - 32; /* near the last one */
      unsigned run = rng_below(4) == 0 ? run_room(&m, key, 1 + (unsigned)rng_below(4)) : 0;
      if (run > 0 && rng_below(2) == 0)
        insert_run_ok(&t, &m, key, run); /* the pieces of a span cut up */
      else if (run > 0)
        insert_after_ok(&t, &m, key, run);
      else if (!model_has(&m, key))
        insert_ok(&t, &m, key);
      recent = key;
    } else if (choice < 70) {
      if (m.n > 0) {
        size_t key = m.keys[rng_below(m.n)];
        if (rng_below(2) == 0) {
          /* A neighbour of the last key, found as the region does. */
          const size_t *near = model_find(&m, recent + rng_below(64) - 32);
          if (near) key = *near;
        }
        recent = key;
        vmp__spans_remove(&t, key);
        model_remove_range(&m, key, key);
      }
    } else if (choice < 71) {
      /* A merge with the spans after one: usually one or two entries,
       * now and then a stretch that reaches into the next leaves. */
      size_t page = rng_below(2) == 0 ? recent + rng_below(64) - 32 : rng_below(KEY_SPACE);
      size_t len = rng_below(8) == 0 ? rng_below(KEY_SPACE / 64) : rng_below(KEY_SPACE / 4096);
      remove_after_ok(&t, &m, page, len);
      recent = page;
    } else if (choice < 73) {
      size_t first = rng_below(KEY_SPACE);
      size_t len = rng_below(4) == 0 ? rng_below(KEY_SPACE / 8) : rng_below(KEY_SPACE / 512);
      if (!growing) len *= 4;
      size_t last = first + len;
      vmp__spans_remove_range(&t, first, last);
      model_remove_range(&m, first, last);
    } else {
      size_t page = rng_below(KEY_SPACE + 16);
      if (rng_below(2) == 0 && m.n > 0) page = m.keys[rng_below(m.n)] - rng_below(2);
      if (rng_below(2) == 0) page = recent + rng_below(64) - 32;
      check_find(&t, &m, page);
      recent = page;
    }
    cr_assert_eq(vmp__spans_count(&t), m.n, "op %d: count %zu, model %zu", op, vmp__spans_count(&t),
                 m.n);
    if (op % 2000 == 0) check_all(&t, &m);
  }
  check_all(&t, &m);
  vmp__spans_remove_range(&t, 0, SIZE_MAX);
  model_remove_range(&m, 0, SIZE_MAX);
  check_all(&t, &m);
  vmp__spans_destroy(&t);
  free(m.keys);
}

/* After reserve(k) succeeds, k inserts allocate nothing: the armed
 * failure is still pending afterwards. Starting from empty, the inserts
 * go through leaf, inner and root splits. */
/* An empty tree and model with room for `room` keys, the generator seeded. */
static void start_empty(vmp__spans *t, model *m, uint64_t seed, size_t room) {
  rng_state = seed;
  vmp__spans_init(t);
  model_init(m, room);
}

Test(spans, reserved_inserts_never_allocate) {
  enum { TOTAL = 40000 };
  vmp__spans t;
  model m;
  start_empty(&t, &m, 12345, TOTAL + 8);
  unsigned start_height = t.height;
  while (m.n < TOTAL) {
    size_t k = 1 + rng_below(3);
    cr_assert_eq(vmp__spans_reserve(&t, k), 0);
    vmp__testing_alloc_fail_after(0);
    /* Some reservations serve one run of appends, which a full last leaf
     * takes an entry at a time. */
    int as_run = m.n > 0 && rng_below(4) == 0;
    if (as_run) insert_run_ok(&t, &m, m.keys[m.n - 1] + 1, (unsigned)k);
    for (size_t i = 0; i < k && !as_run; i++) {
      /* Mostly appends, as cutting a region up front to back does, and
       * some random keys so that middle leaves split too. */
      size_t key = rng_below(4) == 0 ? rng_below(1u << 30) : (m.n ? m.keys[m.n - 1] + 1 : 0);
      if (model_has(&m, key)) continue;
      vmp__span s = span_for(key);
      int rc = vmp__spans_insert(&t, &s);
      if (rc != 0) vmp__testing_alloc_fail_after(-1);
      cr_assert_eq(rc, 0, "reserved insert of %zu failed with %d", key, rc);
      model_insert(&m, key);
    }
    void *probe = vmp__malloc(16);
    vmp__testing_alloc_fail_after(-1);
    cr_assert_null(probe, "a reserved insert allocated memory");
  }
  cr_assert_geq(t.height, start_height + 3, "the inserts never split deep enough");
  check_all(&t, &m);
  vmp__spans_destroy(&t);
  free(m.keys);
}

/* Emptying a tree keeps as many nodes as asked as spares and frees the
 * rest; the spares are handed out one by one, serve another tree's inserts
 * without allocating, and the emptied tree works as new. */
Test(spans, emptied_nodes_serve_another_tree) {
  vmp__spans t, u;
  model m;
  start_empty(&t, &m, 777, 5000);
  for (size_t key = 0; key < 5000; key++) insert_ok(&t, &m, key * 3);
  cr_assert_geq(t.height, 3);
  vmp__spans_empty(&t, 3);
  cr_assert_eq(vmp__spans_count(&t), 0);
  cr_assert_null(vmp__spans_find(&t, SIZE_MAX, NULL));
  vmp__spans_init(&u);
  for (int i = 0; i < 3; i++) {
    struct vmp__spans_node *n = vmp__spans_take_spare(&t);
    cr_assert_not_null(n, "spare %d missing", i);
    vmp__spans_give_spare(&u, n);
  }
  cr_assert_null(vmp__spans_take_spare(&t), "more spares kept than asked");
  vmp__testing_alloc_fail_after(0);
  vmp__span s = span_for(42);
  int rc = vmp__spans_insert(&u, &s);
  int reached = vmp__testing_alloc_disarm();
  cr_assert_eq(rc, 0);
  cr_assert(!reached, "an insert into a tree with spares allocated");
  cr_assert_eq(vmp__spans_find(&u, 50, NULL)->start, 42);
  free(m.keys);
  model_init(&m, 16);
  insert_ok(&t, &m, 7);
  check_all(&t, &m);
  vmp__spans_destroy(&u);
  vmp__spans_destroy(&t);
  free(m.keys);
}

/* Without a reservation an insert that needs memory fails with ENOMEM and
 * leaves the tree as it was; retried with memory, it succeeds. */
Test(spans, unreserved_insert_fails_cleanly) {
  enum { TOTAL = 20000 };
  vmp__spans t;
  model m;
  start_empty(&t, &m, 777, TOTAL + 64);

  vmp__span first = span_for(5);
  vmp__testing_alloc_fail_after(0);
  cr_assert_eq(vmp__spans_insert(&t, &first), VMP_ENOMEM);
  vmp__testing_alloc_fail_after(-1);
  cr_assert_eq(vmp__spans_count(&t), 0);
  cr_assert_null(vmp__spans_first(&t, NULL));

  size_t failures = 0;
  while (m.n < TOTAL) {
    size_t key = rng_below(2) ? rng_below(1u << 28) : (m.n ? m.keys[m.n - 1] + 1 : 0);
    if (model_has(&m, key)) continue;
    vmp__span s = span_for(key);
    /* Fail the first, second or third allocation of a split. */
    vmp__testing_alloc_fail_after((long)rng_below(3));
    int rc = vmp__spans_insert(&t, &s);
    vmp__testing_alloc_fail_after(-1);
    if (rc != 0) {
      cr_assert_eq(rc, VMP_ENOMEM, "insert failed with %d", rc);
      failures++;
      cr_assert_eq(vmp__spans_count(&t), m.n);
      vmp__span *near = vmp__spans_find(&t, key, NULL);
      cr_assert(near == NULL || near->start != key, "failed insert left %zu behind", key);
      if (failures % 64 == 0) check_all(&t, &m);
      insert_ok(&t, &m, key);
    } else {
      model_insert(&m, key);
    }
  }
  cr_assert_gt(failures, 100, "only %zu inserts needed memory", failures);
  check_all(&t, &m);

  /* A reservation that cannot be had fails and changes nothing. */
  vmp__testing_alloc_fail_after(0);
  cr_assert_eq(vmp__spans_reserve(&t, 1000), VMP_ENOMEM);
  vmp__testing_alloc_fail_after(-1);
  check_all(&t, &m);

  /* Nor does a run that needs a split, until the leaf has room. */
  for (failures = 0; failures == 0;) {
    size_t key = m.keys[m.n - 1] + 1;
    vmp__span run[3] = {span_for(key), span_for(key + 1), span_for(key + 2)};
    vmp__testing_alloc_fail_after(0);
    int rc = vmp__spans_insert_run(&t, run, 3, NULL);
    vmp__testing_alloc_fail_after(-1);
    if (rc == 0) {
      for (size_t i = 0; i < 3; i++) model_insert(&m, key + i);
    } else {
      cr_assert_eq(rc, VMP_ENOMEM, "run failed with %d", rc);
      failures++;
    }
    check_all(&t, &m);
  }
  vmp__spans_destroy(&t);
  free(m.keys);
}

/* Removing every entry that starts a leaf leaves separators above that
 * are below the leaves' new first keys; find must still answer with the
 * greatest start <= page everywhere, notably in the gaps left behind. */
Test(spans, remove_first_in_leaf_then_find) {
  enum { N = 20000, GAP = 10 };
  vmp__spans t;
  vmp__spans_init(&t);
  model m;
  model_init(&m, N);
  for (size_t i = 0; i < N; i++) {
    /* A scrambled order gives half-full leaves with many boundaries. */
    size_t key = ((i * 7919) % N) * GAP;
    insert_ok(&t, &m, key);
  }
  /* A mostly full tree also has leaves above 8 entries, so removing one
   * entry from each does not merge them away. */
  size_t *firsts = malloc(N * sizeof *firsts);
  size_t nfirst = 0;
  vmp__spans_cursor at;
  for (vmp__span *s = vmp__spans_first(&t, &at); s; s = vmp__spans_step(&t, &at, 1))
    if (at.index == 0 && s->start != 0) firsts[nfirst++] = s->start;
  cr_assert_gt(nfirst, N / 40, "only %zu leaves", nfirst);
  for (size_t i = 0; i < nfirst; i++) {
    vmp__spans_remove(&t, firsts[i]);
    model_remove_range(&m, firsts[i], firsts[i]);
  }
  for (size_t i = 0; i < nfirst; i++) {
    size_t k = firsts[i];
    check_find(&t, &m, k - 1);
    check_find(&t, &m, k);
    check_find(&t, &m, k + 1);
    check_find(&t, &m, k + GAP - 1);
    check_find(&t, &m, k + GAP);
  }
  check_all(&t, &m);
  /* And again on the new first entries, which may now start in the gaps. */
  nfirst = 0;
  for (vmp__span *s = vmp__spans_first(&t, &at); s; s = vmp__spans_step(&t, &at, 1))
    if (at.index == 0 && s->start != 0) firsts[nfirst++] = s->start;
  for (size_t i = 0; i < nfirst; i++) {
    vmp__spans_remove(&t, firsts[i]);
    model_remove_range(&m, firsts[i], firsts[i]);
  }
  for (size_t page = 0; page < N * GAP + GAP; page += 3) check_find(&t, &m, page);
  check_all(&t, &m);
  free(firsts);
  vmp__spans_destroy(&t);
  free(m.keys);
}

Test(spans, remove_range_edges) {
  enum { N = 5000 };
  vmp__spans t;
  vmp__spans_init(&t);
  model m;
  model_init(&m, N);
  for (size_t i = 1; i <= N; i++) insert_ok(&t, &m, i * 4);
  /* Nothing in range: between keys, below all, above all. */
  vmp__spans_remove_range(&t, 5, 7);
  vmp__spans_remove_range(&t, 0, 3);
  vmp__spans_remove_range(&t, N * 4 + 1, SIZE_MAX);
  vmp__spans_remove_range(&t, 9, 8);
  check_all(&t, &m);
  /* Inside one leaf, across many leaves, the very start, the very end. */
  size_t ranges[][2] = {{16, 20}, {101, 3003}, {0, 40}, {N * 4 - 100, SIZE_MAX}, {8000, 16003}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    vmp__spans_remove_range(&t, ranges[i][0], ranges[i][1]);
    model_remove_range(&m, ranges[i][0], ranges[i][1]);
    check_all(&t, &m);
    for (size_t page = ranges[i][0] ? ranges[i][0] - 5 : 0; page < ranges[i][0] + 20; page++)
      check_find(&t, &m, page);
  }
  vmp__spans_remove_range(&t, 0, SIZE_MAX);
  model_remove_range(&m, 0, SIZE_MAX);
  check_all(&t, &m);
  /* The emptied tree is usable again. */
  insert_ok(&t, &m, 42);
  check_all(&t, &m);
  vmp__spans_destroy(&t);
  free(m.keys);
}

/* As a coalesce does it: a find of a spot, then a short range after it
 * removed at once, which the tree may do in the leaf the find remembered.
 * Ranges that stay in that leaf, reach past it, or would leave it below
 * its minimum (small trees, thinned leaves) all come up; inserts near the
 * spot, as an unmap's split makes them, keep the tree from running dry. */
Test(spans, remove_range_after_find) {
  enum { OPS = 60000, KEY_SPACE = 1 << 18, ENTRIES = 3000 };
  rng_state = 0xc0a1e5ceULL;
  vmp__spans t;
  vmp__spans_init(&t);
  model m;
  model_init(&m, ENTRIES * 2);
  for (int op = 0; op < OPS; op++) {
    /* Every so often the tree starts again small, a single leaf. */
    size_t want = op % 20000 < 2000 ? 20 : ENTRIES;
    if (op % 20000 == 0) {
      vmp__spans_remove_range(&t, 0, SIZE_MAX);
      model_remove_range(&m, 0, SIZE_MAX);
    }
    while (m.n < want) {
      size_t key = rng_below(KEY_SPACE);
      if (!model_has(&m, key)) insert_ok(&t, &m, key);
    }
    size_t page = rng_below(8) == 0 ? 0 : rng_below(KEY_SPACE);
    check_find(&t, &m, page);
    const size_t *at = model_find(&m, page);
    size_t first = at ? *at + 1 : 0;
    size_t last = first + rng_below(rng_below(4) == 0 ? KEY_SPACE / 64 : KEY_SPACE / 1024);
    vmp__spans_remove_range(&t, first, last);
    model_remove_range(&m, first, last);
    cr_assert_eq(vmp__spans_count(&t), m.n, "op %d: count %zu, model %zu", op, vmp__spans_count(&t),
                 m.n);
    for (int i = 0; i < 4; i++) check_find(&t, &m, first + rng_below(64));
    for (int i = 0; i < 3 && m.n < want + ENTRIES / 2; i++) {
      size_t key = first + rng_below(KEY_SPACE / 1024);
      if (!model_has(&m, key)) insert_ok(&t, &m, key);
    }
    if (op % 1000 == 0) check_all(&t, &m);
  }
  check_all(&t, &m);
  vmp__spans_destroy(&t);
  free(m.keys);
}

static int compare_keys(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* Trees whose inner nodes differ a lot in fill (a sequential part beside a
 * densely refilled window), then cut by ranges from either end: inner
 * nodes underflow next to full siblings and must borrow from them. */
Test(spans, uneven_trees_shrink_by_ranges) {
  enum { BASE = 30000, FILL = 30000, GAP = 16 };
  rng_state = 99;
  model m;
  model_init(&m, BASE + FILL);
  for (int round = 0; round < 4; round++) {
    vmp__spans t;
    vmp__spans_init(&t);
    m.n = 0;
    for (size_t i = 0; i < BASE; i++) insert_ok(&t, &m, i * GAP);
    /* Refill a window with keys between the existing ones. */
    size_t lo = rng_below(BASE / 2), hi = lo + BASE / 3;
    for (size_t i = 0; i < FILL; i++) {
      size_t key = (lo + rng_below(hi - lo)) * GAP + 1 + rng_below(GAP - 1);
      vmp__span *near = vmp__spans_find(&t, key, NULL);
      if (near && near->start == key) continue;
      vmp__span s = span_for(key);
      cr_assert_eq(vmp__spans_insert(&t, &s), 0);
      m.keys[m.n++] = key;
    }
    qsort(m.keys, m.n, sizeof *m.keys, compare_keys);
    check_all(&t, &m);
    /* Eat the key space in chunks, from the left or from the right. */
    int from_left = round % 2 == 0;
    size_t span_end = BASE * GAP, step = GAP * (200 + rng_below(800));
    for (size_t done = 0; done < span_end; done += step) {
      size_t first = from_left ? done : (span_end > done + step ? span_end - done - step : 0);
      size_t last = from_left ? done + step - 1 : span_end - done - 1;
      vmp__spans_remove_range(&t, first, last);
      model_remove_range(&m, first, last);
      cr_assert_eq(vmp__spans_count(&t), m.n);
      /* Nodes were rebalanced next to the cut: look there closely. */
      size_t near = from_left ? last + 1 : (first > 3 * step ? first - 3 * step : 0);
      for (int i = 0; i < 300; i++) check_find(&t, &m, near + rng_below(3 * step));
      if ((done / step) % 8 == 0) check_all(&t, &m);
    }
    check_all(&t, &m);
    cr_assert_eq(m.n, 0);
    vmp__spans_destroy(&t);
  }
  free(m.keys);
}

/* A million entries, built as a region is cut up front to back, then
 * thinned out at random and by ranges. */
Test(spans, million_entries) {
  enum { N = 1000000 };
  rng_state = 4242;
  vmp__spans t;
  vmp__spans_init(&t);
  model m;
  model_init(&m, N);
  for (size_t i = 0; i < N; i++) {
    vmp__span s = span_for(i * 2);
    cr_assert_eq(vmp__spans_insert(&t, &s), 0);
    m.keys[i] = i * 2;
  }
  m.n = N;
  cr_assert_eq(vmp__spans_count(&t), N);
  /* Appends keep leaves full: about 40 bytes of entry and 8 of key each. */
  cr_assert_leq(t.height, 4, "height %u", t.height);
  /* The inner nodes are packed: blocks of up to 64 after the first few,
   * not one allocation each, and few of them free. */
  size_t blocks = 0;
  for (const struct vmp__spans_block *b = t.blocks; b; b = b->next) blocks++;
  cr_assert_gt(t.inner_slots, N / (32 * 64), "%zu inner nodes for %d entries", t.inner_slots, N);
  cr_assert_leq(blocks, 8 + t.inner_slots / 64, "%zu blocks for %zu inner nodes", blocks,
                t.inner_slots);
  cr_assert_leq(t.inner_spare_count, 64 + 3 * t.height, "%zu inner nodes idle",
                t.inner_spare_count);
  for (int i = 0; i < 20000; i++) check_find(&t, &m, rng_below(2 * N + 2));
  for (int i = 0; i < 50000; i++) {
    size_t key = 2 * rng_below(N);
    vmp__spans_cursor at;
    vmp__span *s = vmp__spans_find(&t, key, &at);
    if (s && s->start == key) vmp__spans_remove(&t, key);
  }
  vmp__spans_remove_range(&t, 100001, 1500000);
  /* Rebuild the model from what should remain. */
  size_t n = 0;
  vmp__spans_cursor at;
  size_t prev = 0;
  for (vmp__span *s = vmp__spans_first(&t, &at); s; s = vmp__spans_step(&t, &at, 1)) {
    cr_assert(n == 0 || s->start > prev, "walk out of order at %zu", s->start);
    cr_assert(s->start % 2 == 0 && (s->start <= 100001 || s->start > 1500000));
    expect_span(s, s->start);
    prev = s->start;
    m.keys[n++] = s->start;
  }
  m.n = n;
  cr_assert_eq(vmp__spans_count(&t), n);
  cr_assert_gt(n, N - 50000 - 700000 - 1);
  cr_assert_lt(n, N - 700000);
  for (int i = 0; i < 20000; i++) check_find(&t, &m, rng_below(2 * N + 2));
  check_all(&t, &m);
  vmp__spans_destroy(&t);
  free(m.keys);
}
