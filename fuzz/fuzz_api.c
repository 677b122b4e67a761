/*
 * The API model: the input is a sequence of operations on up to three
 * regions and three memory objects (anonymous memory and files), with
 * sizes and offsets drawn valid and invalid, and system-call or allocation
 * failures armed before some of them. A shadow model written from
 * docs/contract.md and include/vmplace.h (it shares no code with src/)
 * predicts each call's result: the error and so the order of the checks,
 * or the spans, protections and bytes a success leaves. After every
 * operation the library is compared with the model: vmp_query for every
 * page, the bytes at a few offsets of every readable page, what the kernel
 * maps over every page, and two guard pages of the fuzzer's own on either
 * side of each region, which nothing may touch. A call that fails must
 * leave the model as it was, injected failure or not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "inject.h"
#include "kmaps.h"
#include "testing.h"
#include "vmplace.h"

#define MAX_REGIONS 3
#define MAX_OBJECTS 3
#define MAX_PAGES 40     /* pages of a region the model tracks */
#define MAX_OBJ_PAGES 48 /* pages an object may grow to */
#define SAMPLES 6        /* byte offsets of a page the model tracks */
#define MAX_OPS 400      /* per input: keeps one execution short */

enum { K_PLACEHOLDER = VMP_PLACEHOLDER, K_PRIVATE = VMP_PRIVATE, K_VIEW = VMP_VIEW };

typedef struct mpage {
  uint8_t kind;
  uint8_t prot;
  uint8_t span_start;     /* a span begins at this page */
  int8_t obj;             /* view: the object slot */
  uint32_t obj_page;      /* view: the object page shown */
  uint8_t bytes[SAMPLES]; /* private: the sampled bytes */
} mpage;

typedef struct mregion {
  vmp_region *r; /* NULL: the slot is free */
  char *base;
  size_t pages;
  char *guard[2]; /* the fuzzer's read-only pages just below and above, or NULL */
  mpage p[MAX_PAGES];
} mregion;

typedef struct mobject {
  vmp_mem *m;      /* NULL: the slot is free */
  int handle_open; /* the caller (we) still holds the handle */
  int writable;
  uint64_t size; /* bytes */
  uint64_t inode;
  uint8_t bytes[MAX_OBJ_PAGES][SAMPLES];
} mobject;

static size_t page;
static size_t sample_at[SAMPLES];
static mregion regions[MAX_REGIONS];
static mobject objects[MAX_OBJECTS];
static uint8_t guard_fill = 0xa5;

/* ---- the model's questions ------------------------------------------------ */

static int prot_valid(int prot) {
  return prot == VMP_PROT_NONE || prot == VMP_PROT_READ || prot == VMP_PROT_RW ||
         prot == (VMP_PROT_READ | VMP_PROT_EXEC) || prot == (VMP_PROT_RW | VMP_PROT_EXEC);
}

static size_t span_first(const mregion *R, size_t p) {
  while (!R->p[p].span_start) p--;
  return p;
}

static size_t span_end(const mregion *R, size_t p) {
  p++;
  while (p < R->pages && !R->p[p].span_start) p++;
  return p;
}

static size_t span_count(const mregion *R) {
  size_t n = 0;
  for (size_t p = 0; p < R->pages; p++) n += R->p[p].span_start;
  return n;
}

static int object_has_views(int obj) {
  for (int i = 0; i < MAX_REGIONS; i++)
    for (size_t p = 0; regions[i].r && p < regions[i].pages; p++)
      if (regions[i].p[p].kind == K_VIEW && regions[i].p[p].obj == obj) return 1;
  return 0;
}

/* A closed handle whose last view went: the struct is freed, so the slot
 * is forgotten (using it would be undefined). */
static void forget_unreferenced(void) {
  for (int i = 0; i < MAX_OBJECTS; i++)
    if (objects[i].m && !objects[i].handle_open && !object_has_views(i))
      memset(&objects[i], 0, sizeof objects[i]);
}

static uint64_t object_pages(const mobject *o) { return (o->size + page - 1) / page; }

/* Steps 2 and 3 of the argument order for a byte range of a region. */
static int check_range(const mregion *R, size_t off, size_t size, size_t *first, size_t *count) {
  if (off % page || size % page) return VMP_EALIGN;
  size_t bytes = R->pages * page;
  if (off > bytes || size > bytes - off) return VMP_ERANGE;
  *first = off / page;
  *count = size / page;
  return 0;
}

/* Step 4: every page of the range is of an accepted kind. */
static int check_kinds(const mregion *R, size_t first, size_t count, unsigned accepted) {
  for (size_t p = first; p < first + count; p++)
    if (!(accepted & (1u << R->p[p].kind))) return VMP_ESTATE;
  return 0;
}

static int inside_one_span(const mregion *R, size_t first, size_t count) {
  return span_first(R, first) == span_first(R, first + count - 1);
}

static int whole_span(const mregion *R, size_t first, size_t count) {
  return R->p[first].span_start && span_end(R, first) == first + count;
}

/* ---- the checks after every operation ------------------------------------------- */

static uint8_t expected_byte(const mregion *R, size_t p, int s) {
  const mpage *pg = &R->p[p];
  if (pg->kind == K_PRIVATE) return pg->bytes[s];
  const mobject *o = &objects[pg->obj];
  if ((uint64_t)pg->obj_page * page + sample_at[s] >= o->size) return 0;
  return o->bytes[pg->obj_page][s];
}

/* vmp_foreach_span's view: every span in order, with its first page's
 * protection. */
typedef struct walk {
  const mregion *R;
  int ri;
  size_t next; /* the page the next span must start at */
} walk;

