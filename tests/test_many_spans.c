/* Many spans: the bookkeeping scales, and adjacent placeholders cost one
 * kernel mapping however many spans there are (docs/contract.md: Economy). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "support_criterion.h"
#include "vmplace.h"

#define MANY 100000

Test(many, thousand_splits_one_mapping) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(2001 * PG, 0, &r));
  /* Every other page its own placeholder: splits in the middle. */
  for (size_t i = 0; i < 1000; i++) CHECK_OK(vmp_split(r, (2 * i + 1) * PG, PG));
  cr_assert_eq(vmp_span_count(r), 2001);
  cr_assert_eq(vmpt_maps_count_in(vmp_base(r), vmp_size(r)), 1,
               "1000 splits cost %zu kernel mappings",
               vmpt_maps_count_in(vmp_base(r), vmp_size(r)));
  CHECK_MAPS(r);
  /* Replace and restore some: the restored placeholders merge again in the
   * kernel, though not in the bookkeeping. */
  for (size_t i = 0; i < 100; i++) CHECK_OK(vmp_commit(r, (2 * i + 1) * PG, PG, VMP_PROT_RW));
  CHECK_MAPS(r);
  for (size_t i = 0; i < 100; i++) CHECK_OK(vmp_unmap(r, (2 * i + 1) * PG, PG));
  cr_assert_eq(vmp_span_count(r), 2001);
  cr_assert_eq(vmpt_maps_count_in(vmp_base(r), vmp_size(r)), 1);
  CHECK_OK(vmp_coalesce(r, 0, 2001 * PG));
  cr_assert_eq(vmp_span_count(r), 1);
  cr_assert_eq(vmpt_maps_count_in(vmp_base(r), vmp_size(r)), 1);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

Test(many, hundred_thousand_splits_then_coalesce) {
  vmp_region *r;
  vmp_span_info info;
  CHECK_OK(vmp_reserve((MANY + 1) * PG, 0, &r));
  char *b = vmp_base(r);
  for (size_t i = 0; i < MANY; i++) CHECK_OK(vmp_split(r, i * PG, PG));
  cr_assert_eq(vmp_span_count(r), MANY + 1);
  cr_assert_eq(vmpt_maps_count_in(b, vmp_size(r)), 1);
  for (size_t i = 0; i < MANY; i += 9973) {
    CHECK_OK(vmp_query(r, b + i * PG + 1, &info));
    cr_assert_eq(info.offset, i * PG);
    cr_assert_eq(info.size, PG);
  }
  CHECK_OK(vmp_query(r, b + MANY * PG, &info));
  cr_assert_eq(info.offset, MANY * PG);
  /* Coalesce in halves, then all. */
  CHECK_OK(vmp_coalesce(r, 0, (MANY / 2) * PG));
  cr_assert_eq(vmp_span_count(r), MANY / 2 + 2);
  CHECK_OK(vmp_coalesce(r, 0, (MANY + 1) * PG));
  cr_assert_eq(vmp_span_count(r), 1);
  CHECK_OK(vmp_query(r, b + 12345 * PG, &info));
  cr_assert_eq(info.offset, 0);
  cr_assert_eq(info.size, (MANY + 1) * PG);
  cr_assert_eq(vmpt_maps_count_in(b, vmp_size(r)), 1);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

Test(many, private_pieces_do_not_leak_mappings) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(64 * PG, 0, &r));
  CHECK_OK(vmp_commit(r, 0, 64 * PG, VMP_PROT_RW));
  /* Punch every other page; then unmap the rest page by page. */
  for (size_t i = 1; i < 64; i += 2) CHECK_OK(vmp_unmap(r, i * PG, PG));
  cr_assert_eq(vmp_span_count(r), 64);
  CHECK_MAPS(r);
  for (size_t i = 0; i < 64; i += 2) CHECK_OK(vmp_unmap(r, i * PG, PG));
  cr_assert_eq(vmpt_maps_count_in(vmp_base(r), vmp_size(r)), 1);
  CHECK_OK(vmp_coalesce(r, 0, 64 * PG));
  cr_assert_eq(vmp_span_count(r), 1);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}
