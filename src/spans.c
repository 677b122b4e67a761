/*
 * The span set as a B+ tree. Leaves hold the entries themselves, sorted,
 * with their keys copied into a separate array so that searching a leaf
 * reads a few cache lines of keys instead of every entry. Leaves are linked
 * both ways for walking. Inner nodes route by separator keys:
 * child[i] holds keys in [keys[i-1], keys[i]).
 *
 * Removing a leaf's first entry does not update the separators above it,
 * so a leaf's first key may be greater than its lower bound; find() then
 * takes the previous leaf's last entry, which is the answer because every
 * key below that bound lives in earlier leaves.
 *
 * Every descent is a loop with an explicit path, and nodes freed by merges
 * are kept for reuse, so a split/coalesce loop on a large tree neither
 * recurses nor calls malloc. Inner nodes are packed in blocks of their
 * own rather than allocated one by one among the leaves (see "inner
 * blocks" below). The tree remembers the leaf its last
 * descent reached, with the key range that leaf covers; the region's
 * operations come in pairs on one spot (find, then insert or remove), and
 * the second skips the descent while the tree's shape is unchanged; and
 * insert_after/remove_after start from a position a find gave, so an edit
 * after a system call does not search the leaf again.
 */
#include "spans.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "internal.h"
#include "vmplace.h"

/* 32 keys are four cache lines; 32 entries of 40 bytes are 1280 bytes.
 * Wider leaves make inserts move more bytes, narrower ones make the tree
 * taller and the inner levels too big to stay cached; of 16, 24 and 32,
 * 32 measured fastest at random positions in a 10^6-entry tree. */
#define LEAF_CAP 32
#define INNER_CAP 64
/* Below these a node is merged with or borrows from a sibling. A quarter
 * (not a half) leaves room between split and merge, so an insert/remove
 * pair at one spot does not split and merge every time. */
#define LEAF_MIN (LEAF_CAP / 4)
#define APPEND_KEEP (LEAF_CAP * 3 / 4)
#define INNER_MIN (INNER_CAP / 4)
#define INNER_APPEND_KEEP (INNER_CAP * 3 / 4)
/* Non-root inner nodes keep at least INNER_MIN + 1 children, so 64-bit
 * counts cannot need more levels than this. */
#define MAX_HEIGHT 24
/* Nodes freed by merges kept for reuse beyond any reservation. */
#define SPARE_KEEP 16

typedef struct vmp__spans_node spans_node;

struct vmp__spans_node {
  union {
    struct {
      size_t keys[LEAF_CAP]; /* keys[i] == entries[i].start */
      unsigned count;
      spans_node *prev, *next;
      vmp__span entries[LEAF_CAP];
    } leaf;
    struct {
      size_t keys[INNER_CAP];
      unsigned count; /* keys; count + 1 children */
      spans_node *child[INNER_CAP + 1];
    } inner;
    spans_node *next_spare;
  } u;
};

#define LEAF(n) (&(n)->u.leaf)
#define INNER(n) (&(n)->u.inner)

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* Leaf entries are shifted, and unused keys filled, by loops the compiler
 * may not turn into memmove or memset calls: they move a few entries, and
 * each library routine is a code page of its own, which every insert or
 * remove would walk again after the system call before it emptied the TLB. */
#if defined(__GNUC__) || defined(__clang__)
#define NO_LIBRARY_CALL() __asm__("")
#else
#define NO_LIBRARY_CALL() ((void)0)
#endif

#define LEAF_BYTES sizeof(spans_node)
#define INNER_BYTES (offsetof(spans_node, u.inner.child) + (INNER_CAP + 1) * sizeof(spans_node *))

/* Asks for every cache line of a node at once: on a large tree the node
 * is cold, and one memory latency for all of it beats one per probe of
 * the binary search plus one for the entry or child it finds. Called with
 * a constant size and unrolled: as a loop, the 25 lines of a leaf cost 100
 * instructions a descent, as much as the rest of a height-3 descent. */
#if defined(__GNUC__) || defined(__clang__)
#define UNROLL _Pragma("GCC unroll 32")
#else
#define UNROLL
#endif
static inline void prefetch_node(const spans_node *n, size_t bytes) {
  const char *p = (const char *)n;
  UNROLL
  for (size_t off = 0; off < bytes; off += 64) PREFETCH(p + off);
}

/* A node's keys past its count are UNUSED, above every key, so that a
 * search runs over the whole array, LEAF_CAP or INNER_CAP long: with the
 * length a constant the probes unroll into a fixed chain of compares (a
 * leaf: 5 compare-and-adds instead of a 40-instruction loop). The clamp to
 * the count covers a search for UNUSED itself. */
#define UNUSED SIZE_MAX
/* The keys of one cache line. */
#define SMALL_KEYS 8

/* Number of keys <= key among keys[0..cap), cap a constant power of two.
 * Branch-free (a product, not a conditional, which gcc compiles to a
 * branch) so that random positions do not pay a mispredict per probe. An
 * index times a power of two folds into the address of the next probe,
 * where a masked pointer took a shift and an add a step. */
