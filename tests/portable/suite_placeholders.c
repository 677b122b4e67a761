/*
 * What Wine's placeholder tests and Microsoft's VirtualAlloc2,
 * MapViewOfFile3 and UnmapViewOfFile2 pages check, restated through this
 * library wherever docs/contract.md has a counterpart (tests/scenarios/
 * wine_placeholders.vmps says the same in the scenario language). Here
 * each step is also compared with the kernel's own view, and each refused
 * call must leave the region exactly as it was.
 *
 * Views at object offsets of a page (not of 64 KiB) are the point of
 * several tests: with MEM_REPLACE_PLACEHOLDER, Windows asks only for a
 * page-aligned offset, so every backend maps them.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#endif

#include "support_check.h"
#include "support_kernel.h"
#include "support_util.h"
#include "testing.h"
#include "vmplace.h"

#define P (util_page())

static char *at(vmp_region *r, size_t off) { return (char *)vmp_base(r) + off; }

/* An object of `pages` pages whose page i starts with byte 0x40 + i. */
static vmp_mem *marked_object(size_t pages) {
  vmp_mem *m;
  if (!CHECK_RC(vmp_mem_create(pages * P, 0, &m), 0)) return NULL;
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(pages * P, 0, &r), 0)) {
    vmp_mem_close(m);
    return NULL;
  }
  if (CHECK_RC(vmp_map(r, 0, pages * P, m, 0, VMP_PROT_RW), 0))
    for (size_t i = 0; i < pages; i++) at(r, i * P)[0] = (char)(0x40 + i);
  CHECK_RC(vmp_release(r), 0);
  return m;
}

/* Two halves of one placeholder, the same object at offset 0 in each. */
CHECK_TEST(halves_share_one_object) {
  size_t half = 128 * P;
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(2 * half, 0, &r), 0)) return;
  vmp_span_info info;
  CHECK_RC(vmp_query(r, at(r, 2 * half - 1), &info), 0);
  CHECK(info.kind == VMP_PLACEHOLDER && info.size == 2 * half && info.prot == VMP_PROT_NONE,
        "a new reservation: kind %d, size %zu, prot %d", info.kind, info.size, info.prot);
  CHECK_RC(vmp_split(r, 0, half), 0);
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, half);
  CHECK_SPAN(r, half, VMP_PLACEHOLDER, half, half);
  CHECK_KERNEL_AGREES(r);
  vmp_mem *m;
  if (!CHECK_RC(vmp_mem_create(half, 0, &m), 0)) goto out;
  CHECK_RC(vmp_map(r, 0, half, m, 0, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, half, half, m, 0, VMP_PROT_RW), 0);
  CHECK_KERNEL_AGREES(r);
  at(r, 3)[0] = 0x33;
  at(r, 2 * half - 1)[0] = 0x44;
  CHECK(at(r, half + 3)[0] == 0x33 && at(r, half - 1)[0] == 0x44, "the halves do not share");
  CHECK_RC(vmp_mem_close(m), 0);
  CHECK_RC(vmp_unmap(r, 0, half), 0);
  CHECK_RC(vmp_unmap(r, half, half), 0);
  CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, half);
  CHECK_SPAN(r, half, VMP_PLACEHOLDER, half, half);
  CHECK_KERNEL_AGREES(r);
out:
  CHECK_RC(vmp_release(r), 0);
}

/* MapViewOfFile3 with MEM_REPLACE_PLACEHOLDER: offsets of 1, 3 and 16
 * pages, each showing the object's page at that offset. */
