/*
 * docs/contract.md section 2, operation by operation: every rule, every error in the
 * documented order, and after every successful call the kernel's mappings
 * agree with the bookkeeping.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "support_criterion.h"
#include "vmplace.h"

static vmp_region *r;
static char *b;

static void setup16(void) {
  CHECK_OK(vmp_reserve(16 * PG, 0, &r));
  b = vmp_base(r);
  CHECK_MAPS(r);
}

static void teardown(void) {
  if (r) CHECK_OK(vmp_release(r));
  r = NULL;
}

/* The region and an object of 8 pages to map from it. */
static vmp_mem *obj;

static void setup16_object(void) {
  setup16();
  CHECK_OK(vmp_mem_create(8 * PG, 0, &obj));
}

static void teardown_object(void) {
  teardown();
  CHECK_OK(vmp_mem_close(obj));
}

static void expect_span(size_t page, vmp_kind kind, size_t start, size_t pages) {
  vmp_span_info info;
  CHECK_OK(vmp_query(r, b + page * PG, &info));
  cr_assert_eq(info.kind, kind, "page %zu: kind %s, expected %s", page, vmp_kind_name(info.kind),
               vmp_kind_name(kind));
  cr_assert_eq(info.offset, start * PG, "page %zu: span starts at page %zu, expected %zu", page,
               info.offset / PG, start);
  cr_assert_eq(info.start, b + start * PG);
  cr_assert_eq(info.size, pages * PG, "page %zu: span is %zu pages, expected %zu", page,
               info.size / PG, pages);
}

static int all_bytes(const char *p, size_t n, char v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

/* ---- reserve ---------------------------------------------------------------- */

Test(reserve, argument_order) {
  vmp_region *x = NULL;
  CHECK_RC(vmp_reserve(PG, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_reserve(0, 0, &x), VMP_EINVAL);
  CHECK_RC(vmp_reserve(100, 3, NULL), VMP_EINVAL);    /* EINVAL before EALIGN */
  CHECK_RC(vmp_reserve(PG, 3 * PG, &x), VMP_EINVAL);  /* not a power of two */
  CHECK_RC(vmp_reserve(PG, PG / 2, &x), VMP_EINVAL);  /* smaller than a page */
  CHECK_RC(vmp_reserve(100, 3 * PG, &x), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_reserve(100, 0, &x), VMP_EALIGN);
  CHECK_RC(vmp_reserve(PG + 1, PG, &x), VMP_EALIGN);
  size_t huge = SIZE_MAX & ~(PG - 1);
  CHECK_RC(vmp_reserve(huge, (size_t)1 << 40, &x), VMP_ERANGE);
  CHECK_RC(vmp_reserve(huge - 99, (size_t)1 << 40, &x), VMP_EALIGN); /* EALIGN before ERANGE */
  CHECK_RC(vmp_reserve(huge, 0, &x), VMP_ENOMEM);
}

Test(reserve, one_placeholder_one_mapping) {
  vmp_region *x;
  CHECK_OK(vmp_reserve(64 * PG, 0, &x));
  cr_assert_eq(vmp_size(x), 64 * PG);
  cr_assert_eq((uintptr_t)vmp_base(x) % vmp_granularity(), 0);
  cr_assert_eq(vmp_span_count(x), 1);
  cr_assert_eq(vmpt_maps_count_in(vmp_base(x), vmp_size(x)), 1);
  CHECK_MAPS(x);
  CHECK_OK(vmp_release(x));
}

Test(reserve, alignment_is_honoured) {
  size_t aligns[] = {PG, 2 * PG, 1u << 16, 1u << 21, 1u << 24};
  for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
    vmp_region *x;
    CHECK_OK(vmp_reserve(3 * PG, aligns[i], &x));
    cr_assert_eq((uintptr_t)vmp_base(x) % aligns[i], 0, "base %p not aligned to %zu", vmp_base(x),
                 aligns[i]);
    cr_assert_eq(vmp_span_count(x), 1);
    CHECK_MAPS(x);
    /* The trimmed slack is given back: only the region stays reserved
     * around its base. */
    cr_assert_eq(vmpt_maps_count_in(vmp_base(x), vmp_size(x)), 1);
    CHECK_OK(vmp_release(x));
  }
}

Test(reserve, release_gives_the_range_back) {
  vmp_region *x;
  CHECK_OK(vmp_reserve(8 * PG, 0, &x));
  void *base = vmp_base(x);
  vmpt_outside *outside = vmpt_outside_take(base, 8 * PG);
  CHECK_OK(vmp_split(x, 0, 2 * PG));
  CHECK_OK(vmp_commit(x, 0, 2 * PG, VMP_PROT_RW));
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(2 * PG, 0, &m));
  CHECK_OK(vmp_split(x, 2 * PG, 2 * PG));
  CHECK_OK(vmp_map(x, 2 * PG, 2 * PG, m, 0, VMP_PROT_RW));
  CHECK_OK(vmp_mem_close(m));
  CHECK_OK(vmp_release(x));
  cr_assert_eq(vmpt_maps_count_in(base, 8 * PG), 0, "released range is still mapped");
  char why[1024];
  cr_assert_eq(vmpt_outside_compare(outside, why, sizeof why), 0, "%s", why);
  vmpt_outside_free(outside);
  CHECK_OK(vmp_release(NULL));
}