static int check_walked_span(const vmp_span_info *info, void *arg) {
  walk *w = arg;
  const mregion *R = w->R;
  size_t p = w->next;
  if (p >= R->pages) fuzz_fail("region %d: vmp_foreach_span goes past the end", w->ri);
  size_t end = span_end(R, p);
  if (info->offset != p * page || info->start != R->base + p * page ||
      info->size != (end - p) * page || info->kind != (vmp_kind)R->p[p].kind ||
      info->prot != R->p[p].prot)
    fuzz_fail(
        "region %d: vmp_foreach_span gives a %s span at page %zu of %zu pages, prot %d; "
        "model %s at %zu, %zu pages, prot %d",
        w->ri, vmp_kind_name(info->kind), info->offset / page, info->size / page, info->prot,
        vmp_kind_name((vmp_kind)R->p[p].kind), p, end - p, R->p[p].prot);
  w->next = end;
  return 0;
}

static void check_region(int ri) {
  const mregion *R = &regions[ri];
  size_t n = vmp_span_count(R->r);
  if (n != span_count(R))
    fuzz_fail("region %d: vmp_span_count %zu, model %zu", ri, n, span_count(R));
  walk wk = {R, ri, 0};
  int rc = vmp_foreach_span(R->r, check_walked_span, &wk);
  if (rc || wk.next != R->pages)
    fuzz_fail("region %d: vmp_foreach_span returned %d having walked %zu of %zu pages", ri, rc,
              wk.next, R->pages);
  kmaps_refresh();
  kvma vma = {0, 0, 0, 0, 0, 0, 0, 0};
  /* Each page's span, in one pass (this runs after every operation). */
  size_t firsts[MAX_PAGES], ends[MAX_PAGES];
  for (size_t p = 0; p < R->pages; p++) firsts[p] = R->p[p].span_start ? p : firsts[p - 1];
  for (size_t p = R->pages; p-- > 0;)
    ends[p] = p + 1 == R->pages || R->p[p + 1].span_start ? p + 1 : ends[p + 1];
  for (size_t p = 0; p < R->pages; p++) {
    const mpage *pg = &R->p[p];
    char *addr = R->base + p * page;
    size_t first = firsts[p], end = ends[p];
    vmp_span_info info;
    char *probe = addr + (p % 3 == 0 ? 0 : p % 3 == 1 ? page - 1 : page / 2);
    rc = vmp_query(R->r, probe, &info);
    if (rc) fuzz_fail("region %d page %zu: vmp_query %s", ri, p, vmp_err_name(rc));
    if (info.start != R->base + first * page || info.offset != first * page ||
        info.size != (end - first) * page || info.kind != (vmp_kind)pg->kind)
      fuzz_fail(
          "region %d page %zu: query says %s span at page %zu, %zu pages; model %s at %zu, %zu", ri,
          p, vmp_kind_name(info.kind), info.offset / page, info.size / page,
          vmp_kind_name((vmp_kind)pg->kind), first, end - first);
    if (info.prot != pg->prot)
      fuzz_fail("region %d page %zu: query prot %d, model %d", ri, p, info.prot, pg->prot);
    if (pg->kind == K_VIEW) {
      const mobject *o = &objects[pg->obj];
      uint64_t want = (uint64_t)R->p[first].obj_page * page;
      if (info.mem != o->m || info.mem_offset != want)
        fuzz_fail("region %d page %zu: query view of %p at %llu, model %p at %llu", ri, p,
                  (void *)info.mem, (unsigned long long)info.mem_offset, (void *)o->m,
                  (unsigned long long)want);
    } else if (info.mem != NULL) {
      fuzz_fail("region %d page %zu: a %s span names an object", ri, p, vmp_kind_name(info.kind));
    }

    if (pg->prot & VMP_PROT_READ)
      for (int s = 0; s < SAMPLES; s++) {
        uint8_t got = ((volatile uint8_t *)addr)[sample_at[s]], want = expected_byte(R, p, s);
        if (got != want)
          fuzz_fail("region %d page %zu byte %zu: 0x%02x, model 0x%02x", ri, p, sample_at[s], got,
                    want);
      }

    uintptr_t a = (uintptr_t)addr;
    if (!(vma.start <= a && a < vma.end) && !kmaps_at(a, &vma))
      fuzz_fail("region %d page %zu: a hole in the kernel's map", ri, p);
    int r = (pg->prot & VMP_PROT_READ) != 0, w = (pg->prot & VMP_PROT_WRITE) != 0,
        x = (pg->prot & VMP_PROT_EXEC) != 0;
    int shared = pg->kind == K_VIEW;
    if (vma.readable != r || vma.writable != w || vma.executable != x || vma.shared != shared)
      fuzz_fail("region %d page %zu: kernel maps %c%c%c%c, model %c%c%c%c (%s)", ri, p,
                vma.readable ? 'r' : '-', vma.writable ? 'w' : '-', vma.executable ? 'x' : '-',
                vma.shared ? 's' : 'p', r ? 'r' : '-', w ? 'w' : '-', x ? 'x' : '-',
                shared ? 's' : 'p', vmp_kind_name((vmp_kind)pg->kind));
    if (shared) {
      const mobject *o = &objects[pg->obj];
      uint64_t off = vma.offset + (a - vma.start);
      if (vma.inode != o->inode || off != (uint64_t)pg->obj_page * page)
        fuzz_fail("region %d page %zu: kernel maps inode %llu at %llu, model inode %llu page %u",
                  ri, p, (unsigned long long)vma.inode, (unsigned long long)off,
                  (unsigned long long)o->inode, pg->obj_page);
    } else if (vma.inode != 0) {
      fuzz_fail("region %d page %zu: kernel maps a file over a %s page", ri, p,
                vmp_kind_name((vmp_kind)pg->kind));
    }
  }
  for (int g = 0; g < 2; g++) {
    char *guard = R->guard[g];
    if (!guard) continue;
    if (!kmaps_at((uintptr_t)guard, &vma) || !vma.readable || vma.writable || vma.shared ||
        vma.inode != 0)
      fuzz_fail("region %d: the guard page %s it was changed", ri, g ? "above" : "below");
    for (int s = 0; s < SAMPLES; s++)
      if ((uint8_t)guard[sample_at[s]] != guard_fill)
        fuzz_fail("region %d: the guard page %s was written", ri, g ? "above" : "below");
  }
}

