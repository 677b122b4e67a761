/* Memory objects: create, open, adopt, size, grow, close, and what the
 * system sees of them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support_criterion.h"
#include "testing.h"
#include "vmplace.h"

static char path[512];

static void make_file(void) { cr_assert_eq(vmpt_temp_file(4 * PG, 0x3c, path, sizeof path), 0); }
static void remove_file(void) { vmpt_temp_file_remove(path); }

Test(mem, create_arguments) {
  vmp_mem *m;
  CHECK_RC(vmp_mem_create(PG, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mem_create(0, 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create(PG, 1, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_create(100, 1, &m), VMP_EINVAL); /* EINVAL before EALIGN */
  CHECK_RC(vmp_mem_create(PG + 100, 0, &m), VMP_EALIGN);
}

Test(mem, create_is_anonymous_zeroed_rw) {
  size_t shm_n, tmp_n;
  uint64_t shm = vmpt_dir_fingerprint("/dev/shm", &shm_n);
  uint64_t tmp = vmpt_dir_fingerprint(vmpt_tmpdir(), &tmp_n);
  vmp_mem *m;
  uint64_t size;
  CHECK_OK(vmp_mem_create(4 * PG, 0, &m));
  /* Nothing named exists while the object lives, not only after. */
  cr_assert_eq(vmpt_dir_fingerprint("/dev/shm", NULL), shm, "a name appeared in /dev/shm");
  cr_assert_eq(vmpt_dir_fingerprint(vmpt_tmpdir(), NULL), tmp, "a name appeared in $TMPDIR");
  CHECK_OK(vmp_mem_size(m, &size));
  cr_assert_eq(size, 4 * PG);
  cr_assert_eq(vmp_mem_flags(m), VMP_MEM_RW);
  int fd = (int)vmp_mem_fd(m);
  cr_assert_geq(fd, 0);
  int fdflags = fcntl(fd, F_GETFD);
  cr_assert(fdflags >= 0 && (fdflags & FD_CLOEXEC), "the descriptor is not close-on-exec");
  struct stat st;
  cr_assert_eq(fstat(fd, &st), 0);
  cr_assert(S_ISREG(st.st_mode));
  cr_assert_eq(st.st_nlink, 0, "the object has a name (%lu links)", (unsigned long)st.st_nlink);
  unsigned char buf[64];
  cr_assert_eq(pread(fd, buf, sizeof buf, 2 * (off_t)PG), (ssize_t)sizeof buf);
  for (size_t i = 0; i < sizeof buf; i++) cr_assert_eq(buf[i], 0);
  CHECK_OK(vmp_mem_close(m));
  cr_assert_eq(vmpt_dir_fingerprint("/dev/shm", NULL), shm);
  cr_assert_eq(vmpt_dir_fingerprint(vmpt_tmpdir(), NULL), tmp);
}

Test(mem, fd_shared_with_a_second_mapping) {
  vmp_mem *m;
  vmp_region *r;
  CHECK_OK(vmp_mem_create(4 * PG, 0, &m));
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  CHECK_OK(vmp_map(r, 0, 4 * PG, m, 0, VMP_PROT_RW));
  char *view = vmp_base(r);
  /* Someone else (another process, after SCM_RIGHTS) maps the same fd. */
  char *other = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, (int)vmp_mem_fd(m), 0);
  cr_assert_neq(other, MAP_FAILED);
  view[PG + 5] = 0x61;
  cr_assert_eq(other[PG + 5], 0x61);
  other[3 * PG] = 0x62;
  cr_assert_eq(view[3 * PG], 0x62);
  munmap(other, 4 * PG);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
}

