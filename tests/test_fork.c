/*
 * fork(): what a child sees of each kind of span, and that the library's
 * locks are usable in the child even when another thread was in the
 * middle of a call on the same region at the moment of the fork.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support_criterion.h"
#include "vmplace.h"

static size_t page;

static int child_status(pid_t pid) {
  int status = 0;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status), "child died (signal %d)", WTERMSIG(status));
  return WEXITSTATUS(status);
}

/* Placeholder, private and view spans, before and after a fork. */
Test(fork, each_kind_is_what_the_header_says) {
  page = vmp_page_size();
  vmp_region *r;
  vmp_mem *m;
  CHECK_OK(vmp_reserve(12 * page, 0, &r));
  CHECK_OK(vmp_mem_create(4 * page, 0, &m));
  CHECK_OK(vmp_split(r, 0, 4 * page));
  CHECK_OK(vmp_split(r, 4 * page, 4 * page));
  CHECK_OK(vmp_commit(r, 0, 4 * page, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 4 * page, 4 * page, m, 0, VMP_PROT_RW));
  char *priv = vmp_base(r), *view = priv + 4 * page;
  memset(priv, 0x11, 4 * page);
  memset(view, 0x22, 4 * page);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    /* The parent's bytes as of the fork, in both. */
    if (priv[0] != 0x11 || view[0] != 0x22) _exit(10);
    priv[0] = 0x33; /* private: stays here */
    view[0] = 0x44; /* shared: the parent sees it */
    vmp_span_info info;
    if (vmp_query(r, priv + 8 * page, &info) || info.kind != VMP_PLACEHOLDER) _exit(11);
    /* The region is the child's to use: the placeholder becomes memory. */
    if (vmp_commit(r, 8 * page, 4 * page, VMP_PROT_RW)) _exit(12);
    priv[8 * page] = 1;
    char why[4096];
    if (vmpt_maps_check_region(r, why, sizeof why)) _exit(13);
    if (vmp_release(r)) _exit(14);
    _exit(0);
  }
  cr_assert_eq(child_status(pid), 0, "the child failed");
  cr_assert_eq(priv[0], 0x11, "the child's private write reached the parent");
  cr_assert_eq(view[0], 0x44, "the child's write to the view did not reach the parent");
  vmp_span_info info;
  CHECK_OK(vmp_query(r, priv + 8 * page, &info));
  cr_assert_eq(info.kind, VMP_PLACEHOLDER, "the child's commit changed the parent");
  CHECK_MAPS(r);
  CHECK_OK(vmp_mem_close(m));
  CHECK_OK(vmp_release(r));
}

/* A thread keeps making calls on the region (each holds its lock for a
 * while: split, commit, unmap, coalesce) while the main thread forks
 * again and again; every child must be able to call into the region at
 * once. A lock left held by the other thread would hang the child, which
 * an alarm turns into a failure. */
static vmp_region *busy;
static atomic_int stop;

static void *keep_busy(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    if (vmp_split(busy, 4 * page, 4 * page) == 0) {
      vmp_commit(busy, 4 * page, 4 * page, VMP_PROT_RW);
      vmp_unmap(busy, 4 * page, 4 * page);
      vmp_coalesce(busy, 0, 16 * page);
    }
  }
  return NULL;
}

Test(fork, the_lock_is_usable_in_the_child) {
  page = vmp_page_size();
  CHECK_OK(vmp_reserve(16 * page, 0, &busy));
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, keep_busy, NULL), 0);
  int failed = 0;
  for (int i = 0; i < 300 && !failed; i++) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
      alarm(5);
      vmp_span_info info;
      if (vmp_query(busy, vmp_base(busy), &info)) _exit(20);
      /* A consistent span set: the spans tile the region. */
      size_t covered = 0, spans = vmp_span_count(busy);
      for (size_t off = 0; off < 16 * page; off += info.size, covered++)
        if (vmp_query(busy, (char *)vmp_base(busy) + off, &info) || info.offset != off) _exit(21);
      if (covered != spans) _exit(22);
      vmp_region *fresh;
      if (vmp_reserve(page, 0, &fresh) || vmp_release(fresh)) _exit(23);
      _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = i + 1;
    if (failed)
      cr_log_error("fork %d: %s %d", i, WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  cr_assert_eq(failed, 0, "child %d could not use the region", failed);
  CHECK_OK(vmp_release(busy));
}