static void check_all(void) {
  for (int i = 0; i < MAX_REGIONS; i++)
    if (regions[i].r) check_region(i);
}

/* ---- drawing arguments ------------------------------------------------------------- */

static int draw_prot(fuzz_input *in, int views) {
  static const int prots[] = {VMP_PROT_NONE,
                              VMP_PROT_READ,
                              VMP_PROT_RW,
                              VMP_PROT_RW,
                              VMP_PROT_READ | VMP_PROT_EXEC,
                              VMP_PROT_RW | VMP_PROT_EXEC,
                              VMP_PROT_WRITE,
                              VMP_PROT_EXEC,
                              8,
                              -1};
  int prot = prots[fuzz_below(in, sizeof prots / sizeof *prots)];
  /* A view's exec depends on how the file system is mounted, which the
   * contract does not model: views never ask for it. */
  if (views && prot_valid(prot)) prot &= ~VMP_PROT_EXEC;
  return prot;
}

/* A byte range of region R: mostly ranges made of the model's spans (so
 * that valid calls are frequent), the rest misaligned, out of range, empty
 * or overflowing. */
static void draw_range(fuzz_input *in, const mregion *R, unsigned kinds, size_t *off,
                       size_t *size) {
  size_t pages = R ? R->pages : 8;
  size_t p = fuzz_below(in, (unsigned)pages);
  /* Mostly a span of a kind the operation takes: the first from p on. */
  if (R && fuzz_u8(in) < 224)
    for (size_t k = 0; k < pages; k++) {
      size_t q = (p + k) % pages;
      if (kinds & (1u << R->p[q].kind)) {
        p = q;
        break;
      }
    }
  size_t first = R ? span_first(R, p) : 0, end = R ? span_end(R, p) : pages;
  switch (fuzz_below(in, 12)) {
    case 3:
    case 4:
    case 5: /* one whole span */
      *off = first * page;
      *size = (end - first) * page;
      return;
    case 0:
    case 1:
    case 2: { /* inside one span */
      size_t a = first + fuzz_below(in, (unsigned)(end - first));
      size_t b = 1 + fuzz_below(in, (unsigned)(end - a));
      *off = a * page;
      *size = b * page;
      return;
    }
    case 6: { /* from one span's start to a later span's end */
      size_t last = end;
      for (unsigned k = 1 + fuzz_below(in, 4); k > 0 && last < pages; k--)
        last = R ? span_end(R, last) : last + 1;
      *off = first * page;
      *size = (last - first) * page;
      return;
    }
    case 7: /* any pages, perhaps past the end */
      *off = fuzz_below(in, (unsigned)pages + 2) * page;
      *size = fuzz_below(in, (unsigned)pages + 2) * page;
      return;
    case 8: /* misaligned */
      *off = first * page + (fuzz_u8(in) & 1 ? 1 + fuzz_below(in, (unsigned)page - 1) : 0);
      *size = (end - first) * page + (fuzz_u8(in) & 1 ? 0 : page / 2);
      return;
    case 9: /* near SIZE_MAX */
      *off = SIZE_MAX - fuzz_below(in, 4) * page + 1 - page;
      *size = (1 + fuzz_below(in, 3)) * page;
      return;
    case 10: /* wrapping around */
      *off = first * page;
      *size = SIZE_MAX - *off - page + 2 + fuzz_below(in, 2) * (page - 1);
      return;
    default:
      *off = first * page;
      *size = 0;
      return;
  }
}

/* ---- running one call against its prediction ------------------------------------------ */

static struct {
  int armed; /* 1 system call, 2 allocation */
  long n;
  inject_mode mode;
  int err;
} pending;

static const int injected_errnos[] = {ENOMEM, EIO, EAGAIN};

static void arm_pending(void) {
  if (pending.armed == 1) inject_arm(pending.n, pending.mode, pending.err);
  if (pending.armed == 2) vmp__testing_alloc_fail_after(pending.n - 1);
}

/* Whether the armed failure was made; disarms. */
static int disarm_pending(int *err) {
  int fired = 0;
  *err = 0;
  if (pending.armed == 1) {
    fired = inject_disarm();
    *err = pending.err == ENOMEM ? VMP_ENOMEM : -pending.err;
  }
  if (pending.armed == 2) {
    fired = vmp__testing_alloc_disarm();
    *err = VMP_ENOMEM;
  }
  pending.armed = 0;
  return fired;
}

/* Judges rc against the prediction; returns 1 when the model must apply
 * the operation (it succeeded), 0 when nothing may have changed. A failed
 * allocation is VMP_ENOMEM, step 7 of the order: it may stand in only for
 * a success or another step-7 error. A failed system call may also stand
 * in for an answer the system gives (the object's size behind EBOUNDS and
 * EACCES, which step 6 needs; a file's type; the current size of grow). */
/* How often each call succeeded, failed as predicted, or met an injected
 * failure: printed at exit when VMP_FUZZ_STATS is set, to see that the
 * input decoding reaches every case. */
#define MAX_CALLS 24
static struct {
  const char *what;
  unsigned long ok, refused, injected;
} call_stats[MAX_CALLS];

static void count_call(const char *what, int rc, int fired) {
  for (int i = 0; i < MAX_CALLS; i++) {
    if (call_stats[i].what && strcmp(call_stats[i].what, what) != 0) continue;
    call_stats[i].what = what;
    if (fired)
      call_stats[i].injected++;
    else if (rc == 0)
      call_stats[i].ok++;
    else
      call_stats[i].refused++;
    return;
  }
}