static inline unsigned count_le_all(const size_t *keys, unsigned cap, size_t key) {
  size_t i = 0;
  UNROLL
  for (unsigned half = cap / 2; half > 0; half /= 2) i += (size_t)(keys[i + half] <= key) * half;
  return (unsigned)i + (keys[i] <= key);
}

static void keys_unused(size_t *keys, unsigned from, unsigned to) {
  for (unsigned i = from; i < to; i++) {
    keys[i] = UNUSED;
    NO_LIBRARY_CALL();
  }
}

/* A node holding few keys is searched over its first cache line or two
 * only: a full-length search would touch all of its key lines, cold after
 * each system call, where the small region's one leaf needs one. */
static inline unsigned leaf_count_le(const spans_node *n, size_t key) {
  unsigned count = LEAF(n)->count;
  unsigned i = count <= SMALL_KEYS ? count_le_all(LEAF(n)->keys, SMALL_KEYS, key)
                                   : count_le_all(LEAF(n)->keys, LEAF_CAP, key);
  return i < count ? i : count;
}

/* Where key goes in the leaf n. A key past the last one (each vmp_extend
 * appends) needs no search, which over a full leaf is most of an insert. */
static inline unsigned leaf_insert_pos(const spans_node *n, size_t key) {
  unsigned count = LEAF(n)->count;
  if (count && key > LEAF(n)->keys[count - 1]) return count;
  return leaf_count_le(n, key);
}

static inline unsigned inner_count_le(const spans_node *n, size_t key) {
  unsigned count = INNER(n)->count;
  unsigned i = count <= 2 * SMALL_KEYS ? count_le_all(INNER(n)->keys, 2 * SMALL_KEYS, key)
                                       : count_le_all(INNER(n)->keys, INNER_CAP, key);
  return i < count ? i : count;
}

/* ---- spare leaves ---------------------------------------------------------- */

static spans_node *take_leaf(vmp__spans *t) {
  spans_node *n = vmp__spans_take_spare(t);
  assert(n);
  return n;
}

static void release_leaf(vmp__spans *t, spans_node *n) {
  if (t->spare_count >= SPARE_KEEP)
    vmp__free(n);
  else
    vmp__spans_give_spare(t, n);
}

static int ensure_leaves(vmp__spans *t, size_t want) {
  while (t->spare_count < want) {
    spans_node *n = vmp__malloc(sizeof *n);
    if (!n) return VMP_ENOMEM;
    vmp__spans_give_spare(t, n);
  }
  return 0;
}

/* ---- inner blocks -------------------------------------------------------------
 *
 * Every descent reads one inner node a level, and after a system call
 * those reads are cold. Allocated one by one, the inner nodes of a large
 * tree lie scattered among its leaves (tens of MB at 10^6 spans), each on
 * a page of its own; packed together, the level above the leaves of a
 * 10^6-span tree is about 900 KB of adjacent pages. On the 2-vCPU guest of
 * bench/README.md a synthetic inner-then-leaf read after an mprotect +
 * mmap pair cost 160-380 ns less packed than scattered; in the benchmarks
 * fastmem_ops gained about 2% and commit_unmap_16p_1e6_spans nothing
 * measurable. Blocks grow from 4 nodes to 64 so that a small tree stays
 * small; a node freed by a merge waits on the tree's inner spares, and the
 * blocks are freed only when the tree is emptied. */

#define INNER_SLOT ((INNER_BYTES + 63) / 64 * 64) /* a node starts on a cache line */
#define BLOCK_FIRST_NODES 4
#define BLOCK_MAX_NODES 64

/* Where a block's first slot starts: past its header, on a cache line. */
static char *block_slots(struct vmp__spans_block *b) {
  uintptr_t at = (uintptr_t)(b + 1);
  return (char *)((at + 63) & ~(uintptr_t)63);
}

static void give_inner(vmp__spans *t, spans_node *n) {
  n->u.next_spare = t->inner_spare;
  t->inner_spare = n;
  t->inner_spare_count++;
}

static spans_node *take_inner(vmp__spans *t) {
  spans_node *n = t->inner_spare;
  assert(n);
  t->inner_spare = n->u.next_spare;
  t->inner_spare_count--;
  return n;
}

/* Only the inner part of a slot is ever used: INNER_BYTES, not a whole
 * spans_node. */
static int ensure_inner(vmp__spans *t, size_t want) {
  while (t->inner_spare_count < want) {
    size_t nodes = t->inner_slots < BLOCK_FIRST_NODES ? BLOCK_FIRST_NODES
                   : t->inner_slots > BLOCK_MAX_NODES ? BLOCK_MAX_NODES
                                                      : t->inner_slots;
    struct vmp__spans_block *b = vmp__malloc(sizeof *b + 63 + nodes * INNER_SLOT);
    if (!b) return VMP_ENOMEM;
    b->next = t->blocks;
    t->blocks = b;
    t->inner_slots += nodes;
    char *slot = block_slots(b);
    for (size_t i = nodes; i-- > 0;) give_inner(t, (spans_node *)(void *)(slot + i * INNER_SLOT));
  }
  return 0;
}

/* Every inner node must be free (on the inner spares) by now. */
static void free_blocks(vmp__spans *t) {
  assert(t->inner_spare_count == t->inner_slots);
  while (t->blocks) {
    struct vmp__spans_block *b = t->blocks;
    t->blocks = b->next;
    vmp__free(b);
  }
  t->inner_spare = NULL;
  t->inner_spare_count = t->inner_slots = 0;
}

