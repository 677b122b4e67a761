/*
 * Regions: the rules of docs/contract.md section 2 over the span set, with the
 * system calls delegated to the OS backend.
 *
 * Every operation has the same shape: check the arguments in the
 * documented order (no lock needed up to the range check), take the
 * region's lock, check kinds and extent against the spans, reserve the
 * bookkeeping it will need (the only step that can fail for lack of
 * memory), make the system calls (undoing them on failure), and only then
 * edit the spans, which can no longer fail. So a failing call leaves the
 * spans, the bytes and the kernel's mappings as they were.
 *
 * Protection is a property of pages. A span whose pages all share one
 * protection keeps it in span->prot; once a protect call covers only part
 * of a span, the span is marked `mixed` and its pages' protections live in
 * the region's prot map: runs {start, pages, prot} that cover exactly the
 * pages of mixed spans and never cross a span boundary.
 */

#include "alloc.h"
#include "internal.h"
#include "spans.h"

struct vmp_region {
  vmp__os_lock lock;
  char *base;
  /* Grows under the lock (vmp_extend) and is read without it by the range
   * checks: a range found inside stays inside, since it never shrinks. */
  _Atomic size_t size;
  size_t page_mask;
  size_t grain_mask; /* the granularity's, which vmp_extend checks the size against */
  unsigned page_shift;
  vmp__spans spans;
  vmp__spans prots;
  struct vmp_region *prev, *next; /* the list of live regions, for fork */
};

/* ---- fork --------------------------------------------------------------------------- */

/* fork() copies only the thread that calls it: a region lock some other
 * thread held at that moment would stay locked in the child for ever, over
 * bookkeeping caught half-way. So every live region is on a list, and
 * around fork the forking thread takes the list's lock and then every
 * region's lock (waiting for calls in progress to finish), and lets them
 * go on both sides afterwards. Lock order: the list, then regions; no
 * call holding a region's lock takes the list's. */
static vmp__os_lock live_lock;
static vmp_region *live_regions;
static int fork_hooks_error;
/* The page size never changes while the process lives, so its log2 is
 * worked out with the list, once, not in every region_create. */
static unsigned system_page_shift;

static void before_fork(void) {
  vmp__os_lock_acquire(&live_lock);
  for (vmp_region *r = live_regions; r; r = r->next) vmp__os_lock_acquire(&r->lock);
}

static void after_fork(void) {
  for (vmp_region *r = live_regions; r; r = r->next) vmp__os_lock_release(&r->lock);
  vmp__os_lock_release(&live_lock);
}

static unsigned log2_of(size_t power_of_two) {
  unsigned shift = 0;
  while (((size_t)1 << shift) < power_of_two) shift++;
  return shift;
}

static void init_live_list(void) {
  system_page_shift = log2_of(vmp__os_caps_get()->page_size);
  fork_hooks_error = vmp__os_lock_init(&live_lock);
  if (!fork_hooks_error) fork_hooks_error = vmp__os_at_fork(before_fork, after_fork, after_fork);
}

static int live_list_ready(void) {
  vmp__os_run_once(init_live_list);
  return fork_hooks_error;
}

/* A few released regions, kept whole for the next reservation: the lock
 * stays initialised and the span set keeps its leaf as a spare, so a
 * reserve/release pair (a ring's create and close, a wasm instance's
 * memory) makes no allocation at all, where it would otherwise pay the
 * region's malloc and free, the lock's init and destroy, and a trip
 * through the heap for the leaf (larger than glibc's per-thread cache
 * takes) each way. Guarded by the list's lock, which both ends take
 * anyway. */
#define REGION_POOL_MAX 8
static vmp_region *region_pool[REGION_POOL_MAX];
static size_t region_pool_count;

static void link_live(vmp_region *r) {
  r->prev = NULL;
  r->next = live_regions;
  if (live_regions) live_regions->prev = r;
  live_regions = r;
}

/* A pooled region, listed, or NULL when the pool is empty. */
static vmp_region *live_add_pooled(void) {
  vmp__os_lock_acquire(&live_lock);
  vmp_region *r = region_pool_count ? region_pool[--region_pool_count] : NULL;
  if (r) link_live(r);
  vmp__os_lock_release(&live_lock);
  return r;
}

static void live_add(vmp_region *r) {
  vmp__os_lock_acquire(&live_lock);
  link_live(r);
  vmp__os_lock_release(&live_lock);
}

/* Unlists r, which no call holds any more, and pools it or, with the pool
 * full, frees it. Its span sets are emptied first, outside the lock: the
 * leaf stays as a spare for the next region's first span. */
