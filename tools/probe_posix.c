/*
 * POSIX fault probe: the access runs with temporary SIGSEGV/SIGBUS handlers
 * that jump back to the probe. SIGBUS matters because touching a file view
 * past the end of its file raises SIGBUS, not SIGSEGV. The handlers run on
 * an alternate stack so a probe works even if the faulting thread's stack
 * is in a bad state, and the previous handlers (for instance a sanitizer's)
 * are put back after every access so faults elsewhere keep their usual
 * meaning.
 */
#include "probe.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>

/* The tool is single-threaded; one jump target suffices. */
static sigjmp_buf probe_return;

/* A fixed size rather than SIGSTKSZ, which is not a constant on recent
 * glibc; 64 KiB is ample for a handler that only jumps. */
static unsigned char probe_alt_stack[64 * 1024];

static void on_fault(int sig) {
  (void)sig;
  siglongjmp(probe_return, 1);
}

typedef struct saved_handlers {
  struct sigaction segv, bus;
  stack_t stack;
  int have_stack;
} saved_handlers;

static void install(saved_handlers *saved) {
  stack_t alt;
  memset(&alt, 0, sizeof alt);
  alt.ss_sp = probe_alt_stack;
  alt.ss_size = sizeof probe_alt_stack;
  alt.ss_flags = 0;
  saved->have_stack = sigaltstack(&alt, &saved->stack) == 0;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGSEGV, &sa, &saved->segv);
  sigaction(SIGBUS, &sa, &saved->bus);
}

static void restore(const saved_handlers *saved) {
  sigaction(SIGSEGV, &saved->segv, NULL);
  sigaction(SIGBUS, &saved->bus, NULL);
  if (saved->have_stack) sigaltstack(&saved->stack, NULL);
}

int vmp_probe_read(const volatile void *p, unsigned char *out) {
  saved_handlers saved;
  const volatile unsigned char *byte = p;
  volatile unsigned char value = 0;
  volatile int faulted = 0;

  install(&saved);
  /* savemask=1: the handler runs with the signal blocked; jumping out must
   * unblock it again or the next fault would kill the process. */
  if (sigsetjmp(probe_return, 1) == 0)
    value = *byte;
  else
    faulted = 1;
  restore(&saved);

  if (!faulted) *out = value;
  return faulted;
}

int vmp_probe_write(volatile void *p, unsigned char v) {
  saved_handlers saved;
  volatile unsigned char *byte = p;
  volatile int faulted = 0;

  install(&saved);
  if (sigsetjmp(probe_return, 1) == 0)
    *byte = v;
  else
    faulted = 1;
  restore(&saved);
  return faulted;
}