/* ---- leaf and inner node edits --------------------------------------------- */

/* The shifts below step pointers rather than indices: with unsigned
 * indices gcc worked out every entry's address afresh, almost as many
 * instructions as the copy. */

/* Inserts s[0..k) at pos, moving the entries after it once. */
static inline void leaf_insert_at(spans_node *n, unsigned pos, const vmp__span *s, unsigned k) {
  size_t *key = &LEAF(n)->keys[LEAF(n)->count];
  vmp__span *e = &LEAF(n)->entries[LEAF(n)->count];
  while (key > &LEAF(n)->keys[pos]) {
    key--;
    e--;
    key[k] = *key;
    e[k] = *e;
    NO_LIBRARY_CALL();
  }
  for (unsigned j = 0; j < k; j++) {
    key[j] = s[j].start;
    e[j] = s[j];
    NO_LIBRARY_CALL();
  }
  LEAF(n)->count += k;
}

/* Removes entries [from, to), moving the entries after them once. */
static inline void leaf_remove_run(spans_node *n, unsigned from, unsigned to) {
  size_t *key = &LEAF(n)->keys[from];
  vmp__span *e = &LEAF(n)->entries[from];
  const size_t *end = &LEAF(n)->keys[LEAF(n)->count];
  size_t gap = to - from;
  for (; key + gap < end; key++, e++) {
    *key = key[gap];
    *e = e[gap];
    NO_LIBRARY_CALL();
  }
  keys_unused(LEAF(n)->keys, LEAF(n)->count - (to - from), LEAF(n)->count);
  LEAF(n)->count -= to - from;
}

/* Copies n entries from src[from..] to dst[at..] (distinct leaves). */
static void leaf_copy(spans_node *dst, unsigned at, const spans_node *src, unsigned from,
                      unsigned n) {
  memcpy(&LEAF(dst)->keys[at], &LEAF(src)->keys[from], n * sizeof(size_t));
  memcpy(&LEAF(dst)->entries[at], &LEAF(src)->entries[from], n * sizeof(vmp__span));
}

/* Inserts separator `key` at pos with `right` as the child after it. */
static void inner_insert_at(spans_node *n, unsigned pos, size_t key, spans_node *right) {
  unsigned count = INNER(n)->count;
  memmove(&INNER(n)->keys[pos + 1], &INNER(n)->keys[pos], (count - pos) * sizeof(size_t));
  memmove(&INNER(n)->child[pos + 2], &INNER(n)->child[pos + 1],
          (count - pos) * sizeof(spans_node *));
  INNER(n)->keys[pos] = key;
  INNER(n)->child[pos + 1] = right;
  INNER(n)->count = count + 1;
}

/* Removes separator pos and the child after it. */
static void inner_remove_at(spans_node *n, unsigned pos) {
  unsigned count = INNER(n)->count;
  memmove(&INNER(n)->keys[pos], &INNER(n)->keys[pos + 1], (count - pos - 1) * sizeof(size_t));
  memmove(&INNER(n)->child[pos + 1], &INNER(n)->child[pos + 2],
          (count - pos - 1) * sizeof(spans_node *));
  INNER(n)->keys[count - 1] = UNUSED;
  INNER(n)->count = count - 1;
}

/* ---- descent ------------------------------------------------------------------ */

typedef struct spans_path {
  spans_node *node[MAX_HEIGHT]; /* inner nodes from the root down */
  unsigned slot[MAX_HEIGHT];    /* the child taken in each */
  unsigned depth;               /* inner levels (height - 1) */
} spans_path;

/* The remembered leaf if key falls in its range, else NULL. */
static inline spans_node *hinted_leaf(const vmp__spans *t, size_t key) {
  spans_node *n = t->hint;
  return n && key >= t->hint_first && key <= t->hint_last ? n : NULL;
}

/* Whether n more entries up to key `last` go in `leaf` (NULL: no) without
 * a split: it is the remembered leaf, its range takes `last` (a separator
 * may be a key removed since, which the run could pass) and it has room. */
static inline int run_fits(const vmp__spans *t, const spans_node *leaf, size_t last, unsigned n) {
  return leaf && leaf == t->hint && last <= t->hint_last && LEAF(leaf)->count + n <= LEAF_CAP;
}

/* The fewest entries a leaf may be left with by a remove that does not
 * rebalance: LEAF_MIN, or one for a root leaf. */
static inline unsigned leaf_floor(const vmp__spans *t) { return t->height == 1 ? 1 : LEAF_MIN; }

/* The descent range: the keys the current child may hold, narrowed level
 * by level. */
typedef struct key_range {
  size_t first, last;
} key_range;

/* One level of a descent: the child of the inner node n at depth d that
 * routes key. */
static inline spans_node *route(spans_node *n, unsigned d, size_t key, key_range *range,
                                spans_path *path) {
  unsigned count = INNER(n)->count;
  unsigned i = inner_count_le(n, key);
  if (i > 0) range->first = INNER(n)->keys[i - 1];
  if (i < count) range->last = INNER(n)->keys[i] - 1;
  if (path) {
    path->node[d] = n;
    path->slot[d] = i;
  }
  return INNER(n)->child[i];
}

