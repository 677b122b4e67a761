/* bench_sys.h on POSIX: pthreads, pipes and fork, nothing beyond
 * POSIX.1-2008 (CPU pinning, which POSIX has not, is in
 * bench_sys_affinity_*.c). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_sys.h"

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct bsys_thread {
  pthread_t id;
};

int bsys_thread_start(bsys_thread **out, void *(*fn)(void *), void *arg) {
  bsys_thread *t = malloc(sizeof *t);
  if (t == NULL) return -ENOMEM;
  int err = pthread_create(&t->id, NULL, fn, arg);
  if (err) {
    free(t);
    return -err;
  }
  *out = t;
  return 0;
}

void bsys_thread_join(bsys_thread *thread) {
  pthread_join(thread->id, NULL);
  free(thread);
}

/* Between threads and between processes alike: a pipe. An end that this
 * side gave away is -1. */
struct bsys_chan {
  int fd[2];
};

int bsys_chan_open(int between, bsys_chan **out) {
  /* A child that died must make a send fail, not kill the benchmark. */
  if (between == BSYS_PROCESSES) signal(SIGPIPE, SIG_IGN);
  bsys_chan *c = malloc(sizeof *c);
  if (c == NULL) return -ENOMEM;
  if (pipe(c->fd) != 0) {
    int err = -errno;
    free(c);
    return err;
  }
  *out = c;
  return 0;
}

int bsys_chan_send(bsys_chan *chan, uint64_t word) {
  ssize_t n;
  while ((n = write(chan->fd[1], &word, sizeof word)) < 0 && errno == EINTR) {
  }
  if (n == (ssize_t)sizeof word) return 0;
  return n < 0 ? -errno : -EIO; /* a pipe writes 8 bytes whole (PIPE_BUF) */
}

int bsys_chan_recv(bsys_chan *chan, uint64_t *word) {
  unsigned char *p = (unsigned char *)word;
  size_t got = 0;
  while (got < sizeof *word) {
    ssize_t n = read(chan->fd[0], p + got, sizeof *word - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EPIPE; /* every writer is gone */
    got += (size_t)n;
  }
  return 0;
}

static void close_end(bsys_chan *chan, int end) {
  if (chan->fd[end] >= 0) close(chan->fd[end]);
  chan->fd[end] = -1;
}

void bsys_chan_close(bsys_chan *chan) {
  if (chan == NULL) return;
  close_end(chan, 0);
  close_end(chan, 1);
  free(chan);
}

struct bsys_child {
  pid_t pid;
};

/* fork() alone: the child runs fn on its copy of this process and sees the
 * ring's descriptor and the pipes' ends under the same numbers. */
int bsys_child_start(bsys_child **out, bsys_child_fn fn, intptr_t ring, bsys_chan *in,
                     bsys_chan *out_chan) {
  bsys_child *c = malloc(sizeof *c);
  if (c == NULL) return -ENOMEM;
  fflush(NULL); /* or the child's copy of the buffers would be written twice */
  c->pid = fork();
  if (c->pid < 0) {
    int err = -errno;
    free(c);
    return err;
  }
  if (c->pid == 0) {
    if (in) close_end(in, 1);
    close_end(out_chan, 0);
    _exit(fn(ring, in, out_chan) == 0 ? 0 : 1);
  }
  if (in) close_end(in, 0);
  close_end(out_chan, 1);
  *out = c;
  return 0;
}

int bsys_child_wait(bsys_child *child) {
  int status;
  pid_t got;
  while ((got = waitpid(child->pid, &status, 0)) < 0 && errno == EINTR) {
  }
  int err = got < 0 ? -errno : 0;
  free(child);
  if (err) return err;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int bsys_child_main(int argc, char **argv, bsys_child_fn fn, int *status) {
  (void)argc, (void)argv, (void)fn, (void)status;
  return 0;
}