/* ---- split and coalesce ------------------------------------------------------ */

Test(split, argument_order, .init = setup16, .fini = teardown) {
  CHECK_RC(vmp_split(NULL, 0, PG), VMP_EINVAL);
  CHECK_RC(vmp_split(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_split(r, 100, 0), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_split(r, 100, PG), VMP_EALIGN);
  CHECK_RC(vmp_split(r, 0, 100), VMP_EALIGN);
  CHECK_RC(vmp_split(r, 100, 32 * PG), VMP_EALIGN); /* EALIGN before ERANGE */
  CHECK_RC(vmp_split(r, 8 * PG, 16 * PG), VMP_ERANGE);
  CHECK_RC(vmp_split(r, 16 * PG, PG), VMP_ERANGE);
  CHECK_RC(vmp_split(r, SIZE_MAX & ~(PG - 1), 2 * PG), VMP_ERANGE); /* overflow */
  CHECK_RC(vmp_split(r, PG, SIZE_MAX & ~(PG - 1)), VMP_ERANGE);
  CHECK_RC(vmp_split(r, 0, 16 * PG), VMP_EEXTENT); /* the whole placeholder */
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_OK(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW));
  CHECK_RC(vmp_split(r, 0, PG), VMP_ESTATE);
  CHECK_RC(vmp_split(r, 2 * PG, 4 * PG), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_RC(vmp_split(r, 6 * PG, 4 * PG), VMP_EEXTENT); /* across two placeholders */
  CHECK_RC(vmp_split(r, 4 * PG, 4 * PG), VMP_EEXTENT);
  CHECK_MAPS(r);
}

Test(split, two_or_three_pieces, .init = setup16, .fini = teardown) {
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  cr_assert_eq(vmp_span_count(r), 3);
  expect_span(0, VMP_PLACEHOLDER, 0, 4);
  expect_span(5, VMP_PLACEHOLDER, 4, 4);
  expect_span(15, VMP_PLACEHOLDER, 8, 8);
  CHECK_OK(vmp_split(r, 0, PG));
  cr_assert_eq(vmp_span_count(r), 4);
  expect_span(2, VMP_PLACEHOLDER, 1, 3);
  CHECK_OK(vmp_split(r, 12 * PG, 4 * PG)); /* at the end: two pieces */
  cr_assert_eq(vmp_span_count(r), 5);
  expect_span(12, VMP_PLACEHOLDER, 12, 4);
  CHECK_MAPS(r);
  cr_assert_eq(vmpt_maps_count_in(b, 16 * PG), 1, "placeholders must share one mapping");
}

Test(coalesce, argument_order, .init = setup16, .fini = teardown) {
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_RC(vmp_coalesce(NULL, 0, PG), VMP_EINVAL);
  CHECK_RC(vmp_coalesce(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_coalesce(r, 1, 8 * PG), VMP_EALIGN);
  CHECK_RC(vmp_coalesce(r, 0, 17 * PG), VMP_ERANGE);
  CHECK_RC(vmp_coalesce(r, 0, 4 * PG), VMP_EEXTENT);  /* one span */
  CHECK_RC(vmp_coalesce(r, 0, 6 * PG), VMP_EEXTENT);  /* ends inside a span */
  CHECK_RC(vmp_coalesce(r, PG, 7 * PG), VMP_EEXTENT); /* starts inside a span */
  CHECK_OK(vmp_commit(r, 4 * PG, 4 * PG, VMP_PROT_RW));
  CHECK_RC(vmp_coalesce(r, 0, 16 * PG), VMP_ESTATE);
  CHECK_RC(vmp_coalesce(r, 0, 6 * PG), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK_OK(vmp_unmap(r, 4 * PG, 4 * PG));
  cr_assert_eq(vmp_span_count(r), 3, "unmap must not merge neighbours");
  CHECK_OK(vmp_coalesce(r, 0, 8 * PG));
  cr_assert_eq(vmp_span_count(r), 2);
  expect_span(7, VMP_PLACEHOLDER, 0, 8);
  CHECK_OK(vmp_coalesce(r, 0, 16 * PG));
  cr_assert_eq(vmp_span_count(r), 1);
  expect_span(9, VMP_PLACEHOLDER, 0, 16);
  CHECK_MAPS(r);
  cr_assert_eq(vmpt_maps_count_in(b, 16 * PG), 1);
}

/* ---- commit ------------------------------------------------------------------ */

Test(commit, argument_order, .init = setup16, .fini = teardown) {
  CHECK_RC(vmp_commit(NULL, 0, PG, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 0, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 0, 16 * PG, VMP_PROT_WRITE), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 0, 16 * PG, VMP_PROT_EXEC), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 0, 16 * PG, 8), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 0, 16 * PG, -1), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 1, 16 * PG, 8), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_commit(r, 1, 16 * PG, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_commit(r, 0, 32 * PG, VMP_PROT_RW), VMP_ERANGE);
  CHECK_RC(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW), VMP_EEXTENT); /* part of a placeholder */
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_RC(vmp_commit(r, 0, 16 * PG, VMP_PROT_RW), VMP_EEXTENT); /* two placeholders */
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW));
  CHECK_RC(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW), VMP_ESTATE);
  CHECK_RC(vmp_commit(r, 0, 16 * PG, VMP_PROT_RW), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK_RC(vmp_commit(r, 4 * PG, 12 * PG, VMP_PROT_RW), VMP_ESTATE);
  CHECK_MAPS(r);
}