/* Descends to the leaf whose range holds key, remembering it as the hint
 * and, when path is not NULL, the inner nodes on the way. The last level
 * is out of the loop: with both node sizes' prefetches behind one branch,
 * gcc worked out their shared addresses into registers ahead of it,
 * spilling most, at twice the instructions of the prefetches alone. The
 * root is asked for whole too: it stays in the second-level cache, but a
 * system call empties the first, and the binary search would then miss
 * on its lines one after another (commit_unmap_16p_1e6_spans lower in
 * eight alternations of eleven, fastmem_ops unchanged). */
VMP__HOT static spans_node *descend(vmp__spans *t, size_t key, spans_path *path) {
  spans_node *n = t->root;
  unsigned depth = t->height - 1;
  key_range range = {0, SIZE_MAX};
  unsigned d = 0;
  if (depth) prefetch_node(n, INNER_BYTES);
  for (; d + 1 < depth; d++) {
    n = route(n, d, key, &range, path);
    prefetch_node(n, INNER_BYTES);
  }
  if (depth) {
    n = route(n, d, key, &range, path);
    prefetch_node(n, LEAF_BYTES);
  }
  if (path) path->depth = depth;
  t->hint = n;
  t->hint_first = range.first;
  t->hint_last = range.last;
  return n;
}

VMP__HOT vmp__span *vmp__spans_find(vmp__spans *t, size_t page, vmp__spans_cursor *at) {
  if (!t->root) return NULL;
  spans_node *n = hinted_leaf(t, page);
  if (!n) n = descend(t, page, NULL);
  unsigned pos = leaf_count_le(n, page);
  if (pos == 0) {
    /* page is below this leaf's first key but not below its lower bound. */
    n = LEAF(n)->prev;
    if (!n) return NULL;
    pos = LEAF(n)->count;
  }
  if (at) {
    at->leaf = n;
    at->index = pos - 1;
  }
  return &LEAF(n)->entries[pos - 1];
}

vmp__span *vmp__spans_first(vmp__spans *t, vmp__spans_cursor *at) {
  spans_node *n = t->root;
  if (!n) return NULL;
  for (unsigned d = t->height; d > 1; d--) n = INNER(n)->child[0];
  if (at) {
    at->leaf = n;
    at->index = 0;
  }
  return &LEAF(n)->entries[0];
}

VMP__HOT vmp__span *vmp__spans_step(vmp__spans *t, vmp__spans_cursor *at, int dir) {
  (void)t;
  spans_node *n = at->leaf;
  unsigned i = at->index;
  if (dir > 0) {
    if (i + 1 < LEAF(n)->count) {
      i++;
    } else {
      n = LEAF(n)->next;
      if (!n) return NULL;
      i = 0;
    }
  } else if (dir < 0) {
    if (i > 0) {
      i--;
    } else {
      n = LEAF(n)->prev;
      if (!n) return NULL;
      i = LEAF(n)->count - 1;
    }
  }
  at->leaf = n;
  at->index = i;
  return &LEAF(n)->entries[i];
}

/* ---- insert -------------------------------------------------------------------- */

VMP__HOT int vmp__spans_reserve(vmp__spans *t, size_t inserts) {
  if (inserts == 0) return 0;
  if (t->height <= 1 && t->count + inserts <= LEAF_CAP)
    return ensure_leaves(t, t->root ? 0 : 1); /* no split can happen */
  /* An insert at height h splits at most the leaf, h - 1 inner nodes and
   * adds a root. The root gains at most one key an insert, so it splits
   * at most once per INNER_CAP / 2 inserts, plus once now. */
  size_t height = t->height ? t->height : 1;
  size_t per_insert = height + 2 + inserts / (INNER_CAP / 2);
  /* A handful of inserts (every region operation's) cannot overflow the
   * product: only a bulk count pays for the division. */
  if (inserts > INNER_CAP && inserts > SIZE_MAX / per_insert) return VMP_ENOMEM;
  /* Of each insert's nodes one is a leaf (and the first leaf of an empty
   * tree one more); the rest are inner. */
  if (ensure_leaves(t, inserts + (t->root ? 0 : 1))) return VMP_ENOMEM;
  return ensure_inner(t, inserts * (per_insert - 1));
}

/* Splits the full inner node n, into which (key, right) should go at pos,
 * moving its upper keys to the empty node `upper`, and returns the
 * separator that now goes between them in the parent. An append past the
 * tree's end leaves n three quarters full, as leaf_split does for leaves:
 * a region cut up front to back then has inner levels a third smaller,
 * and at 10^6 spans one level fewer, one cache miss less per descent. */
