/*
 * The rules of docs/contract.md section 2 through the public API, on whatever backend
 * is compiled in: argument checks in their documented order, the effect of
 * each operation on spans and bytes, and after each successful operation
 * the kernel's own view agreeing with vmp_query() page by page.
 *
 * Sizes are counted in pages (P) and in grains (G: 64 KiB rounded up to
 * the page) wherever an object offset is involved, so the same test holds
 * on Windows, where views start at multiples of 64 KiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support_check.h"
#include "support_kernel.h"
#include "support_util.h"
#include "vmplace.h"

#define P (util_page())
#define G (util_grain())

static char *at(vmp_region *r, size_t off) { return (char *)vmp_base(r) + off; }

/* A region of 4G: private read-write [0,G), a view of a fresh object of G
 * bytes [G,2G), a placeholder [2G,4G). 0 with both made, or nonzero
 * (reported) with neither. */
static int private_then_view(vmp_region **r, vmp_mem **m) {
  if (util_region_and_object(4 * G, G, r, m)) return 1;
  CHECK_RC(vmp_split(*r, 0, G), 0);
  CHECK_RC(vmp_split(*r, G, G), 0);
  CHECK_RC(vmp_commit(*r, 0, G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(*r, G, G, *m, 0, VMP_PROT_RW), 0);
  return 0;
}

/* ---- facts ------------------------------------------------------------------ */

CHECK_TEST(system_facts) {
  size_t page = vmp_page_size(), gran = vmp_granularity();
  CHECK(page >= 4096 && (page & (page - 1)) == 0, "page size %zu", page);
  CHECK(gran >= page && gran % page == 0, "granularity %zu, page %zu", gran, page);
  /* The capabilities are one constant table that agrees with the system. */
  const vmp_caps *caps = vmp_capabilities();
  CHECK(caps != NULL && caps == vmp_capabilities(), "vmp_capabilities() is not one table");
  CHECK(caps->backend != NULL && caps->backend[0] != '\0', "no backend name");
  CHECK(caps->page_size == page && caps->granularity == gran, "caps say page %zu, grain %zu",
        caps->page_size, caps->granularity);
  CHECK(caps->view_offset_unit >= page && caps->view_offset_unit % page == 0 &&
            gran % caps->view_offset_unit == 0,
        "view offset unit %zu", caps->view_offset_unit);
  CHECK(gran == kv_granularity(), "granularity %zu, the system says %zu", gran, kv_granularity());
  CHECK(strcmp(vmp_err_name(0), "OK") == 0, "vmp_err_name(0) = %s", vmp_err_name(0));
  CHECK(strcmp(vmp_err_name(VMP_EBOUNDS), "EBOUNDS") == 0, "%s", vmp_err_name(VMP_EBOUNDS));
  CHECK(!vmp_err_is_os(VMP_ENOMEM), "ENOMEM is the library's own");
  CHECK(strcmp(vmp_kind_name(VMP_VIEW), "view") == 0, "%s", vmp_kind_name(VMP_VIEW));
}

/* The kernel view the other tests lean on really sees the system: a test
 * that only ever compared empty snapshots would pass whatever happened. */
CHECK_TEST(kernel_view_works) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(2 * G, 0, &r), 0)) return;
  CHECK_RC(vmp_split(r, 0, G), 0);
  CHECK_RC(vmp_commit(r, 0, G, VMP_PROT_READ), 0);
  kv_snapshot snap;
  if (!kv_available()) {
    vmp_release(r);
    SKIP("the system shows no kernel view (no /proc/self/maps): kernel checks are skipped");
  }
  if (!CHECK(kv_take(&snap, vmp_base(r), 2 * G) == 0, "the kernel view cannot be read")) {
    vmp_release(r);
    return;
  }
  size_t first_ph = G / P;
  CHECK(snap.pages == 2 * G / P, "%zu pages", snap.pages);
  CHECK(kv_page_matches(&snap, 0, VMP_PRIVATE, VMP_PROT_READ, 0), "private page not seen");
  CHECK(!kv_page_matches(&snap, 0, VMP_PRIVATE, VMP_PROT_RW, 0), "wrong protection accepted");
  CHECK(!kv_page_matches(&snap, 0, VMP_PLACEHOLDER, 0, 0), "private page taken for a placeholder");
  CHECK(kv_page_matches(&snap, first_ph, VMP_PLACEHOLDER, 0, 0), "placeholder not seen");
  CHECK(!kv_page_matches(&snap, first_ph, VMP_VIEW, VMP_PROT_NONE, 0),
        "placeholder taken for a view");
  CHECK(kv_readable(&snap, 0) && !kv_writable(&snap, 0) && !kv_accessible(&snap, first_ph),
        "per-page access is wrong");
  kv_snapshot again;
  if (CHECK(kv_take(&again, vmp_base(r), 2 * G) == 0, "second snapshot")) {
    CHECK(kv_first_difference(&snap, &again) == (size_t)-1, "two snapshots of nothing differ");
    CHECK_RC(vmp_protect(r, P, P, VMP_PROT_NONE), 0);
    kv_free(&again);
    if (CHECK(kv_take(&again, vmp_base(r), 2 * G) == 0, "third snapshot")) {
      CHECK(kv_first_difference(&snap, &again) == 1, "a protection change was not seen");
      kv_free(&again);
    }
  }
  kv_free(&snap);
  CHECK_RC(vmp_release(r), 0);
}

/* ---- reserve and release ------------------------------------------------------ */