Test(commit, zero_filled_private, .init = setup16, .fini = teardown) {
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW));
  expect_span(3, VMP_PRIVATE, 0, 8);
  cr_assert(all_bytes(b, 8 * PG, 0));
  memset(b, 0x7f, 8 * PG);
  CHECK_MAPS(r);
  /* Private memory is private: unmap and commit again gives zeros. */
  CHECK_OK(vmp_unmap(r, 0, 8 * PG));
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_READ));
  cr_assert(all_bytes(b, 8 * PG, 0));
  CHECK_MAPS(r);
  CHECK_OK(vmp_commit(r, 8 * PG, 8 * PG, VMP_PROT_READ | VMP_PROT_EXEC));
  CHECK_MAPS(r);
  CHECK_OK(vmp_unmap(r, 8 * PG, 8 * PG));
  CHECK_OK(vmp_commit(r, 8 * PG, 8 * PG, VMP_PROT_NONE));
  CHECK_MAPS(r);
}

/* ---- map ---------------------------------------------------------------------- */

Test(map, argument_order, .init = setup16_object, .fini = teardown_object) {
  CHECK_RC(vmp_map(NULL, 0, 8 * PG, obj, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, 16 * PG, NULL, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, 0, obj, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, 16 * PG, obj, 0, 16), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, 16 * PG, obj, 100, 16), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_map(r, 0, 16 * PG, obj, 100, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_map(r, 100, 16 * PG, obj, 0, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_map(r, 0, 32 * PG, obj, 100, VMP_PROT_RW), VMP_EALIGN); /* before ERANGE */
  CHECK_RC(vmp_map(r, 0, 32 * PG, obj, 0, VMP_PROT_RW), VMP_ERANGE);
  CHECK_RC(vmp_map(r, 0, 4 * PG, obj, 0, VMP_PROT_RW), VMP_EEXTENT);
  CHECK_RC(vmp_map(r, 0, 4 * PG, obj, 64 * PG, VMP_PROT_RW), VMP_EEXTENT); /* before EBOUNDS */
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_RC(vmp_map(r, 0, 8 * PG, obj, PG, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_RC(vmp_map(r, 0, 8 * PG, obj, UINT64_MAX & ~(uint64_t)(PG - 1), VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_RC(vmp_map(r, 8 * PG, 8 * PG, obj, 8 * PG, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_OK(vmp_commit(r, 8 * PG, 8 * PG, VMP_PROT_RW));
  CHECK_RC(vmp_map(r, 8 * PG, 8 * PG, obj, 64 * PG, VMP_PROT_RW), VMP_ESTATE); /* before EBOUNDS */
  CHECK_RC(vmp_map(r, 0, 16 * PG, obj, 0, VMP_PROT_RW), VMP_ESTATE);
  CHECK_OK(vmp_map(r, 0, 8 * PG, obj, 0, VMP_PROT_RW));
  CHECK_RC(vmp_map(r, 0, 8 * PG, obj, 0, VMP_PROT_RW), VMP_ESTATE);
  CHECK_MAPS(r);
}

Test(map, views_share_bytes, .init = setup16_object, .fini = teardown_object) {
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_OK(vmp_split(r, 8 * PG, 4 * PG));
  CHECK_OK(vmp_map(r, 0, 8 * PG, obj, 0, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 8 * PG, 4 * PG, obj, 4 * PG, VMP_PROT_READ));
  expect_span(9, VMP_VIEW, 8, 4);
  cr_assert(all_bytes(b, 8 * PG, 0), "a new object reads as zero");
  b[4 * PG + 17] = 0x42;
  cr_assert_eq(b[8 * PG + 17], 0x42, "two views at one object offset differ");
  CHECK_MAPS(r);
}

/* ---- unmap -------------------------------------------------------------------- */

Test(unmap, argument_order, .init = setup16, .fini = teardown) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(4 * PG, 0, &m));
  CHECK_RC(vmp_unmap(NULL, 0, PG), VMP_EINVAL);
  CHECK_RC(vmp_unmap(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_unmap(r, PG / 2, PG), VMP_EALIGN);
  CHECK_RC(vmp_unmap(r, 0, 17 * PG), VMP_ERANGE);
  CHECK_RC(vmp_unmap(r, 0, 16 * PG), VMP_ESTATE);
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_OK(vmp_split(r, 8 * PG, 4 * PG));
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 8 * PG, 4 * PG, m, 0, VMP_PROT_RW));
  CHECK_RC(vmp_unmap(r, 12 * PG, 4 * PG), VMP_ESTATE);
  CHECK_RC(vmp_unmap(r, 4 * PG, 12 * PG), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK_RC(vmp_unmap(r, 8 * PG, 2 * PG), VMP_EEXTENT); /* a view only whole */
  CHECK_RC(vmp_unmap(r, 4 * PG, 8 * PG), VMP_EEXTENT); /* two spans */
  CHECK_MAPS(r);
  CHECK_OK(vmp_mem_close(m));
}

Test(unmap, private_pieces_and_whole_views, .init = setup16_object, .fini = teardown_object) {
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW));
  vmpt_fill_pages(b, 8 * PG, 3);
  unsigned char *left = malloc(3 * PG), *right = malloc(3 * PG);
  cr_assert(left && right);
  memcpy(left, b, 3 * PG);
  memcpy(right, b + 5 * PG, 3 * PG);
  CHECK_OK(vmp_unmap(r, 3 * PG, 2 * PG));
  cr_assert_eq(vmp_span_count(r), 4);
  expect_span(0, VMP_PRIVATE, 0, 3);
  expect_span(3, VMP_PLACEHOLDER, 3, 2);
  expect_span(6, VMP_PRIVATE, 5, 3);
  cr_assert_eq(memcmp(b, left, 3 * PG), 0, "the pages before the hole changed");
  cr_assert_eq(memcmp(b + 5 * PG, right, 3 * PG), 0, "the pages after the hole changed");
  free(left);
  free(right);
  CHECK_MAPS(r);
  CHECK_OK(vmp_unmap(r, 0, PG)); /* at a span's start */
  expect_span(0, VMP_PLACEHOLDER, 0, 1);
  expect_span(1, VMP_PRIVATE, 1, 2);
  CHECK_OK(vmp_unmap(r, 7 * PG, PG)); /* at a span's end */
  expect_span(7, VMP_PLACEHOLDER, 7, 1);
  expect_span(5, VMP_PRIVATE, 5, 2);
  CHECK_MAPS(r);
  CHECK_OK(vmp_map(r, 8 * PG, 8 * PG, obj, 0, VMP_PROT_RW));
  b[9 * PG] = 0x33;
  CHECK_OK(vmp_unmap(r, 8 * PG, 8 * PG));
  expect_span(9, VMP_PLACEHOLDER, 8, 8);
  CHECK_MAPS(r);
  CHECK_OK(vmp_map(r, 8 * PG, 8 * PG, obj, 0, VMP_PROT_READ));
  cr_assert_eq(b[9 * PG], 0x33, "the object lost its bytes");
  CHECK_MAPS(r);
}

/* ---- protect ------------------------------------------------------------------ */

Test(protect, argument_order, .init = setup16, .fini = teardown) {
  vmp_mem *m;
  char path[512];
  cr_assert_eq(vmpt_temp_file(4 * PG, 1, path, sizeof path), 0);
  CHECK_OK(vmp_mem_open(path, VMP_MEM_READ, &m));
  CHECK_RC(vmp_protect(NULL, 0, PG, VMP_PROT_READ), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 0, 0, VMP_PROT_READ), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 0, PG, 99), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 3, PG, 99), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 3, PG, VMP_PROT_READ), VMP_EALIGN);
  CHECK_RC(vmp_protect(r, 0, 20 * PG, VMP_PROT_READ), VMP_ERANGE);
  CHECK_RC(vmp_protect(r, 0, PG, VMP_PROT_READ), VMP_ESTATE);
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_OK(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 4 * PG, 4 * PG, m, 0, VMP_PROT_READ));
  CHECK_RC(vmp_protect(r, 0, 8 * PG, VMP_PROT_READ), VMP_EEXTENT);
  CHECK_RC(vmp_protect(r, 0, 16 * PG, VMP_PROT_READ), VMP_ESTATE);
  CHECK_RC(vmp_protect(r, 4 * PG, 4 * PG, VMP_PROT_RW), VMP_EACCES);
  CHECK_RC(vmp_protect(r, 4 * PG, 8 * PG, VMP_PROT_RW), VMP_ESTATE); /* before EACCES */
  CHECK_OK(vmp_protect(r, 4 * PG, 4 * PG, VMP_PROT_NONE));
  CHECK_OK(vmp_protect(r, 5 * PG, 2 * PG, VMP_PROT_READ));
  CHECK_MAPS(r);
  CHECK_OK(vmp_mem_close(m));
  vmpt_temp_file_remove(path);
}