static size_t inner_split(spans_node *n, spans_node *upper, unsigned pos, size_t key,
                          spans_node *right, int appending) {
  const unsigned m = appending ? INNER_APPEND_KEEP : INNER_CAP / 2; /* keys left in n */
  size_t up;
  if (pos < m) {
    up = INNER(n)->keys[m - 1];
    memcpy(INNER(upper)->keys, &INNER(n)->keys[m], (INNER_CAP - m) * sizeof(size_t));
    memcpy(INNER(upper)->child, &INNER(n)->child[m], (INNER_CAP - m + 1) * sizeof(spans_node *));
    INNER(upper)->count = INNER_CAP - m;
    INNER(n)->count = m - 1;
    keys_unused(INNER(upper)->keys, INNER_CAP - m, INNER_CAP);
    keys_unused(INNER(n)->keys, m - 1, INNER_CAP);
    inner_insert_at(n, pos, key, right);
  } else if (pos == m) {
    up = key;
    memcpy(INNER(upper)->keys, &INNER(n)->keys[m], (INNER_CAP - m) * sizeof(size_t));
    INNER(upper)->child[0] = right;
    memcpy(&INNER(upper)->child[1], &INNER(n)->child[m + 1],
           (INNER_CAP - m) * sizeof(spans_node *));
    INNER(upper)->count = INNER_CAP - m;
    INNER(n)->count = m;
    keys_unused(INNER(upper)->keys, INNER_CAP - m, INNER_CAP);
    keys_unused(INNER(n)->keys, m, INNER_CAP);
  } else {
    up = INNER(n)->keys[m];
    memcpy(INNER(upper)->keys, &INNER(n)->keys[m + 1], (INNER_CAP - m - 1) * sizeof(size_t));
    memcpy(INNER(upper)->child, &INNER(n)->child[m + 1], (INNER_CAP - m) * sizeof(spans_node *));
    INNER(upper)->count = INNER_CAP - m - 1;
    INNER(n)->count = m;
    keys_unused(INNER(upper)->keys, INNER_CAP - m - 1, INNER_CAP);
    keys_unused(INNER(n)->keys, m, INNER_CAP);
    inner_insert_at(upper, pos - m - 1, key, right);
  }
  return up;
}

/* Splits the full leaf n, into which s should go at pos, moving entries
 * to the empty leaf `upper` linked after it. */
static void leaf_split(spans_node *n, spans_node *upper, unsigned pos, const vmp__span *s) {
  /* Appending past the last leaf is how a region gets cut up front to
   * back. Leaving that leaf three quarters full rather than half full saves
   * memory; leaving it full would save more, but then the first split
   * anywhere in the region later would have to split a leaf. */
  unsigned keep = (pos == LEAF_CAP && !LEAF(n)->next) ? APPEND_KEEP : (LEAF_CAP + 1) / 2;
  LEAF(upper)->prev = n;
  LEAF(upper)->next = LEAF(n)->next;
  if (LEAF(n)->next) LEAF(LEAF(n)->next)->prev = upper;
  LEAF(n)->next = upper;
  if (pos < keep) {
    unsigned moved = LEAF_CAP - (keep - 1);
    leaf_copy(upper, 0, n, keep - 1, moved);
    LEAF(upper)->count = moved;
    LEAF(n)->count = keep - 1;
    keys_unused(LEAF(upper)->keys, moved, LEAF_CAP);
    keys_unused(LEAF(n)->keys, keep - 1, LEAF_CAP);
    leaf_insert_at(n, pos, s, 1);
  } else {
    unsigned moved = LEAF_CAP - keep;
    leaf_copy(upper, 0, n, keep, moved);
    LEAF(upper)->count = moved;
    LEAF(n)->count = keep;
    keys_unused(LEAF(upper)->keys, moved, LEAF_CAP);
    keys_unused(LEAF(n)->keys, keep, LEAF_CAP);
    leaf_insert_at(upper, pos - keep, s, 1);
  }
}

/* Inserts s[0..n) into the leaf where they go, which has room for them.
 * Marked hot because gcc does not inline it: unmarked, it sat with the
 * cold code, one more code page for every carve to walk. */
VMP__HOT static void insert_in_leaf_at(vmp__spans *t, spans_node *leaf, unsigned pos,
                                       const vmp__span *s, unsigned n, vmp__spans_cursor *at) {
  assert(pos == 0 || LEAF(leaf)->keys[pos - 1] < s->start);
  assert(pos == LEAF(leaf)->count || LEAF(leaf)->keys[pos] > s[n - 1].start);
  leaf_insert_at(leaf, pos, s, n);
  t->count += n;
  if (at) {
    at->leaf = leaf;
    at->index = pos;
  }
}

VMP__HOT static void insert_in_leaf(vmp__spans *t, spans_node *leaf, const vmp__span *s, unsigned n,
                                    vmp__spans_cursor *at) {
  insert_in_leaf_at(t, leaf, leaf_insert_pos(leaf, s->start), s, n, at);
}

/* Inserts *s into the full leaf found by `path`, splitting it and, as far
 * up as they are full, its parents. */
