/* vmp_query details: per-page protection inside one span, a view's object
 * and offset, and what vmp_foreach_span reports. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "support_criterion.h"
#include "vmplace.h"

static int first_info(const vmp_span_info *info, void *arg) {
  vmp_span_info *out = arg;
  /* Keep the span that starts at offset 0 only. */
  if (info->offset == 0) *out = *info;
  return 0;
}

Test(query, protection_per_page_of_a_partly_protected_span) {
  vmp_region *r;
  vmp_span_info info;
  CHECK_OK(vmp_reserve(8 * PG, 0, &r));
  char *b = vmp_base(r);
  CHECK_OK(vmp_commit(r, 0, 8 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_protect(r, 2 * PG, 2 * PG, VMP_PROT_READ));
  CHECK_OK(vmp_protect(r, 5 * PG, PG, VMP_PROT_NONE));
  CHECK_OK(vmp_protect(r, 7 * PG, PG, VMP_PROT_READ | VMP_PROT_EXEC));
  static const int want[8] = {
      VMP_PROT_RW, VMP_PROT_RW,   VMP_PROT_READ, VMP_PROT_READ,
      VMP_PROT_RW, VMP_PROT_NONE, VMP_PROT_RW,   VMP_PROT_READ | VMP_PROT_EXEC};
  for (size_t p = 0; p < 8; p++) {
    CHECK_OK(vmp_query(r, b + p * PG + (p * 131) % PG, &info));
    cr_assert_eq(info.prot, want[p], "page %zu: prot %d, expected %d", p, info.prot, want[p]);
    cr_assert_eq(info.kind, VMP_PRIVATE);
    cr_assert_eq(info.offset, 0, "page %zu: the span was cut", p);
    cr_assert_eq(info.size, 8 * PG);
    cr_assert_null(info.mem);
  }
  cr_assert_eq(vmp_span_count(r), 1);
  CHECK_MAPS(r);
  /* foreach reports the protection of the span's first page. */
  CHECK_OK(vmp_protect(r, 0, PG, VMP_PROT_NONE));
  vmp_span_info listed = {0};
  CHECK_OK(vmp_foreach_span(r, first_info, &listed));
  cr_assert_eq(listed.prot, VMP_PROT_NONE);
  cr_assert_eq(listed.size, 8 * PG);
  /* Protecting the whole span makes it uniform again. */
  CHECK_OK(vmp_protect(r, 0, 8 * PG, VMP_PROT_READ));
  for (size_t p = 0; p < 8; p++) {
    CHECK_OK(vmp_query(r, b + p * PG, &info));
    cr_assert_eq(info.prot, VMP_PROT_READ, "page %zu", p);
  }
  CHECK_MAPS(r);
  /* Unmapping part of a mixed span keeps the pieces' page protections. */
  CHECK_OK(vmp_protect(r, 6 * PG, 2 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_unmap(r, 5 * PG, PG));
  CHECK_OK(vmp_query(r, b + 7 * PG, &info));
  cr_assert_eq(info.prot, VMP_PROT_RW);
  cr_assert_eq(info.offset, 6 * PG);
  CHECK_OK(vmp_query(r, b + 4 * PG, &info));
  cr_assert_eq(info.prot, VMP_PROT_READ);
  cr_assert_eq(info.size, 5 * PG);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

Test(query, views_name_object_and_offset) {
  vmp_region *r;
  vmp_mem *a, *c;
  vmp_span_info info;
  CHECK_OK(vmp_mem_create(16 * PG, 0, &a));
  CHECK_OK(vmp_mem_create(4 * PG, 0, &c));
  CHECK_OK(vmp_reserve(12 * PG, 0, &r));
  char *b = vmp_base(r);
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_OK(vmp_map(r, 0, 4 * PG, a, 12 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 4 * PG, 4 * PG, c, 0, VMP_PROT_READ));
  CHECK_OK(vmp_map(r, 8 * PG, 4 * PG, a, 10 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_query(r, b + 2 * PG + 9, &info));
  cr_assert_eq(info.kind, VMP_VIEW);
  cr_assert_eq(info.mem, a);
  cr_assert_eq(info.mem_offset, 12 * PG, "mem_offset is the span's first byte's");
  cr_assert_eq(info.start, b);
  cr_assert_eq(info.prot, VMP_PROT_RW);
  CHECK_OK(vmp_query(r, b + 7 * PG, &info));
  cr_assert_eq(info.mem, c);
  cr_assert_eq(info.mem_offset, 0);
  cr_assert_eq(info.prot, VMP_PROT_READ);
  CHECK_OK(vmp_query(r, b + 11 * PG, &info));
  cr_assert_eq(info.mem, a);
  cr_assert_eq(info.mem_offset, 10 * PG);
  cr_assert_eq(info.offset, 8 * PG);
  /* Object page 12 is region page 0 (first view) and region page 10
   * (third view, which starts at object page 10). */
  b[10 * PG] = 0x21;
  cr_assert_eq(b[0], 0x21);
  /* A partly protected view keeps naming its object. */
  CHECK_OK(vmp_protect(r, PG, PG, VMP_PROT_READ));
  CHECK_OK(vmp_query(r, b + PG, &info));
  cr_assert_eq(info.prot, VMP_PROT_READ);
  cr_assert_eq(info.mem, a);
  cr_assert_eq(info.mem_offset, 12 * PG);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(a));
  CHECK_OK(vmp_mem_close(c));
}