Test(protect, pages_change_span_stays_whole, .init = setup16, .fini = teardown) {
  CHECK_OK(vmp_split(r, 0, 8 * PG));
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW));
  memset(b, 0x11, 8 * PG);
  CHECK_OK(vmp_protect(r, 2 * PG, 3 * PG, VMP_PROT_READ));
  cr_assert_eq(vmp_span_count(r), 2);
  expect_span(3, VMP_PRIVATE, 0, 8);
  CHECK_MAPS(r);
  CHECK_OK(vmp_protect(r, 3 * PG, PG, VMP_PROT_NONE));
  CHECK_MAPS(r);
  CHECK_OK(vmp_protect(r, 0, 8 * PG, VMP_PROT_RW));
  CHECK_MAPS(r);
  cr_assert(all_bytes(b, 8 * PG, 0x11));
}

/* ---- discard ------------------------------------------------------------------ */

Test(discard, argument_order, .init = setup16, .fini = teardown) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(4 * PG, 0, &m));
  CHECK_RC(vmp_discard(NULL, 0, PG), VMP_EINVAL);
  CHECK_RC(vmp_discard(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_discard(r, 0, 5), VMP_EALIGN);
  CHECK_RC(vmp_discard(r, 15 * PG, 2 * PG), VMP_ERANGE);
  CHECK_RC(vmp_discard(r, 0, PG), VMP_ESTATE);
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_OK(vmp_split(r, 8 * PG, 4 * PG));
  CHECK_OK(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_commit(r, 4 * PG, 4 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 8 * PG, 4 * PG, m, 0, VMP_PROT_RW));
  CHECK_RC(vmp_discard(r, 8 * PG, PG), VMP_ESTATE); /* a view */
  CHECK_RC(vmp_discard(r, 2 * PG, 4 * PG), VMP_EEXTENT);
  CHECK_RC(vmp_discard(r, 6 * PG, 4 * PG), VMP_ESTATE);
  memset(b, 0x5a, 8 * PG);
  CHECK_OK(vmp_discard(r, PG, 2 * PG));
  cr_assert(all_bytes(b + PG, 2 * PG, 0));
  cr_assert(all_bytes(b, PG, 0x5a));
  cr_assert(all_bytes(b + 3 * PG, 5 * PG, 0x5a));
  CHECK_MAPS(r);
  CHECK_OK(vmp_mem_close(m));
}