static int insert_splitting(vmp__spans *t, spans_node *leaf, const spans_path *path,
                            const vmp__span *s) {
  unsigned pos = leaf_insert_pos(leaf, s->start);
  assert(pos == 0 || LEAF(leaf)->keys[pos - 1] != s->start);
  /* Take every node the split needs before changing anything: a leaf and
   * an inner node for each full parent, and the new root if all are. */
  size_t inner_need = 0;
  unsigned d = path->depth;
  while (d > 0 && INNER(path->node[d - 1])->count == INNER_CAP) {
    inner_need++;
    d--;
  }
  if (d == 0) inner_need++; /* a new root */
  if (ensure_leaves(t, 1) || ensure_inner(t, inner_need)) return VMP_ENOMEM;

  t->hint = NULL;
  int appending = pos == LEAF_CAP && !LEAF(leaf)->next;
  spans_node *upper = take_leaf(t);
  leaf_split(leaf, upper, pos, s);
  t->count++;
  size_t up = LEAF(upper)->keys[0];
  for (d = path->depth; d > 0; d--) {
    spans_node *parent = path->node[d - 1];
    unsigned slot = path->slot[d - 1];
    if (INNER(parent)->count < INNER_CAP) {
      inner_insert_at(parent, slot, up, upper);
      return 0;
    }
    spans_node *sibling = take_inner(t);
    up = inner_split(parent, sibling, slot, up, upper, appending);
    upper = sibling;
  }
  assert(t->height < MAX_HEIGHT);
  spans_node *root = take_inner(t);
  INNER(root)->count = 1;
  INNER(root)->keys[0] = up;
  keys_unused(INNER(root)->keys, 1, INNER_CAP);
  INNER(root)->child[0] = t->root;
  INNER(root)->child[1] = upper;
  t->root = root;
  t->height++;
  return 0;
}

VMP__HOT int vmp__spans_insert_run(vmp__spans *t, const vmp__span *s, unsigned n,
                                   vmp__spans_cursor *at) {
  assert(n > 0 && n <= LEAF_CAP);
  if (!t->root) {
    if (ensure_leaves(t, 1)) return VMP_ENOMEM;
    spans_node *leaf = take_leaf(t);
    LEAF(leaf)->count = 0;
    keys_unused(LEAF(leaf)->keys, 0, LEAF_CAP);
    LEAF(leaf)->prev = LEAF(leaf)->next = NULL;
    t->root = leaf;
    t->height = 1;
    /* The one leaf holds every key: what a descent would remember. */
    t->hint = leaf;
    t->hint_first = 0;
    t->hint_last = SIZE_MAX;
  }
  /* The whole run goes in one leaf when it fits there. */
  size_t last = s[n - 1].start;
  spans_node *leaf = hinted_leaf(t, s->start);
  if (run_fits(t, leaf, last, n)) {
    insert_in_leaf(t, leaf, s, n, at);
    return 0;
  }
  spans_path path;
  leaf = descend(t, s->start, &path);
  if (run_fits(t, leaf, last, n)) {
    insert_in_leaf(t, leaf, s, n, at);
    return 0;
  }
  /* A run that does not fit goes in one entry at a time, each of which
   * may split; reserving first keeps a failure from leaving part of it. */
  if (n > 1 && vmp__spans_reserve(t, n)) return VMP_ENOMEM;
  for (unsigned i = 0; i < n; i++) {
    if (i > 0) leaf = descend(t, s[i].start, &path);
    if (LEAF(leaf)->count < LEAF_CAP)
      insert_in_leaf(t, leaf, &s[i], 1, NULL);
    else if (insert_splitting(t, leaf, &path, &s[i]))
      return VMP_ENOMEM;
  }
  if (at) vmp__spans_find(t, s->start, at);
  return 0;
}

/* The run goes right after the entry when it fits in the entry's leaf,
 * which must be the one the last descent reached: only that leaf's key
 * range is known, and an entry's leaf is not always the leaf a key routes
 * to (see find). */
VMP__HOT int vmp__spans_insert_after(vmp__spans *t, const vmp__spans_cursor *after,
                                     const vmp__span *s, unsigned n, vmp__spans_cursor *at) {
  assert(n > 0 && n <= LEAF_CAP);
  spans_node *leaf = after->leaf;
  if (!run_fits(t, leaf, s[n - 1].start, n)) return vmp__spans_insert_run(t, s, n, at);
  insert_in_leaf_at(t, leaf, after->index + 1, s, n, at);
  return 0;
}

VMP__HOT void vmp__spans_prefetch(const vmp__spans_cursor *at) {
  const spans_node *n = at->leaf;
  const vmp__span *e = &LEAF(n)->entries[at->index];
  const vmp__span *next = at->index + 1 < LEAF_CAP ? e + 1 : e;
  PREFETCH(&LEAF(n)->count);
  PREFETCH(&LEAF(n)->keys[at->index]);
  /* An entry may straddle two lines: its first field and its last. */
  PREFETCH(e);
  PREFETCH(&e->ceiling);
  PREFETCH(&next->ceiling);
}

VMP__HOT vmp__span *vmp__spans_at(const vmp__spans_cursor *at) {
  return &LEAF(at->leaf)->entries[at->index];
}

/* ---- remove -------------------------------------------------------------------- */

/* Child `slot` of the inner node p is a leaf below LEAF_MIN: merges it with
 * a neighbour or evens the two out. Returns 1 if p lost a separator. */