CHECK_TEST(reserve_arguments) {
  vmp_region *r = NULL;
  CHECK_RC(vmp_reserve(P, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_reserve(0, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_reserve(P, 3 * P, &r), VMP_EINVAL); /* not a power of two */
  CHECK_RC(vmp_reserve(P, P / 2, &r), VMP_EINVAL); /* below the page */
  CHECK_RC(vmp_reserve(P + 1, 3, &r), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_reserve(P + 1, 0, &r), VMP_EALIGN);
  CHECK_RC(vmp_reserve(P / 2, 0, &r), VMP_EALIGN);
  size_t top_bit = (SIZE_MAX >> 1) + 1;
  CHECK_RC(vmp_reserve(SIZE_MAX - P + 1, top_bit, &r), VMP_ERANGE); /* size + alignment overflows */
  CHECK(r == NULL, "a failed reserve handed out a region");
  CHECK_RC(vmp_release(NULL), 0);
}

CHECK_TEST(reserve_gives_one_placeholder) {
  vmp_region *r;
  kv_reservations before, after;
  int have_before = kv_reservations_take(&before) == 0;
  if (!CHECK_RC(vmp_reserve(4 * G, 0, &r), 0)) return;
  CHECK((uintptr_t)vmp_base(r) % vmp_granularity() == 0, "base %p", vmp_base(r));
  CHECK(vmp_size(r) == 4 * G, "size %zu", vmp_size(r));
  CHECK(vmp_span_count(r) == 1, "%zu spans", vmp_span_count(r));
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, 4 * G);
  CHECK_SPAN(r, 4 * G - P, VMP_PLACEHOLDER, 0, 4 * G);
  CHECK_KERNEL_AGREES(r);
  if (have_before && kv_reservations_take(&after) == 0) {
    uint64_t fresh = kv_reservations_new_bytes(&before, &after);
    CHECK(fresh >= 4 * G, "the kernel shows %llu newly reserved bytes, expected %zu",
          (unsigned long long)fresh, 4 * G);
    kv_reservations_free(&after);
  }
  if (have_before) kv_reservations_free(&before);
  char *base = vmp_base(r);
  CHECK_RC(vmp_release(r), 0);
  kv_snapshot snap;
  if (kv_take(&snap, base, 4 * G) == 0) {
    size_t still = 0;
    for (size_t i = 0; i < snap.pages; i++)
      if (kv_page_matches(&snap, i, VMP_PLACEHOLDER, 0, 0)) still++;
    CHECK(still < snap.pages, "the released range is still reserved");
    kv_free(&snap);
  }
}

CHECK_TEST(reserve_aligned) {
  size_t aligns[] = {P, 2 * P, G, 16 * G, 64 * G};
  for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
    vmp_region *r;
    if (!CHECK_RC(vmp_reserve(3 * P, aligns[i], &r), 0)) continue;
    CHECK((uintptr_t)vmp_base(r) % aligns[i] == 0, "base %p, alignment %zu", vmp_base(r),
          aligns[i]);
    CHECK((uintptr_t)vmp_base(r) % vmp_granularity() == 0, "base %p", vmp_base(r));
    CHECK(vmp_span_count(r) == 1, "%zu spans", vmp_span_count(r));
    CHECK_KERNEL_AGREES(r);
    CHECK_RC(vmp_release(r), 0);
  }
}

CHECK_TEST(release_with_everything_in_it) {
  vmp_region *r;
  vmp_mem *m;
  if (private_then_view(&r, &m)) return;
  memset(at(r, G), 0x5a, G);
  CHECK_RC(vmp_mem_close(m), 0);
  char *base = vmp_base(r);
  CHECK_RC(vmp_release(r), 0);
  kv_snapshot snap;
  if (kv_take(&snap, base, 4 * G) == 0) {
    for (size_t i = 0; i < snap.pages; i++) {
      if (snap.page[i].state == KV_FREE) continue;
      char buf[160];
      CHECK(0, "after release %s", kv_describe(&snap, i, buf, sizeof buf));
      break;
    }
    kv_free(&snap);
  }
}

/* ---- split and coalesce ----------------------------------------------------------- */