static void live_remove(vmp_region *r) {
  vmp__spans_empty(&r->spans, 1);
  vmp__spans_empty(&r->prots, 0);
  vmp__os_lock_acquire(&live_lock);
  if (r->prev)
    r->prev->next = r->next;
  else
    live_regions = r->next;
  if (r->next) r->next->prev = r->prev;
  int pooled = region_pool_count < REGION_POOL_MAX;
  if (pooled) region_pool[region_pool_count++] = r;
  vmp__os_lock_release(&live_lock);
  if (pooled) return;
  vmp__spans_destroy(&r->spans);
  vmp__os_lock_destroy(&r->lock);
  vmp__free(r);
}

/* The pages an operation applies to, after the range check. */
typedef struct page_range {
  size_t first;
  size_t count;
} page_range;

#define KIND_BIT(kind) (1u << (kind))

/* The spans overlapping a range, as found by scan_kinds(). */
typedef struct overlap {
  vmp__span *span, *last; /* the first and the last (valid until the span set changes) */
  vmp__spans_cursor at;   /* where the first is, likewise */
  size_t spans;           /* how many overlap */
} overlap;

static char *page_addr(const vmp_region *r, size_t page) {
  return r->base + (page << r->page_shift);
}

static size_t page_bytes(const vmp_region *r, size_t pages) { return pages << r->page_shift; }

static size_t span_end(const vmp__span *s) { return s->start + s->pages; }

static int is_whole(const vmp__span *s, page_range pr) {
  return s->start == pr.first && s->pages == pr.count;
}

/* Steps 2 and 3 of the argument order. */
static int check_range(const vmp_region *r, size_t off, size_t size, page_range *pr) {
  if ((off | size) & r->page_mask) return VMP_EALIGN;
  if (off > r->size || size > r->size - off) return VMP_ERANGE;
  pr->first = off >> r->page_shift;
  pr->count = size >> r->page_shift;
  return 0;
}

/* Steps 2 and 3, then the region's lock, held on success until leave(). */
static int enter_range(vmp_region *r, size_t off, size_t size, page_range *pr) {
  int err = check_range(r, off, size, pr);
  if (!err) vmp__os_lock_acquire(&r->lock);
  return err;
}

static int leave(vmp_region *r, int err) {
  vmp__os_lock_release(&r->lock);
  return err;
}

/* Step 4: every span overlapping the range must be of an allowed kind. */
VMP__HOT static int scan_kinds(vmp_region *r, page_range pr, unsigned allowed, overlap *o) {
  vmp__spans_cursor at;
  vmp__span *s = vmp__spans_find(&r->spans, pr.first, &at);
  size_t end = pr.first + pr.count;
  o->span = s;
  o->at = at;
  o->spans = 0;
  for (;;) {
    o->spans++;
    if (!(allowed & KIND_BIT(s->kind))) return VMP_ESTATE;
    if (span_end(s) >= end) break;
    s = vmp__spans_step(&r->spans, &at, 1);
  }
  o->last = s;
  return 0;
}

/* ---- the prot map ------------------------------------------------------------------ */

/* Makes `page` the start of a run, if a run covers it. One insert. */
static void prot_cut(vmp_region *r, size_t page) {
  vmp__span *run = vmp__spans_find(&r->prots, page, NULL);
  if (!run || run->start == page || span_end(run) <= page) return;
  vmp__span tail = *run;
  tail.start = page;
  tail.pages = span_end(run) - page;
  run->pages = page - run->start;
  vmp__spans_insert(&r->prots, &tail);
}

/* Removes the runs of [first, first+count). Two inserts. */
static void prot_clear(vmp_region *r, size_t first, size_t count) {
  prot_cut(r, first);
  prot_cut(r, first + count);
  vmp__spans_remove_range(&r->prots, first, first + count - 1);
}

/* Gives pages [first, first+count) of the mixed span s protection prot,
 * merging with neighbouring runs of the same protection inside s; a span
 * left with one run is uniform again. Three inserts. */
static void prot_assign(vmp_region *r, vmp__span *s, size_t first, size_t count, int prot) {
  prot_clear(r, first, count);
  size_t lo = first, hi = first + count;
  if (lo > s->start) {
    vmp__span *left = vmp__spans_find(&r->prots, lo - 1, NULL);
    if (left->prot == prot) {
      lo = left->start;
      vmp__spans_remove(&r->prots, lo);
    }
  }
  if (hi < span_end(s)) {
    vmp__span *right = vmp__spans_find(&r->prots, hi, NULL);
    if (right->prot == prot) {
      hi = span_end(right);
      vmp__spans_remove(&r->prots, right->start);
    }
  }
  if (lo == s->start && hi == span_end(s)) {
    s->mixed = 0;
    s->prot = (uint8_t)prot;
    return;
  }
  vmp__span run = {.start = lo, .pages = hi - lo, .prot = (uint8_t)prot};
  vmp__spans_insert(&r->prots, &run);
}