Test(mem, open_read_only_and_read_write, .init = make_file, .fini = remove_file) {
  vmp_mem *ro, *rw;
  vmp_region *r;
  uint64_t size;
  CHECK_OK(vmp_mem_open(path, VMP_MEM_READ, &ro));
  CHECK_OK(vmp_mem_open(path, VMP_MEM_RW, &rw));
  cr_assert_eq(vmp_mem_flags(ro), VMP_MEM_READ);
  cr_assert_eq(vmp_mem_flags(rw), VMP_MEM_RW);
  CHECK_OK(vmp_mem_size(ro, &size));
  cr_assert_eq(size, 4 * PG);
  CHECK_OK(vmp_reserve(8 * PG, 0, &r));
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_RC(vmp_map(r, 0, 4 * PG, ro, 0, VMP_PROT_RW), VMP_EACCES);
  CHECK_OK(vmp_map(r, 0, 4 * PG, ro, 0, VMP_PROT_READ));
  CHECK_OK(vmp_map(r, 4 * PG, 4 * PG, rw, 0, VMP_PROT_RW));
  char *b = vmp_base(r);
  cr_assert_eq(b[0], 0x3c);
  cr_assert_eq(b[4 * PG + 7], 0x3c);
  b[4 * PG + 7] = 0x1d;
  cr_assert_eq(b[7], 0x1d, "two views of one file disagree");
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(ro));
  CHECK_OK(vmp_mem_close(rw));
  /* The write reached the file. */
  int fd = open(path, O_RDONLY);
  char c = 0;
  cr_assert_eq(pread(fd, &c, 1, 7), 1);
  close(fd);
  cr_assert_eq(c, 0x1d);
}