CHECK_TEST(split_rules) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  CHECK_RC(vmp_split(NULL, 0, P), VMP_EINVAL);
  CHECK_RC(vmp_split(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_split(r, 1, 0), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_split(r, 1, P), VMP_EALIGN);
  CHECK_RC(vmp_split(r, 0, P + 1), VMP_EALIGN);
  CHECK_RC(vmp_split(r, 16 * P, P), VMP_ERANGE);
  CHECK_RC(vmp_split(r, 15 * P, 2 * P), VMP_ERANGE);
  CHECK_RC(vmp_split(r, SIZE_MAX - P + 1, 2 * P), VMP_ERANGE); /* overflow */
  CHECK_RC(vmp_split(r, 0, 16 * P), VMP_EEXTENT);              /* the whole placeholder */
  CHECK(vmp_span_count(r) == 1, "failed splits changed the spans");

  CHECK_RC(vmp_split(r, 4 * P, 4 * P), 0); /* middle: three */
  CHECK(vmp_span_count(r) == 3, "%zu spans", vmp_span_count(r));
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, 4 * P);
  CHECK_SPAN(r, 5 * P, VMP_PLACEHOLDER, 4 * P, 4 * P);
  CHECK_SPAN(r, 8 * P, VMP_PLACEHOLDER, 8 * P, 8 * P);
  CHECK_RC(vmp_split(r, 8 * P, 2 * P), 0);  /* front: two */
  CHECK_RC(vmp_split(r, 14 * P, 2 * P), 0); /* back: two */
  CHECK(vmp_span_count(r) == 5, "%zu spans", vmp_span_count(r));
  CHECK_RC(vmp_split(r, 3 * P, 2 * P), VMP_EEXTENT); /* across two placeholders */
  CHECK_RC(vmp_split(r, 4 * P, 4 * P), VMP_EEXTENT); /* exactly one whole */
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_RW), 0);
  CHECK_RC(vmp_split(r, 5 * P, P), VMP_ESTATE);
  CHECK_RC(vmp_split(r, 3 * P, 2 * P), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK(vmp_span_count(r) == 5, "%zu spans", vmp_span_count(r));
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

CHECK_TEST(coalesce_rules) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  CHECK_RC(vmp_coalesce(r, 0, 16 * P), VMP_EEXTENT); /* only one span */
  CHECK_RC(vmp_split(r, 4 * P, 4 * P), 0);
  CHECK_RC(vmp_split(r, 8 * P, 4 * P), 0);
  /* 0-4 4-8 8-12 12-16 */
  CHECK_RC(vmp_coalesce(NULL, 0, P), VMP_EINVAL);
  CHECK_RC(vmp_coalesce(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_coalesce(r, P / 2, 4 * P), VMP_EALIGN);
  CHECK_RC(vmp_coalesce(r, 8 * P, 12 * P), VMP_ERANGE);
  CHECK_RC(vmp_coalesce(r, P, 7 * P), VMP_EEXTENT);     /* does not start at a span start */
  CHECK_RC(vmp_coalesce(r, 0, 7 * P), VMP_EEXTENT);     /* does not end at a span end */
  CHECK_RC(vmp_coalesce(r, 4 * P, 4 * P), VMP_EEXTENT); /* one span */
  CHECK_RC(vmp_commit(r, 8 * P, 4 * P, VMP_PROT_RW), 0);
  CHECK_RC(vmp_coalesce(r, 4 * P, 8 * P), VMP_ESTATE);
  CHECK_RC(vmp_coalesce(r, 5 * P, 7 * P), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK(vmp_span_count(r) == 4, "%zu spans", vmp_span_count(r));
  CHECK_RC(vmp_coalesce(r, 0, 8 * P), 0);
  CHECK_SPAN(r, 7 * P, VMP_PLACEHOLDER, 0, 8 * P);
  CHECK(vmp_span_count(r) == 3, "%zu spans", vmp_span_count(r));
  CHECK_KERNEL_AGREES(r);
  /* A coalesced placeholder can be committed as one. */
  CHECK_RC(vmp_commit(r, 0, 8 * P, VMP_PROT_RW), 0);
  CHECK(util_all_bytes(at(r, 0), 8 * P, 0), "fresh memory is not zero");
  memset(at(r, 0), 1, 8 * P);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

/* ---- commit ------------------------------------------------------------------------ */

CHECK_TEST(commit_rules) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  CHECK_RC(vmp_split(r, 4 * P, 4 * P), 0);
  CHECK_RC(vmp_commit(NULL, 4 * P, 4 * P, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 4 * P, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_WRITE), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_EXEC), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, 8), VMP_EINVAL);
  CHECK_RC(vmp_commit(r, 1, 4 * P, 8), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_commit(r, 4 * P + 1, 4 * P, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P - 1, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_commit(r, 20 * P + 1, P, VMP_PROT_RW), VMP_EALIGN); /* EALIGN before ERANGE */
  CHECK_RC(vmp_commit(r, 12 * P, 8 * P, VMP_PROT_RW), VMP_ERANGE);
  CHECK_RC(vmp_commit(r, SIZE_MAX - P + 1, 2 * P, VMP_PROT_RW), VMP_ERANGE);
  CHECK_RC(vmp_commit(r, 4 * P, 2 * P, VMP_PROT_RW), VMP_EEXTENT); /* part of one */
  CHECK_RC(vmp_commit(r, 0, 8 * P, VMP_PROT_RW), VMP_EEXTENT);     /* two whole ones */
  CHECK(vmp_span_count(r) == 3, "failed commits changed the spans");
  CHECK_KERNEL_AGREES(r);

  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_RW), 0);
  CHECK_SPAN(r, 4 * P, VMP_PRIVATE, 4 * P, 4 * P);
  CHECK(util_all_bytes(at(r, 4 * P), 4 * P, 0), "fresh private memory is not zero");
  util_fill(at(r, 4 * P), 4 * P, 3);
  CHECK(util_find_mismatch(at(r, 4 * P), 4 * P, 3) == (size_t)-1, "bytes did not stick");
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_RW), VMP_ESTATE);
  CHECK_RC(vmp_commit(r, 0, 8 * P, VMP_PROT_RW), VMP_ESTATE); /* ESTATE before EEXTENT */
  CHECK_KERNEL_AGREES(r);

  /* Each protection, seen by query and by the kernel. */
  CHECK_RC(vmp_split(r, 8 * P, 2 * P), 0);
  CHECK_RC(vmp_split(r, 10 * P, 2 * P), 0);
  CHECK_RC(vmp_commit(r, 8 * P, 2 * P, VMP_PROT_READ), 0);
  CHECK_RC(vmp_commit(r, 10 * P, 2 * P, VMP_PROT_NONE), 0);
  CHECK_RC(vmp_commit(r, 0, 4 * P, VMP_PROT_READ | VMP_PROT_EXEC), 0);
  vmp_span_info info;
  CHECK_RC(vmp_query(r, at(r, 9 * P), &info), 0);
  CHECK(info.kind == VMP_PRIVATE && info.prot == VMP_PROT_READ, "kind %d prot %d", info.kind,
        info.prot);
  CHECK(util_all_bytes(at(r, 8 * P), 2 * P, 0), "read-only private memory is not zero");
  CHECK_RC(vmp_query(r, at(r, 0), &info), 0);
  CHECK(info.prot == (VMP_PROT_READ | VMP_PROT_EXEC), "prot %d", info.prot);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

/* ---- memory objects ------------------------------------------------------------- */

