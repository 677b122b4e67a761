/*
 * The ordered span set of a region: a B+ tree keyed by a span's first page.
 *
 * Contract
 *   - Keys are page indices relative to the region. The tree does not know
 *     that spans tile the region; it only keeps entries ordered by `start`
 *     and finds the entry with the greatest start <= a page.
 *   - find, insert and remove are O(log n); stepping to a neighbour is O(1)
 *     amortised. An entry costs about 65 bytes (leaves of 32, three
 *     quarters full when built front to back), up to about 95 after random
 *     splits have left leaves half full.
 *   - Nothing here fails after vmp__spans_reserve() succeeded: a caller
 *     that must leave no trace reserves first, then makes its system
 *     calls, then edits the tree. vmp__spans_reserve(t, k) guarantees that
 *     the next k inserts allocate nothing that could fail.
 *   - Pointers and positions returned by find/first/step/at and
 *     insert_run stay valid until the next insert or remove on the same
 *     tree; an entry's fields other than `start` may be edited through
 *     them in place.
 *   - Not thread-safe: the region's lock protects it.
 */
#ifndef VMP_SPANS_H
#define VMP_SPANS_H

#include <stddef.h>
#include <stdint.h>

struct vmp_mem;

typedef struct vmp__span {
  size_t start;        /* first page, relative to the region */
  size_t pages;        /* length in pages */
  struct vmp_mem *mem; /* a view's object (one reference held), else NULL */
  uint64_t mem_page;   /* a view's object offset in pages */
  uint8_t kind;        /* vmp_kind */
  uint8_t prot;        /* protection when uniform */
  uint8_t mixed;       /* protection varies by page: see the region's prot map */
  uint8_t ceiling;     /* a view: the most vmp_protect may give it (see vmp_map) */
} vmp__span;

struct vmp__spans_node;

/* A block of inner nodes: this header, then the nodes, each on a cache
 * line of its own. */
struct vmp__spans_block {
  struct vmp__spans_block *next;
};

typedef struct vmp__spans {
  struct vmp__spans_node *root;
  size_t count;                  /* entries */
  unsigned height;               /* 0 when empty, 1 when the root is a leaf */
  struct vmp__spans_node *spare; /* leaves kept by vmp__spans_reserve() */
  size_t spare_count;
  /* Inner nodes live packed in blocks of their own (spans.c says why);
   * the free ones wait here, and the blocks go back at empty/destroy. */
  struct vmp__spans_node *inner_spare;
  size_t inner_spare_count;
  struct vmp__spans_block *blocks;
  size_t inner_slots; /* inner nodes the blocks hold, free or not */
  /* The leaf the last descent reached and the keys it may hold, so that an
   * operation next to the previous one (find, then insert) skips the
   * descent. NULL after any change to the tree's shape. */
  struct vmp__spans_node *hint;
  size_t hint_first, hint_last;
} vmp__spans;

/* A position in the tree, for walking neighbours. */
typedef struct vmp__spans_cursor {
  struct vmp__spans_node *leaf;
  unsigned index;
} vmp__spans_cursor;

void vmp__spans_init(vmp__spans *t);
/* Frees every node (entries are not looked at). */
void vmp__spans_destroy(vmp__spans *t);

/* Spare leaves kept or passed between trees, so that a short-lived tree (a
 * region reserved and released at once) need not allocate its first leaf:
 * the region code pools released regions with their leaf kept as a spare.
 * vmp__spans_empty() removes every entry and keeps up to `keep` leaves as
 * spares (freeing the rest, and every inner node); take_spare() hands one
 * spare leaf out (NULL if there is none); give_spare() adds a leaf
 * take_spare() gave to a tree's spares. A leaf is about 1.6 KB. */
void vmp__spans_empty(vmp__spans *t, size_t keep);
struct vmp__spans_node *vmp__spans_take_spare(vmp__spans *t);
void vmp__spans_give_spare(vmp__spans *t, struct vmp__spans_node *n);

static inline size_t vmp__spans_count(const vmp__spans *t) { return t->count; }

/* The entry with the greatest start <= page, or NULL if there is none.
 * `at` (may be NULL) receives its position. */
vmp__span *vmp__spans_find(vmp__spans *t, size_t page, vmp__spans_cursor *at);

/* The first entry (NULL when empty). */
vmp__span *vmp__spans_first(vmp__spans *t, vmp__spans_cursor *at);

/* Moves `at` to the next (dir > 0) or previous (dir < 0) entry and returns
 * it, or returns NULL (leaving `at` unchanged) at either end. */
vmp__span *vmp__spans_step(vmp__spans *t, vmp__spans_cursor *at, int dir);

/* Makes sure the next `inserts` calls of vmp__spans_insert() cannot fail.
 * Returns 0 or VMP_ENOMEM. Extra nodes are kept for later and freed by
 * destroy. */
int vmp__spans_reserve(vmp__spans *t, size_t inserts);

/* Inserts copies of s[0..n), 1 <= n <= 32: their starts ascending, none
 * of them a key already, and no key of the tree between the first and the
 * last (the pieces of one span cut up go in together, so that the entries
 * after them move once). `at` (may be NULL) receives the position of the
 * first. Never fails when reserve() covered n inserts; returns VMP_ENOMEM
 * otherwise if memory runs out (tree unchanged). */
int vmp__spans_insert_run(vmp__spans *t, const vmp__span *s, unsigned n, vmp__spans_cursor *at);

/* vmp__spans_insert_run() for a run that goes right after the entry at
 * `after`: a position that find, first, step or an insert gave since the
 * tree last changed (vmp__spans_reserve changes nothing). The same
 * conditions on s, the same result and errors; but when the run fits in
 * that entry's leaf, the leaf is not searched again. A caller that looked
 * the entry up before a system call edits the tree after it without
 * reading the keys a second time, cold by then. */
int vmp__spans_insert_after(vmp__spans *t, const vmp__spans_cursor *after, const vmp__span *s,
                            unsigned n, vmp__spans_cursor *at);

/* Inserts a copy of *s, as above. */
static inline int vmp__spans_insert(vmp__spans *t, const vmp__span *s) {
  return vmp__spans_insert_run(t, s, 1, NULL);
}

/* Asks the cache for what an edit at `at` reads first (the leaf's count,
 * the key and the entry there, the entry after it), all at once. A caller
 * that found `at` before a system call calls this right after it: the
 * call empties the first-level cache, and the edit would otherwise miss
 * on each of these lines in turn. */
void vmp__spans_prefetch(const vmp__spans_cursor *at);

/* The entry at `at`. */
vmp__span *vmp__spans_at(const vmp__spans_cursor *at);

/* Removes the entry whose start is exactly `start` (it must exist). Never
 * fails. */
void vmp__spans_remove(vmp__spans *t, size_t start);

/* Removes every entry with start in [first, last], in O(log n + k).
 * Never fails. */
void vmp__spans_remove_range(vmp__spans *t, size_t first, size_t last);

/* Removes the entries after the one at `after` (a position as for
 * insert_after) whose start is <= last: vmp__spans_remove_range(t, that
 * entry's start + 1, last), without searching its leaf again when they
 * all lie in it. Never fails. */
void vmp__spans_remove_after(vmp__spans *t, const vmp__spans_cursor *after, size_t last);

#endif