CHECK_TEST(views_at_page_offsets) {
  vmp_mem *m = marked_object(48);
  if (!m) return;
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(32 * P, 0, &r), 0)) goto out_mem;
  CHECK_RC(vmp_split(r, 0, 4 * P), 0);
  CHECK_RC(vmp_split(r, 4 * P, 3 * P), 0);
  CHECK_RC(vmp_split(r, 7 * P, 16 * P), 0);
  static const size_t offsets[] = {1, 3, 16}, starts[] = {0, 4, 7}, sizes[] = {4, 3, 16};
  for (size_t i = 0; i < 3; i++) {
    size_t off = starts[i] * P, size = sizes[i] * P;
    uint64_t mem_off = offsets[i] * P;
    if (!CHECK_RC(vmp_map(r, off, size, m, mem_off, i == 1 ? VMP_PROT_READ : VMP_PROT_RW), 0))
      continue;
    for (size_t page = 0; page < sizes[i]; page++)
      CHECK(at(r, off + page * P)[0] == (char)(0x40 + offsets[i] + page),
            "view at object page %zu: its page %zu shows 0x%02x", (size_t)offsets[i], page,
            (unsigned char)at(r, off + page * P)[0]);
    vmp_span_info info;
    CHECK_RC(vmp_query(r, at(r, off + size - 1), &info), 0);
    CHECK(info.kind == VMP_VIEW && info.mem == m && info.mem_offset == mem_off &&
              info.offset == off && info.size == size,
          "view %zu: kind %d, object offset %llu", i, info.kind,
          (unsigned long long)info.mem_offset);
  }
  /* Object page 3 is in the first two views: one write, seen in both. */
  at(r, 2 * P)[1] = 0x7e;
  CHECK(at(r, 4 * P)[1] == 0x7e, "the views at offsets 1 and 3 do not share object page 3");
  CHECK_KERNEL_AGREES(r);
  /* Still a page multiple, and checked before the extent. */
  REFUSED(r, vmp_map(r, 23 * P, 4 * P, m, 1, VMP_PROT_RW), VMP_EALIGN);
  REFUSED(r, vmp_map(r, 23 * P, 4 * P, m, P + 512, VMP_PROT_RW), VMP_EALIGN);
  /* Past the object's end, from a page offset. */
  REFUSED(r, vmp_map(r, 23 * P, 9 * P, m, 40 * P, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_RC(vmp_release(r), 0);
out_mem:
  CHECK_RC(vmp_mem_close(m), 0);
}

/* A replacement takes exactly one whole placeholder: VirtualAlloc2 and
 * MapViewOfFile3 refuse a size that is not the placeholder's. */
CHECK_TEST(replacement_takes_one_whole_placeholder) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) return;
  vmp_mem *m = NULL;
  CHECK_RC(vmp_split(r, 0, 8 * P), 0);
  if (!CHECK_RC(vmp_mem_create(16 * P, 0, &m), 0)) goto out;
  REFUSED(r, vmp_commit(r, 0, 4 * P, VMP_PROT_RW), VMP_EEXTENT);
  REFUSED(r, vmp_commit(r, 4 * P, 4 * P, VMP_PROT_RW), VMP_EEXTENT);
  REFUSED(r, vmp_commit(r, 0, 16 * P, VMP_PROT_RW), VMP_EEXTENT);
  REFUSED(r, vmp_map(r, 0, 4 * P, m, P, VMP_PROT_RW), VMP_EEXTENT);
  REFUSED(r, vmp_map(r, 0, 16 * P, m, 0, VMP_PROT_RW), VMP_EEXTENT);
  CHECK_RC(vmp_map(r, 8 * P, 8 * P, m, 5 * P, VMP_PROT_RW), 0);
  REFUSED(r, vmp_map(r, 8 * P, 8 * P, m, 5 * P, VMP_PROT_RW), VMP_ESTATE);
  /* UnmapViewOfFile2 keeps the placeholder; here only the whole view. */
  REFUSED(r, vmp_unmap(r, 9 * P, 2 * P), VMP_EEXTENT);
  CHECK_RC(vmp_unmap(r, 8 * P, 8 * P), 0);
  CHECK_SPAN(r, 8 * P, VMP_PLACEHOLDER, 8 * P, 8 * P);
  CHECK_KERNEL_AGREES(r);
  CHECK_RC(vmp_mem_close(m), 0);
out:
  CHECK_RC(vmp_release(r), 0);
}

/* MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER on part of a private replacement:
 * the rest keeps its bytes, and the whole becomes a placeholder that can
 * be replaced again, by fresh private memory or by a view. */