VMP__HOT static int prot_of_page(vmp_region *r, const vmp__span *s, size_t page) {
  if (!s->mixed) return s->prot;
  return vmp__spans_find(&r->prots, page, NULL)->prot;
}

/* The one protection of the pages pr of span s, or VMP__PROT_MIXED. */
static int range_prot(vmp_region *r, const vmp__span *s, page_range pr) {
  if (!s->mixed) return s->prot;
  const vmp__span *run = vmp__spans_find(&r->prots, pr.first, NULL);
  return span_end(run) >= pr.first + pr.count ? run->prot : VMP__PROT_MIXED;
}

/* Calls fn over [first, first+count) of span s, one call per stretch of
 * pages that share a protection, stopping at the first error. */
static int for_each_prot_run(vmp_region *r, const vmp__span *s, size_t first, size_t count,
                             int (*fn)(void *addr, size_t size, int prot)) {
  if (!s->mixed) return fn(page_addr(r, first), page_bytes(r, count), s->prot);
  size_t end = first + count;
  vmp__spans_cursor at;
  vmp__span *run = vmp__spans_find(&r->prots, first, &at);
  for (; run && run->start < end; run = vmp__spans_step(&r->prots, &at, 1)) {
    size_t lo = run->start > first ? run->start : first;
    size_t hi = span_end(run) < end ? span_end(run) : end;
    int err = fn(page_addr(r, lo), page_bytes(r, hi - lo), run->prot);
    if (err) return err;
  }
  return 0;
}

/* ---- span surgery -------------------------------------------------------------------- */

/* Makes [first, first+count), inside span s, a span of its own with s's
 * attributes, and returns it, moving `where` (s's position) to it. Up to
 * two inserts, made as one run right after s: the operations that call
 * this found s before their system call, and its leaf is not searched
 * again after it. */
VMP__HOT static vmp__span *isolate(vmp_region *r, vmp__span *s, vmp__spans_cursor *where,
                                   size_t first, size_t count) {
  size_t end = first + count, s_end = span_end(s);
  int cut_before = first > s->start;
  vmp__span pieces[2];
  unsigned n = 0;
  if (cut_before) {
    pieces[n] = *s;
    pieces[n].start = first;
    pieces[n].pages = count;
    n++;
  }
  if (end < s_end) {
    pieces[n] = *s;
    pieces[n].start = end;
    pieces[n].pages = s_end - end;
    n++;
  }
  if (n == 0) return s;
  s->pages = cut_before ? first - s->start : count;
  vmp__spans_insert_after(&r->spans, where, pieces, n, where);
  /* With nothing cut off before it, the range is s, just before the run. */
  return cut_before ? vmp__spans_at(where) : vmp__spans_step(&r->spans, where, -1);
}

/* A mixed span whose pages have come to share one protection is uniform
 * again. */
static void settle_protection(vmp_region *r, vmp__span *s) {
  if (!s || !s->mixed) return;
  vmp__span *run = vmp__spans_find(&r->prots, s->start, NULL);
  if (run->start != s->start || span_end(run) != span_end(s)) return;
  s->prot = run->prot;
  s->mixed = 0;
  vmp__spans_remove(&r->prots, s->start);
}

VMP__HOT static void become_placeholder(vmp_region *r, vmp__span *s) {
  if (s->mixed) prot_clear(r, s->start, s->pages);
  s->kind = VMP_PLACEHOLDER;
  s->prot = VMP_PROT_NONE;
  s->mixed = 0;
  s->ceiling = 0;
  s->mem = NULL;
  s->mem_page = 0;
}

/* The placeholders from s (at `where`) to the one that ends at page
 * `end` become s. */
VMP__HOT static void merge_spans(vmp_region *r, vmp__span *s, const vmp__spans_cursor *where,
                                 size_t end) {
  s->pages = end - s->start;
  vmp__spans_remove_after(&r->spans, where, end - 1);
}

/* The placeholder at `page` and the placeholders right before and after
 * it, where they are placeholders, become one. Bookkeeping only: on every
 * backend a coalesce makes no system call (os.h), so this cannot fail
 * after the unmap it follows. */
