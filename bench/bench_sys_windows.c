/* bench_sys.h on Windows: Windows threads, an auto-reset event between
 * threads, anonymous pipes between processes, and a child that is this
 * program started again with the handles it inherits on its command line. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_sys.h"

/* The first argument that makes this program a child of bsys_child_start. */
#define CHILD_FLAG "--bench-sys-child"

static int last_error(void) { return -(int)GetLastError(); }

uint64_t bench_now_ns(void) {
  static LARGE_INTEGER frequency; /* constant after boot: racing writers agree */
  LARGE_INTEGER now;
  if (frequency.QuadPart == 0) QueryPerformanceFrequency(&frequency);
  QueryPerformanceCounter(&now);
  /* In two parts, so that neither the product overflows nor a double
   * rounds away the nanoseconds of a long uptime. */
  uint64_t f = (uint64_t)frequency.QuadPart, t = (uint64_t)now.QuadPart;
  return t / f * 1000000000u + t % f * 1000000000u / f;
}

unsigned bsys_cpus(void) {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  return info.dwNumberOfProcessors > 0 ? (unsigned)info.dwNumberOfProcessors : 1u;
}

void bsys_pin(unsigned cpu) {
  unsigned n = bsys_cpus();
  if (n > 8 * sizeof(DWORD_PTR)) n = 8 * sizeof(DWORD_PTR);
  (void)SetThreadAffinityMask(GetCurrentThread(), (DWORD_PTR)1 << (cpu % n));
}

/* A thread's affinity on Windows narrows within the process's, which
 * pinning a thread leaves as it was. */
void bsys_unpin(void) {
  DWORD_PTR process, system;
  if (GetProcessAffinityMask(GetCurrentProcess(), &process, &system))
    (void)SetThreadAffinityMask(GetCurrentThread(), process);
}

struct bsys_thread {
  HANDLE handle;
  void *(*fn)(void *);
  void *arg;
};

static DWORD WINAPI thread_main(LPVOID p) {
  bsys_thread *t = p;
  t->fn(t->arg);
  return 0;
}

int bsys_thread_start(bsys_thread **out, void *(*fn)(void *), void *arg) {
  bsys_thread *t = malloc(sizeof *t);
  if (t == NULL) return -(int)ERROR_NOT_ENOUGH_MEMORY;
  t->fn = fn;
  t->arg = arg;
  t->handle = CreateThread(NULL, 0, thread_main, t, 0, NULL);
  if (t->handle == NULL) {
    int err = last_error();
    free(t);
    return err;
  }
  *out = t;
  return 0;
}

void bsys_thread_join(bsys_thread *thread) {
  WaitForSingleObject(thread->handle, INFINITE);
  CloseHandle(thread->handle);
  free(thread);
}

struct bsys_chan {
  int between;
  HANDLE event;          /* BSYS_THREADS: set when `word` holds a word */
  _Atomic uint64_t word; /* BSYS_THREADS */
  HANDLE end[2];         /* BSYS_PROCESSES: read and write end; NULL once given away */
};

static bsys_chan *new_chan(int between) {
  bsys_chan *c = calloc(1, sizeof *c);
  if (c) c->between = between;
  return c;
}

int bsys_chan_open(int between, bsys_chan **out) {
  bsys_chan *c = new_chan(between);
  if (c == NULL) return -(int)ERROR_NOT_ENOUGH_MEMORY;
  int ok = between == BSYS_THREADS ? (c->event = CreateEventA(NULL, FALSE, FALSE, NULL)) != NULL
                                   : CreatePipe(&c->end[0], &c->end[1], NULL, 0) != 0;
  if (!ok) {
    int err = last_error();
    free(c);
    return err;
  }
  *out = c;
  return 0;
}

int bsys_chan_send(bsys_chan *chan, uint64_t word) {
  if (chan->between == BSYS_THREADS) {
    atomic_store_explicit(&chan->word, word, memory_order_release);
    return SetEvent(chan->event) ? 0 : last_error();
  }
  DWORD n;
  if (!WriteFile(chan->end[1], &word, sizeof word, &n, NULL)) return last_error();
  return n == sizeof word ? 0 : -(int)ERROR_WRITE_FAULT;
}