CHECK_TEST(mem_create_rules) {
  vmp_mem *m = NULL;
  CHECK_RC(vmp_mem_create(G, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mem_create(0, 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create(G, 1, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create(P + 1, 1, &m), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_mem_create(P + 1, 0, &m), VMP_EALIGN);
  CHECK(m == NULL, "a failed create handed out an object");
  CHECK_RC(vmp_mem_close(NULL), 0);
  CHECK_RC(vmp_mem_size(NULL, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mem_grow(NULL, G), VMP_EINVAL);
  CHECK(vmp_mem_fd(NULL) == -1, "vmp_mem_fd(NULL)");

  if (!CHECK_RC(vmp_mem_create(2 * G, 0, &m), 0)) return;
  uint64_t size = 0;
  CHECK_RC(vmp_mem_size(m, &size), 0);
  CHECK(size == 2 * G, "size %llu", (unsigned long long)size);
  CHECK(vmp_mem_flags(m) == VMP_MEM_RW, "flags %u", vmp_mem_flags(m));
  CHECK(vmp_mem_fd(m) != -1, "no native handle");
  CHECK_RC(vmp_mem_grow(m, G), VMP_EINVAL); /* shrinking */
  CHECK_RC(vmp_mem_grow(m, 2 * G), 0);      /* the same size is no change */
  if (!vmp_capabilities()->anon_resizable) {
    CHECK_RC(vmp_mem_grow(m, 3 * G), VMP_ENOTSUP); /* a pagefile section's size is fixed */
  } else {
    CHECK_RC(vmp_mem_grow(m, 3 * G), 0);
    CHECK_RC(vmp_mem_size(m, &size), 0);
    CHECK(size == 3 * G, "size after grow %llu", (unsigned long long)size);
  }
  CHECK_RC(vmp_mem_close(m), 0);
}

CHECK_TEST(map_anonymous) {
  vmp_region *r;
  vmp_mem *m;
  if (util_region_and_object(8 * G, 4 * G, &r, &m)) return;
  CHECK_RC(vmp_split(r, 0, G), 0);
  CHECK_RC(vmp_split(r, G, G), 0);
  CHECK_RC(vmp_split(r, 2 * G, G), 0);
  CHECK_RC(vmp_split(r, 3 * G, G), 0);
  /* 0:G G:G 2G:G 3G:G 4G:4G */
  CHECK_RC(vmp_map(NULL, 0, G, m, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, G, NULL, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, 0, m, 0, VMP_PROT_RW), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, G, m, 0, 16), VMP_EINVAL);
  CHECK_RC(vmp_map(r, 0, G, m, 1, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_map(r, 1, G, m, 0, VMP_PROT_RW), VMP_EALIGN);
  CHECK_RC(vmp_map(r, 1, G, m, 0, 16), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_map(r, 8 * G, G, m, 0, VMP_PROT_RW), VMP_ERANGE);
  CHECK_RC(vmp_map(r, 8 * G + 1, G, m, 0, VMP_PROT_RW), VMP_EALIGN); /* before ERANGE */
  CHECK_RC(vmp_map(r, 0, P, m, 0, VMP_PROT_RW), VMP_EEXTENT);
  CHECK_RC(vmp_map(r, 0, 2 * G, m, 0, VMP_PROT_RW), VMP_EEXTENT);
  CHECK_RC(vmp_map(r, 0, G, m, 4 * G, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_RC(vmp_map(r, 4 * G, 4 * G, m, G, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_RC(vmp_map(r, 0, P, m, 8 * G, VMP_PROT_RW), VMP_EEXTENT); /* EEXTENT before EBOUNDS */
  CHECK_RC(vmp_map(r, 8 * G - P, 2 * P, m, 0, VMP_PROT_RW), VMP_ERANGE);
  CHECK(vmp_span_count(r) == 5, "failed maps changed the spans");
  CHECK_KERNEL_AGREES(r);

  /* Two views of the same bytes, one of a later part of the object. */
  CHECK_RC(vmp_map(r, 0, G, m, G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, 2 * G, G, m, G, VMP_PROT_READ), 0);
  CHECK_RC(vmp_map(r, 3 * G, G, m, 0, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, 0, G, m, 0, VMP_PROT_RW), VMP_ESTATE);
  CHECK_RC(vmp_map(r, 0, G, m, 8 * G, VMP_PROT_RW), VMP_ESTATE); /* ESTATE before EBOUNDS */
  CHECK(util_all_bytes(at(r, 0), G, 0), "a fresh object is not zero");
  util_fill(at(r, 0), G, 7);
  util_fill(at(r, 3 * G), G, 9);
  CHECK(util_find_mismatch(at(r, 2 * G), G, 7) == (size_t)-1, "views of one offset differ");
  CHECK(util_find_mismatch(at(r, 3 * G), G, 9) == (size_t)-1, "the view at 0 lost its bytes");
  CHECK(util_find_mismatch(at(r, 0), G, 7) == (size_t)-1, "the view at G was overwritten");

  vmp_span_info info;
  CHECK_RC(vmp_query(r, at(r, 2 * G + P + 3), &info), 0);
  CHECK(info.kind == VMP_VIEW && info.mem == m && info.mem_offset == G &&
            info.prot == VMP_PROT_READ && info.offset == 2 * G && info.size == G,
        "view query: kind %d mem %p offset %llu prot %d", info.kind, (void *)info.mem,
        (unsigned long long)info.mem_offset, info.prot);
  CHECK_KERNEL_AGREES(r);

  /* Object offsets that are page but not 64 KiB multiples map on every
   * backend (Windows too: a view replacing a placeholder needs only a
   * page-aligned offset). */
  if (G > P && CHECK_RC(vmp_map(r, G, G, m, P, VMP_PROT_RW), 0)) {
    CHECK(memcmp(at(r, G), at(r, 3 * G) + P, G - P) == 0,
          "the view at object offset P does not match the view at 0");
    at(r, G)[0] = 0x3c;
    CHECK(at(r, 3 * G)[P] == 0x3c, "the view at object offset P does not share page 1");
    CHECK_RC(vmp_query(r, at(r, G + P), &info), 0);
    CHECK(info.kind == VMP_VIEW && info.mem_offset == P, "kind %d, object offset %llu", info.kind,
          (unsigned long long)info.mem_offset);
    CHECK_KERNEL_AGREES(r);
    CHECK_RC(vmp_unmap(r, G, G), 0);
    CHECK_SPAN(r, G, VMP_PLACEHOLDER, G, G);
  }

  /* Views live on after the handle is closed. */
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK(util_find_mismatch(at(r, 2 * G), G, 7) == (size_t)-1, "bytes lost after close");
  at(r, 0)[5] = 42;
  CHECK(at(r, 2 * G)[5] == 42, "views no longer share after close");
  CHECK_RC(vmp_query(r, at(r, 0), &info), 0);
  CHECK(info.mem != NULL && info.kind == VMP_VIEW, "query lost the object after close");
  CHECK_RC(vmp_unmap(r, 0, G), 0);
  CHECK(at(r, 2 * G)[5] == 42, "unmapping one view changed another");
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

CHECK_TEST(map_files) {
  char path[600];
  const unsigned seed = 21;
  if (!CHECK(util_temp_file(path, sizeof path, 4 * G, seed) == 0, "cannot create a file")) return;
  vmp_mem *ro = NULL, *rw = NULL;
  vmp_region *r = NULL;
  CHECK_RC(vmp_mem_open(NULL, VMP_MEM_READ, &ro), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, 0, &ro), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, 8, &ro), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, VMP_MEM_READ, NULL), VMP_EINVAL);
  char missing[640];
  snprintf(missing, sizeof missing, "%s.missing", path);
  int rc = vmp_mem_open(missing, VMP_MEM_READ, &ro);
  CHECK(rc < 0 && vmp_err_is_os(rc), "opening a missing file: %s", vmp_err_name(rc));
  /* An OS error is named OS:..., never like the library's own codes. */
  CHECK(strcmp(vmp_err_name(rc), util_missing_file_error_name()) == 0, "missing file: %s",
        vmp_err_name(rc));
  {
    /* A directory is no memory object: POSIX opens it and sees that it is
     * not a regular file; Windows refuses to open it at all. */
    char dirbuf[512];
    const char *dir = util_temp_directory(dirbuf, sizeof dirbuf);
    rc = vmp_mem_open(dir, VMP_MEM_READ, &ro);
    if (util_directories_open())
      CHECK_RC(rc, VMP_EINVAL);
    else
      CHECK(rc < 0 && ro == NULL, "opening a directory: %s", vmp_err_name(rc));
    if (rc == 0) vmp_mem_close(ro);
    ro = NULL;
    /* Read-write as well: the documented VMP_EINVAL, not the system's
     * EISDIR (POSIX) or access denied (Windows). */
    rc = vmp_mem_open(dir, VMP_MEM_RW, &ro);
    CHECK_RC(rc, VMP_EINVAL);
    if (rc == 0) vmp_mem_close(ro);
    ro = NULL;
  }
  if (!CHECK_RC(vmp_mem_open(path, VMP_MEM_READ, &ro), 0)) goto out;
  if (!CHECK_RC(vmp_mem_open(path, VMP_MEM_RW, &rw), 0)) goto out;
  CHECK(vmp_mem_flags(ro) == VMP_MEM_READ, "flags %u", vmp_mem_flags(ro));
  uint64_t size = 0;
  CHECK_RC(vmp_mem_size(ro, &size), 0);
  CHECK(size == 4 * G, "file size %llu", (unsigned long long)size);
  if (!CHECK_RC(vmp_reserve(8 * G, 0, &r), 0)) goto out;
  for (size_t i = 0; i < 7; i++) CHECK_RC(vmp_split(r, i * G, G), 0);

  CHECK_RC(vmp_map(r, 0, G, ro, G, VMP_PROT_RW), VMP_EACCES);
  CHECK_RC(vmp_map(r, 0, G, ro, 4 * G, VMP_PROT_READ), VMP_EBOUNDS);
  CHECK_RC(vmp_map(r, 0, G, ro, G, VMP_PROT_READ), 0);
  {
    /* The view shows the file from byte G on. */
    int ok = 1;
    for (size_t i = 0; i < G && ok; i += P / 2)
      ok = (unsigned char)at(r, 0)[i] == util_pattern(seed, G + i);
    CHECK(ok, "a read-only file view shows the wrong bytes");
  }
  CHECK_RC(vmp_protect(r, 0, G, VMP_PROT_RW), VMP_EACCES);
  CHECK_RC(vmp_protect(r, 0, P, VMP_PROT_NONE), 0);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_protect(r, 0, P, VMP_PROT_READ), 0);

  /* Read-write: writes reach the file. */
  CHECK_RC(vmp_map(r, G, G, rw, 2 * G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, 2 * G, G, rw, 2 * G, VMP_PROT_READ), 0);
  memset(at(r, G) + P, 0xa5, P);
  CHECK(util_all_bytes(at(r, 2 * G) + P, P, 0xa5), "two views of a file disagree");
  CHECK_KERNEL_AGREES(r);

  /* Growing: the new bytes can be mapped and read as zero. */
  CHECK_RC(vmp_mem_grow(ro, 5 * G), VMP_EACCES);
  CHECK_RC(vmp_map(r, 3 * G, G, rw, 4 * G, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_RC(vmp_mem_grow(rw, 3 * G), VMP_EINVAL);
  if (CHECK_RC(vmp_mem_grow(rw, 5 * G), 0)) {
    CHECK_RC(vmp_mem_size(ro, &size), 0);
    CHECK(size == 5 * G, "size after grow %llu", (unsigned long long)size);
    if (CHECK_RC(vmp_map(r, 3 * G, G, rw, 4 * G, VMP_PROT_RW), 0)) {
      CHECK(util_all_bytes(at(r, 3 * G), G, 0), "grown bytes are not zero");
      memset(at(r, 3 * G), 0x3c, P);
    }
  }
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_mem_close(rw), 0);
  rw = NULL;
  CHECK_RC(vmp_release(r), 0);
  r = NULL;
  {
    unsigned char buf[64];
    CHECK(util_read_file(path, 2 * G + P, buf, sizeof buf) == 0 &&
              util_all_bytes(buf, sizeof buf, 0xa5),
          "a write through a view did not reach the file");
    CHECK(
        util_read_file(path, 4 * G, buf, sizeof buf) == 0 && util_all_bytes(buf, sizeof buf, 0x3c),
        "a write past the old end did not reach the file");
  }
out:
  if (r) vmp_release(r);
  vmp_mem_close(ro);
  vmp_mem_close(rw);
  remove(path);
}

/* ---- unmap ------------------------------------------------------------------------ */

CHECK_TEST(unmap_rules) {
  vmp_region *r;
  vmp_mem *m;
  if (private_then_view(&r, &m)) return;
  /* private 0:G, view G:G, placeholder 2G:2G */
  CHECK_RC(vmp_unmap(NULL, 0, P), VMP_EINVAL);
  CHECK_RC(vmp_unmap(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_unmap(r, 1, P), VMP_EALIGN);
  CHECK_RC(vmp_unmap(r, 4 * G, P), VMP_ERANGE);
  CHECK_RC(vmp_unmap(r, 2 * G, P), VMP_ESTATE);
  CHECK_RC(vmp_unmap(r, G, 2 * G), VMP_ESTATE);  /* reaches a placeholder */
  CHECK_RC(vmp_unmap(r, 0, 2 * G), VMP_EEXTENT); /* two spans of the right kinds */
  CHECK_RC(vmp_unmap(r, G, P), VMP_EEXTENT);     /* a view only whole */
  CHECK_RC(vmp_unmap(r, G + P, G - P), VMP_EEXTENT);
  CHECK(vmp_span_count(r) == 3, "failed unmaps changed the spans");
  CHECK_KERNEL_AGREES(r);

  CHECK_RC(vmp_unmap(r, G, G), 0);
  CHECK_SPAN(r, G, VMP_PLACEHOLDER, G, G); /* not merged with the placeholder after it */
  CHECK(vmp_span_count(r) == 3, "%zu spans", vmp_span_count(r));
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_unmap(r, 0, G), 0);
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, G);
  CHECK_KERNEL_AGREES(r);
  /* The placeholders take memory again; private memory is zero again. */
  CHECK_RC(vmp_commit(r, 0, G, VMP_PROT_RW), 0);
  CHECK(util_all_bytes(at(r, 0), G, 0), "recommitted memory is not zero");
  CHECK_RC(vmp_map(r, G, G, m, 0, VMP_PROT_READ), 0);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_release(r), 0);
}

CHECK_TEST(unmap_private_middle) {
  vmp_region *r;
  vmp_mem *m;
  if (util_region_and_object(4 * G, 2 * G, &r, &m)) return;
  CHECK_RC(vmp_split(r, 0, 3 * G), 0);
  CHECK_RC(vmp_commit(r, 0, 3 * G, VMP_PROT_RW), 0);
  util_fill(at(r, 0), 3 * G, 5);
  CHECK_RC(vmp_unmap(r, G, G), 0);
  CHECK(vmp_span_count(r) == 4, "%zu spans", vmp_span_count(r));
  CHECK_SPAN(r, 0, VMP_PRIVATE, 0, G);
  CHECK_SPAN(r, G, VMP_PLACEHOLDER, G, G);
  CHECK_SPAN(r, 2 * G, VMP_PRIVATE, 2 * G, G);
  CHECK(util_find_mismatch(at(r, 0), G, 5) == (size_t)-1, "the front piece lost bytes");
  {
    int ok = 1;
    for (size_t i = 0; i < G && ok; i += P / 4)
      ok = (unsigned char)at(r, 2 * G)[i] == util_pattern(5, 2 * G + i);
    CHECK(ok, "the back piece lost bytes");
  }
  CHECK_KERNEL_AGREES(r);
  /* An edge piece and a single page in the middle of a piece. */
  CHECK_RC(vmp_unmap(r, 3 * G - P, P), 0);
  CHECK_SPAN(r, 2 * G, VMP_PRIVATE, 2 * G, G - P);
  CHECK_RC(vmp_unmap(r, P, P), 0);
  CHECK(vmp_span_count(r) == 7, "%zu spans", vmp_span_count(r));
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_unmap(r, P, P), VMP_ESTATE);

  /* The freed middle takes private memory again, zero-filled. */
  CHECK_RC(vmp_commit(r, G, G, VMP_PROT_RW), 0);
  CHECK(util_all_bytes(at(r, G), G, 0), "recommitted memory is not zero");
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_unmap(r, G, G), 0);

  /* The placeholder left between two private pieces takes a view as well
   * as any other (on Windows the allocation was cut in place). */
  if (CHECK_RC(vmp_map(r, G, G, m, 0, VMP_PROT_RW), 0)) {
    CHECK_KERNEL_AGREES(r);
    CHECK_RC(vmp_unmap(r, G, G), 0);
  }
  CHECK_KERNEL_AGREES(r);

  /* Unmap every private piece: the whole range is one placeholder's
   * worth again and takes a single view. */
  CHECK_RC(vmp_unmap(r, 0, P), 0);
  CHECK_RC(vmp_unmap(r, 2 * P, G - 2 * P), 0);
  CHECK_RC(vmp_unmap(r, 2 * G, G - P), 0);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_coalesce(r, 0, 3 * G), 0);
  CHECK(vmp_span_count(r) == 2, "%zu spans", vmp_span_count(r));
  if (CHECK_RC(vmp_map(r, 0, 2 * G, m, 0, VMP_PROT_RW), VMP_EEXTENT) &&
      CHECK_RC(vmp_split(r, 0, 2 * G), 0) && CHECK_RC(vmp_map(r, 0, 2 * G, m, 0, VMP_PROT_RW), 0)) {
    util_fill(at(r, 0), 2 * G, 11);
    CHECK(util_find_mismatch(at(r, 0), 2 * G, 11) == (size_t)-1, "the new view lost bytes");
    CHECK_KERNEL_AGREES(r);
  }
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_release(r), 0);
}

