/* pipe_sys.h on POSIX systems. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#endif
#include "pipe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pipe_thread {
  pthread_t id;
};

intptr_t pipe_sys_stdin(void) { return 0; }
intptr_t pipe_sys_stdout(void) { return 1; }

/* The interrupting signal's handler does nothing: installed without
 * SA_RESTART, it makes a blocked read() return EINTR. */
#define WAKE_SIGNAL SIGUSR1
static void on_wake_signal(int sig) { (void)sig; }

const char *pipe_sys_start(pipe_thread **thread, void *(*fn)(void *), void *arg) {
  struct sigaction wake;
  memset(&wake, 0, sizeof wake);
  wake.sa_handler = on_wake_signal;
  sigemptyset(&wake.sa_mask);
  sigaction(WAKE_SIGNAL, &wake, NULL);
  pipe_thread *t = malloc(sizeof *t);
  if (t == NULL) return "out of memory";
  int err = pthread_create(&t->id, NULL, fn, arg);
  if (err != 0) {
    free(t);
    return strerror(err);
  }
  *thread = t;
  return NULL;
}

void pipe_sys_join(pipe_thread *thread) {
  pthread_join(thread->id, NULL);
  free(thread);
}

void pipe_sys_interrupt(pipe_thread *thread) { pthread_kill(thread->id, WAKE_SIGNAL); }

static void wait_for(intptr_t fd, short events) {
  struct pollfd p = {(int)fd, events, 0};
  (void)poll(&p, 1, -1); /* also returns when interrupted */
}

void pipe_sys_wait_readable(intptr_t fd) { wait_for(fd, POLLIN); }
void pipe_sys_wait_writable(intptr_t fd) { wait_for(fd, POLLOUT); }

void pipe_sys_nap(void) {
  struct timespec nap = {0, 1000000};
  nanosleep(&nap, NULL);
}

uint64_t pipe_sys_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pipe_sys_is_terminal(int which) { return isatty(which); }

/* A pipe holds 64 KiB by default, so every read() and write() moves at
 * most that much and the processes around us wake for each piece; Linux
 * lets any user go up to /proc/sys/fs/pipe-max-size (1 MiB by default). */
void pipe_sys_widen(intptr_t fd, size_t bytes) {
#ifdef F_SETPIPE_SZ
  struct stat st;
  if (fstat((int)fd, &st) == 0 && S_ISFIFO(st.st_mode) && bytes <= INT_MAX &&
      fcntl((int)fd, F_GETPIPE_SZ) < (int)bytes)
    (void)fcntl((int)fd, F_SETPIPE_SZ, (int)bytes);
#else
  (void)fd, (void)bytes;
#endif
}

int pipe_sys_reader_gone(int err) { return err == -EPIPE; }
int pipe_sys_would_block(int err) { return err == -EAGAIN || err == -EWOULDBLOCK; }
int pipe_sys_interrupted(int err) { return err == -EINTR; }
