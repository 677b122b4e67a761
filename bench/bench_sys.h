/*
 * What the portable benchmark code (wake_latency.c) needs from the system,
 * beyond the library and C11: threads, CPU pinning, the system's plain
 * blocking channel (the baseline) and a child process that gets a ring and
 * channels. bench_sys_posix.c (pthreads, pipes, fork) and
 * bench_sys_windows.c (Windows threads, events, anonymous pipes,
 * CreateProcess) implement it; bench_now_ns() (bench.h) comes from there
 * too. Errors are negative: -errno, or -GetLastError() on Windows, as the
 * library reports OS errors.
 */
#ifndef VMP_BENCH_SYS_H
#define VMP_BENCH_SYS_H

#include <stdint.h>

/* Moves the calling thread to CPU `cpu` (modulo the CPUs there are); does
 * nothing where that is not possible. */
void bsys_pin(unsigned cpu);
/* Lets the calling thread run on every CPU the process could use before
 * the first bsys_pin() again. A thread that pinned itself must call it
 * before it goes on to other work: the processes it starts inherit its
 * CPUs (a pipeline of child processes would share one CPU). */
void bsys_unpin(void);
/* How many CPUs are online (at least 1). */
unsigned bsys_cpus(void);

typedef struct bsys_thread bsys_thread;
int bsys_thread_start(bsys_thread **out, void *(*fn)(void *), void *arg);
void bsys_thread_join(bsys_thread *thread);

/* A one-way channel of 64-bit words whose receiver sleeps in the kernel
 * until a word comes: between two threads of this process
 * (BSYS_THREADS: a pipe on POSIX, an auto-reset event and a word of memory
 * on Windows) or between this process and a child of bsys_child_start
 * (BSYS_PROCESSES: a pipe, anonymous on Windows). It holds one word: the
 * sender waits for an answer before it sends again. */
typedef struct bsys_chan bsys_chan;
enum { BSYS_THREADS, BSYS_PROCESSES };
int bsys_chan_open(int between, bsys_chan **out);
int bsys_chan_send(bsys_chan *chan, uint64_t word);
/* Blocks until a word comes; an error (the sending process is gone: -EPIPE
 * or ERROR_BROKEN_PIPE) when none ever can. */
int bsys_chan_recv(bsys_chan *chan, uint64_t *word);
/* NULL is ignored. */
void bsys_chan_close(bsys_chan *chan);

/* A child process running fn(ring, in, out): `ring` is a descriptor
 * (vmp_ring_fd) to attach, or -1; `in` is the child's receiving end of a
 * BSYS_PROCESSES channel or NULL, `out` its sending end. In this process,
 * `in` can then only send and `out` only receive, so that either side
 * sees the other's end. The child's exit status is fn's (0: success). */
typedef struct bsys_child bsys_child;
typedef int (*bsys_child_fn)(intptr_t ring, bsys_chan *in, bsys_chan *out);
int bsys_child_start(bsys_child **out, bsys_child_fn fn, intptr_t ring, bsys_chan *in,
                     bsys_chan *out_chan);
/* Waits for the child to end: 0 when fn returned 0, else an error. */
int bsys_child_wait(bsys_child *child);
/* Called first in main(): in a child that bsys_child_start made by
 * starting this program again (Windows), runs fn, stores its exit status
 * and returns 1; otherwise (POSIX forks without starting anew) returns 0. */
int bsys_child_main(int argc, char **argv, bsys_child_fn fn, int *status);

#endif
