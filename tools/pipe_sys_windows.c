/* pipe_sys.h on Windows. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <io.h>
#include <stdlib.h>

#include "pipe_sys.h"

struct pipe_thread {
  HANDLE handle;
  void *(*fn)(void *);
  void *arg;
};

intptr_t pipe_sys_stdin(void) { return (intptr_t)GetStdHandle(STD_INPUT_HANDLE); }
intptr_t pipe_sys_stdout(void) { return (intptr_t)GetStdHandle(STD_OUTPUT_HANDLE); }

static DWORD WINAPI thread_main(LPVOID p) {
  pipe_thread *t = p;
  t->fn(t->arg);
  return 0;
}

const char *pipe_sys_start(pipe_thread **thread, void *(*fn)(void *), void *arg) {
  pipe_thread *t = malloc(sizeof *t);
  if (t == NULL) return "out of memory";
  t->fn = fn;
  t->arg = arg;
  t->handle = CreateThread(NULL, 0, thread_main, t, 0, NULL);
  if (t->handle == NULL) {
    free(t);
    return "CreateThread failed";
  }
  *thread = t;
  return NULL;
}

void pipe_sys_join(pipe_thread *thread) {
  WaitForSingleObject(thread->handle, INFINITE);
  CloseHandle(thread->handle);
  free(thread);
}

/* A ReadFile blocked on a pipe or console returns ERROR_OPERATION_ABORTED. */
void pipe_sys_interrupt(pipe_thread *thread) { (void)CancelSynchronousIo(thread->handle); }

/* Handles here are blocking (the standard ones are never overlapped). */
void pipe_sys_wait_readable(intptr_t fd) { (void)fd, Sleep(1); }
void pipe_sys_wait_writable(intptr_t fd) { (void)fd, Sleep(1); }

void pipe_sys_nap(void) { Sleep(1); }

uint64_t pipe_sys_now_ns(void) {
  static LARGE_INTEGER frequency;
  LARGE_INTEGER now;
  if (frequency.QuadPart == 0) QueryPerformanceFrequency(&frequency);
  QueryPerformanceCounter(&now);
  return (uint64_t)((double)now.QuadPart * 1e9 / (double)frequency.QuadPart);
}

int pipe_sys_is_terminal(int which) { return _isatty(which); }

void pipe_sys_widen(intptr_t fd, size_t bytes) { (void)fd, (void)bytes; }

int pipe_sys_reader_gone(int err) {
  return err == -(int)ERROR_NO_DATA || err == -(int)ERROR_BROKEN_PIPE;
}

int pipe_sys_would_block(int err) {
  (void)err;
  return 0;
}
int pipe_sys_interrupted(int err) { return err == -(int)ERROR_OPERATION_ABORTED; }