VMP__HOT static void join_neighbours(vmp_region *r, vmp__span *s, vmp__spans_cursor at) {
  size_t page = s->start;
  vmp__spans_cursor side = at;
  vmp__span *next = vmp__spans_step(&r->spans, &side, 1);
  size_t end = next && next->kind == VMP_PLACEHOLDER ? span_end(next) : span_end(s);
  side = at;
  vmp__span *prev = vmp__spans_step(&r->spans, &side, -1);
  if (prev && prev->kind == VMP_PLACEHOLDER) {
    s = prev;
    at = side;
  }
  if (s->start != page || end != span_end(s)) merge_spans(r, s, &at, end);
}

/* ---- regions ------------------------------------------------------------------------- */

/* Where a new region's range comes from. */
typedef enum placement_kind { PLACE_ANYWHERE, PLACE_AT, PLACE_IN } placement_kind;

typedef struct placement {
  placement_kind kind;
  size_t alignment;          /* ANYWHERE, IN: a power of two >= the granularity */
  void *addr;                /* AT */
  uintptr_t lowest, highest; /* IN */
} placement;

static int place(const placement *p, size_t size, void **base) {
  switch (p->kind) {
    case PLACE_AT:
      *base = p->addr;
      return vmp__os_reserve_at(p->addr, size);
    case PLACE_IN:
      return vmp__os_reserve_in(p->lowest, p->highest, size, p->alignment, base);
    case PLACE_ANYWHERE:
      break;
  }
  return vmp__os_reserve(size, p->alignment, base);
}

/* The bookkeeping first (the only part that can fail for lack of memory),
 * then the one system reservation, so a failure has nothing to undo but
 * the bookkeeping. The region is listed (for fork) before it has its
 * range, and its fields are set after: fork's hooks only take its lock. */
static int region_create(const vmp__os_caps *caps, size_t size, const placement *p,
                         vmp_region **out) {
  int hooks = live_list_ready();
  if (hooks) return hooks;
  vmp_region *r = live_add_pooled();
  if (!r) {
    /* malloc, not calloc, and no memset: glibc's calloc bypasses the
     * per-thread cache, and every field is set before anything reads it. */
    r = vmp__malloc(sizeof *r);
    if (!r) return VMP_ENOMEM;
    vmp__spans_init(&r->spans);
    vmp__spans_init(&r->prots);
    int err = vmp__os_lock_init(&r->lock);
    if (err) {
      vmp__free(r);
      return err;
    }
    live_add(r);
  }
  r->base = NULL;
  /* Not shared yet (fork's hooks only take the lock): no fence needed. */
  atomic_store_explicit(&r->size, size, memory_order_relaxed);
  r->page_mask = caps->page_size - 1;
  r->grain_mask = caps->granularity - 1;
  r->page_shift = system_page_shift;
  vmp__span whole = {.start = 0, .pages = size >> r->page_shift, .kind = VMP_PLACEHOLDER};
  int err = vmp__spans_insert(&r->spans, &whole);
  void *base;
  if (!err) err = place(p, size, &base);
  if (err) {
    live_remove(r);
    return err;
  }
  r->base = base;
  *out = r;
  return 0;
}

static int alignment_valid(size_t alignment, size_t page) {
  return alignment == 0 || ((alignment & (alignment - 1)) == 0 && alignment >= page);
}

int vmp_reserve(size_t size, size_t alignment, vmp_region **out) {
  const vmp__os_caps *caps = vmp__os_caps_get();
  size_t page = caps->page_size;
  if (!out || size == 0) return VMP_EINVAL;
  if (!alignment_valid(alignment, page)) return VMP_EINVAL;
  if (size & (page - 1)) return VMP_EALIGN;
  if (alignment != 0 && size > SIZE_MAX - alignment) return VMP_ERANGE;
  if (alignment < caps->granularity) alignment = caps->granularity;
  placement p = {.kind = PLACE_ANYWHERE, .alignment = alignment};
  return region_create(caps, size, &p, out);
}

int vmp_reserve_at(void *addr, size_t size, vmp_region **out) {
  const vmp__os_caps *caps = vmp__os_caps_get();
  uintptr_t a = (uintptr_t)addr;
  if (!out || !addr || size == 0) return VMP_EINVAL;
  if ((a & (caps->granularity - 1)) || (size & (caps->page_size - 1))) return VMP_EALIGN;
  if (size > UINTPTR_MAX - a) return VMP_ERANGE;
  placement p = {.kind = PLACE_AT, .addr = addr};
  return region_create(caps, size, &p, out);
}

