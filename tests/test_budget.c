/*
 * The mapping budget: vmp_mapping_count() against the kernel's own count
 * in /proc/self/maps, layout after layout, and vmp_budget_get() against
 * the files it reads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include "support_criterion.h"
#include "testing.h"
#include "vmplace.h"

static size_t page;

#define CHECK_COUNT(r, what)                                                                   \
  do {                                                                                         \
    size_t kernel_ = vmpt_maps_count_in(vmp_base(r), vmp_size(r));                             \
    size_t model_ = vmp_mapping_count(r);                                                      \
    cr_assert_eq(model_, kernel_, "%s: the library counts %zu mappings, the kernel %zu", what, \
                 model_, kernel_);                                                             \
  } while (0)

Test(budget, the_mapping_count_is_what_the_kernel_holds) {
  page = vmp_page_size();
  vmp_region *r;
  CHECK_OK(vmp_reserve(64 * page, 0, &r));
  CHECK_COUNT(r, "a fresh region");
  for (size_t i = 1; i < 7; i++) CHECK_OK(vmp_split(r, i * 8 * page, 8 * page));
  cr_assert_eq(vmp_span_count(r), 8);
  CHECK_COUNT(r, "eight placeholders");
  CHECK_OK(vmp_commit(r, 8 * page, 8 * page, VMP_PROT_RW));
  memset((char *)vmp_base(r) + 8 * page, 1, 8 * page);
  CHECK_COUNT(r, "one private span");
  CHECK_OK(vmp_commit(r, 16 * page, 8 * page, VMP_PROT_RW));
  CHECK_COUNT(r, "two private spans side by side");
  CHECK_OK(vmp_protect(r, 10 * page, 2 * page, VMP_PROT_READ));
  CHECK_COUNT(r, "a read-only run inside");
  CHECK_OK(vmp_protect(r, 20 * page, 4 * page, VMP_PROT_READ));
  CHECK_COUNT(r, "a second one");
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(32 * page, 0, &m));
  CHECK_OK(vmp_map(r, 32 * page, 8 * page, m, 0, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 40 * page, 8 * page, m, 8 * page, VMP_PROT_RW));
  CHECK_COUNT(r, "two views continuing each other");
  CHECK_OK(vmp_map(r, 48 * page, 8 * page, m, 0, VMP_PROT_RW));
  CHECK_COUNT(r, "a view that does not continue");
  CHECK_OK(vmp_protect(r, 40 * page, 8 * page, VMP_PROT_READ));
  CHECK_COUNT(r, "a continuing view of another protection");
  CHECK_OK(vmp_unmap(r, 12 * page, 4 * page));
  CHECK_COUNT(r, "private pages unmapped");
  CHECK_OK(vmp_unmap(r, 32 * page, 8 * page));
  CHECK_COUNT(r, "a view unmapped beside a placeholder");
  CHECK_OK(vmp_coalesce(r, 24 * page, 16 * page));
  CHECK_COUNT(r, "placeholders coalesced");
  CHECK_MAPS(r);
  CHECK_OK(vmp_mem_close(m));
  CHECK_OK(vmp_release(r));
  cr_assert_eq(vmp_mapping_count(NULL), 0);
}

/* Many spans, one mapping: what makes placeholders cheap. */
Test(budget, a_thousand_placeholders_cost_one_mapping) {
  page = vmp_page_size();
  vmp_region *r;
  CHECK_OK(vmp_reserve(1024 * page, 0, &r));
  for (size_t i = 1; i < 1024; i++) CHECK_OK(vmp_split(r, i * page, (1024 - i) * page));
  cr_assert_eq(vmp_span_count(r), 1024);
  cr_assert_eq(vmp_mapping_count(r), 1);
  CHECK_COUNT(r, "1024 placeholders");
  CHECK_OK(vmp_release(r));
}