static void print_call_stats(void) {
  for (int i = 0; i < MAX_CALLS && call_stats[i].what; i++)
    fprintf(stderr, "vmp-fuzz: %-22s %10lu ok %10lu refused %8lu with a failure injected\n",
            call_stats[i].what, call_stats[i].ok, call_stats[i].refused, call_stats[i].injected);
}

static int judge_with(const char *what, int rc, int predicted, int system_decided) {
  int injected_err;
  int was_allocation = pending.armed == 2;
  int fired = disarm_pending(&injected_err);
  fuzz_operations++;
  count_call(what, rc, fired);
  int step7 = predicted == 0 || predicted == VMP_ENOMEM || vmp_err_is_os(predicted);
  int by_system = system_decided || predicted == VMP_EBOUNDS || predicted == VMP_EACCES;
  if (rc == predicted) return rc == 0;
  if (fired && rc != 0 && (rc == VMP_ENOMEM || rc == injected_err) &&
      (step7 || (!was_allocation && by_system)))
    return 0;
  fuzz_fail("%s returned %s (%d), the model predicts %s%s%s", what, vmp_err_name(rc), rc,
            vmp_err_name(predicted),
            fired ? (was_allocation ? " (with an injected allocation failure: "
                                    : " (with an injected system-call failure: ")
                  : "",
            fired ? vmp_err_name(injected_err) : "");
}

static int judge(const char *what, int rc, int predicted) {
  return judge_with(what, rc, predicted, 0);
}

/* ---- the operations ------------------------------------------------------------------ */

/* A live region most of the time (the byte 0 picks the first), now and
 * then none, for the NULL checks. */
/* A live object slot (closed handles kept alive by views included), or -1
 * now and then and when there is none. */
static int pick_object(fuzz_input *in) {
  unsigned pick = fuzz_u8(in);
  int live[MAX_OBJECTS], n = 0;
  for (int i = 0; i < MAX_OBJECTS; i++)
    if (objects[i].m) live[n++] = i;
  if (n == 0 || pick >= 240) return -1;
  return live[pick % (unsigned)n];
}

static mregion *pick_region(fuzz_input *in, int *index) {
  unsigned pick = fuzz_u8(in);
  int live[MAX_REGIONS], n = 0;
  for (int i = 0; i < MAX_REGIONS; i++)
    if (regions[i].r) live[n++] = i;
  *index = -1;
  if (n == 0 || pick >= 240) return NULL;
  *index = live[pick % (unsigned)n];
  return &regions[*index];
}

static void place_guards(mregion *R) {
  char *at[2] = {R->base - page, R->base + R->pages * page};
  for (int g = 0; g < 2; g++) {
    void *p = mmap(at[g], page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) continue;
    if (p != at[g]) { /* a kernel that takes the flag as a hint */
      munmap(p, page);
      continue;
    }
    memset(p, guard_fill, page);
    mprotect(p, page, PROT_READ);
    R->guard[g] = p;
  }
}

static void drop_guards(mregion *R) {
  for (int g = 0; g < 2; g++)
    if (R->guard[g]) munmap(R->guard[g], page);
}

static void op_reserve(fuzz_input *in) {
  int i = 0;
  while (i < MAX_REGIONS && regions[i].r) i++;
  if (i == MAX_REGIONS) return; /* every slot is taken */
  mregion *R;
  size_t size, alignment;
  unsigned pages = 1 + fuzz_below(in, MAX_PAGES);
  switch (fuzz_below(in, 8)) {
    case 5:
      size = 0;
      break;
    case 6:
      size = pages * page + 1 + fuzz_below(in, (unsigned)page - 1);
      break;
    case 7:
      size = SIZE_MAX - page + 1 - fuzz_below(in, 3) * page;
      break;
    default:
      size = pages * page;
      break;
  }
  unsigned a = fuzz_below(in, 16);
  if (a < 10)
    alignment = a == 0 ? 0 : page << (a - 1);
  else if (a == 10)
    alignment = 1;
  else if (a == 11)
    alignment = page / 2;
  else if (a == 12)
    alignment = page * 3;
  else if (a == 13)
    alignment = (SIZE_MAX >> 1) + 1;
  else
    alignment = (size_t)1 << 21;
  int null_out = fuzz_u8(in) == 0xff;

  int predicted;
  size_t unit = alignment > page ? alignment : page;
  if (null_out || size == 0)
    predicted = VMP_EINVAL;
  else if (alignment != 0 && ((alignment & (alignment - 1)) || alignment < page))
    predicted = VMP_EINVAL;
  else if (size % page)
    predicted = VMP_EALIGN;
  else if (alignment != 0 && size > SIZE_MAX - alignment)
    predicted = VMP_ERANGE;
  else if (size > ((size_t)1 << 48) || unit > ((size_t)1 << 48))
    predicted = VMP_ENOMEM;
  else
    predicted = 0;

  vmp_region *r = NULL;
  arm_pending();
  int rc = vmp_reserve(size, alignment, null_out ? NULL : &r);
  if (!judge("vmp_reserve", rc, predicted)) {
    if (r) fuzz_fail("vmp_reserve failed and still wrote a region");
    return;
  }
  char *base = vmp_base(r);
  if (vmp_size(r) != size) fuzz_fail("vmp_size %zu, asked %zu", vmp_size(r), size);
  if (alignment && (uintptr_t)base % alignment)
    fuzz_fail("vmp_reserve: base %p is not a multiple of %zu", (void *)base, alignment);
  R = &regions[i];
  memset(R, 0, sizeof *R);
  R->r = r;
  R->base = base;
  R->pages = size / page;
  R->p[0].span_start = 1;
  place_guards(R);
}