int vmp_reserve_in(uintptr_t lowest, uintptr_t highest, size_t size, size_t alignment,
                   vmp_region **out) {
  const vmp__os_caps *caps = vmp__os_caps_get();
  size_t page = caps->page_size, grain = caps->granularity;
  if (!out || size == 0 || !alignment_valid(alignment, page) || lowest >= highest)
    return VMP_EINVAL;
  if ((size & (page - 1)) || (lowest & (grain - 1)) || (highest & (grain - 1))) return VMP_EALIGN;
  if (alignment < grain) alignment = grain;
  /* The lowest base the alignment allows must leave room for size. */
  uintptr_t mask = (uintptr_t)alignment - 1;
  if (lowest > UINTPTR_MAX - mask) return VMP_ERANGE;
  uintptr_t first = (lowest + mask) & ~mask;
  if (first >= highest || size > highest - first) return VMP_ERANGE;
  placement p = {.kind = PLACE_IN, .alignment = alignment, .lowest = lowest, .highest = highest};
  return region_create(caps, size, &p, out);
}

/* The new room is a span of its own: neighbouring placeholders are never
 * merged behind the caller's back. */
int vmp_extend(vmp_region *r, size_t more) {
  if (!r || more == 0) return VMP_EINVAL;
  if (more & r->page_mask) return VMP_EALIGN;
  vmp__os_lock_acquire(&r->lock);
  size_t size = r->size;
  int err = 0;
  if (size & r->grain_mask) err = VMP_EALIGN;
  uintptr_t end = (uintptr_t)r->base + size;
  if (!err && more > UINTPTR_MAX - end) err = VMP_ERANGE;
  if (!err) err = vmp__spans_reserve(&r->spans, 1);
  /* The room goes after the last span, found before the call as the
   * other operations find theirs. */
  vmp__spans_cursor last;
  if (!err) vmp__spans_find(&r->spans, (size >> r->page_shift) - 1, &last);
  if (!err) err = vmp__os_reserve_at((void *)end, more);
  if (!err) {
    vmp__spans_prefetch(&last);
    vmp__span room = {
        .start = size >> r->page_shift, .pages = more >> r->page_shift, .kind = VMP_PLACEHOLDER};
    vmp__spans_insert_after(&r->spans, &last, &room, 1, NULL);
    /* Release is all a range check reading the new size without the lock
     * needs to find the new span too; a seq_cst store would add a fence. */
    atomic_store_explicit(&r->size, size + more, memory_order_release);
  }
  return leave(r, err);
}

int vmp_release(vmp_region *r) {
  if (!r) return 0;
  int err = vmp__os_release(r->base, r->size);
  if (err) return err;
  vmp__spans_cursor at;
  for (vmp__span *s = vmp__spans_first(&r->spans, &at); s; s = vmp__spans_step(&r->spans, &at, 1))
    if (s->mem) vmp__mem_unref(s->mem);
  live_remove(r);
  return 0;
}

void *vmp_base(const vmp_region *r) { return r ? r->base : NULL; }
size_t vmp_size(const vmp_region *r) { return r ? r->size : 0; }

/* split and carve: [off, off+size) becomes a placeholder of its own. A
 * range that already is a whole placeholder is split's VMP_EEXTENT and
 * carve's nothing to do. */
VMP__HOT static int cut_out(vmp_region *r, size_t off, size_t size, int whole_is_done) {
  if (!r || size == 0) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  overlap o;
  err = scan_kinds(r, pr, KIND_BIT(VMP_PLACEHOLDER), &o);
  if (!err && o.spans != 1) err = VMP_EEXTENT;
  if (!err && is_whole(o.span, pr)) return leave(r, whole_is_done ? 0 : VMP_EEXTENT);
  if (!err) err = vmp__spans_reserve(&r->spans, 2);
  if (!err)
    err = vmp__os_split(page_addr(r, o.span->start), page_bytes(r, o.span->pages),
                        page_addr(r, pr.first), size);
  if (!err) isolate(r, o.span, &o.at, pr.first, pr.count);
  return leave(r, err);
}

int vmp_split(vmp_region *r, size_t off, size_t size) { return cut_out(r, off, size, 0); }

VMP__HOT int vmp_carve(vmp_region *r, size_t off, size_t size) { return cut_out(r, off, size, 1); }

VMP__HOT int vmp_coalesce(vmp_region *r, size_t off, size_t size) {
  if (!r || size == 0) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  overlap o;
  err = scan_kinds(r, pr, KIND_BIT(VMP_PLACEHOLDER), &o);
  if (!err && (o.spans < 2 || o.span->start != pr.first || span_end(o.last) != pr.first + pr.count))
    err = VMP_EEXTENT;
  if (!err) err = vmp__os_coalesce(page_addr(r, pr.first), size);
  if (!err) merge_spans(r, o.span, &o.at, pr.first + pr.count);
  return leave(r, err);
}

/* Steps 4 and 5 for commit and map: exactly one whole placeholder, or,
 * for the carving calls, inside one placeholder. */