Test(mem, open_arguments, .init = make_file, .fini = remove_file) {
  vmp_mem *m;
  CHECK_RC(vmp_mem_open(NULL, VMP_MEM_READ, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, VMP_MEM_READ, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, VMP_MEM_WRITE, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(path, 0x10 | VMP_MEM_READ, &m), VMP_EINVAL);
}

Test(mem, open_missing_file_is_enoent) {
  vmp_mem *m;
  size_t fds = vmpt_fd_count();
  int rc = vmp_mem_open("/nonexistent-vmplace-dir/file", VMP_MEM_READ, &m);
  cr_assert(vmp_err_is_os(rc), "gave %s", vmp_err_name(rc));
  cr_assert_eq(vmp_err_os_code(rc), ENOENT);
  cr_assert_eq(vmpt_fd_count(), fds);
}

/* A directory is not a regular file, whichever way it is asked for: the
 * documented VMP_EINVAL, not the system's EISDIR for read-write. */
Test(mem, open_directory) {
  vmp_mem *m;
  size_t fds = vmpt_fd_count();
  CHECK_RC(vmp_mem_open(vmpt_tmpdir(), VMP_MEM_READ, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_open(vmpt_tmpdir(), VMP_MEM_RW, &m), VMP_EINVAL);
  cr_assert_eq(vmpt_fd_count(), fds, "a refused open leaked its descriptor");
}

/* Root reads anything, so a child process drops to an unprivileged user
 * first; the parent stays root to clean up the file. */
Test(mem, open_permission_denied_is_eacces, .init = make_file, .fini = remove_file) {
  cr_assert_eq(chmod(path, 0600), 0);
  pid_t child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    vmp_mem *m;
    if (geteuid() == 0) {
      struct passwd *nobody = getpwnam("nobody");
      uid_t uid = nobody ? nobody->pw_uid : 65534;
      gid_t gid = nobody ? nobody->pw_gid : 65534;
      if (setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) _exit(3);
    }
    int fd = open(path, O_RDONLY);
    if (fd >= 0) _exit(2); /* this user can read it: nothing to test */
    int rc = vmp_mem_open(path, VMP_MEM_READ, &m);
    _exit(rc == -EACCES && vmp_err_is_os(rc) && vmp_err_os_code(rc) == EACCES ? 0 : 1);
  }
  int status = 0;
  cr_assert_eq(waitpid(child, &status, 0), child);
  cr_assert(WIFEXITED(status), "the child died");
  cr_assert_neq(WEXITSTATUS(status), 3, "could not become an unprivileged user");
  cr_assert_neq(WEXITSTATUS(status), 2, "an unprivileged user could read a 0600 file");
  cr_assert_eq(WEXITSTATUS(status), 0, "opening an unreadable file did not give -EACCES");
}

Test(mem, adopt, .init = make_file, .fini = remove_file) {
  vmp_mem *m;
  int ro = open(path, O_RDONLY | O_CLOEXEC);
  int rw = open(path, O_RDWR | O_CLOEXEC);
  int pipefd[2];
  cr_assert(ro >= 0 && rw >= 0);
  cr_assert_eq(pipe(pipefd), 0);
  CHECK_RC(vmp_mem_adopt(-1, 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_adopt(ro, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mem_adopt(ro, 0x40, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_adopt(pipefd[0], 0, &m), VMP_EINVAL);
  CHECK_RC(vmp_mem_adopt(ro, VMP_MEM_RW, &m), VMP_EACCES);
  /* On failure the caller keeps the descriptor. */
  cr_assert_geq(fcntl(ro, F_GETFD), 0, "a refused adopt closed the descriptor");
  cr_assert_geq(fcntl(pipefd[0], F_GETFD), 0);
  close(pipefd[0]);
  close(pipefd[1]);

  CHECK_OK(vmp_mem_adopt(ro, 0, &m));
  cr_assert_eq(vmp_mem_flags(m), VMP_MEM_READ);
  cr_assert_eq(vmp_mem_fd(m), ro);
  CHECK_OK(vmp_mem_close(m));
  cr_assert_lt(fcntl(ro, F_GETFD), 0, "close did not close the adopted descriptor");

  CHECK_OK(vmp_mem_adopt(rw, VMP_MEM_READ, &m));
  cr_assert_eq(vmp_mem_flags(m), VMP_MEM_READ, "flags are not intersected");
  vmp_region *r;
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  CHECK_RC(vmp_map(r, 0, 4 * PG, m, 0, VMP_PROT_RW), VMP_EACCES);
  CHECK_OK(vmp_map(r, 0, 4 * PG, m, 0, VMP_PROT_READ));
  cr_assert_eq(((char *)vmp_base(r))[PG], 0x3c);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
}

/* A region of 8 pages whose first `pages` are a read-write view of m. */
static vmp_region *viewed_at_start(vmp_mem *m, size_t pages) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(8 * PG, 0, &r));
  CHECK_OK(vmp_split(r, 0, pages * PG));
  CHECK_OK(vmp_map(r, 0, pages * PG, m, 0, VMP_PROT_RW));
  return r;
}

Test(mem, grow_never_shrinks) {
  vmp_mem *m;
  uint64_t size;
  CHECK_OK(vmp_mem_create(2 * PG, 0, &m));
  vmp_region *r = viewed_at_start(m, 2);
  memset(vmp_base(r), 0x71, 2 * PG);
  CHECK_RC(vmp_mem_grow(NULL, 4 * PG), VMP_EINVAL);
  CHECK_RC(vmp_mem_grow(m, PG), VMP_EINVAL);
  CHECK_OK(vmp_mem_size(m, &size));
  cr_assert_eq(size, 2 * PG);
  CHECK_RC(vmp_map(r, 2 * PG, 6 * PG, m, 0, VMP_PROT_RW), VMP_EBOUNDS);
  CHECK_OK(vmp_mem_grow(m, 8 * PG));
  CHECK_OK(vmp_mem_size(m, &size));
  cr_assert_eq(size, 8 * PG);
  CHECK_OK(vmp_mem_grow(m, 8 * PG)); /* same size: nothing to do */
  CHECK_OK(vmp_map(r, 2 * PG, 6 * PG, m, 0, VMP_PROT_RW));
  char *b = vmp_base(r);
  cr_assert_eq(b[2 * PG + 1], 0x71, "old bytes lost");
  for (size_t i = 4 * PG; i < 8 * PG; i += 97) cr_assert_eq(b[i], 0, "grown bytes are not zero");
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_size(NULL, &size) == VMP_EINVAL ? 0 : -1);
  CHECK_OK(vmp_mem_close(m));
}

Test(mem, grow_read_only_is_eacces, .init = make_file, .fini = remove_file) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_open(path, VMP_MEM_READ, &m));
  CHECK_RC(vmp_mem_grow(m, 8 * PG), VMP_EACCES);
  CHECK_OK(vmp_mem_close(m));
}

Test(mem, close_while_views_alive) {
  vmp_mem *m;
  vmp_span_info info;
  CHECK_OK(vmp_mem_create(4 * PG, 0, &m));
  vmp_region *r = viewed_at_start(m, 4);
  CHECK_OK(vmp_map(r, 4 * PG, 4 * PG, m, 0, VMP_PROT_RW));
  char *b = vmp_base(r);
  b[10] = 0x4e;
  CHECK_OK(vmp_mem_close(m));
  cr_assert_eq(b[4 * PG + 10], 0x4e, "views stopped sharing after close");
  b[4 * PG + 11] = 0x4f;
  cr_assert_eq(b[11], 0x4f);
  CHECK_OK(vmp_query(r, b + PG, &info));
  cr_assert_eq(info.kind, VMP_VIEW);
  cr_assert_eq(info.mem, m, "query no longer names the object");
  CHECK_OK(vmp_query(r, b + 5 * PG, &info));
  cr_assert_eq(info.mem, m);
  CHECK_MAPS(r);
  CHECK_OK(vmp_unmap(r, 0, 4 * PG));
  cr_assert_eq(b[4 * PG + 10], 0x4e);
  CHECK_OK(vmp_release(r)); /* drops the last reference (ASan sees a leak otherwise) */
}