CHECK_TEST(partial_release_of_private_memory) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(8 * P, 0, &r), 0)) return;
  if (!CHECK_RC(vmp_commit(r, 0, 8 * P, VMP_PROT_RW), 0)) goto out;
  util_fill(vmp_base(r), 8 * P, 3);
  CHECK_RC(vmp_unmap(r, 2 * P, 2 * P), 0);
  CHECK_SPAN(r, 0, VMP_PRIVATE, 0, 2 * P);
  CHECK_SPAN(r, 2 * P, VMP_PLACEHOLDER, 2 * P, 2 * P);
  CHECK_SPAN(r, 4 * P, VMP_PRIVATE, 4 * P, 4 * P);
  CHECK_KERNEL_AGREES(r);
  for (size_t page = 0; page < 8; page++)
    if (page < 2 || page >= 4)
      CHECK((unsigned char)at(r, page * P)[P - 1] == util_pattern(3, page * P + P - 1),
            "page %zu lost its bytes", page);
  CHECK_RC(vmp_unmap(r, 0, P), 0);
  CHECK_RC(vmp_unmap(r, 7 * P, P), 0);
  CHECK_SPAN(r, P, VMP_PRIVATE, P, P);
  CHECK_SPAN(r, 4 * P, VMP_PRIVATE, 4 * P, 3 * P);
  CHECK((unsigned char)at(r, 6 * P)[0] == util_pattern(3, 6 * P), "page 6 lost its bytes");
  CHECK_RC(vmp_unmap(r, P, P), 0);
  CHECK_RC(vmp_unmap(r, 4 * P, 3 * P), 0);
  CHECK_RC(vmp_coalesce(r, 0, 8 * P), 0);
  CHECK(vmp_span_count(r) == 1, "%zu spans", vmp_span_count(r));
  CHECK_RC(vmp_commit(r, 0, 8 * P, VMP_PROT_RW), 0);
  CHECK(util_all_bytes(vmp_base(r), 8 * P, 0), "private memory again is not zero-filled");
  CHECK_RC(vmp_unmap(r, 0, 8 * P), 0);
  vmp_mem *m = marked_object(9);
  if (m) {
    CHECK_RC(vmp_map(r, 0, 8 * P, m, P, VMP_PROT_READ), 0);
    CHECK(at(r, 0)[0] == 0x41 && at(r, 7 * P)[0] == 0x48, "the view shows the wrong pages");
    CHECK_KERNEL_AGREES(r);
    CHECK_RC(vmp_mem_close(m), 0);
  }
out:
  CHECK_RC(vmp_release(r), 0);
}

/* Page-granular pieces: 1, 3, 5 and 7 pages, private and views. */
CHECK_TEST(page_granular_pieces) {
  vmp_region *r;
  vmp_mem *m = marked_object(16);
  if (!m) return;
  if (!CHECK_RC(vmp_reserve(16 * P, 0, &r), 0)) goto out_mem;
  CHECK_RC(vmp_split(r, 0, P), 0);
  CHECK_RC(vmp_split(r, P, 3 * P), 0);
  CHECK_RC(vmp_split(r, 4 * P, 5 * P), 0);
  CHECK_RC(vmp_commit(r, 0, P, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, P, 3 * P, m, 0, VMP_PROT_RW), 0);
  CHECK_RC(vmp_commit(r, 4 * P, 5 * P, VMP_PROT_RW), 0);
  CHECK_RC(vmp_map(r, 9 * P, 7 * P, m, 3 * P, VMP_PROT_RW), 0);
  CHECK(vmp_span_count(r) == 4, "%zu spans", vmp_span_count(r));
  CHECK_KERNEL_AGREES(r);
  CHECK(at(r, P)[0] == 0x40 && at(r, 9 * P)[0] == 0x43 && at(r, 15 * P)[0] == 0x49,
        "the views show the wrong pages");
  for (size_t page = 0; page < 16; page++) at(r, page * P)[P - 1] = (char)page;
  for (size_t page = 0; page < 16; page++)
    CHECK(at(r, page * P)[P - 1] == (char)page, "page %zu is not usable", page);
  CHECK_RC(vmp_release(r), 0);
out_mem:
  CHECK_RC(vmp_mem_close(m), 0);
}

/* MEM_COALESCE_PLACEHOLDERS: adjacent placeholders only, whole pieces,
 * at least two; anything else refused with nothing changed. */