int bsys_chan_recv(bsys_chan *chan, uint64_t *word) {
  if (chan->between == BSYS_THREADS) {
    if (WaitForSingleObject(chan->event, INFINITE) != WAIT_OBJECT_0) return last_error();
    *word = atomic_load_explicit(&chan->word, memory_order_acquire);
    return 0;
  }
  unsigned char *p = (unsigned char *)word;
  DWORD got = 0, n;
  while (got < sizeof *word) {
    if (!ReadFile(chan->end[0], p + got, (DWORD)sizeof *word - got, &n, NULL)) return last_error();
    if (n == 0) return -(int)ERROR_BROKEN_PIPE;
    got += n;
  }
  return 0;
}

static void close_handle(HANDLE *h) {
  if (*h) CloseHandle(*h);
  *h = NULL;
}

void bsys_chan_close(bsys_chan *chan) {
  if (chan == NULL) return;
  close_handle(&chan->event);
  close_handle(&chan->end[0]);
  close_handle(&chan->end[1]);
  free(chan);
}

struct bsys_child {
  HANDLE process;
};

/* Only these copies are inheritable, so the child gets nothing else of
 * ours (the standard handles aside). */
static HANDLE inheritable(HANDLE h) {
  HANDLE dup = NULL;
  HANDLE self = GetCurrentProcess();
  return DuplicateHandle(self, h, self, &dup, 0, TRUE, DUPLICATE_SAME_ACCESS) ? dup : NULL;
}

int bsys_child_start(bsys_child **out, bsys_child_fn fn, intptr_t ring, bsys_chan *in,
                     bsys_chan *out_chan) {
  (void)fn; /* the child's main() calls it, through bsys_child_main */
  char exe[MAX_PATH], cmd[MAX_PATH + 100];
  DWORD len = GetModuleFileNameA(NULL, exe, sizeof exe);
  if (len == 0 || len >= sizeof exe) return len ? -(int)ERROR_FILENAME_EXCED_RANGE : last_error();
  bsys_child *c = malloc(sizeof *c);
  if (c == NULL) return -(int)ERROR_NOT_ENOUGH_MEMORY;
  /* The ring's section, in's read end and out's write end. */
  HANDLE given[3] = {NULL, NULL, NULL};
  int err = 0;
  if (ring != -1 && (given[0] = inheritable((HANDLE)ring)) == NULL) err = last_error();
  if (!err && in && (given[1] = inheritable(in->end[0])) == NULL) err = last_error();
  if (!err && (given[2] = inheritable(out_chan->end[1])) == NULL) err = last_error();
  if (!err) {
    snprintf(cmd, sizeof cmd, "\"%s\" %s %lld %lld %lld", exe, CHILD_FLAG,
             given[0] ? (long long)(intptr_t)given[0] : -1LL, (long long)(intptr_t)given[1],
             (long long)(intptr_t)given[2]);
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    fflush(NULL);
    if (CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
      CloseHandle(pi.hThread);
      c->process = pi.hProcess;
    } else {
      err = last_error();
    }
  }
  for (int i = 0; i < 3; i++) close_handle(&given[i]);
  if (err) {
    free(c);
    return err;
  }
  if (in) close_handle(&in->end[0]);
  close_handle(&out_chan->end[1]);
  *out = c;
  return 0;
}

int bsys_child_wait(bsys_child *child) {
  DWORD code = 1;
  int err = 0;
  if (WaitForSingleObject(child->process, INFINITE) != WAIT_OBJECT_0 ||
      !GetExitCodeProcess(child->process, &code))
    err = last_error();
  CloseHandle(child->process);
  free(child);
  if (err) return err;
  return code == 0 ? 0 : -(int)ERROR_PROCESS_ABORTED;
}

static HANDLE handle_arg(const char *s) { return (HANDLE)(intptr_t)strtoll(s, NULL, 10); }

int bsys_child_main(int argc, char **argv, bsys_child_fn fn, int *status) {
  if (argc != 5 || strcmp(argv[1], CHILD_FLAG) != 0) return 0;
  HANDLE ring = handle_arg(argv[2]);
  bsys_chan *in = NULL, *out = new_chan(BSYS_PROCESSES);
  HANDLE in_end = handle_arg(argv[3]);
  if (out && in_end && (in = new_chan(BSYS_PROCESSES)) == NULL) {
    free(out);
    out = NULL;
  }
  if (out == NULL) {
    *status = 1;
    return 1;
  }
  if (in) in->end[0] = in_end;
  out->end[1] = handle_arg(argv[4]);
  *status = fn((intptr_t)ring, in, out) == 0 ? 0 : 1;
  /* The ring made its own copy of the section handle when it attached. */
  if (ring != INVALID_HANDLE_VALUE) CloseHandle(ring);
  bsys_chan_close(in);
  bsys_chan_close(out);
  return 1;
}