Test(mem, small_accessors) {
  cr_assert_eq(vmp_mem_fd(NULL), -1);
  cr_assert_eq(vmp_mem_flags(NULL), 0);
  CHECK_OK(vmp_mem_close(NULL));
}

/* ---- issue 9: what a caller's mistake or an odd file must not do --------- */

/* Under RLIMIT_FSIZE, ftruncate past the limit raises SIGXFSZ, which kills
 * by default: the library must answer -EFBIG and leave the caller alive
 * with its signal dispositions as they were. Run in a child so the limit
 * and a death stay there. */
Test(mem, file_size_limit_is_efbig_not_sigxfsz) {
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_DFL);
    struct rlimit lim = {2 * PG, 2 * PG};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(10);
    vmp_mem *m = NULL;
    if (vmp_mem_create(16 * PG, 0, &m) != -EFBIG) _exit(11);
    if (vmp_mem_create(PG, 0, &m) != 0) _exit(12);
    if (vmp_mem_grow(m, 16 * PG) != -EFBIG) _exit(13);
    if (vmp_mem_grow(m, 2 * PG) != 0) _exit(14);
    vmp_mem_close(m);
    vmp_ring *ring = NULL;
    if (vmp_ring_create(16 * PG, 0, &ring) != -EFBIG) _exit(15);
    struct sigaction now;
    if (sigaction(SIGXFSZ, NULL, &now) != 0 || now.sa_handler != SIG_DFL) _exit(16);
    _exit(0);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(!WIFSIGNALED(status), "the child died by signal %d", WTERMSIG(status));
  cr_assert_eq(WEXITSTATUS(status), 0, "check %d failed in the child", WEXITSTATUS(status));
}

static char fifo_path[512];
static void make_fifo(void) {
  snprintf(fifo_path, sizeof fifo_path, "%s/vmplace-fifo-%ld", vmpt_tmpdir(), (long)getpid());
  unlink(fifo_path);
  cr_assert_eq(mkfifo(fifo_path, 0600), 0);
  /* A regression blocks in open(2) forever: the alarm turns that into a
   * failed test. */
  alarm(10);
}
static void remove_fifo(void) {
  alarm(0);
  unlink(fifo_path);
}

Test(mem, fifo_and_devices_refused_without_blocking, .init = make_fifo, .fini = remove_fifo) {
  size_t fds = vmpt_fd_count();
  vmp_mem *m;
  const char *paths[] = {fifo_path, "/dev/null", "/dev/zero"};
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    CHECK_RC(vmp_mem_open(paths[i], VMP_MEM_READ, &m), VMP_EINVAL);
    CHECK_RC(vmp_mem_open(paths[i], VMP_MEM_RW, &m), VMP_EINVAL);
  }
  vmp_segment fifo_seg = {fifo_path, -1, 0, 0};
  vmp_mview *v = NULL;
  size_t bad = 99;
  CHECK_RC(vmp_mview_open(&fifo_seg, 1, 16 * PG, 0, &v, &bad), VMP_EINVAL);
  cr_assert_eq(bad, 0);
  make_file();
  vmp_segment file_seg = {path, -1, 0, 0};
  CHECK_OK(vmp_mview_open(&file_seg, 1, 16 * PG, 0, &v, &bad));
  CHECK_RC(vmp_mview_append(v, &fifo_seg), VMP_EINVAL);
  CHECK_OK(vmp_mview_close(v));
  remove_file();
  cr_assert_eq(vmpt_fd_count(), fds, "a refused open leaked its descriptor");
}

/* docs/contract.md error order: VMP_EINVAL (a shrink, step 1) before VMP_EACCES (step 6). */
Test(mem, grow_read_only_smaller_is_einval_first, .init = make_file, .fini = remove_file) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_open(path, VMP_MEM_READ, &m));
  CHECK_RC(vmp_mem_grow(m, PG), VMP_EINVAL);
  CHECK_RC(vmp_mem_grow(m, 8 * PG), VMP_EACCES);
  CHECK_OK(vmp_mem_close(m));
}