VMP__HOT static int find_placeholder(vmp_region *r, page_range pr, int carving, vmp__span **out,
                                     vmp__spans_cursor *where) {
  overlap o;
  int err = scan_kinds(r, pr, KIND_BIT(VMP_PLACEHOLDER), &o);
  if (err) return err;
  if (o.spans != 1 || (!carving && !is_whole(o.span, pr))) return VMP_EEXTENT;
  *out = o.span;
  *where = o.at;
  return 0;
}

/* What a carving call needs before its system call: room in the span set
 * for the pieces the range leaves on either side, so that nothing can fail
 * after the system call. */
VMP__HOT static int reserve_pieces(vmp_region *r, const vmp__span *s, page_range pr) {
  return is_whole(s, pr) ? 0 : vmp__spans_reserve(&r->spans, 2);
}

VMP__HOT static int commit_placeholder(vmp_region *r, size_t off, size_t size, int prot,
                                       int carving) {
  if (!r || size == 0 || !vmp__prot_valid(prot)) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  vmp__span *s = NULL;
  vmp__spans_cursor where;
  err = find_placeholder(r, pr, carving, &s, &where);
  if (!err) err = reserve_pieces(r, s, pr);
  if (!err) err = vmp__os_commit(page_addr(r, pr.first), size, prot);
  if (!err) vmp__spans_prefetch(&where);
  if (!err) {
    s = isolate(r, s, &where, pr.first, pr.count);
    s->kind = VMP_PRIVATE;
    s->prot = (uint8_t)prot;
  }
  return leave(r, err);
}

VMP__HOT int vmp_commit(vmp_region *r, size_t off, size_t size, int prot) {
  return commit_placeholder(r, off, size, prot, 0);
}

VMP__HOT int vmp_carve_commit(vmp_region *r, size_t off, size_t size, int prot) {
  return commit_placeholder(r, off, size, prot, 1);
}

/* W^X for views, the same on every backend: an executable view keeps at
 * most what it was mapped with, and a view mapped without execute never
 * gains it. Windows holds a view to its mapped protection for good
 * (VirtualProtect refuses more), and mapping an executable view writable
 * there, to lower it after, would make it writable and executable for the
 * length of the call; so no backend offers more than Windows can. */
static int view_ceiling(const vmp_mem *mem, int prot) {
  if (prot & VMP_PROT_EXEC) return prot;
  return (mem->flags & VMP_MEM_WRITE) ? VMP_PROT_RW : VMP_PROT_READ;
}

VMP__HOT static int map_placeholder(vmp_region *r, size_t off, size_t size, vmp_mem *mem,
                                    uint64_t mem_off, int prot, int carving) {
  if (!r || !vmp__mem_usable(mem) || size == 0 || !vmp__prot_valid(prot)) return VMP_EINVAL;
  if (mem_off & r->page_mask) return VMP_EALIGN;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  vmp__span *s = NULL;
  vmp__spans_cursor where;
  err = find_placeholder(r, pr, carving, &s, &where);
  if (!err) err = vmp__mem_check_view(mem, mem_off, size, prot);
  if (!err) err = reserve_pieces(r, s, pr);
  int huge = !err && (mem->traits & VMP__OBJ_THP);
  if (!err) err = vmp__os_map(page_addr(r, pr.first), size, mem->handle, mem_off, prot);
  if (!err) vmp__spans_prefetch(&where);
  if (!err && huge) vmp__os_advise_huge(page_addr(r, pr.first), size);
  if (!err) {
    s = isolate(r, s, &where, pr.first, pr.count);
    vmp__mem_ref(mem);
    s->kind = VMP_VIEW;
    s->prot = (uint8_t)prot;
    s->ceiling = (uint8_t)view_ceiling(mem, prot);
    s->mem = mem;
    s->mem_page = mem_off >> r->page_shift;
  }
  return leave(r, err);
}

VMP__HOT int vmp_map(vmp_region *r, size_t off, size_t size, vmp_mem *mem, uint64_t mem_off,
                     int prot) {
  return map_placeholder(r, off, size, mem, mem_off, prot, 0);
}

VMP__HOT int vmp_carve_map(vmp_region *r, size_t off, size_t size, vmp_mem *mem, uint64_t mem_off,
                           int prot) {
  return map_placeholder(r, off, size, mem, mem_off, prot, 1);
}

/* Steps 4 and 5 for unmap, protect and discard: inside one span of an
 * allowed kind. */
VMP__HOT static int find_containing_span(vmp_region *r, page_range pr, unsigned allowed,
                                         vmp__span **out, vmp__spans_cursor *where) {
  overlap o;
  int err = scan_kinds(r, pr, allowed, &o);
  if (err) return err;
  if (o.spans != 1) return VMP_EEXTENT;
  *out = o.span;
  if (where) *where = o.at;
  return 0;
}