/* A placeholder span whose pages were private once, coalesced with one
 * that never was, takes private memory as one span. */
CHECK_TEST(once_private_and_never_used) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(4 * G, 0, &r), 0)) return;
  CHECK_RC(vmp_split(r, 0, 2 * G), 0);
  CHECK_RC(vmp_commit(r, 0, 2 * G, VMP_PROT_RW), 0);
  memset(at(r, 0), 0x11, 2 * G);
  CHECK_RC(vmp_unmap(r, G, G), 0);
  CHECK_RC(vmp_coalesce(r, G, 3 * G), 0);
  CHECK_SPAN(r, 2 * G, VMP_PLACEHOLDER, G, 3 * G);
  CHECK_KERNEL_AGREES(r);
  if (CHECK_RC(vmp_commit(r, G, 3 * G, VMP_PROT_RW), 0))
    CHECK(util_all_bytes(at(r, G), 3 * G, 0), "the new private memory is not zero");
  CHECK(util_all_bytes(at(r, 0), G, 0x11), "the private piece lost its bytes");
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_release(r), 0);
}

/* ---- protect ---------------------------------------------------------------------- */

CHECK_TEST(protect_rules) {
  vmp_region *r;
  vmp_mem *m;
  if (private_then_view(&r, &m)) return;
  util_fill(at(r, 0), G, 1);
  util_fill(at(r, G), G, 2);
  CHECK_RC(vmp_protect(NULL, 0, P, VMP_PROT_READ), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 0, 0, VMP_PROT_READ), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 0, P, VMP_PROT_WRITE), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 0, P, 32), VMP_EINVAL);
  CHECK_RC(vmp_protect(r, 3, P, VMP_PROT_READ), VMP_EALIGN);
  CHECK_RC(vmp_protect(r, 3 * G, 2 * G, VMP_PROT_READ), VMP_ERANGE);
  CHECK_RC(vmp_protect(r, 2 * G, P, VMP_PROT_READ), VMP_ESTATE);
  CHECK_RC(vmp_protect(r, G, 2 * G, VMP_PROT_READ), VMP_ESTATE);
  CHECK_RC(vmp_protect(r, G - P, 2 * P, VMP_PROT_READ), VMP_EEXTENT);
  CHECK_KERNEL_AGREES(r);

  /* Part of a span: the pages change, the span stays whole. */
  CHECK_RC(vmp_protect(r, P, 2 * P, VMP_PROT_READ), 0);
  CHECK_RC(vmp_protect(r, 3 * P, P, VMP_PROT_NONE), 0);
  CHECK_RC(vmp_protect(r, G + P, P, VMP_PROT_READ), 0);
  CHECK(vmp_span_count(r) == 3, "%zu spans", vmp_span_count(r));
  CHECK_SPAN(r, 2 * P, VMP_PRIVATE, 0, G);
  vmp_span_info info;
  int expect[] = {VMP_PROT_RW, VMP_PROT_READ, VMP_PROT_READ, VMP_PROT_NONE, VMP_PROT_RW};
  for (size_t i = 0; i < 5; i++) {
    CHECK_RC(vmp_query(r, at(r, i * P), &info), 0);
    CHECK(info.prot == expect[i], "page %zu prot %d, expected %d", i, info.prot, expect[i]);
  }
  CHECK_RC(vmp_query(r, at(r, G + P), &info), 0);
  CHECK(info.prot == VMP_PROT_READ && info.kind == VMP_VIEW, "view page prot %d", info.prot);
  CHECK(util_find_mismatch(at(r, 0), 3 * P, 1) == (size_t)-1, "protect changed bytes");
  CHECK(util_find_mismatch(at(r, G), G, 2) == (size_t)-1, "protect changed view bytes");
  CHECK_KERNEL_AGREES(r);
  kv_snapshot snap;
  if (kv_take(&snap, vmp_base(r), vmp_size(r)) == 0) {
    CHECK(kv_writable(&snap, 0) && !kv_writable(&snap, 1) && kv_readable(&snap, 1) &&
              !kv_accessible(&snap, 3) && kv_writable(&snap, 4),
          "the kernel's per-page access does not follow protect");
    CHECK(kv_readable(&snap, G / P + 1) && !kv_writable(&snap, G / P + 1),
          "the read-only view page is writable");
    CHECK(!kv_accessible(&snap, 2 * G / P), "a placeholder page is accessible");
    kv_free(&snap);
  }
  /* Back to one protection for the whole span. */
  CHECK_RC(vmp_protect(r, 0, G, VMP_PROT_RW), 0);
  CHECK(util_find_mismatch(at(r, 0), G, 1) == (size_t)-1, "bytes lost");
  at(r, 3 * P)[0] = 9;
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_release(r), 0);
}

