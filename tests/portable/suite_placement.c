/*
 * Placement on every backend: a region at an exact address, inside an
 * address window, and grown in place. The rule under test is that nothing
 * already there is ever replaced: each refusal is checked against a
 * canary (a committed region filled with a pattern) whose bytes, spans and
 * kernel mappings must be exactly as before, and against the process's
 * reservations (no byte reserved afresh by a failed call).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <sys/mman.h>
#include <sys/types.h>
#endif

#include "support_check.h"
#include "support_inject.h"
#include "support_kernel.h"
#include "support_util.h"
#include "testing.h"
#include "vmplace.h"

#define P (util_page())
#define G (util_grain())

static char *at(vmp_region *r, size_t off) { return (char *)vmp_base(r) + off; }

/* An address range that was free a moment ago: reserved, then given back.
 * The tests' own allocations (snapshots, copies of bytes) must not land in
 * it before the call under test: the system places new mappings at an end
 * of the free space they find, so the range handed out is the middle of a
 * much larger one. */
#define MARGIN ((size_t)64 << 20)

static char *free_range(size_t size) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(size + 2 * MARGIN, G, &r), 0)) return NULL;
  char *base = vmp_base(r);
  CHECK_RC(vmp_release(r), 0);
  return base + MARGIN;
}

/* The occupant a refused placement must leave alone. */
typedef struct canary {
  vmp_region *r;
  region_state state;
  int have_state;
} canary;

static int canary_at(canary *c, char *addr, size_t size, unsigned seed) {
  memset(c, 0, sizeof *c);
  if (!CHECK_RC(vmp_reserve_at(addr, size, &c->r), 0)) return 0;
  CHECK_RC(vmp_commit(c->r, 0, size, VMP_PROT_RW), 0);
  util_fill(vmp_base(c->r), size, seed);
  c->have_state = state_take(c->r, &c->state) == 0;
  return 1;
}

static void canary_check_and_free(canary *c, unsigned seed, const char *context) {
  size_t bad = util_find_mismatch(vmp_base(c->r), vmp_size(c->r), seed);
  CHECK(bad == (size_t)-1, "%s: the occupant's byte %zu changed", context, bad);
  region_state now;
  if (c->have_state && CHECK(state_take(c->r, &now) == 0, "cannot read the occupant")) {
    state_same(&c->state, &now, __FILE__, __LINE__, context);
    state_free(&now);
  }
  if (c->have_state) state_free(&c->state);
  CHECK_RC(vmp_release(c->r), 0);
}

/* Bytes reserved by anyone between two snapshots of the reservations. */
typedef struct reservations {
  kv_reservations before;
  int have;
} reservations;

static void reservations_start(reservations *res) {
  res->have = kv_reservations_take(&res->before) == 0;
}

static void reservations_none_new(reservations *res, const char *context) {
  if (!res->have) return;
  kv_reservations after;
  if (kv_reservations_take(&after) == 0) {
    uint64_t fresh = kv_reservations_new_bytes(&res->before, &after);
    CHECK(fresh == 0, "%s: %llu bytes reserved afresh", context, (unsigned long long)fresh);
    kv_reservations_free(&after);
  }
  kv_reservations_free(&res->before);
  res->have = 0;
}

/* ---- exact address ---------------------------------------------------------- */

CHECK_TEST(reserve_at_a_free_address) {
  char *addr = free_range(4 * G);
  if (!addr) return;
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve_at(addr, 4 * G, &r), 0)) return;
  CHECK((char *)vmp_base(r) == addr, "base %p, asked for %p", vmp_base(r), (void *)addr);
  CHECK(vmp_size(r) == 4 * G, "size %zu", vmp_size(r));
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, 4 * G);
  CHECK_KERNEL_AGREES(r);
  /* An ordinary region from here on. */
  CHECK_RC(vmp_split(r, G, G), 0);
  CHECK_RC(vmp_commit(r, G, G, VMP_PROT_RW), 0);
  util_fill(at(r, G), G, 5);
  CHECK(util_find_mismatch(at(r, G), G, 5) == (size_t)-1, "the committed pages lost bytes");
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
  /* Given back: the same address can be had again. */
  if (CHECK_RC(vmp_reserve_at(addr, 4 * G, &r), 0)) CHECK_RC(vmp_release(r), 0);
}

/* The occupant covers all, the start, the end or the middle of the range
 * asked for: each is refused, the occupant keeps every byte, and the free
 * part of the range stays free (nothing half-reserved is left). */