static int fix_leaf(vmp__spans *t, spans_node *p, unsigned slot) {
  unsigned j = slot > 0 ? slot - 1 : 0; /* the separator between left and right */
  spans_node *left = INNER(p)->child[j];
  spans_node *right = INNER(p)->child[j + 1];
  unsigned nl = LEAF(left)->count, nr = LEAF(right)->count;
  if (nl + nr <= LEAF_CAP) {
    leaf_copy(left, nl, right, 0, nr);
    LEAF(left)->count = nl + nr;
    LEAF(left)->next = LEAF(right)->next;
    if (LEAF(right)->next) LEAF(LEAF(right)->next)->prev = left;
    inner_remove_at(p, j);
    release_leaf(t, right);
    return 1;
  }
  unsigned keep = (nl + nr) / 2;
  if (nl > keep) {
    unsigned moved = nl - keep;
    memmove(&LEAF(right)->keys[moved], LEAF(right)->keys, nr * sizeof(size_t));
    memmove(&LEAF(right)->entries[moved], LEAF(right)->entries, nr * sizeof(vmp__span));
    leaf_copy(right, 0, left, keep, moved);
    LEAF(right)->count = nr + moved;
    LEAF(left)->count = keep;
    keys_unused(LEAF(left)->keys, keep, nl);
  } else {
    unsigned moved = keep - nl;
    leaf_copy(left, nl, right, 0, moved);
    LEAF(left)->count = keep;
    leaf_remove_run(right, 0, moved);
  }
  INNER(p)->keys[j] = LEAF(right)->keys[0];
  return 0;
}

/* Child `slot` of p is an inner node below INNER_MIN; as fix_leaf. */
static int fix_inner(vmp__spans *t, spans_node *p, unsigned slot) {
  unsigned j = slot > 0 ? slot - 1 : 0;
  spans_node *left = INNER(p)->child[j];
  spans_node *right = INNER(p)->child[j + 1];
  size_t sep = INNER(p)->keys[j];
  unsigned nl = INNER(left)->count, nr = INNER(right)->count;
  if (nl + 1 + nr <= INNER_CAP) {
    INNER(left)->keys[nl] = sep;
    memcpy(&INNER(left)->keys[nl + 1], INNER(right)->keys, nr * sizeof(size_t));
    memcpy(&INNER(left)->child[nl + 1], INNER(right)->child, (nr + 1) * sizeof(spans_node *));
    INNER(left)->count = nl + 1 + nr;
    inner_remove_at(p, j);
    give_inner(t, right);
    return 1;
  }
  /* Rotate through the parent's separator so both end up near half. */
  unsigned keep = (nl + nr) / 2;
  if (nl > keep) {
    unsigned moved = nl - keep;
    memmove(&INNER(right)->keys[moved], INNER(right)->keys, nr * sizeof(size_t));
    memmove(&INNER(right)->child[moved], INNER(right)->child, (nr + 1) * sizeof(spans_node *));
    INNER(right)->keys[moved - 1] = sep;
    memcpy(INNER(right)->keys, &INNER(left)->keys[keep + 1], (moved - 1) * sizeof(size_t));
    memcpy(INNER(right)->child, &INNER(left)->child[keep + 1], moved * sizeof(spans_node *));
    INNER(p)->keys[j] = INNER(left)->keys[keep];
    INNER(left)->count = keep;
    INNER(right)->count = nr + moved;
    keys_unused(INNER(left)->keys, keep, nl);
  } else {
    unsigned moved = keep - nl;
    INNER(left)->keys[nl] = sep;
    memcpy(&INNER(left)->keys[nl + 1], INNER(right)->keys, (moved - 1) * sizeof(size_t));
    memcpy(&INNER(left)->child[nl + 1], INNER(right)->child, moved * sizeof(spans_node *));
    INNER(p)->keys[j] = INNER(right)->keys[moved - 1];
    memmove(INNER(right)->keys, &INNER(right)->keys[moved], (nr - moved) * sizeof(size_t));
    memmove(INNER(right)->child, &INNER(right)->child[moved],
            (nr - moved + 1) * sizeof(spans_node *));
    INNER(left)->count = keep;
    INNER(right)->count = nr - moved;
    keys_unused(INNER(right)->keys, nr - moved, nr);
  }
  return 0;
}

/* Restores the fill invariants after entries left `leaf`, found by `path`. */
static void rebalance(vmp__spans *t, const spans_path *path, spans_node *leaf) {
  if (path->depth == 0) {
    if (LEAF(leaf)->count == 0) {
      t->hint = NULL;
      release_leaf(t, leaf);
      t->root = NULL;
      t->height = 0;
    }
    return;
  }
  if (LEAF(leaf)->count >= LEAF_MIN) return;
  t->hint = NULL;
  unsigned d = path->depth;
  if (!fix_leaf(t, path->node[d - 1], path->slot[d - 1])) return;
  for (d--; d > 0; d--) {
    if (INNER(path->node[d])->count >= INNER_MIN) return;
    if (!fix_inner(t, path->node[d - 1], path->slot[d - 1])) return;
  }
  spans_node *root = t->root;
  if (INNER(root)->count == 0) {
    t->root = INNER(root)->child[0];
    t->height--;
    give_inner(t, root);
  }
}