static void op_release(fuzz_input *in) {
  /* Only now and then: a region needs many operations to become
   * interesting. */
  if (fuzz_u8(in) % 4 != 3) return;
  int i;
  mregion *R = pick_region(in, &i);
  arm_pending();
  int rc = vmp_release(R ? R->r : NULL);
  if (!judge("vmp_release", rc, 0) || !R) return;
  drop_guards(R);
  memset(R, 0, sizeof *R);
  forget_unreferenced();
}

/* [first, first+count) becomes a span of its own in the model. */
static void cut_span(mregion *R, size_t first, size_t count) {
  R->p[first].span_start = 1;
  if (first + count < R->pages) R->p[first + count].span_start = 1;
}

static void op_split(fuzz_input *in) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PLACEHOLDER, &off, &size);
  int predicted;
  if (!R || size == 0)
    predicted = VMP_EINVAL;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PLACEHOLDER)) != 0) {
  } else if (!inside_one_span(R, first, count) || whole_span(R, first, count))
    predicted = VMP_EEXTENT;
  arm_pending();
  int rc = vmp_split(R ? R->r : NULL, off, size);
  if (!judge("vmp_split", rc, predicted)) return;
  cut_span(R, first, count);
}

static void op_coalesce(fuzz_input *in) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PLACEHOLDER, &off, &size);
  int predicted;
  if (!R || size == 0)
    predicted = VMP_EINVAL;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PLACEHOLDER)) != 0) {
  } else if (!R->p[first].span_start || span_end(R, first + count - 1) != first + count ||
             inside_one_span(R, first, count))
    predicted = VMP_EEXTENT;
  arm_pending();
  int rc = vmp_coalesce(R ? R->r : NULL, off, size);
  if (!judge("vmp_coalesce", rc, predicted)) return;
  for (size_t p = first + 1; p < first + count; p++) R->p[p].span_start = 0;
}

/* commit, or carve_commit when carving: then inside one placeholder. */
static void commit_op(fuzz_input *in, int carving) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PLACEHOLDER, &off, &size);
  int prot = draw_prot(in, 0);
  int predicted;
  if (!R || size == 0 || !prot_valid(prot))
    predicted = VMP_EINVAL;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PLACEHOLDER)) != 0) {
  } else if (carving ? !inside_one_span(R, first, count) : !whole_span(R, first, count))
    predicted = VMP_EEXTENT;
  arm_pending();
  int rc = (carving ? vmp_carve_commit : vmp_commit)(R ? R->r : NULL, off, size, prot);
  if (!judge(carving ? "vmp_carve_commit" : "vmp_commit", rc, predicted)) return;
  cut_span(R, first, count);
  for (size_t p = first; p < first + count; p++) {
    R->p[p].kind = K_PRIVATE;
    R->p[p].prot = (uint8_t)prot;
    memset(R->p[p].bytes, 0, SAMPLES);
  }
}

static void op_commit(fuzz_input *in) { commit_op(in, 0); }
static void op_carve_commit(fuzz_input *in) { commit_op(in, 1); }

/* map, or carve_map when carving: then inside one placeholder. */
static void map_op(fuzz_input *in, int carving) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PLACEHOLDER, &off, &size);
  int oi = pick_object(in);
  mobject *o = oi >= 0 ? &objects[oi] : NULL;
  uint64_t mem_off;
  uint64_t opages = o ? object_pages(o) : 4;
  switch (fuzz_below(in, 8)) {
    case 5:
      mem_off = 1 + fuzz_below(in, (unsigned)page - 1);
      break;
    case 6:
      mem_off = UINT64_MAX - page + 1 - fuzz_below(in, 3) * page;
      break;
    case 7:
      mem_off = (opages + fuzz_below(in, 2)) * page;
      break;
    default:
      mem_off = fuzz_below(in, (unsigned)opages + 1) * page;
      break;
  }
  int prot = draw_prot(in, 1);
  int predicted;
  if (!R || size == 0 || !o || !o->handle_open || !prot_valid(prot))
    predicted = VMP_EINVAL;
  else if (mem_off % page)
    predicted = VMP_EALIGN;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PLACEHOLDER)) != 0) {
  } else if (carving ? !inside_one_span(R, first, count) : !whole_span(R, first, count))
    predicted = VMP_EEXTENT;
  else if (mem_off > UINT64_MAX - size || mem_off + size > object_pages(o) * page)
    predicted = VMP_EBOUNDS;
  else if ((prot & VMP_PROT_WRITE) && !o->writable)
    predicted = VMP_EACCES;
  vmp_mem *m = o ? o->m : NULL;
  arm_pending();
  int rc = (carving ? vmp_carve_map : vmp_map)(R ? R->r : NULL, off, size, m, mem_off, prot);
  if (!judge(carving ? "vmp_carve_map" : "vmp_map", rc, predicted)) return;
  cut_span(R, first, count);
  for (size_t p = first; p < first + count; p++) {
    R->p[p].kind = K_VIEW;
    R->p[p].prot = (uint8_t)prot;
    R->p[p].obj = (int8_t)oi;
    R->p[p].obj_page = (uint32_t)(mem_off / page + (p - first));
  }
}

static void op_map(fuzz_input *in) { map_op(in, 0); }
static void op_carve_map(fuzz_input *in) { map_op(in, 1); }

/* unmap, or unmap_coalesce when joining: then the placeholder merges
 * with a placeholder span right before or after it. */