/* What cannot be adopted is VMP_EINVAL even when the allocation would fail:
 * the descriptor is judged first. */
Test(mem, adopt_unmappable_is_einval_before_enomem) {
  int p[2];
  cr_assert_eq(pipe(p), 0);
  int dir = open(vmpt_tmpdir(), O_RDONLY | O_DIRECTORY);
  cr_assert_geq(dir, 0);
  vmp_mem *m;
  int fds[] = {p[0], dir};
  for (size_t i = 0; i < 2; i++) {
    vmp__testing_alloc_fail_after(0);
    int rc = vmp_mem_adopt(fds[i], 0, &m);
    vmp__testing_alloc_disarm();
    CHECK_RC(rc, VMP_EINVAL);
  }
  /* A mappable descriptor does reach the allocation, which fails cleanly. */
  make_file();
  int fd = open(path, O_RDWR);
  cr_assert_geq(fd, 0);
  vmp__testing_alloc_fail_after(0);
  int rc = vmp_mem_adopt(fd, 0, &m);
  cr_assert(vmp__testing_alloc_disarm(), "the allocation was never reached");
  CHECK_RC(rc, VMP_ENOMEM);
  cr_assert_geq(fcntl(fd, F_GETFD), 0, "a failed adopt closed the caller's descriptor");
  CHECK_OK(vmp_mem_adopt(fd, 0, &m));
  CHECK_OK(vmp_mem_close(m));
  remove_file();
  close(p[0]);
  close(p[1]);
  close(dir);
}

/* Found by fuzz/fuzz_api.c: vmp_mem_open allocated its bookkeeping before
 * judging the path, so a directory under memory pressure gave VMP_ENOMEM
 * where the argument order says VMP_EINVAL. A regular file does reach the
 * allocation, and its failure leaks no descriptor. */
Test(mem, open_unmappable_is_einval_before_enomem, .init = make_file, .fini = remove_file) {
  vmp_mem *m = NULL;
  size_t fds = vmpt_fd_count();
  vmp__testing_alloc_fail_after(0);
  int rc = vmp_mem_open(vmpt_tmpdir(), VMP_MEM_READ, &m);
  vmp__testing_alloc_disarm();
  CHECK_RC(rc, VMP_EINVAL);
  vmp__testing_alloc_fail_after(0);
  rc = vmp_mem_open(path, VMP_MEM_RW, &m);
  cr_assert(vmp__testing_alloc_disarm(), "the allocation was never reached");
  CHECK_RC(rc, VMP_ENOMEM);
  cr_assert_eq(vmpt_fd_count(), fds, "a failed open leaked its descriptor");
}

/* A second close of a handle still alive through a view is refused and
 * does not close the descriptor number again, which by now belongs to
 * someone else. */
Test(mem, double_close_is_einval_and_closes_nothing) {
  vmp_region *r;
  vmp_mem *m;
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  CHECK_OK(vmp_split(r, 0, PG));
  CHECK_OK(vmp_split(r, PG, PG));
  CHECK_OK(vmp_mem_create(PG, 0, &m));
  CHECK_OK(vmp_map(r, 0, PG, m, 0, VMP_PROT_RW));
  int old_fd = (int)vmp_mem_fd(m);
  CHECK_OK(vmp_mem_close(m));
  int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
  cr_assert_geq(other, 0);
  cr_assert_eq(other, old_fd, "the test needs the freed descriptor number reused");
  CHECK_RC(vmp_mem_close(m), VMP_EINVAL);
  cr_assert_geq(fcntl(other, F_GETFD), 0, "the second close closed someone else's descriptor");
  /* The handle is gone for every other use too, though its views live on. */
  uint64_t size;
  CHECK_RC(vmp_mem_size(m, &size), VMP_EINVAL);
  CHECK_RC(vmp_mem_grow(m, 2 * PG), VMP_EINVAL);
  cr_assert_eq(vmp_mem_fd(m), -1);
  CHECK_RC(vmp_map(r, PG, PG, m, 0, VMP_PROT_RW), VMP_EINVAL);
  ((volatile char *)vmp_base(r))[0] = 7;
  CHECK_OK(vmp_release(r));
  close(other);
}
