/*
 * Descriptor I/O straight from a ring (vmp_ring_fill, vmp_ring_drain):
 * bytes through pipes and sockets intact, end of file, a full or empty
 * ring, non-blocking descriptors, a reader that is gone (OS:EPIPE, and
 * never SIGPIPE, blocked or not), interrupted calls retried, and a failed
 * call leaving the ring as it was.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support_criterion.h"
#include "support_stream.h"
#include "testing.h"
#include "vmplace.h"

static void pipe_pair(int fds[2]) { cr_assert_eq(pipe(fds), 0); }

Test(ring_io, bytes_through_pipes_intact) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, 0, &r));
  int in[2], out[2];
  pipe_pair(in);
  pipe_pair(out);
  enum { TOTAL = 3000000 };
  static unsigned char src[TOTAL], dst[TOTAL];
  stream_fill(src, TOTAL, 99);
  size_t sent = 0, moved = 0, got = 0;
  int eof = 0;
  /* One thread: feed the input pipe a little, fill, drain, read the output
   * pipe, round and round, so every call meets a different state. */
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  while (got < TOTAL) {
    if (sent < TOTAL) {
      ssize_t w = write(in[1], src + sent, TOTAL - sent < 70000 ? TOTAL - sent : 70000);
      if (w > 0) sent += (size_t)w;
      if (sent == TOTAL) close(in[1]);
    }
    if (!eof) {
      ptrdiff_t n = vmp_ring_fill(r, in[0], VMP_RING_ALL);
      cr_assert(n >= 0 || n == VMP_EFULL, "fill: %s", vmp_err_name((int)n));
      if (n == 0) eof = 1;
      if (n > 0) moved += (size_t)n;
    }
    ptrdiff_t d = vmp_ring_drain(r, out[1], 5000);
    cr_assert_geq(d, 0, "drain: %s", vmp_err_name((int)d));
    ssize_t g = read(out[0], dst + got, TOTAL - got);
    if (g > 0) got += (size_t)g;
  }
  cr_assert(eof || moved == TOTAL);
  cr_assert_eq(memcmp(src, dst, TOTAL), 0);
  close(in[0]);
  close(out[0]);
  close(out[1]);
  CHECK_OK(vmp_ring_close(r));
}

Test(ring_io, full_empty_and_nonblocking) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, 0, &r));
  size_t cap = vmp_ring_capacity(r);
  int p[2];
  pipe_pair(p);
  cr_assert_eq(vmp_ring_drain(r, p[1], VMP_RING_ALL), 0); /* empty */
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  cr_assert_eq(vmp_ring_fill(r, p[0], VMP_RING_ALL), -EAGAIN); /* nothing yet */
  static unsigned char buf[1 << 16];
  memset(buf, 7, sizeof buf);
  cr_assert_eq(write(p[1], buf, cap), (ssize_t)cap);
  cr_assert_eq(vmp_ring_fill(r, p[0], 10), 10); /* at most max */
  cr_assert_eq(vmp_ring_fill(r, p[0], VMP_RING_ALL), (ptrdiff_t)(cap - 10));
  cr_assert_eq(vmp_ring_fill(r, p[0], VMP_RING_ALL), VMP_EFULL);
  cr_assert_eq(vmp_ring_fill(r, p[0], 0), VMP_EINVAL);
  cr_assert_eq(vmp_ring_fill(NULL, p[0], 1), VMP_EINVAL);
  cr_assert_eq(vmp_ring_fill(r, -1, 1), VMP_EFULL); /* no room comes before the descriptor */
  unsigned char one;
  cr_assert_eq(vmp_ring_read(r, &one, 1), 1);
  cr_assert_eq(vmp_ring_fill(r, 1000000, 1), -EBADF);
  close(p[0]);
  close(p[1]);
  vmp_ring *mp;
  CHECK_OK(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &mp));
  cr_assert_eq(vmp_ring_fill(mp, 0, 1), VMP_EINVAL);
  cr_assert_eq(vmp_ring_drain(mp, 1, 1), VMP_EINVAL);
  CHECK_OK(vmp_ring_close(mp));
  CHECK_OK(vmp_ring_close(r));
}

/* The reader is gone: OS:EPIPE, the process lives (SIGPIPE has its default
 * action here, which would kill it), and the bytes are still in the ring. */
static void reader_gone(int use_socket, int caller_blocks) {
  signal(SIGPIPE, SIG_DFL);
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  if (caller_blocks) pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, 0, &r));
  cr_assert_eq(vmp_ring_write(r, "hello", 5), 5);
  int fds[2];
  if (use_socket)
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  else
    pipe_pair(fds);
  close(fds[0]);
  cr_assert_eq(vmp_ring_drain(r, fds[1], VMP_RING_ALL), -EPIPE);
  cr_assert_str_eq(vmp_err_name(-EPIPE), "OS:EPIPE");
  char back[5];
  cr_assert_eq(vmp_ring_read(r, back, 5), 5, "the bytes stayed");
  cr_assert_eq(memcmp(back, "hello", 5), 0);
  sigset_t pending;
  sigpending(&pending);
  cr_assert_not(sigismember(&pending, SIGPIPE), "a SIGPIPE was left pending");
  if (caller_blocks) pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(fds[1]);
  CHECK_OK(vmp_ring_close(r));
}

Test(ring_io, a_pipe_without_reader_is_epipe) { reader_gone(0, 0); }
Test(ring_io, a_socket_without_reader_is_epipe) { reader_gone(1, 0); }
Test(ring_io, epipe_with_sigpipe_blocked_leaves_nothing_pending) { reader_gone(0, 1); }