static void unmap_op(fuzz_input *in, int joining) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PRIVATE | 1u << K_VIEW, &off, &size);
  int predicted;
  if (!R || size == 0)
    predicted = VMP_EINVAL;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PRIVATE | 1u << K_VIEW)) != 0) {
  } else if (!inside_one_span(R, first, count) ||
             (R->p[first].kind == K_VIEW && !whole_span(R, first, count)))
    predicted = VMP_EEXTENT;
  arm_pending();
  int rc = (joining ? vmp_unmap_coalesce : vmp_unmap)(R ? R->r : NULL, off, size);
  if (!judge(joining ? "vmp_unmap_coalesce" : "vmp_unmap", rc, predicted)) return;
  for (size_t p = first; p < first + count; p++) {
    R->p[p].kind = K_PLACEHOLDER;
    R->p[p].prot = VMP_PROT_NONE;
    R->p[p].obj = 0;
    R->p[p].obj_page = 0;
  }
  cut_span(R, first, count);
  if (joining && first > 0 && R->p[first - 1].kind == K_PLACEHOLDER) R->p[first].span_start = 0;
  if (joining && first + count < R->pages && R->p[first + count].kind == K_PLACEHOLDER)
    R->p[first + count].span_start = 0;
  forget_unreferenced();
}

static void op_unmap(fuzz_input *in) { unmap_op(in, 0); }
static void op_unmap_coalesce(fuzz_input *in) { unmap_op(in, 1); }

static void op_protect(fuzz_input *in) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PRIVATE | 1u << K_VIEW, &off, &size);
  int views = R && R->p[span_first(R, (off / page) % R->pages)].kind == K_VIEW;
  int prot = draw_prot(in, views);
  int predicted;
  if (!R || size == 0 || !prot_valid(prot))
    predicted = VMP_EINVAL;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PRIVATE | 1u << K_VIEW)) != 0) {
  } else if (!inside_one_span(R, first, count))
    predicted = VMP_EEXTENT;
  else if (R->p[first].kind == K_VIEW && (prot & VMP_PROT_WRITE) &&
           !objects[R->p[first].obj].writable)
    predicted = VMP_EACCES;
  else if (R->p[first].kind == K_VIEW && (prot & VMP_PROT_EXEC))
    return; /* not asked for views (draw_prot), unless the range was drawn elsewhere */
  arm_pending();
  int rc = vmp_protect(R ? R->r : NULL, off, size, prot);
  if (!judge("vmp_protect", rc, predicted)) return;
  for (size_t p = first; p < first + count; p++) R->p[p].prot = (uint8_t)prot;
}

static void op_discard(fuzz_input *in) {
  int i;
  mregion *R = pick_region(in, &i);
  size_t off, size, first = 0, count = 0;
  draw_range(in, R, 1u << K_PRIVATE, &off, &size);
  int predicted;
  if (!R || size == 0)
    predicted = VMP_EINVAL;
  else if ((predicted = check_range(R, off, size, &first, &count)) != 0) {
  } else if ((predicted = check_kinds(R, first, count, 1u << K_PRIVATE)) != 0) {
  } else if (!inside_one_span(R, first, count))
    predicted = VMP_EEXTENT;
  arm_pending();
  int rc = vmp_discard(R ? R->r : NULL, off, size);
  if (!judge("vmp_discard", rc, predicted)) return;
  for (size_t p = first; p < first + count; p++) memset(R->p[p].bytes, 0, SAMPLES);
}

static void op_query(fuzz_input *in) {
  int i;
  mregion *R = pick_region(in, &i);
  if (!R) return;
  size_t bytes = R->pages * page;
  uintptr_t base = (uintptr_t)R->base, addr;
  switch (fuzz_below(in, 5)) {
    case 0:
      addr = base - 1 - fuzz_below(in, 2) * page;
      break;
    case 1:
      addr = base + bytes + fuzz_below(in, 2) * page;
      break;
    case 2:
      addr = UINTPTR_MAX - fuzz_below(in, 3);
      break;
    default:
      addr = base + (fuzz_u32(in) % bytes);
      break;
  }
  int null_info = fuzz_u8(in) == 0xff;
  int predicted = null_info ? VMP_EINVAL : (addr < base || addr - base >= bytes) ? VMP_ERANGE : 0;
  vmp_span_info info;
  arm_pending();
  int rc = vmp_query(R->r, (const void *)addr, null_info ? NULL : &info);
  if (judge("vmp_query", rc, predicted)) {
    size_t p = (addr - base) / page, first = span_first(R, p);
    if (info.offset != first * page || info.kind != (vmp_kind)R->p[p].kind ||
        info.prot != R->p[p].prot)
      fuzz_fail("vmp_query at byte %zu: span at %zu kind %d prot %d; model %zu kind %d prot %d",
                (size_t)(addr - base), info.offset, info.kind, info.prot, first * page,
                R->p[p].kind, R->p[p].prot);
  }
}

static void op_poke(fuzz_input *in) {
  int i;
  mregion *R = pick_region(in, &i);
  if (!R) return;
  size_t p = fuzz_below(in, (unsigned)R->pages);
  int s = (int)fuzz_below(in, SAMPLES);
  uint8_t v = fuzz_u8(in);
  mpage *pg = &R->p[p];
  if (!(pg->prot & VMP_PROT_WRITE)) return;
  if (pg->kind == K_VIEW) {
    mobject *o = &objects[pg->obj];
    /* Bytes past the end of a file are not the file's: not modelled. */
    if ((uint64_t)pg->obj_page * page + sample_at[s] >= o->size) return;
    o->bytes[pg->obj_page][s] = v;
  } else {
    pg->bytes[s] = v;
  }
  ((volatile uint8_t *)R->base)[p * page + sample_at[s]] = v;
  fuzz_operations++;
}

static int pick_free_object(fuzz_input *in) {
  (void)in;
  for (int i = 0; i < MAX_OBJECTS; i++)
    if (!objects[i].m) return i;
  return -1;
}