static int protect_run(void *addr, size_t size, int prot) {
  return vmp__os_protect(addr, size, prot);
}

VMP__HOT static int unmap_span(vmp_region *r, size_t off, size_t size, int joining) {
  if (!r || size == 0) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  vmp__span *s = NULL;
  vmp_mem *released = NULL;
  vmp__spans_cursor where;
  err = find_containing_span(r, pr, KIND_BIT(VMP_PRIVATE) | KIND_BIT(VMP_VIEW), &s, &where);
  if (!err && s->kind == VMP_VIEW && !is_whole(s, pr)) err = VMP_EEXTENT;
  if (!err) err = vmp__spans_reserve(&r->spans, 2);
  if (!err && s->mixed) err = vmp__spans_reserve(&r->prots, 2);
  if (!err) {
    void *addr = page_addr(r, pr.first);
    if (s->kind == VMP_VIEW) {
      err = vmp__os_unmap_view(addr, size, s->mem->handle, (uint64_t)s->mem_page << r->page_shift,
                               prot_of_page(r, s, s->start));
      /* A view the backend had to map again has one protection throughout. */
      if (err && s->mixed) vmp__undo(for_each_prot_run(r, s, s->start, s->pages, protect_run));
    } else
      err = vmp__os_unmap_private(page_addr(r, s->start), page_bytes(r, s->pages), addr, size);
  }
  if (!err) vmp__spans_prefetch(&where);
  if (!err) {
    released = s->mem;
    int was_mixed = s->mixed;
    size_t start = s->start, end = span_end(s);
    s = isolate(r, s, &where, pr.first, pr.count);
    become_placeholder(r, s);
    /* The private pieces left on either side may each have one protection. */
    if (was_mixed && start < pr.first)
      settle_protection(r, vmp__spans_find(&r->spans, start, NULL));
    if (was_mixed && pr.first + pr.count < end)
      settle_protection(r, vmp__spans_find(&r->spans, pr.first + pr.count, NULL));
    if (joining) join_neighbours(r, s, where);
  }
  vmp__os_lock_release(&r->lock);
  if (released) vmp__mem_unref(released);
  return err;
}

VMP__HOT int vmp_unmap(vmp_region *r, size_t off, size_t size) {
  return unmap_span(r, off, size, 0);
}

VMP__HOT int vmp_unmap_coalesce(vmp_region *r, size_t off, size_t size) {
  return unmap_span(r, off, size, 1);
}

int vmp_protect(vmp_region *r, size_t off, size_t size, int prot) {
  if (!r || size == 0 || !vmp__prot_valid(prot)) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  vmp__span *s = NULL;
  err = find_containing_span(r, pr, KIND_BIT(VMP_PRIVATE) | KIND_BIT(VMP_VIEW), &s, NULL);
  /* The ceiling holds the object's write access; exec sealed against
   * the object (MFD_NOEXEC_SEAL) refused vmp_map already. */
  if (!err && s->kind == VMP_VIEW && (prot & ~s->ceiling)) err = VMP_EACCES;
  int whole = !err && is_whole(s, pr);
  /* Going from uniform to mixed adds the span's own run, then assigns. */
  if (!err && !whole) err = vmp__spans_reserve(&r->prots, 4);
  if (!err) {
    err = vmp__os_protect(page_addr(r, pr.first), size, prot);
    /* mprotect can fail half-way through (out of mapping slots): put the
     * pages it may have changed back as they were. */
    if (err) vmp__undo(for_each_prot_run(r, s, pr.first, pr.count, protect_run));
  }
  if (!err && whole) {
    if (s->mixed) prot_clear(r, s->start, s->pages);
    s->mixed = 0;
    s->prot = (uint8_t)prot;
  } else if (!err) {
    if (!s->mixed) {
      vmp__span run = {.start = s->start, .pages = s->pages, .prot = s->prot};
      vmp__spans_insert(&r->prots, &run);
      s->mixed = 1;
    }
    prot_assign(r, s, pr.first, pr.count, prot);
  }
  return leave(r, err);
}

int vmp_discard(vmp_region *r, size_t off, size_t size) {
  if (!r || size == 0) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  vmp__span *s = NULL;
  err = find_containing_span(r, pr, KIND_BIT(VMP_PRIVATE), &s, NULL);
  /* One call for the whole range where the backend can (a failure then
   * zeroes nothing); else one per run of one protection, so that fresh
   * pages get each run's own. A run failing after earlier ones were
   * zeroed cannot be undone: the contract in vmplace.h allows exactly
   * that, and every page still has its protection. */
  int prot = err ? 0 : range_prot(r, s, pr);
  if (!err) err = vmp__os_discard(page_addr(r, pr.first), size, prot);
  if (err == VMP_ENOTSUP && prot == VMP__PROT_MIXED)
    err = for_each_prot_run(r, s, pr.first, pr.count, vmp__os_discard);
  return leave(r, err);
}

