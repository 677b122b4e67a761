/*
 * arena: a bump allocator over 1 GiB of address space that costs memory
 * only for what it hands out.
 *
 * The arena reserves 1 GiB once, and commits it 1 MiB at a time as the
 * bump pointer crosses into a new chunk: vmp_carve_commit() cuts the chunk
 * out of the placeholder room ahead and backs it with zero-filled memory,
 * in one call (the last chunk, the whole room by then, needs no special
 * case). A guard placeholder stays
 * at the end, so running off the arena faults instead of touching a
 * neighbour. A reset gives the memory back with vmp_discard() and keeps
 * the chunks committed, so the next round costs no system call to get
 * them again.
 *
 * The program allocates a few thousand objects of varying size, checks
 * that each kept its bytes, resets, checks that the memory reads as zero,
 * allocates again, and prints how many chunks were committed and how many
 * kernel mappings the arena costs (adjacent committed chunks are one).
 *
 * Exit status 0 when every check passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vmplace.h>

#define ARENA_SIZE ((size_t)1 << 30)
#define CHUNK ((size_t)1 << 20)
#define GUARD CHUNK

typedef struct arena {
  vmp_region *region;
  char *base;
  size_t used;      /* bytes handed out since the last reset */
  size_t committed; /* bytes of chunks committed, from the base */
} arena;

static int arena_open(arena *a) {
  memset(a, 0, sizeof *a);
  int rc = vmp_reserve(ARENA_SIZE, 0, &a->region);
  if (rc) return rc;
  a->base = vmp_base(a->region);
  /* The guard is a placeholder of its own that nothing ever replaces. */
  return vmp_carve(a->region, ARENA_SIZE - GUARD, GUARD);
}

/* Commits chunks until `end` bytes are backed. */
static int arena_grow(arena *a, size_t end) {
  while (a->committed < end) {
    if (a->committed + CHUNK > ARENA_SIZE - GUARD) return VMP_ENOMEM;
    int rc = vmp_carve_commit(a->region, a->committed, CHUNK, VMP_PROT_RW);
    if (rc) return rc;
    a->committed += CHUNK;
  }
  return 0;
}

static void *arena_alloc(arena *a, size_t size) {
  size_t start = (a->used + 15) & ~(size_t)15;
  if (start > ARENA_SIZE - GUARD || size > ARENA_SIZE - GUARD - start) return NULL;
  if (arena_grow(a, start + size) != 0) return NULL;
  a->used = start + size;
  return a->base + start;
}

/* Every committed chunk is a private span: its memory goes back, its
 * pages read as zero, and it stays committed for the next round. */
static int arena_reset(arena *a) {
  for (size_t off = 0; off < a->committed; off += CHUNK) {
    int rc = vmp_discard(a->region, off, CHUNK);
    if (rc) return rc;
  }
  a->used = 0;
  return 0;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "arena: %s: %s\n", what, rc ? vmp_strerror(rc) : "check failed");
  return 1;
}

#define OBJECTS 4000

static size_t object_size(unsigned i) { return 16 + (i * 2654435761u) % 1500; }

int main(void) {
  arena a;
  int rc = arena_open(&a);
  if (rc) return fail("reserve", rc);
  static unsigned char *objects[OBJECTS];
  for (int round = 0; round < 2; round++) {
    for (unsigned i = 0; i < OBJECTS; i++) {
      objects[i] = arena_alloc(&a, object_size(i));
      if (!objects[i]) return fail("alloc", VMP_ENOMEM);
      for (size_t k = 0; k < object_size(i); k++)
        if (objects[i][k] != 0) return fail("fresh memory is not zero", 0);
      memset(objects[i], (int)(i & 0xff), object_size(i));
    }
    for (unsigned i = 0; i < OBJECTS; i++)
      for (size_t k = 0; k < object_size(i); k++)
        if (objects[i][k] != (unsigned char)(i & 0xff)) return fail("an object lost its bytes", 0);
    size_t used = a.used;
    rc = arena_reset(&a);
    if (rc) return fail("reset", rc);
    if (round == 0) {
      printf(
          "arena: %u objects in %zu bytes, %zu chunks of 1 MiB committed of %zu, "
          "%zu kernel mappings for %zu spans\n",
          OBJECTS, used, a.committed / CHUNK, (ARENA_SIZE - GUARD) / CHUNK,
          vmp_mapping_count(a.region), vmp_span_count(a.region));
      /* After the reset the memory reads as zero: the next round checks it. */
    }
  }
  /* The guard is still an untouched placeholder at the very end. */
  vmp_span_info info;
  rc = vmp_query(a.region, a.base + ARENA_SIZE - 1, &info);
  if (rc) return fail("query", rc);
  if (info.kind != VMP_PLACEHOLDER || info.size != GUARD || info.offset != ARENA_SIZE - GUARD)
    return fail("the guard is not a placeholder of its own", 0);
  /* One byte more than the room before the guard is refused. */
  if (arena_alloc(&a, ARENA_SIZE - GUARD + 1) != NULL) return fail("allocated over the guard", 0);
  rc = vmp_release(a.region);
  if (rc) return fail("release", rc);
  puts("arena: every object kept its bytes; reset memory read as zero; the guard held");
  return 0;
}