static void adopt_object(int i, vmp_mem *m, uint64_t size, int writable) {
  mobject *o = &objects[i];
  memset(o, 0, sizeof *o);
  struct stat st;
  if (fstat((int)vmp_mem_fd(m), &st) != 0) fuzz_fail("fstat of a new object's descriptor");
  o->m = m;
  o->handle_open = 1;
  o->writable = writable;
  o->size = size;
  o->inode = (uint64_t)st.st_ino;
}

static uint64_t draw_object_size(fuzz_input *in, int *valid) {
  unsigned pages = 1 + fuzz_below(in, 24);
  *valid = 1;
  switch (fuzz_below(in, 8)) {
    case 6:
      *valid = 0;
      return 0;
    case 7:
      *valid = 0;
      return (uint64_t)pages * page + 1 + fuzz_below(in, 100);
    default:
      return (uint64_t)pages * page;
  }
}

static void op_mem_create(fuzz_input *in) {
  int i = pick_free_object(in);
  if (i < 0) return;
  int valid;
  uint64_t size = draw_object_size(in, &valid);
  unsigned flags = fuzz_u8(in) == 0xff ? VMP_MEM_READ : 0;
  int predicted = size == 0 || flags ? VMP_EINVAL : !valid ? VMP_EALIGN : 0;
  vmp_mem *m = NULL;
  arm_pending();
  int rc = vmp_mem_create(size, flags, &m);
  if (!judge("vmp_mem_create", rc, predicted)) return;
  adopt_object(i, m, size, 1);
}

static const char *temp_dir(void) {
  const char *dir = getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

/* A file of `size` bytes made without the library, opened through it. */
static void op_file_open(fuzz_input *in) {
  int i = pick_free_object(in);
  if (i < 0) return;
  int valid;
  uint64_t size = draw_object_size(in, &valid);
  static const unsigned flag_choices[] = {VMP_MEM_READ,  VMP_MEM_RW, VMP_MEM_RW, 0,
                                          VMP_MEM_WRITE, 8};
  unsigned flags = flag_choices[fuzz_below(in, 6)];
  unsigned path_kind = fuzz_below(in, 16); /* 13: none, 14: a directory, 15: missing */
  char path[4096];
  snprintf(path, sizeof path, "%s/vmp-fuzz-XXXXXX", temp_dir());
  int fd = mkstemp(path);
  if (fd < 0) fuzz_fail("mkstemp in %s: %s", temp_dir(), strerror(errno));
  if (ftruncate(fd, (off_t)size) != 0) fuzz_fail("ftruncate: %s", strerror(errno));
  close(fd);
  const char *open_path = path_kind == 13 ? NULL : path_kind == 14 ? temp_dir() : path;
  if (path_kind == 15) unlink(path);
  int flags_ok = flags == VMP_MEM_READ || flags == VMP_MEM_RW;
  int predicted = !open_path || !flags_ok || path_kind == 14 ? VMP_EINVAL
                  : path_kind == 15                          ? -ENOENT
                                                             : 0;
  vmp_mem *m = NULL;
  arm_pending();
  int rc = vmp_mem_open(open_path, flags, &m);
  unlink(path);
  /* Telling a directory from a file takes a system call, which may fail. */
  if (!judge_with("vmp_mem_open", rc, predicted, path_kind == 14 && open_path && flags_ok)) return;
  adopt_object(i, m, size, flags == VMP_MEM_RW);
}

/* A descriptor of the fuzzer's own, handed over: a file opened read-write
 * or read-only, or a pipe, or a number that is not a descriptor. */
static void op_mem_adopt(fuzz_input *in) {
  int i = pick_free_object(in);
  if (i < 0) return;
  static const unsigned flag_choices[] = {0, 0, VMP_MEM_READ, VMP_MEM_RW, VMP_MEM_WRITE, 8};
  unsigned flags = flag_choices[fuzz_below(in, 6)];
  unsigned kind = fuzz_below(in, 8); /* 0-3 read-write file, 4-5 read-only, 6 pipe, 7 none */
  uint64_t size = (1 + fuzz_below(in, 16)) * page;
  int fd = -1, other = -1;
  if (kind < 6) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vmp-fuzz-XXXXXX", temp_dir());
    int made = mkstemp(path);
    if (made < 0 || ftruncate(made, (off_t)size) != 0) fuzz_fail("making a file to adopt");
    fd = kind < 4 ? made : open(path, O_RDONLY | O_CLOEXEC);
    if (fd != made) close(made);
    unlink(path);
  } else if (kind == 6) {
    int p[2];
    if (pipe(p) != 0) fuzz_fail("pipe");
    fd = p[0];
    other = p[1];
  }
  int flags_ok = flags == 0 || flags == VMP_MEM_READ || flags == VMP_MEM_RW;
  int predicted = fd < 0 || !flags_ok || kind == 6       ? VMP_EINVAL
                  : kind >= 4 && (flags & VMP_MEM_WRITE) ? VMP_EACCES
                                                         : 0;
  vmp_mem *m = NULL;
  arm_pending();
  int rc = vmp_mem_adopt(fd, flags, &m);
  /* The descriptor's type and mode are the system's to tell. */
  int ok = judge_with("vmp_mem_adopt", rc, predicted, fd >= 0 && flags_ok);
  if (other >= 0) close(other);
  if (!ok) {
    if (fd >= 0 && fcntl(fd, F_GETFD) < 0)
      fuzz_fail("a failed vmp_mem_adopt closed the descriptor");
    if (fd >= 0) close(fd);
    return;
  }
  int writable = flags ? (flags & VMP_MEM_WRITE) != 0 : kind < 4;
  adopt_object(i, m, size, writable);
}