static void describe(vmp_region *r, const vmp__span *s, size_t page, vmp_span_info *info) {
  info->start = page_addr(r, s->start);
  info->offset = page_bytes(r, s->start);
  info->size = page_bytes(r, s->pages);
  info->kind = (vmp_kind)s->kind;
  info->prot = prot_of_page(r, s, page);
  info->mem = s->mem;
  info->mem_offset = (uint64_t)s->mem_page << r->page_shift;
}

int vmp_query(vmp_region *r, const void *addr, vmp_span_info *info) {
  if (!r || !info) return VMP_EINVAL;
  uintptr_t a = (uintptr_t)addr, base = (uintptr_t)r->base;
  if (a < base || a - base >= r->size) return VMP_ERANGE;
  size_t page = (size_t)(a - base) >> r->page_shift;
  vmp__os_lock_acquire(&r->lock);
  describe(r, vmp__spans_find(&r->spans, page, NULL), page, info);
  vmp__os_lock_release(&r->lock);
  return 0;
}

size_t vmp_span_count(vmp_region *r) {
  if (!r) return 0;
  vmp__os_lock_acquire(&r->lock);
  size_t n = vmp__spans_count(&r->spans);
  vmp__os_lock_release(&r->lock);
  return n;
}

int vmp_label(vmp_region *r, size_t off, size_t size, const char *name) {
  if (!r || size == 0 || !vmp__name_valid(name)) return VMP_EINVAL;
  page_range pr;
  int err = enter_range(r, off, size, &pr);
  if (err) return err;
  vmp__span *s = NULL;
  err = find_containing_span(r, pr, KIND_BIT(VMP_PRIVATE), &s, NULL);
  if (!err) err = vmp__os_label_private(page_addr(r, pr.first), size, name);
  return leave(r, err);
}

/* ---- the mapping budget ---------------------------------------------------------------- */

/* What the kernel merges: a run of pages is one mapping while the kind,
 * the protection and, for views, the object and a continuing object
 * offset stay the same (placeholders share flags, private memory is all
 * anonymous with the same flags). */
typedef struct mapping_walk {
  size_t count;
  int have_prev;
  uint8_t kind;
  int prot;
  vmp_mem *mem;
  uint64_t next_mem_page; /* where a continuing view would start */
} mapping_walk;

static void walk_run(mapping_walk *w, const vmp__span *s, size_t first, size_t pages, int prot) {
  uint64_t mem_page = s->mem_page + (first - s->start);
  int continues = w->have_prev && w->kind == s->kind && w->prot == prot &&
                  (s->kind != VMP_VIEW || (w->mem == s->mem && w->next_mem_page == mem_page));
  if (!continues) w->count++;
  w->have_prev = 1;
  w->kind = s->kind;
  w->prot = prot;
  w->mem = s->mem;
  w->next_mem_page = mem_page + pages;
}

size_t vmp_mapping_count(vmp_region *r) {
  if (!r) return 0;
  mapping_walk w = {0};
  vmp__os_lock_acquire(&r->lock);
  vmp__spans_cursor at;
  for (vmp__span *s = vmp__spans_first(&r->spans, &at); s; s = vmp__spans_step(&r->spans, &at, 1)) {
    if (!s->mixed) {
      walk_run(&w, s, s->start, s->pages, s->prot);
      continue;
    }
    vmp__spans_cursor run_at;
    vmp__span *run = vmp__spans_find(&r->prots, s->start, &run_at);
    for (; run && run->start < span_end(s); run = vmp__spans_step(&r->prots, &run_at, 1))
      walk_run(&w, s, run->start, run->pages, run->prot);
  }
  vmp__os_lock_release(&r->lock);
  return w.count;
}

int vmp_foreach_span(vmp_region *r, int (*fn)(const vmp_span_info *info, void *arg), void *arg) {
  if (!r || !fn) return VMP_EINVAL;
  int rc = 0;
  vmp__os_lock_acquire(&r->lock);
  vmp__spans_cursor at;
  for (vmp__span *s = vmp__spans_first(&r->spans, &at); s && rc == 0;
       s = vmp__spans_step(&r->spans, &at, 1)) {
    vmp_span_info info;
    describe(r, s, s->start, &info);
    rc = fn(&info, arg);
  }
  vmp__os_lock_release(&r->lock);
  return rc;
}