static long long proc_number(const char *path) {
  FILE *f = fopen(path, "r");
  long long v = -1;
  if (f) {
    if (fscanf(f, "%lld", &v) != 1) v = -1;
    fclose(f);
  }
  return v;
}

Test(budget, the_report_says_what_the_system_says) {
  vmp_budget b;
  CHECK_RC(vmp_budget_get(NULL), VMP_EINVAL);
  CHECK_OK(vmp_budget_get(&b));
  struct rlimit lim;
  cr_assert_eq(getrlimit(RLIMIT_AS, &lim), 0);
  cr_assert_eq(b.as_limit, lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)lim.rlim_cur);
  cr_assert_eq(getrlimit(RLIMIT_DATA, &lim), 0);
  cr_assert_eq(b.data_limit, lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)lim.rlim_cur);
  struct statvfs fs;
  if (statvfs("/dev/shm", &fs) == 0) {
    cr_assert_eq(b.shm_size, (int64_t)((uint64_t)fs.f_blocks * fs.f_frsize));
    cr_assert_leq(b.shm_free, b.shm_size);
  } else {
    cr_assert_eq(b.shm_size, -1);
  }
  if (!vmp_capabilities()->knows_mapping_limit) {
    cr_assert_eq(b.map_limit, -1);
    cr_assert_eq(b.memfd, -1);
    return;
  }
  cr_assert_eq(b.map_limit, proc_number("/proc/sys/vm/max_map_count"));
  cr_assert_eq(b.overcommit, (int)proc_number("/proc/sys/vm/overcommit_memory"));
  const vmpt_vma *maps;
  size_t now = vmpt_maps_read(&maps);
  cr_assert(b.map_count > 0 && (size_t)b.map_count + 8 >= now && (size_t)b.map_count <= now + 8,
            "map count %lld, /proc/self/maps has %zu lines", (long long)b.map_count, now);
  cr_assert_eq(b.memfd, 1, "memfd_create works here");
  cr_assert_gt(b.huge_page, 0);
  /* One more mapping shows. */
  vmp_region *r;
  CHECK_OK(vmp_reserve(16 * vmp_page_size(), 0, &r));
  CHECK_OK(vmp_commit(r, 0, 16 * vmp_page_size(), VMP_PROT_READ));
  vmp_budget after;
  CHECK_OK(vmp_budget_get(&after));
  cr_assert_geq(after.map_count, b.map_count + 1, "%lld then %lld", (long long)b.map_count,
                (long long)after.map_count);
  CHECK_OK(vmp_release(r));
}

/* ---- labels -------------------------------------------------------------------------- */

/* The path column of the mapping holding addr, from /proc/self/maps. */
static const char *path_at(const void *addr) {
  const vmpt_vma *maps;
  size_t n = vmpt_maps_read(&maps);
  for (size_t i = 0; i < n; i++)
    if ((uintptr_t)addr >= maps[i].start && (uintptr_t)addr < maps[i].end) return maps[i].path;
  return NULL;
}

static int fail_anon_name(void *a, size_t n, const char *name) {
  (void)a, (void)n, (void)name;
  errno = ENOMEM;
  return -1;
}