/* The caller's own pending SIGPIPE (blocked, raised before the call) is
 * left alone. */
Test(ring_io, a_sigpipe_pending_before_stays) {
  sigset_t pipe_only, old, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  raise(SIGPIPE);
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, 0, &r));
  cr_assert_eq(vmp_ring_write(r, "x", 1), 1);
  int fds[2];
  pipe_pair(fds);
  close(fds[0]);
  cr_assert_eq(vmp_ring_drain(r, fds[1], 1), -EPIPE);
  sigpending(&pending);
  cr_assert(sigismember(&pending, SIGPIPE), "the caller's SIGPIPE was taken");
  signal(SIGPIPE, SIG_IGN); /* let it go quietly */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(fds[1]);
  CHECK_OK(vmp_ring_close(r));
}

/* A fill blocked on input that never comes is stopped by shutting the ring
 * down and interrupting the thread with a signal: VMP_ESHUTDOWN, where a
 * plain interruption would have been waited out. */
static void on_signal(int sig) { (void)sig; }

typedef struct blocked_fill {
  vmp_ring *ring;
  int fd;
  _Atomic int started;
  ptrdiff_t result;
} blocked_fill;

static void *fill_main(void *arg) {
  blocked_fill *b = arg;
  atomic_store(&b->started, 1);
  b->result = vmp_ring_fill(b->ring, b->fd, VMP_RING_ALL);
  return NULL;
}

Test(ring_io, shutdown_and_a_signal_stop_a_blocked_fill) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART */
  sigaction(SIGUSR1, &sa, NULL);
  int p[2];
  pipe_pair(p);
  blocked_fill b = {NULL, p[0], 0, 1};
  CHECK_OK(vmp_ring_create(1, 0, &b.ring));
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, fill_main, &b), 0);
  while (!atomic_load(&b.started)) sched_yield();
  /* Interrupted while the ring runs: waited out. */
  struct timespec nap = {0, 20000000};
  nanosleep(&nap, NULL);
  pthread_kill(t, SIGUSR1);
  nanosleep(&nap, NULL);
  cr_assert_eq(b.result, 1, "the fill returned %td before the shutdown", b.result);
  vmp_ring_shutdown(b.ring);
  pthread_kill(t, SIGUSR1);
  pthread_join(t, NULL);
  cr_assert_eq(b.result, VMP_ESHUTDOWN);
  close(p[0]);
  close(p[1]);
  CHECK_OK(vmp_ring_close(b.ring));
}

/* ---- injected failures ---------------------------------------------------------- */

static int interrupts_left;
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);

static ssize_t read_interrupted(int fd, void *buf, size_t n) {
  if (interrupts_left > 0) {
    interrupts_left--;
    errno = EINTR;
    return -1;
  }
  return real_read(fd, buf, n);
}

static ssize_t write_interrupted(int fd, const void *buf, size_t n) {
  if (interrupts_left > 0) {
    interrupts_left--;
    errno = EINTR;
    return -1;
  }
  return real_write(fd, buf, n);
}

static ssize_t read_fails(int fd, void *buf, size_t n) {
  (void)fd, (void)buf, (void)n;
  errno = EIO;
  return -1;
}

static ssize_t write_fails(int fd, const void *buf, size_t n) {
  (void)fd, (void)buf, (void)n;
  errno = ENOSPC;
  return -1;
}

Test(ring_io, interrupted_calls_are_retried_and_failures_change_nothing) {
  real_read = (ssize_t(*)(int, void *, size_t))vmp__testing_syscall_default("read");
  real_write = (ssize_t(*)(int, const void *, size_t))vmp__testing_syscall_default("write");
  cr_assert(real_read && real_write);
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, 0, &r));
  int p[2];
  pipe_pair(p);
  cr_assert_eq(write(p[1], "abcdef", 6), 6);
  interrupts_left = 3;
  CHECK_OK(vmp__testing_syscall_set("read", (vmp__syscall_fn)read_interrupted));
  cr_assert_eq(vmp_ring_fill(r, p[0], 3), 3);
  cr_assert_eq(interrupts_left, 0);
  CHECK_OK(vmp__testing_syscall_set("read", (vmp__syscall_fn)read_fails));
  cr_assert_eq(vmp_ring_fill(r, p[0], 3), -EIO);
  CHECK_OK(vmp__testing_syscall_set("read", NULL));
  int q[2];
  pipe_pair(q);
  interrupts_left = 2;
  CHECK_OK(vmp__testing_syscall_set("write", (vmp__syscall_fn)write_interrupted));
  cr_assert_eq(vmp_ring_drain(r, q[1], 1), 1);
  CHECK_OK(vmp__testing_syscall_set("write", (vmp__syscall_fn)write_fails));
  cr_assert_eq(vmp_ring_drain(r, q[1], VMP_RING_ALL), -ENOSPC);
  CHECK_OK(vmp__testing_syscall_set("write", NULL));
  /* After the failures the ring holds exactly "bc": nothing was committed
   * or released by them. */
  char rest[8];
  cr_assert_eq(vmp_ring_read(r, rest, sizeof rest), 2);
  cr_assert_eq(memcmp(rest, "bc", 2), 0);
  char first;
  cr_assert_eq(read(q[0], &first, 1), 1);
  cr_assert_eq(first, 'a');
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  CHECK_OK(vmp_ring_close(r));
}