VMP__HOT void vmp__spans_remove(vmp__spans *t, size_t start) {
  if (!t->root) return;
  spans_node *leaf = hinted_leaf(t, start);
  if (leaf && LEAF(leaf)->count > leaf_floor(t)) {
    /* Stays above the minimum: nothing to rebalance. */
    unsigned pos = leaf_count_le(leaf, start);
    assert(pos > 0 && LEAF(leaf)->keys[pos - 1] == start);
    if (pos == 0 || LEAF(leaf)->keys[pos - 1] != start) return;
    leaf_remove_run(leaf, pos - 1, pos);
    t->count--;
    return;
  }
  spans_path path;
  leaf = descend(t, start, &path);
  unsigned pos = leaf_count_le(leaf, start);
  assert(pos > 0 && LEAF(leaf)->keys[pos - 1] == start);
  if (pos == 0 || LEAF(leaf)->keys[pos - 1] != start) return;
  leaf_remove_run(leaf, pos - 1, pos);
  t->count--;
  rebalance(t, &path, leaf);
}

VMP__HOT void vmp__spans_remove_range(vmp__spans *t, size_t first, size_t last) {
  if (first > last) return;
  /* A coalesce has just looked its range up: when every key of the range
   * belongs to the remembered leaf and enough entries stay in it, the run
   * goes without a second descent. */
  spans_node *hinted = hinted_leaf(t, first);
  if (hinted && last <= t->hint_last) {
    unsigned count = LEAF(hinted)->count;
    unsigned from = first == 0 ? 0 : leaf_count_le(hinted, first - 1);
    unsigned to = leaf_count_le(hinted, last);
    if (to <= from) return;
    if (count - (to - from) >= leaf_floor(t)) {
      leaf_remove_run(hinted, from, to);
      t->count -= to - from;
      return;
    }
  }
  /* One leaf's run per round; each round but the last empties what is
   * left of a leaf, so rounds cost O(height) for about LEAF_MIN entries. */
  while (t->root) {
    spans_path path;
    spans_node *leaf = descend(t, first, &path);
    unsigned from = first == 0 ? 0 : leaf_count_le(leaf, first - 1);
    if (from == LEAF(leaf)->count) {
      spans_node *next = LEAF(leaf)->next;
      if (!next || LEAF(next)->keys[0] > last) return;
      leaf = descend(t, LEAF(next)->keys[0], &path);
      from = 0;
    }
    unsigned to = leaf_count_le(leaf, last);
    if (to <= from) return;
    int reached_end = to == LEAF(leaf)->count;
    leaf_remove_run(leaf, from, to);
    t->count -= to - from;
    rebalance(t, &path, leaf);
    if (!reached_end) return;
  }
}

/* The entries to remove follow the one at `after` in its leaf; they are
 * all there when one past them is still in the leaf, or when the leaf is
 * the remembered one and its range ends at or past `last`. */
VMP__HOT void vmp__spans_remove_after(vmp__spans *t, const vmp__spans_cursor *after, size_t last) {
  spans_node *leaf = after->leaf;
  unsigned count = LEAF(leaf)->count, from = after->index + 1, to = from;
  while (to < count && LEAF(leaf)->keys[to] <= last) to++;
  int all_here = to < count || (leaf == t->hint && last <= t->hint_last);
  if (all_here && to == from) return;
  if (all_here && count - (to - from) >= leaf_floor(t)) {
    leaf_remove_run(leaf, from, to);
    t->count -= to - from;
    return;
  }
  vmp__spans_remove_range(t, LEAF(leaf)->keys[after->index] + 1, last);
}

/* ---- life cycle ----------------------------------------------------------------- */

void vmp__spans_init(vmp__spans *t) {
  t->root = NULL;
  t->count = 0;
  t->height = 0;
  t->spare = NULL;
  t->spare_count = 0;
  t->inner_spare = NULL;
  t->inner_spare_count = 0;
  t->blocks = NULL;
  t->inner_slots = 0;
  t->hint = NULL;
  t->hint_first = t->hint_last = 0;
}

void vmp__spans_destroy(vmp__spans *t) { vmp__spans_empty(t, 0); }

/* The leaves of a subtree move to the spares while fewer than `keep` are
 * there, and are freed after; its inner nodes go back to the inner
 * spares. Recursion is bounded by the height. */
static void drop_subtree(vmp__spans *t, spans_node *n, unsigned height, size_t keep) {
  if (height > 1) {
    for (unsigned i = 0; i <= INNER(n)->count; i++)
      drop_subtree(t, INNER(n)->child[i], height - 1, keep);
    give_inner(t, n);
  } else if (t->spare_count < keep) {
    vmp__spans_give_spare(t, n);
  } else {
    vmp__free(n);
  }
}

void vmp__spans_empty(vmp__spans *t, size_t keep) {
  while (t->spare_count > keep) vmp__free(vmp__spans_take_spare(t));
  if (t->root) drop_subtree(t, t->root, t->height, keep);
  free_blocks(t);
  t->root = NULL;
  t->count = 0;
  t->height = 0;
  t->hint = NULL;
  t->hint_first = t->hint_last = 0;
}

struct vmp__spans_node *vmp__spans_take_spare(vmp__spans *t) {
  spans_node *n = t->spare;
  if (!n) return NULL;
  t->spare = n->u.next_spare;
  t->spare_count--;
  return n;
}

void vmp__spans_give_spare(vmp__spans *t, struct vmp__spans_node *n) {
  n->u.next_spare = t->spare;
  t->spare = n;
  t->spare_count++;
}