Test(budget, labels_show_in_the_map) {
  page = vmp_page_size();
  vmp_region *r;
  CHECK_OK(vmp_reserve(16 * page, 0, &r));
  char *base = vmp_base(r);
  CHECK_OK(vmp_split(r, 0, 8 * page));
  CHECK_OK(vmp_commit(r, 0, 8 * page, VMP_PROT_RW));
  /* Argument order, whatever the kernel. */
  CHECK_RC(vmp_label(NULL, 0, page, "x"), VMP_EINVAL);
  CHECK_RC(vmp_label(r, 0, 0, "x"), VMP_EINVAL);
  CHECK_RC(vmp_label(r, 0, page, NULL), VMP_EINVAL);
  CHECK_RC(vmp_label(r, 0, page, ""), VMP_EINVAL);
  CHECK_RC(vmp_label(r, 0, page, "a[b]"), VMP_EINVAL);
  CHECK_RC(vmp_label(r, 0, page, "tab\there"), VMP_EINVAL);
  char long_name[81];
  memset(long_name, 'n', 80);
  long_name[80] = 0;
  CHECK_RC(vmp_label(r, 0, page, long_name), VMP_EINVAL);
  long_name[79] = 0;
  CHECK_RC(vmp_label(r, 1, page, long_name), VMP_EALIGN);
  CHECK_RC(vmp_label(r, 16 * page, page, "x"), VMP_ERANGE);
  CHECK_RC(vmp_label(r, 8 * page, page, "x"), VMP_ESTATE);
  CHECK_RC(vmp_label(r, 7 * page, 2 * page, "x"), VMP_ESTATE);
  memset(base, 7, 8 * page);
  /* A refused prctl changes nothing. */
  char *before = vmpt_maps_region_text(base, 16 * page);
  cr_assert_eq(vmp__testing_syscall_set("vma_anon_name", (vmp__syscall_fn)fail_anon_name),
               vmp_capabilities()->labels ? 0 : VMP_EINVAL);
  int rc = vmp_label(r, 2 * page, 2 * page, "guest-ram");
  vmp__testing_syscall_set("vma_anon_name", NULL);
  char *after = vmpt_maps_region_text(base, 16 * page);
  cr_assert_str_eq(after, before);
  if (vmp_capabilities()->labels)
    cr_assert_eq(rc, VMP_ENOMEM, "an injected failure gave %s", vmp_err_name(rc));
  free(before);
  free(after);
  CHECK_OK(vmp_label(r, 2 * page, 2 * page, long_name));
  CHECK_OK(vmp_label(r, 2 * page, 2 * page, "guest-ram"));
  const char *path = path_at(base + 2 * page);
  if (vmp_capabilities()->labels && path && strstr(path, "[anon:guest-ram]")) {
    cr_assert(!strstr(path_at(base) ? path_at(base) : "", "guest-ram"), "page 0 named too");
    cr_assert(!strstr(path_at(base + 4 * page) ? path_at(base + 4 * page) : "", "guest-ram"));
    /* The name stays through protect and discard; the bytes are the caller's. */
    CHECK_OK(vmp_protect(r, 2 * page, page, VMP_PROT_READ));
    CHECK_OK(vmp_discard(r, 3 * page, page));
    cr_assert(strstr(path_at(base + 2 * page), "[anon:guest-ram]"));
    cr_assert(strstr(path_at(base + 3 * page), "[anon:guest-ram]"));
    cr_assert_eq(base[0], 7);
  } else {
    cr_log_info("this kernel shows no names of anonymous memory (%s)", path ? path : "?");
  }
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

Test(budget, memory_objects_carry_their_name) {
  page = vmp_page_size();
  vmp_mem *m = NULL;
  CHECK_RC(vmp_mem_create_named(page, NULL, 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create_named(page, "a$b", 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create_named(page, "ok", 1, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create_named(page + 1, "ok", 0, &m), VMP_EALIGN);
  cr_assert_null(m);
  CHECK_OK(vmp_mem_create_named(4 * page, "jit-code", 0, &m));
  vmp_region *r;
  CHECK_OK(vmp_reserve(4 * page, 0, &r));
  CHECK_OK(vmp_map(r, 0, 4 * page, m, 0, VMP_PROT_RW));
  const char *path = path_at(vmp_base(r));
  cr_assert_not_null(path);
  if (vmp_capabilities()->labels)
    cr_assert(strstr(path, "memfd:jit-code"), "the view's path is \"%s\"", path);
  else
    cr_assert(!strstr(path, "jit-code"), "a fallback object has a name: \"%s\"", path);
  CHECK_OK(vmp_mem_close(m));
  CHECK_OK(vmp_release(r));
}