/* ---- discard ---------------------------------------------------------------------- */

CHECK_TEST(discard_rules) {
  vmp_region *r;
  vmp_mem *m;
  if (util_region_and_object(4 * G, G, &r, &m)) return;
  CHECK_RC(vmp_split(r, 0, G), 0);
  CHECK_RC(vmp_split(r, G, G), 0);
  CHECK_RC(vmp_split(r, 2 * G, G), 0);
  CHECK_RC(vmp_commit(r, 0, G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, G, G, m, 0, VMP_PROT_RW), 0);
  CHECK_RC(vmp_commit(r, 2 * G, G, VMP_PROT_RW), 0);
  util_fill(at(r, 0), G, 4);
  util_fill(at(r, G), G, 6);
  util_fill(at(r, 2 * G), G, 8);
  CHECK_RC(vmp_discard(NULL, 0, P), VMP_EINVAL);
  CHECK_RC(vmp_discard(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_discard(r, 0, 1), VMP_EALIGN);
  CHECK_RC(vmp_discard(r, 0, 5 * G), VMP_ERANGE);
  CHECK_RC(vmp_discard(r, G, P), VMP_ESTATE);         /* a view */
  CHECK_RC(vmp_discard(r, 3 * G, P), VMP_ESTATE);     /* a placeholder */
  CHECK_RC(vmp_discard(r, G - P, 2 * P), VMP_ESTATE); /* reaches a view */
  CHECK_RC(vmp_split(r, 3 * G, G), VMP_EEXTENT);
  CHECK(util_find_mismatch(at(r, 0), G, 4) == (size_t)-1, "failed discards changed bytes");

  CHECK_RC(vmp_discard(r, P, 2 * P), 0);
  CHECK(at(r, 0)[0] == (char)util_pattern(4, 0), "page 0 changed");
  CHECK(util_all_bytes(at(r, P), 2 * P, 0), "discarded pages are not zero");
  CHECK((unsigned char)at(r, 3 * P)[0] == util_pattern(4, 3 * P), "page 3 changed");
  CHECK(util_find_mismatch(at(r, G), G, 6) == (size_t)-1, "the view changed");
  CHECK(util_find_mismatch(at(r, 2 * G), G, 8) == (size_t)-1, "the other private span changed");
  CHECK_KERNEL_AGREES(r);
  util_fill(at(r, P), P, 12);

  /* Read-only pages are discarded too and keep their protection. */
  CHECK_RC(vmp_protect(r, 2 * G, G, VMP_PROT_READ), 0);
  CHECK_RC(vmp_discard(r, 2 * G, G), 0);
  CHECK(util_all_bytes(at(r, 2 * G), G, 0), "discarded read-only pages are not zero");
  vmp_span_info info;
  CHECK_RC(vmp_query(r, at(r, 2 * G), &info), 0);
  CHECK(info.prot == VMP_PROT_READ, "discard changed the protection to %d", info.prot);
  CHECK_KERNEL_AGREES(r);

  /* Pages of several protections, on every backend: bytes zero, each page
   * keeps its own protection (as the library and the kernel see it). */
  util_fill(at(r, 0), G, 4);
  CHECK_RC(vmp_protect(r, 2 * P, P, VMP_PROT_READ), 0);
  CHECK_RC(vmp_protect(r, 4 * P, P, VMP_PROT_NONE), 0);
  CHECK_RC(vmp_protect(r, 5 * P, P, VMP_PROT_READ), 0);
  if (CHECK_RC(vmp_discard(r, P, 6 * P), 0)) {
    static const int want[] = {VMP_PROT_RW,   VMP_PROT_RW,   VMP_PROT_READ, VMP_PROT_RW,
                               VMP_PROT_NONE, VMP_PROT_READ, VMP_PROT_RW,   VMP_PROT_RW};
    for (size_t page = 0; page < 8; page++) {
      CHECK_RC(vmp_query(r, at(r, page * P), &info), 0);
      CHECK(info.prot == want[page] && info.kind == VMP_PRIVATE && info.size == G,
            "page %zu: prot %d (expected %d), kind %d", page, info.prot, want[page], info.kind);
    }
    CHECK_KERNEL_AGREES(r);
    kv_snapshot snap;
    if (kv_take(&snap, vmp_base(r), G) == 0) {
      CHECK(kv_writable(&snap, 1) && !kv_writable(&snap, 2) && kv_readable(&snap, 2) &&
                !kv_accessible(&snap, 4) && kv_readable(&snap, 5) && !kv_writable(&snap, 5) &&
                kv_writable(&snap, 6),
            "the kernel's protections after a mixed discard are wrong");
      kv_free(&snap);
    }
    CHECK((unsigned char)at(r, 0)[0] == util_pattern(4, 0), "page 0 changed");
    for (size_t page = 7; page < G / P; page++)
      CHECK((unsigned char)at(r, page * P)[P - 1] == util_pattern(4, page * P),
            "page %zu, after the range, changed", page);
    CHECK(util_all_bytes(at(r, P), 3 * P, 0), "mixed discard left bytes in pages 1-3");
    CHECK(util_all_bytes(at(r, 5 * P), 2 * P, 0), "mixed discard left bytes in pages 5-6");
    CHECK_RC(vmp_protect(r, 4 * P, P, VMP_PROT_READ), 0);
    CHECK(util_all_bytes(at(r, 4 * P), P, 0), "the inaccessible page was not discarded");
    at(r, P)[0] = 1;
    at(r, 6 * P)[P - 1] = 2;
    CHECK(at(r, P)[0] == 1 && at(r, 6 * P)[P - 1] == 2, "discarded pages are not usable");
  }
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_release(r), 0);
}

