/*
 * What `vmplace pipe` needs from the system beyond the library: the
 * standard handles, a thread, a way to stop a thread blocked reading idle
 * input, waiting on a non-blocking descriptor, a clock and terminals.
 * pipe_sys_posix.c and pipe_sys_windows.c implement it.
 */
#ifndef VMPLACE_TOOLS_PIPE_SYS_H
#define VMPLACE_TOOLS_PIPE_SYS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pipe_thread pipe_thread;

/* The standard input and output as the ring's fill and drain take them. */
intptr_t pipe_sys_stdin(void);
intptr_t pipe_sys_stdout(void);

/* Runs fn(arg) on a new thread. 0, or a message about why not. */
const char *pipe_sys_start(pipe_thread **thread, void *(*fn)(void *), void *arg);
void pipe_sys_join(pipe_thread *thread);

/* Makes a read the thread is blocked in return (POSIX: a signal whose
 * handler does nothing, installed by pipe_sys_start; Windows:
 * CancelSynchronousIo). Safe to call when it is not blocked. */
void pipe_sys_interrupt(pipe_thread *thread);

/* Waits until a non-blocking descriptor can be read (written), or
 * something interrupted the wait. */
void pipe_sys_wait_readable(intptr_t fd);
void pipe_sys_wait_writable(intptr_t fd);

/* About a millisecond of sleep. */
void pipe_sys_nap(void);

/* Nanoseconds on a clock that does not jump. */
uint64_t pipe_sys_now_ns(void);

/* Whether standard output (1) or standard error (2) is a terminal. */
int pipe_sys_is_terminal(int which);

/* Asks for a pipe on fd to hold `bytes` (Linux F_SETPIPE_SZ); nothing
 * where it cannot. */
void pipe_sys_widen(intptr_t fd, size_t bytes);

/* Whether a drain error says the reader of the output is gone (EPIPE;
 * Windows ERROR_NO_DATA or ERROR_BROKEN_PIPE). */
int pipe_sys_reader_gone(int err);

/* Whether a fill or drain error says "nothing now" on a non-blocking
 * descriptor (EAGAIN), or that the read was interrupted on purpose. */
int pipe_sys_would_block(int err);
int pipe_sys_interrupted(int err);

#endif