Test(discard, keeps_protection, .init = setup16, .fini = teardown) {
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_OK(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW));
  memset(b, 0x5a, 4 * PG);
  CHECK_OK(vmp_protect(r, 2 * PG, 2 * PG, VMP_PROT_READ));
  /* Every backend, one step or run by run. */
  CHECK_OK(vmp_discard(r, 0, 4 * PG));
  cr_assert(all_bytes(b, 4 * PG, 0));
  vmp_span_info info;
  CHECK_OK(vmp_query(r, b + PG, &info));
  cr_assert_eq(info.prot, VMP_PROT_RW);
  CHECK_OK(vmp_query(r, b + 3 * PG, &info));
  cr_assert_eq(info.prot, VMP_PROT_READ);
  CHECK_MAPS(r);
}

/* Pages protected apart and then alike again make a uniform span again: the
 * kernel sees one protection, and so do discard (which the POSIX backend
 * refuses over mixed protections) and query. */
Test(protect, back_to_uniform, .init = setup16, .fini = teardown) {
  CHECK_OK(vmp_commit(r, 0, 16 * PG, VMP_PROT_RW));
  memset(b, 0x33, 16 * PG);
  CHECK_OK(vmp_protect(r, 4 * PG, 4 * PG, VMP_PROT_READ));
  CHECK_OK(vmp_protect(r, 10 * PG, 2 * PG, VMP_PROT_NONE));
  CHECK_MAPS(r);
  CHECK_OK(vmp_protect(r, 4 * PG, 4 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_protect(r, 10 * PG, 2 * PG, VMP_PROT_RW));
  CHECK_MAPS(r);
  CHECK_OK(vmp_discard(r, 0, 16 * PG));
  cr_assert(all_bytes(b, 16 * PG, 0));
  CHECK_OK(vmp_unmap(r, 6 * PG, 2 * PG));
  CHECK_OK(vmp_protect(r, 0, 2 * PG, VMP_PROT_READ));
  CHECK_OK(vmp_protect(r, 0, 2 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_discard(r, 0, 6 * PG));
  CHECK_OK(vmp_discard(r, 8 * PG, 8 * PG));
  CHECK_MAPS(r);
}

/* ---- query and listing -------------------------------------------------------- */

static int count_spans(const vmp_span_info *info, void *arg) {
  (void)info;
  ++*(size_t *)arg;
  return 0;
}

static int stop_at_second(const vmp_span_info *info, void *arg) {
  (void)info;
  return ++*(int *)arg == 2 ? 77 : 0;
}

Test(query, argument_order, .init = setup16, .fini = teardown) {
  vmp_span_info info;
  CHECK_RC(vmp_query(NULL, b, &info), VMP_EINVAL);
  CHECK_RC(vmp_query(r, b, NULL), VMP_EINVAL);
  CHECK_RC(vmp_query(r, b - 1, &info), VMP_ERANGE);
  CHECK_RC(vmp_query(r, b + 16 * PG, &info), VMP_ERANGE);
  CHECK_OK(vmp_query(r, b + 16 * PG - 1, &info));
  CHECK_OK(vmp_query(r, b + 12345 % (16 * PG), &info));
  cr_assert_eq(info.kind, VMP_PLACEHOLDER);
  cr_assert_eq(info.prot, VMP_PROT_NONE);
  cr_assert_null(info.mem);
  CHECK_RC(vmp_foreach_span(NULL, count_spans, NULL), VMP_EINVAL);
  CHECK_RC(vmp_foreach_span(r, NULL, NULL), VMP_EINVAL);
}

Test(query, foreach_in_order_and_stops_early, .init = setup16, .fini = teardown) {
  size_t n = 0;
  int calls = 0;
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_OK(vmp_foreach_span(r, count_spans, &n));
  cr_assert_eq(n, 3);
  cr_assert_eq(vmp_foreach_span(r, stop_at_second, &calls), 77);
  cr_assert_eq(calls, 2);
}