/* ---- query and foreach -------------------------------------------------------------- */

typedef struct span_walk {
  size_t count, next_offset, stop_after;
  int in_order;
} span_walk;

static int walk_span(const vmp_span_info *info, void *arg) {
  span_walk *w = arg;
  if (info->offset != w->next_offset) w->in_order = 0;
  w->next_offset = info->offset + info->size;
  w->count++;
  return w->count == w->stop_after ? 77 : 0;
}

CHECK_TEST(query_and_foreach) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  vmp_span_info info;
  CHECK_RC(vmp_query(NULL, vmp_base(r), &info), VMP_EINVAL);
  CHECK_RC(vmp_query(r, vmp_base(r), NULL), VMP_EINVAL);
  CHECK_RC(vmp_query(r, (char *)vmp_base(r) - 1, &info), VMP_ERANGE);
  CHECK_RC(vmp_query(r, at(r, 16 * P), &info), VMP_ERANGE);
  CHECK_RC(vmp_split(r, 4 * P, 4 * P), 0);
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_READ), 0);
  CHECK_RC(vmp_query(r, at(r, 7 * P + 123), &info), 0);
  CHECK(info.kind == VMP_PRIVATE && info.offset == 4 * P && info.size == 4 * P &&
            info.start == at(r, 4 * P) && info.prot == VMP_PROT_READ && info.mem == NULL,
        "query of an unaligned address: kind %d offset %zu size %zu", info.kind, info.offset,
        info.size);
  CHECK_RC(vmp_query(r, at(r, 16 * P - 1), &info), 0);
  CHECK(info.kind == VMP_PLACEHOLDER && info.offset == 8 * P, "last byte: offset %zu", info.offset);
  CHECK_RC(vmp_foreach_span(NULL, walk_span, NULL), VMP_EINVAL);
  CHECK_RC(vmp_foreach_span(r, NULL, NULL), VMP_EINVAL);
  span_walk w = {0, 0, 0, 1};
  CHECK_RC(vmp_foreach_span(r, walk_span, &w), 0);
  CHECK(w.count == 3 && w.in_order && w.next_offset == 16 * P, "walk: %zu spans, in order %d",
        w.count, w.in_order);
  span_walk stop = {0, 0, 2, 1};
  CHECK_RC(vmp_foreach_span(r, walk_span, &stop), 77);
  CHECK(stop.count == 2, "the walk did not stop: %zu", stop.count);
  CHECK_RC(vmp_release(r), 0);
}

/* Many small spans: bookkeeping and kernel stay in step. */
CHECK_TEST(many_spans_agree) {
  vmp_region *r;
  vmp_mem *m;
  const size_t n = 48;
  if (util_region_and_object(n * G, 2 * G, &r, &m)) return;
  for (size_t i = 0; i + 1 < n; i++) CHECK_RC(vmp_split(r, i * G, G), 0);
  for (size_t i = 0; i < n; i++) {
    int rc;
    switch (i % 4) {
      case 0:
        rc = vmp_commit(r, i * G, G, VMP_PROT_RW);
        break;
      case 1:
        rc = vmp_map(r, i * G, G, m, (i / 4 % 2) * G, VMP_PROT_READ);
        break;
      case 2:
        rc = vmp_commit(r, i * G, G, VMP_PROT_READ);
        break;
      default:
        rc = 0;
    }
    CHECK_RC(rc, 0);
  }
  CHECK(vmp_span_count(r) == n, "%zu spans", vmp_span_count(r));
  CHECK_KERNEL_AGREES(r);
  for (size_t i = 0; i < n; i += 8) CHECK_RC(vmp_unmap(r, i * G, G), 0);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_release(r), 0);
}