CHECK_TEST(reserve_at_never_replaces) {
  char *addr = free_range(8 * G);
  if (!addr) return;
  const struct {
    size_t occupant_off, occupant_size, asked_off, asked_size;
    const char *what;
  } cases[] = {
      {2 * G, 2 * G, 2 * G, 2 * G, "the same range"},
      {2 * G, 2 * G, 0, 3 * G, "the range's end"},
      {2 * G, 2 * G, 3 * G, 3 * G, "the range's start"},
      {3 * G, G, 2 * G, 4 * G, "the range's middle"},
      {2 * G, 2 * G, 2 * G, P, "one page"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    canary c;
    if (!canary_at(&c, addr + cases[i].occupant_off, cases[i].occupant_size, 40 + (unsigned)i))
      continue;
    reservations res;
    reservations_start(&res);
    vmp_region *r = NULL;
    int rc = vmp_reserve_at(addr + cases[i].asked_off, cases[i].asked_size, &r);
    CHECK(rc == VMP_EADDRINUSE, "%s: %s, expected EADDRINUSE", cases[i].what, vmp_err_name(rc));
    CHECK(r == NULL, "%s: *out was written", cases[i].what);
    if (rc == 0) vmp_release(r);
    reservations_none_new(&res, cases[i].what);
    canary_check_and_free(&c, 40 + (unsigned)i, cases[i].what);
    /* The whole range is free again, so nothing of the refused call stayed. */
    if (CHECK_RC(vmp_reserve_at(addr, 8 * G, &r), 0)) CHECK_RC(vmp_release(r), 0);
  }
}

CHECK_TEST(reserve_at_argument_order) {
  vmp_region *r = NULL;
  char *addr = free_range(2 * G);
  if (!addr) return;
  CHECK_RC(vmp_reserve_at(addr, G, NULL), VMP_EINVAL);
  CHECK_RC(vmp_reserve_at(NULL, G, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_at(addr, 0, &r), VMP_EINVAL);
  /* EINVAL comes before EALIGN. */
  CHECK_RC(vmp_reserve_at(addr + 1, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_at(addr + P / 2, G, &r), VMP_EALIGN);
  if (vmp_granularity() > P) CHECK_RC(vmp_reserve_at(addr + P, G, &r), VMP_EALIGN);
  CHECK_RC(vmp_reserve_at(addr, G + 1, &r), VMP_EALIGN);
  /* EALIGN comes before ERANGE. */
  char *top = (char *)(UINTPTR_MAX - (uintptr_t)G + 1);
  CHECK_RC(vmp_reserve_at(top, 2 * G + 1, &r), VMP_EALIGN);
  CHECK_RC(vmp_reserve_at(top, 2 * G, &r), VMP_ERANGE);
  CHECK(r == NULL, "*out written by a refused call");
}

/* ---- window ----------------------------------------------------------------- */

static int inside(vmp_region *r, uintptr_t lowest, uintptr_t highest) {
  uintptr_t b = (uintptr_t)vmp_base(r);
  return b >= lowest && b < highest && vmp_size(r) <= highest - b;
}

CHECK_TEST(reserve_below_4_gib) {
  if (sizeof(void *) < 8) {
    check_note("32-bit: every address is below 4 GiB");
    return;
  }
  uintptr_t highest = (uintptr_t)1 << 32;
  vmp_region *r;
  size_t mib = (size_t)1 << 20;
  if (!CHECK_RC(vmp_reserve_in(0, highest, 16 * mib, mib, &r), 0)) return;
  CHECK(inside(r, 0, highest), "base %p size %zu is not below 4 GiB", vmp_base(r), vmp_size(r));
  CHECK(((uintptr_t)vmp_base(r) & (mib - 1)) == 0, "base %p is not 1 MiB-aligned", vmp_base(r));
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, 16 * mib);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_commit(r, 0, 16 * mib, VMP_PROT_RW), 0);
  at(r, 16 * mib - 1)[0] = 1;
  CHECK_RC(vmp_release(r), 0);
}

/* A window that is exactly one free range gets exactly that range; with
 * an occupant in the middle, a range that fits beside it; with no room
 * left, EADDRINUSE and the occupants untouched. */
CHECK_TEST(reserve_in_a_window) {
  char *addr = free_range(8 * G);
  if (!addr) return;
  uintptr_t lo = (uintptr_t)addr, hi = lo + 8 * G;
  vmp_region *r;
  if (CHECK_RC(vmp_reserve_in(lo, hi, 8 * G, 0, &r), 0)) {
    CHECK((uintptr_t)vmp_base(r) == lo, "the only free range is %p, got %p", (void *)addr,
          vmp_base(r));
    CHECK_RC(vmp_release(r), 0);
  }
  canary c;
  if (!canary_at(&c, addr + 2 * G, 2 * G, 7)) return;
  /* Room below the occupant (2 G) and above it (4 G). */
  if (CHECK_RC(vmp_reserve_in(lo, hi, 3 * G, 0, &r), 0)) {
    CHECK((char *)vmp_base(r) >= addr + 4 * G && (char *)vmp_base(r) <= addr + 5 * G,
          "3 G fit only above the occupant, got %p (window at %p)", vmp_base(r), (void *)addr);
    vmp_region *low;
    if (CHECK_RC(vmp_reserve_in(lo, hi, 2 * G, 0, &low), 0)) {
      CHECK((char *)vmp_base(low) == addr, "2 G fit only below, got %p", vmp_base(low));
      reservations res;
      reservations_start(&res);
      vmp_region *none = NULL;
      CHECK_RC(vmp_reserve_in(lo, hi, 2 * G, 0, &none), VMP_EADDRINUSE);
      CHECK(none == NULL, "*out written by a refused call");
      reservations_none_new(&res, "a full window");
      CHECK_RC(vmp_release(low), 0);
    }
    CHECK_RC(vmp_release(r), 0);
  }
  /* A window that is exactly the occupant's range. */
  reservations res;
  reservations_start(&res);
  CHECK_RC(vmp_reserve_in(lo + 2 * G, lo + 4 * G, G, 0, &r), VMP_EADDRINUSE);
  reservations_none_new(&res, "a window the occupant fills");
  canary_check_and_free(&c, 7, "window search");
}

CHECK_TEST(reserve_in_argument_order) {
  vmp_region *r = NULL;
  uintptr_t lo = 16 * (uintptr_t)G, hi = 64 * (uintptr_t)G;
  CHECK_RC(vmp_reserve_in(lo, hi, G, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_reserve_in(lo, hi, 0, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_in(lo, hi, G, 3 * P, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_in(lo, hi, G, P / 2, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_in(hi, lo, G, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_in(lo, lo, G, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve_in(lo, hi, G + 1, 0, &r), VMP_EALIGN);
  CHECK_RC(vmp_reserve_in(lo + P / 2, hi, G, 0, &r), VMP_EALIGN);
  CHECK_RC(vmp_reserve_in(lo, hi - P / 2, G, 0, &r), VMP_EALIGN);
  /* EALIGN before ERANGE; then a window too small, also after aligning. */
  CHECK_RC(vmp_reserve_in(lo, lo + G, 2 * G + 1, 0, &r), VMP_EALIGN);
  CHECK_RC(vmp_reserve_in(lo, lo + G, 2 * G, 0, &r), VMP_ERANGE);
  CHECK_RC(vmp_reserve_in(lo + G, lo + 4 * G, 2 * G, 16 * G, &r), VMP_ERANGE);
  CHECK_RC(
      vmp_reserve_in(UINTPTR_MAX - (uintptr_t)G + 1 - 16 * (uintptr_t)G,
                     UINTPTR_MAX - (uintptr_t)G + 1, G, (size_t)1 << (sizeof(void *) * 8 - 2), &r),
      VMP_ERANGE);
  CHECK(r == NULL, "*out written by a refused call");
}

/* ---- growing in place ------------------------------------------------------- */

/* A region of `size` with `room` free right after it. */
static vmp_region *region_with_room(size_t size, size_t room) {
  char *addr = free_range(size + room);
  vmp_region *r = NULL;
  if (addr && !CHECK_RC(vmp_reserve_at(addr, size, &r), 0)) r = NULL;
  return r;
}

CHECK_TEST(extend_adds_a_placeholder_after_the_end) {
  vmp_region *r = region_with_room(4 * G, 8 * G);
  if (!r) return;
  char *base = vmp_base(r);
  CHECK_RC(vmp_commit(r, 0, 4 * G, VMP_PROT_RW), 0);
  util_fill(base, 4 * G, 9);
  CHECK_RC(vmp_extend(r, 2 * G), 0);
  CHECK((char *)vmp_base(r) == base, "the base moved");
  CHECK(vmp_size(r) == 6 * G, "size %zu", vmp_size(r));
  CHECK(vmp_span_count(r) == 2, "%zu spans", vmp_span_count(r));
  CHECK_SPAN(r, 0, VMP_PRIVATE, 0, 4 * G);
  CHECK_SPAN(r, 4 * G, VMP_PLACEHOLDER, 4 * G, 2 * G);
  CHECK(util_find_mismatch(base, 4 * G, 9) == (size_t)-1, "the old pages lost bytes");
  CHECK_KERNEL_AGREES(r);
  /* The new room works like any placeholder: split, commit, map. */
  CHECK_RC(vmp_split(r, 4 * G, G), 0);
  CHECK_RC(vmp_commit(r, 4 * G, G, VMP_PROT_RW), 0);
  util_fill(at(r, 4 * G), G, 10);
  vmp_mem *m;
  if (CHECK_RC(vmp_mem_create(G, 0, &m), 0)) {
    CHECK_RC(vmp_map(r, 5 * G, G, m, 0, VMP_PROT_RW), 0);
    at(r, 5 * G)[0] = 0x5c;
    CHECK_RC(vmp_mem_close(m), 0);
  }
  /* Twice more; the second adds the last free piece. */
  CHECK_RC(vmp_extend(r, G), 0);
  CHECK_RC(vmp_extend(r, 5 * G), 0);
  CHECK(vmp_size(r) == 12 * G, "size %zu", vmp_size(r));
  CHECK_SPAN(r, 6 * G, VMP_PLACEHOLDER, 6 * G, G);
  CHECK_SPAN(r, 7 * G, VMP_PLACEHOLDER, 7 * G, 5 * G);
  CHECK_KERNEL_AGREES(r);
  /* Placeholders from two growths coalesced and replaced as one. */
  CHECK_RC(vmp_coalesce(r, 6 * G, 6 * G), 0);
  if (CHECK_RC(vmp_commit(r, 6 * G, 6 * G, VMP_PROT_RW), 0)) {
    at(r, 6 * G)[0] = 1;
    at(r, 12 * G - 1)[0] = 2;
    CHECK_RC(vmp_unmap(r, 6 * G, 6 * G), 0);
  }
  CHECK_KERNEL_AGREES(r);
  CHECK(util_find_mismatch(base, 4 * G, 9) == (size_t)-1, "the first pages lost bytes");
  CHECK(util_find_mismatch(at(r, 4 * G), G, 10) == (size_t)-1, "the grown pages lost bytes");
  CHECK_RC(vmp_release(r), 0);
  /* Everything, all four kernel reservations on Windows, was given back. */
  if (CHECK_RC(vmp_reserve_at(base, 12 * G, &r), 0)) CHECK_RC(vmp_release(r), 0);
}

CHECK_TEST(extend_refused_changes_nothing) {
  vmp_region *r = region_with_room(4 * G, 4 * G);
  if (!r) return;
  char *base = vmp_base(r);
  CHECK_RC(vmp_split(r, 0, G), 0);
  CHECK_RC(vmp_commit(r, 0, G, VMP_PROT_RW), 0);
  util_fill(base, G, 3);
  canary c;
  if (!canary_at(&c, base + 6 * G, G, 21)) goto out;
  region_state before, after;
  int have = state_take(r, &before) == 0;
  reservations res;
  reservations_start(&res);
  /* The occupant takes the last third of one growth, the middle of the other. */
  CHECK_RC(vmp_extend(r, 3 * G), VMP_EADDRINUSE);
  CHECK_RC(vmp_extend(r, 4 * G), VMP_EADDRINUSE);
  reservations_none_new(&res, "a refused extend");
  CHECK(vmp_size(r) == 4 * G && vmp_base(r) == base, "size %zu base %p", vmp_size(r), vmp_base(r));
  if (have && CHECK(state_take(r, &after) == 0, "cannot read the state")) {
    state_same(&before, &after, __FILE__, __LINE__, "a refused extend");
    state_free(&after);
  }
  if (have) state_free(&before);
  canary_check_and_free(&c, 21, "a refused extend");
  /* With the occupant gone the same growth works: nothing was left behind. */
  CHECK_RC(vmp_extend(r, 4 * G), 0);
  CHECK_SPAN(r, 4 * G, VMP_PLACEHOLDER, 4 * G, 4 * G);
out:
  CHECK_RC(vmp_release(r), 0);
}

CHECK_TEST(extend_argument_order) {
  vmp_region *r = region_with_room(2 * G, 2 * G);
  if (!r) return;
  CHECK_RC(vmp_extend(NULL, G), VMP_EINVAL);
  CHECK_RC(vmp_extend(r, 0), VMP_EINVAL);
  CHECK_RC(vmp_extend(r, P / 2), VMP_EALIGN);
  CHECK_RC(vmp_extend(r, SIZE_MAX - P + 1), VMP_ERANGE);
  CHECK(vmp_size(r) == 2 * G, "size %zu", vmp_size(r));
  CHECK_RC(vmp_release(r), 0);
  /* A region whose end no reservation can start at (Windows: not a
   * multiple of the allocation granularity). */
  if (vmp_granularity() > P && CHECK_RC(vmp_reserve(vmp_granularity() + P, 0, &r), 0)) {
    CHECK_RC(vmp_extend(r, vmp_granularity()), VMP_EALIGN);
    CHECK_RC(vmp_release(r), 0);
  }
}

/* ---- injected failures -------------------------------------------------------- */

#define MAX_STEPS 64

typedef int (*placement_call)(void *arg, vmp_region **out);

static int call_reserve_at(void *arg, vmp_region **out) { return vmp_reserve_at(arg, 2 * G, out); }
static int call_reserve_in(void *arg, vmp_region **out) {
  uintptr_t lo = (uintptr_t)arg;
  return vmp_reserve_in(lo, lo + 4 * G, 2 * G, 0, out);
}

/* Every system call and every allocation of a placement fails in turn:
 * each failure returns an error, writes nothing to *out and leaves no
 * reservation behind; once nothing fails, the call works. */
static void placement_failures(inject_kind kind, placement_call call, const char *name) {
  char *addr = free_range(4 * G);
  if (!addr) return;
  long n;
  for (n = 1; n < MAX_STEPS; n++) {
    reservations res;
    reservations_start(&res);
    vmp_region *r = NULL;
    const char *unknown = inject_arm(kind, n, 0);
    if (!CHECK(unknown == NULL, "no wrapper for %s", unknown ? unknown : "")) return;
    int rc = call(addr, &r);
    int fired = inject_disarm(kind);
    char context[64];
    snprintf(context, sizeof context, "%s, failure %ld", name, n);
    if (rc != 0) {
      CHECK(fired, "%s: %s with nothing injected", context, vmp_err_name(rc));
      CHECK(r == NULL, "%s: *out written", context);
      reservations_none_new(&res, context);
      continue;
    }
    if (res.have) kv_reservations_free(&res.before);
    CHECK_RC(vmp_release(r), 0);
    if (!fired) break;
  }
  CHECK(n > 1 || kind == INJECT_ALLOCATION, "%s: no system call to fail", name);
  CHECK(n < MAX_STEPS, "%s still fails after %d injected failures", name, MAX_STEPS);
}

static void extend_failures(inject_kind kind) {
  long n;
  for (n = 1; n < MAX_STEPS; n++) {
    vmp_region *r = region_with_room(2 * G, 2 * G);
    if (!r) return;
    CHECK_RC(vmp_commit(r, 0, 2 * G, VMP_PROT_RW), 0);
    util_fill(vmp_base(r), 2 * G, 11);
    region_state before, after;
    int have = state_take(r, &before) == 0;
    reservations res;
    reservations_start(&res);
    const char *unknown = inject_arm(kind, n, 0);
    if (!CHECK(unknown == NULL, "no wrapper for %s", unknown ? unknown : "")) return;
    int rc = vmp_extend(r, 2 * G);
    int fired = inject_disarm(kind);
    char context[64];
    snprintf(context, sizeof context, "extend, failure %ld", n);
    if (rc != 0) {
      CHECK(fired, "%s: %s with nothing injected", context, vmp_err_name(rc));
      reservations_none_new(&res, context);
      CHECK(vmp_size(r) == 2 * G, "%s: size %zu", context, vmp_size(r));
      if (have && CHECK(state_take(r, &after) == 0, "cannot read the state")) {
        state_same(&before, &after, __FILE__, __LINE__, context);
        state_free(&after);
      }
    } else {
      if (res.have) kv_reservations_free(&res.before);
      CHECK(vmp_size(r) == 4 * G, "%s: size %zu after success", context, vmp_size(r));
    }
    if (have) state_free(&before);
    CHECK_RC(vmp_release(r), 0);
    if (rc == 0 && !fired) break;
  }
  CHECK(n < MAX_STEPS, "extend still fails after %d injected failures", MAX_STEPS);
}

CHECK_TEST(syscall_failures_leave_no_trace) {
  placement_failures(INJECT_SYSCALL, call_reserve_at, "reserve_at");
  placement_failures(INJECT_SYSCALL, call_reserve_in, "reserve_in");
  extend_failures(INJECT_SYSCALL);
}

CHECK_TEST(allocation_failures_leave_no_trace) {
  placement_failures(INJECT_ALLOCATION, call_reserve_at, "reserve_at");
  placement_failures(INJECT_ALLOCATION, call_reserve_in, "reserve_in");
  extend_failures(INJECT_ALLOCATION);
}

CHECK_TEST(error_is_distinct) {
  CHECK(strcmp(vmp_err_name(VMP_EADDRINUSE), "EADDRINUSE") == 0, "%s",
        vmp_err_name(VMP_EADDRINUSE));
  CHECK(!vmp_err_is_os(VMP_EADDRINUSE), "taken for an OS error");
  CHECK(VMP_EADDRINUSE != VMP_ENOMEM && VMP_EADDRINUSE >= VMP__ERR_MIN,
        "not a distinct library code");
  CHECK(strstr(vmp_strerror(VMP_EADDRINUSE), "taken") != NULL, "%s", vmp_strerror(VMP_EADDRINUSE));
}

/* The budget and the mapping count answer on every backend. */
CHECK_TEST(budget_on_every_backend) {
  vmp_budget b;
  CHECK_RC(vmp_budget_get(NULL), VMP_EINVAL);
  if (!CHECK_RC(vmp_budget_get(&b), 0)) return;
  if (vmp_capabilities()->knows_mapping_limit)
    CHECK(b.map_limit > 0 && b.map_count > 0 && b.map_count <= b.map_limit + 2,
          "mapping limit %lld, count %lld", (long long)b.map_limit, (long long)b.map_count);
  else
    CHECK(b.map_limit == -1, "a mapping limit %lld the backend says it cannot know",
          (long long)b.map_limit);
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * G, 0, &r), 0)) return;
  CHECK(vmp_mapping_count(r) == 1, "a fresh region: %zu", vmp_mapping_count(r));
  CHECK_RC(vmp_split(r, 4 * G, 4 * G), 0);
  CHECK(vmp_mapping_count(r) == 1, "placeholders only: %zu", vmp_mapping_count(r));
  CHECK_RC(vmp_commit(r, 4 * G, 4 * G, VMP_PROT_RW), 0);
  CHECK(vmp_mapping_count(r) == 3, "private memory between placeholders: %zu",
        vmp_mapping_count(r));
  CHECK_RC(vmp_protect(r, 5 * G, G, VMP_PROT_READ), 0);
  CHECK(vmp_mapping_count(r) == 5, "a read-only run inside: %zu", vmp_mapping_count(r));
  CHECK_RC(vmp_release(r), 0);
}

/* carve: split where needed, nothing where the range already is a whole
 * placeholder; refusals change nothing. */
CHECK_TEST(carve) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  CHECK_RC(vmp_carve(r, 4 * P, 4 * P), 0);
  CHECK(vmp_span_count(r) == 3, "%zu spans after carving the middle", vmp_span_count(r));
  CHECK_SPAN(r, 4 * P, VMP_PLACEHOLDER, 4 * P, 4 * P);
  CHECK_RC(vmp_carve(r, 4 * P, 4 * P), 0);
  CHECK(vmp_span_count(r) == 3, "%zu spans after carving it again", vmp_span_count(r));
  CHECK_RC(vmp_carve(r, 8 * P, 8 * P), 0); /* the whole last placeholder */
  CHECK(vmp_span_count(r) == 3, "%zu spans", vmp_span_count(r));
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_RW), 0);
  CHECK_RC(vmp_carve(NULL, 0, P), VMP_EINVAL);
  REFUSED(r, vmp_carve(r, 0, 0), VMP_EINVAL);
  REFUSED(r, vmp_carve(r, 1, P), VMP_EALIGN);
  REFUSED(r, vmp_carve(r, 16 * P, P), VMP_ERANGE);
  REFUSED(r, vmp_carve(r, 4 * P, P), VMP_ESTATE);
  REFUSED(r, vmp_carve(r, 3 * P, 2 * P), VMP_ESTATE);
  CHECK_RC(vmp_split(r, 8 * P, 4 * P), 0);
  REFUSED(r, vmp_carve(r, 10 * P, 4 * P), VMP_EEXTENT);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

/* carve_commit: the chunk becomes private memory in one call, split out of
 * its placeholder or not; refusals change nothing, not even the split. */
CHECK_TEST(carve_commit) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  char *base = vmp_base(r);
  CHECK_RC(vmp_carve_commit(r, 4 * P, 4 * P, VMP_PROT_RW), 0);
  CHECK(vmp_span_count(r) == 3, "%zu spans after committing the middle", vmp_span_count(r));
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, 4 * P);
  CHECK_SPAN(r, 4 * P, VMP_PRIVATE, 4 * P, 4 * P);
  CHECK_SPAN(r, 8 * P, VMP_PLACEHOLDER, 8 * P, 8 * P);
  CHECK(util_all_bytes(base + 4 * P, 4 * P, 0), "fresh memory is not zero");
  util_fill(base + 4 * P, 4 * P, 7);
  CHECK_RC(vmp_carve_commit(r, 0, 4 * P, VMP_PROT_READ), 0); /* a whole placeholder */
  CHECK(vmp_span_count(r) == 3, "%zu spans", vmp_span_count(r));
  CHECK_SPAN(r, 0, VMP_PRIVATE, 0, 4 * P);
  CHECK_RC(vmp_carve_commit(r, 15 * P, P, VMP_PROT_RW), 0); /* the last page */
  CHECK_SPAN(r, 8 * P, VMP_PLACEHOLDER, 8 * P, 7 * P);
  CHECK_RC(vmp_carve_commit(NULL, 0, P, VMP_PROT_RW), VMP_EINVAL);
  REFUSED(r, vmp_carve_commit(r, 8 * P, 0, VMP_PROT_RW), VMP_EINVAL);
  REFUSED(r, vmp_carve_commit(r, 8 * P, P, 0x40), VMP_EINVAL);
  REFUSED(r, vmp_carve_commit(r, 8 * P + 1, P, VMP_PROT_RW), VMP_EALIGN);
  REFUSED(r, vmp_carve_commit(r, 8 * P, 9 * P, VMP_PROT_RW), VMP_ERANGE);
  REFUSED(r, vmp_carve_commit(r, 5 * P, P, VMP_PROT_RW), VMP_ESTATE);
  REFUSED(r, vmp_carve_commit(r, 7 * P, 2 * P, VMP_PROT_RW), VMP_ESTATE);
  CHECK_RC(vmp_split(r, 8 * P, 2 * P), 0);
  REFUSED(r, vmp_carve_commit(r, 9 * P, 2 * P, VMP_PROT_RW), VMP_EEXTENT);
  CHECK(util_all_bytes(base, 4 * P, 0), "the read-only chunk is not zero");
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

/* carve_map and unmap_coalesce: a fastmem arena's two calls. Views go in
 * and out of one free room, which stays one placeholder between them;
 * a placeholder split on purpose further away stays as it is. */
CHECK_TEST(carve_map_and_unmap_coalesce) {
  vmp_region *r;
  vmp_mem *m;
  if (!CHECK_RC(util_region_and_object(16 * G, 4 * G, &r, &m), 0)) return;
  char *base = vmp_base(r);
  CHECK_RC(vmp_split(r, 0, G), 0); /* a guard placeholder of its own */
  CHECK_RC(vmp_carve_map(r, 4 * G, G, m, 2 * G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_carve_map(r, 6 * G, 2 * G, m, 0, VMP_PROT_READ), 0);
  CHECK(vmp_span_count(r) == 6, "%zu spans with two views", vmp_span_count(r));
  vmp_span_info info;
  CHECK_RC(vmp_query(r, base + 4 * G, &info), 0);
  CHECK(info.kind == VMP_VIEW && info.mem == m && info.mem_offset == 2 * G && info.size == G,
        "the first view: kind %d, offset %llu, size %zu", (int)info.kind,
        (unsigned long long)info.mem_offset, info.size);
  util_fill(base + 4 * G, G, 5);
  /* The second view shows object bytes [0, 2G); map [2G, 3G) there too. */
  CHECK_RC(vmp_carve_map(r, 10 * G, G, m, 2 * G, VMP_PROT_READ), 0);
  CHECK(memcmp(base + 4 * G, base + 10 * G, G) == 0, "two views of one range differ");
  CHECK_RC(vmp_carve_map(NULL, 0, G, m, 0, VMP_PROT_RW), VMP_EINVAL);
  REFUSED(r, vmp_carve_map(r, 12 * G, G, NULL, 0, VMP_PROT_RW), VMP_EINVAL);
  REFUSED(r, vmp_carve_map(r, 12 * G, G, m, 1, VMP_PROT_RW), VMP_EALIGN);
  REFUSED(r, vmp_carve_map(r, 12 * G, 5 * G, m, 0, VMP_PROT_RW), VMP_ERANGE);
  REFUSED(r, vmp_carve_map(r, 3 * G, 2 * G, m, 0, VMP_PROT_RW), VMP_ESTATE);
  REFUSED(r, vmp_carve_map(r, 0, 2 * G, m, 0, VMP_PROT_RW), VMP_EEXTENT);
  REFUSED(r, vmp_carve_map(r, 12 * G, 2 * G, m, 3 * G, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_KERNEL_AGREES(r);
  /* [G,4G) ph | [4G,5G) view | [5G,6G) ph | [6G,8G) view | [8G,10G) ph | view | ph */
  CHECK_RC(vmp_unmap_coalesce(r, 4 * G, G), 0);
  CHECK(vmp_span_count(r) == 6, "%zu spans after the first unmap", vmp_span_count(r));
  CHECK_SPAN(r, 4 * G, VMP_PLACEHOLDER, G, 5 * G);
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, G); /* the guard stays */
  CHECK_RC(vmp_unmap_coalesce(r, 6 * G, 2 * G), 0);
  CHECK_SPAN(r, 6 * G, VMP_PLACEHOLDER, G, 9 * G);
  CHECK_RC(vmp_unmap_coalesce(r, 10 * G, G), 0);
  CHECK(vmp_span_count(r) == 2, "%zu spans with every view gone", vmp_span_count(r));
  CHECK_SPAN(r, 10 * G, VMP_PLACEHOLDER, G, 15 * G);
  /* What plain unmap does instead: the placeholder keeps its extent. */
  CHECK_RC(vmp_carve_map(r, 4 * G, G, m, 0, VMP_PROT_RW), 0);
  CHECK_RC(vmp_unmap(r, 4 * G, G), 0);
  CHECK(vmp_span_count(r) == 4, "%zu spans after a plain unmap", vmp_span_count(r));
  CHECK_RC(vmp_coalesce(r, G, 15 * G), 0);
  /* A private range cut from the middle of a span merges with nothing. */
  CHECK_RC(vmp_carve_commit(r, 4 * G, 4 * G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_unmap_coalesce(r, 5 * G, G), 0);
  CHECK(vmp_span_count(r) == 6, "%zu spans after a cut from private memory", vmp_span_count(r));
  CHECK_SPAN(r, 5 * G, VMP_PLACEHOLDER, 5 * G, G);
  /* Its last piece, between that hole and the room, joins both. */
  CHECK_RC(vmp_unmap_coalesce(r, 6 * G, 2 * G), 0);
  CHECK_SPAN(r, 6 * G, VMP_PLACEHOLDER, 5 * G, 11 * G);
  CHECK(vmp_span_count(r) == 4, "%zu spans", vmp_span_count(r));
  CHECK_RC(vmp_unmap_coalesce(NULL, 0, G), VMP_EINVAL);
  REFUSED(r, vmp_unmap_coalesce(r, 4 * G, 0), VMP_EINVAL);
  REFUSED(r, vmp_unmap_coalesce(r, 4 * G, 1), VMP_EALIGN);
  REFUSED(r, vmp_unmap_coalesce(r, 15 * G, 2 * G), VMP_ERANGE);
  REFUSED(r, vmp_unmap_coalesce(r, 6 * G, G), VMP_ESTATE);
  REFUSED(r, vmp_unmap_coalesce(r, 4 * G, 2 * G), VMP_ESTATE);
  CHECK_RC(vmp_carve_map(r, 8 * G, 2 * G, m, 0, VMP_PROT_RW), 0);
  REFUSED(r, vmp_unmap_coalesce(r, 8 * G, G), VMP_EEXTENT); /* a view only whole */
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
  CHECK_RC(vmp_mem_close(m), 0);
}

/* What each backend's objects are, and the flags that every backend takes. */
CHECK_TEST(objects_say_what_they_are) {
  vmp_mem *m;
  vmp_mem_info info;
  if (!CHECK_RC(vmp_mem_create(G, 0, &m), 0)) return;
  CHECK_RC(vmp_mem_query(m, &info), 0);
  /* Sealed memfds where objects carry seals; sections where their size is
   * fixed when made; else shm_open, the fallback. */
  const vmp_caps *caps = vmp_capabilities();
  vmp_backing want = caps->seals             ? VMP_BACKING_MEMFD
                     : !caps->anon_resizable ? VMP_BACKING_SECTION
                                             : VMP_BACKING_SHM;
  CHECK(info.backing == want, "backing %d, expected %d", (int)info.backing, (int)want);
  CHECK(info.sealed == (want != VMP_BACKING_SHM), "sealed %d", info.sealed);
  CHECK(info.fell_back == (want == VMP_BACKING_SHM), "fell back %d", info.fell_back);
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_mem_query(NULL, &info), VMP_EINVAL);
  /* Exec intent: an RX view works. */
  if (CHECK_RC(vmp_mem_create_named(G, "code", VMP_MEM_EXEC | VMP_MEM_PREALLOCATE, &m), 0)) {
    CHECK_RC(vmp_mem_query(m, &info), 0);
    /* Generic POSIX cannot ask: a noexec /dev/shm mount decides there. */
    int posix = want == VMP_BACKING_SHM;
    CHECK(info.exec == (posix ? -1 : 1), "exec %d", info.exec);
    vmp_region *r;
    if (CHECK_RC(vmp_reserve(G, 0, &r), 0)) {
      int rc = vmp_map(r, 0, G, m, 0, VMP_PROT_READ | VMP_PROT_EXEC);
      CHECK(rc == 0 || (posix && vmp_err_is_os(rc)), "an RX view: %s", vmp_err_name(rc));
      CHECK_KERNEL_AGREES(r);
      CHECK_RC(vmp_release(r), 0);
    }
    CHECK_RC(vmp_mem_close(m), 0);
  }
  int strict = vmp_mem_create_named(G, "strict", VMP_MEM_NO_FALLBACK, &m);
  CHECK(strict == (want == VMP_BACKING_SHM ? VMP_ENOTSUP : 0), "no fallback: %s",
        vmp_err_name(strict));
  if (strict == 0) CHECK_RC(vmp_mem_close(m), 0);
  /* Huge pages: none on Windows and POSIX; the fallback gives ordinary ones. */
  if (!caps->huge_pages)
    CHECK_RC(vmp_mem_create_named((uint64_t)2 << 20, "huge", VMP_MEM_HUGE, &m), VMP_ENOTSUP);
  if (CHECK_RC(vmp_mem_create_named((uint64_t)2 << 20, "huge", VMP_MEM_HUGE_OR_THP, &m), 0)) {
    CHECK_RC(vmp_mem_query(m, &info), 0);
    CHECK(info.huge_pages == 1 || info.huge_pages == 2, "huge pages %d", info.huge_pages);
    CHECK_RC(vmp_mem_close(m), 0);
  }
}

/* ---- W^X: an executable view is never writable, not even while mapped ---- */

/* Whether anything the library asked of the system during one call could
 * have made [watch, watch+watch_len) writable. */
static char *watch;
static size_t watch_len;
static int writable_requests;

static int watched(const void *addr, size_t len) {
  const char *a = addr;
  return watch != NULL && a < watch + watch_len && watch < a + len;
}

#if defined(_WIN32)
typedef PVOID(WINAPI *map_view3_fn)(HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG, void *,
                                    ULONG);
typedef BOOL(WINAPI *protect_fn)(LPVOID, SIZE_T, DWORD, PDWORD);

static int page_writable(DWORD prot) {
  return prot == PAGE_READWRITE || prot == PAGE_EXECUTE_READWRITE || prot == PAGE_WRITECOPY ||
         prot == PAGE_EXECUTE_WRITECOPY;
}

static PVOID WINAPI spy_map_view(HANDLE f, HANDLE p, PVOID b, ULONG64 o, SIZE_T s, ULONG t,
                                 ULONG pr, void *e, ULONG n) {
  if (page_writable(pr) && watched(b, s)) writable_requests++;
  map_view3_fn real = (map_view3_fn)vmp__testing_syscall_default("MapViewOfFile3");
  return real(f, p, b, o, s, t, pr, e, n);
}

static BOOL WINAPI spy_protect(LPVOID a, SIZE_T s, DWORD pr, PDWORD old) {
  if (page_writable(pr) && watched(a, s)) writable_requests++;
  protect_fn real = (protect_fn)vmp__testing_syscall_default("VirtualProtect");
  return real(a, s, pr, old);
}

static const char *const spied[] = {"MapViewOfFile3", "VirtualProtect"};
static const vmp__syscall_fn spies[] = {(vmp__syscall_fn)spy_map_view,
                                        (vmp__syscall_fn)spy_protect};
#else
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*mprotect_fn)(void *, size_t, int);

static void *spy_mmap(void *a, size_t len, int prot, int flags, int fd, off_t off) {
  if ((prot & PROT_WRITE) && watched(a, len)) writable_requests++;
  mmap_fn real = (mmap_fn)vmp__testing_syscall_default("mmap");
  return real(a, len, prot, flags, fd, off);
}

static int spy_mprotect(void *a, size_t len, int prot) {
  if ((prot & PROT_WRITE) && watched(a, len)) writable_requests++;
  mprotect_fn real = (mprotect_fn)vmp__testing_syscall_default("mprotect");
  return real(a, len, prot);
}

static const char *const spied[] = {"mmap", "mprotect"};
static const vmp__syscall_fn spies[] = {(vmp__syscall_fn)spy_mmap, (vmp__syscall_fn)spy_mprotect};
#endif

static void spy(int on) {
  for (size_t i = 0; i < sizeof spied / sizeof spied[0]; i++)
    CHECK_RC(vmp__testing_syscall_set(spied[i], on ? spies[i] : NULL), 0);
}

/* The JIT's double mapping (examples/jit_dual_map.c): an RW view to write
 * code, an RX view of the same object to run it. No system call made for
 * the RX view may ask for write, and right after vmp_map the system
 * reports it read-execute (Windows: also as the protection it was mapped
 * with). On every backend a view stays within its ceiling: the RX view
 * can never be made writable, and the RW view never executable
 * (VMP_EACCES, nothing changed). */
CHECK_TEST(rx_view_is_never_writable) {
  vmp_mem *m;
  vmp_region *r;
  if (!CHECK_RC(vmp_mem_create_named(G, "jit", VMP_MEM_EXEC, &m), 0)) return;
  if (!CHECK_RC(vmp_reserve(2 * G, 0, &r), 0)) {
    vmp_mem_close(m);
    return;
  }
  CHECK_RC(vmp_split(r, 0, G), 0);
  CHECK_RC(vmp_map(r, 0, G, m, 0, VMP_PROT_RW), 0);
  const int rx = VMP_PROT_READ | VMP_PROT_EXEC;
  watch = at(r, G);
  watch_len = G;
  writable_requests = 0;
  spy(1);
  int rc = vmp_map(r, G, G, m, 0, rx);
  spy(0);
  watch = NULL;
  vmp_mem_info info;
  CHECK_RC(vmp_mem_query(m, &info), 0);
  /* Generic POSIX cannot ask for exec: a noexec /dev/shm mount decides. */
  if (rc != 0 && info.exec == -1 && vmp_err_is_os(rc)) {
    CHECK_KERNEL_AGREES(r);
  } else if (CHECK_RC(rc, 0)) {
    CHECK(writable_requests == 0, "%d system calls asked for write on the RX view",
          writable_requests);
    CHECK_SPAN(r, G, VMP_VIEW, G, G);
    CHECK_KERNEL_AGREES(r);
#if defined(_WIN32)
    MEMORY_BASIC_INFORMATION mbi;
    if (CHECK(VirtualQuery(at(r, G), &mbi, sizeof mbi) == sizeof mbi, "VirtualQuery failed"))
      CHECK(mbi.Protect == PAGE_EXECUTE_READ && mbi.AllocationProtect == PAGE_EXECUTE_READ,
            "the RX view: protection 0x%lx, mapped with 0x%lx", (unsigned long)mbi.Protect,
            (unsigned long)mbi.AllocationProtect);
#endif
    /* Beyond each view's ceiling: refused, nothing changed. */
    REFUSED(r, vmp_protect(r, G, G, VMP_PROT_RW), VMP_EACCES);
    REFUSED(r, vmp_protect(r, G, P, VMP_PROT_RW | VMP_PROT_EXEC), VMP_EACCES);
    REFUSED(r, vmp_protect(r, 0, G, rx), VMP_EACCES);
    REFUSED(r, vmp_protect(r, 0, P, VMP_PROT_READ | VMP_PROT_EXEC), VMP_EACCES);
    at(r, 0)[0] = 0x5a; /* the RW view still writes */
    CHECK(at(r, G)[0] == 0x5a, "the views show different bytes");
    /* Lowering and raising back within it works everywhere. */
    CHECK_RC(vmp_protect(r, G, G, VMP_PROT_READ), 0);
    CHECK_RC(vmp_protect(r, G, G, rx), 0);
    CHECK_SPAN(r, G, VMP_VIEW, G, G);
    CHECK_KERNEL_AGREES(r);
  }
  CHECK_RC(vmp_release(r), 0);
  CHECK_RC(vmp_mem_close(m), 0);
}