CHECK_TEST(coalesce_rules) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(12 * P, 0, &r), 0)) return;
  vmp_mem *m = NULL;
  CHECK_RC(vmp_split(r, 0, 4 * P), 0);
  CHECK_RC(vmp_split(r, 4 * P, 4 * P), 0);
  CHECK_RC(vmp_coalesce(r, 0, 12 * P), 0);
  CHECK(vmp_span_count(r) == 1, "three placeholders did not merge");
  REFUSED(r, vmp_coalesce(r, 0, 12 * P), VMP_EEXTENT);
  REFUSED(r, vmp_coalesce(r, 0, 0), VMP_EINVAL);
  CHECK_RC(vmp_split(r, 0, 4 * P), 0);
  CHECK_RC(vmp_split(r, 4 * P, 4 * P), 0);
  REFUSED(r, vmp_coalesce(r, 2 * P, 8 * P), VMP_EEXTENT);
  REFUSED(r, vmp_coalesce(r, 4 * P, 12 * P), VMP_ERANGE);
  CHECK_RC(vmp_commit(r, 4 * P, 4 * P, VMP_PROT_RW), 0);
  at(r, 4 * P)[0] = 0x44;
  REFUSED(r, vmp_coalesce(r, 0, 8 * P), VMP_ESTATE);
  if (CHECK_RC(vmp_mem_create(4 * P, 0, &m), 0)) {
    CHECK_RC(vmp_map(r, 8 * P, 4 * P, m, 0, VMP_PROT_RW), 0);
    REFUSED(r, vmp_coalesce(r, 0, 12 * P), VMP_ESTATE);
    CHECK_RC(vmp_mem_close(m), 0);
  }
  CHECK_KERNEL_AGREES(r);
  /* A placeholder, private memory and a view: one release for them all. */
  CHECK_RC(vmp_release(r), 0);
}

#if defined(_WIN32)
typedef PVOID(WINAPI *map_view3_fn)(HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG, void *,
                                    ULONG);
/* A system that refuses page offsets the way Windows refuses a misaligned
 * view: ERROR_MAPPED_ALIGNMENT. */
static PVOID WINAPI refuse_alignment(HANDLE f, HANDLE p, PVOID b, ULONG64 o, SIZE_T s, ULONG t,
                                     ULONG pr, void *e, ULONG n) {
  (void)f, (void)p, (void)b, (void)o, (void)s, (void)t, (void)pr, (void)e, (void)n;
  SetLastError(ERROR_MAPPED_ALIGNMENT);
  return NULL;
}
#endif

/* Where the system refuses a view's offset, the answer is VMP_ENOTSUP for
 * an offset that is not a multiple of the granularity (a capability it
 * lacks), the OS error for one that is; nothing changes either way. Only
 * Windows can be made to refuse (through its system-call table). */
CHECK_TEST(refused_offset_is_enotsup) {
#if defined(_WIN32)
  vmp_mem *m;
  vmp_region *r;
  size_t g = vmp_granularity();
  if (!CHECK_RC(vmp_mem_create(2 * g, 0, &m), 0)) return;
  if (CHECK_RC(vmp_reserve(g, 0, &r), 0)) {
    if (CHECK_RC(vmp__testing_syscall_set("MapViewOfFile3", (vmp__syscall_fn)refuse_alignment),
                 0)) {
      REFUSED(r, vmp_map(r, 0, g, m, P, VMP_PROT_RW), VMP_ENOTSUP);
      int rc = vmp_map(r, 0, g, m, g, VMP_PROT_RW);
      CHECK(vmp_err_is_os(rc) && vmp_err_os_code(rc) == ERROR_MAPPED_ALIGNMENT,
            "a refused offset of 64 KiB: %s", vmp_err_name(rc));
      vmp__testing_syscall_set("MapViewOfFile3", NULL);
      CHECK_SPAN(r, 0, VMP_PLACEHOLDER, 0, g);
      CHECK_KERNEL_AGREES(r);
    }
    CHECK_RC(vmp_map(r, 0, g, m, P, VMP_PROT_RW), 0);
    CHECK_RC(vmp_release(r), 0);
  }
  CHECK_RC(vmp_mem_close(m), 0);
#else
  /* POSIX systems never refuse a page offset: no ENOTSUP to provoke. */
  vmp_mem *m;
  vmp_region *r;
  if (!CHECK_RC(vmp_mem_create(2 * P, 0, &m), 0)) return;
  if (CHECK_RC(vmp_reserve(P, 0, &r), 0)) {
    CHECK_RC(vmp_map(r, 0, P, m, P, VMP_PROT_RW), 0);
    CHECK_RC(vmp_release(r), 0);
  }
  CHECK_RC(vmp_mem_close(m), 0);
#endif
}