static void op_mem_close(fuzz_input *in) {
  if (fuzz_u8(in) % 2 != 1) return;
  int i = pick_object(in);
  mobject *o = i >= 0 ? &objects[i] : NULL;
  if (!o) {
    int rc = vmp_mem_close(NULL);
    judge("vmp_mem_close(NULL)", rc, 0);
    return;
  }
  int predicted = o->handle_open ? 0 : VMP_EINVAL;
  arm_pending();
  int rc = vmp_mem_close(o->m);
  int injected_err;
  int fired = disarm_pending(&injected_err);
  fuzz_operations++;
  /* The handle is gone whatever close says (the header). */
  if (rc != predicted && !(fired && predicted == 0 && rc == injected_err))
    fuzz_fail("vmp_mem_close returned %s, the model predicts %s", vmp_err_name(rc),
              vmp_err_name(predicted));
  if (object_has_views(i) && vmp_mem_fd(o->m) != -1)
    fuzz_fail("vmp_mem_fd of a closed handle is not -1");
  o->handle_open = 0;
  forget_unreferenced();
}

static void op_mem_grow(fuzz_input *in) {
  int i = pick_object(in);
  mobject *o = i >= 0 ? &objects[i] : NULL;
  uint64_t new_size, cur = o ? o->size : 0;
  switch (fuzz_below(in, 6)) {
    case 0:
      new_size = cur ? cur - 1 - fuzz_below(in, (unsigned)(cur < 200 ? cur : 200)) : 0;
      break;
    case 1:
      new_size = cur;
      break;
    case 2:
      new_size = cur + 1 + fuzz_below(in, 200);
      break;
    default:
      new_size = cur + (1 + fuzz_below(in, 8)) * page;
      break;
  }
  if (new_size > (uint64_t)MAX_OBJ_PAGES * page) new_size = (uint64_t)MAX_OBJ_PAGES * page;
  int predicted;
  if (!o || !o->handle_open || new_size < cur)
    predicted = VMP_EINVAL;
  else if (!o->writable)
    predicted = VMP_EACCES;
  else
    predicted = 0;
  arm_pending();
  int rc = vmp_mem_grow(o ? o->m : NULL, new_size);
  /* The current size, which decides EINVAL for a shrink, is the system's. */
  if (!judge_with("vmp_mem_grow", rc, predicted, o && o->handle_open)) return;
  /* The tail of the old last page reads as zero after growing. */
  o->size = new_size;
}

static void op_mem_size(fuzz_input *in) {
  int i = pick_object(in);
  mobject *o = i >= 0 ? &objects[i] : NULL;
  uint64_t size = 0;
  int predicted = !o || !o->handle_open ? VMP_EINVAL : 0;
  arm_pending();
  int rc = vmp_mem_size(o ? o->m : NULL, &size);
  if (judge("vmp_mem_size", rc, predicted) && size != o->size)
    fuzz_fail("vmp_mem_size %llu, model %llu", (unsigned long long)size,
              (unsigned long long)o->size);
}

/* Every operation comes with a byte that may arm a failure for it: the
 * top 48 values do (one operation in five or so), the rest, 0 included,
 * do not. The low bits choose which call fails: most operations make one
 * to three. */
static void maybe_arm(fuzz_input *in) {
  unsigned f = fuzz_u8(in);
  if (f < 208) return;
  f -= 208;
  pending.n = 1 + (f & 3);
  unsigned what = f >> 2; /* 0 to 11 */
  if (what >= 10) {
    pending.armed = 2;
    return;
  }
  pending.armed = 1;
  pending.mode = what < 4 ? INJECT_PLAIN : what < 7 ? INJECT_DESTRUCTIVE : INJECT_HALF_WAY;
  pending.err = pending.mode == INJECT_PLAIN ? injected_errnos[what % 3] : ENOMEM;
}

typedef void (*operation)(fuzz_input *in);
static const operation operations[] = {
    op_reserve,      op_release,   op_split,     op_split,    op_coalesce,       op_commit,
    op_carve_commit, op_map,       op_carve_map, op_unmap,    op_unmap_coalesce, op_protect,
    op_protect,      op_discard,   op_query,     op_poke,     op_poke,           op_mem_create,
    op_file_open,    op_mem_close, op_mem_grow,  op_mem_size, op_reserve,        op_mem_adopt,
};

/* ---- one input ----------------------------------------------------------------------- */

static void finish(void) {
  pending.armed = 0;
  inject_disarm();
  vmp__testing_alloc_disarm();
  for (int i = 0; i < MAX_REGIONS; i++) {
    if (!regions[i].r) continue;
    int rc = vmp_release(regions[i].r);
    if (rc) fuzz_fail("releasing region %d at the end: %s", i, vmp_err_name(rc));
    drop_guards(&regions[i]);
    memset(&regions[i], 0, sizeof regions[i]);
  }
  for (int i = 0; i < MAX_OBJECTS; i++) {
    if (objects[i].m && objects[i].handle_open) {
      int rc = vmp_mem_close(objects[i].m);
      if (rc) fuzz_fail("closing object %d at the end: %s", i, vmp_err_name(rc));
    }
    memset(&objects[i], 0, sizeof objects[i]);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  page = vmp_page_size();
  size_t at[SAMPLES] = {0, 1, 63, page / 2, page - 2, page - 1};
  memcpy(sample_at, at, sizeof at);
  inject_setup();
  kmaps_refresh();
  fuzz_report_operations_at_exit("api");
  if (getenv("VMP_FUZZ_STATS")) atexit(print_call_stats);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size, 0};
  int fds = fuzz_open_fds();
  for (int n = 0; n < MAX_OPS && fuzz_more(&in); n++) {
    operation op = operations[fuzz_below(&in, sizeof operations / sizeof *operations)];
    maybe_arm(&in);
    op(&in);
    pending.armed = 0; /* an operation that returned early never armed it */
    check_all();
  }
  finish();
  int after = fuzz_open_fds();
  if (after != fds) fuzz_fail("%d descriptors before the input, %d after", fds, after);
  return 0;
}
