/* The portable harness of support_check.h: the checks, the list of tests,
 * and main, which runs each test in a child process with a time limit. */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

#include "support_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmplace.h"

/* Exit statuses of a child: what the test's checks said. */
#define CHILD_PASSED 0
#define CHILD_FAILED 1
#define CHILD_SKIPPED 77
#define DEFAULT_TIMEOUT_S 120u

static const char *running_test = "(none)";
static int failures_in_test;
static int skipped;

/* ---- checks --------------------------------------------------------------------- */

static void vreport(const char *file, int line, const char *fmt, va_list ap) {
  fprintf(stdout, "  %s:%d: [%s] ", file, line, running_test);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
}

void check_failf(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(file, line, fmt, ap);
  va_end(ap);
  failures_in_test++;
}

int check_failures(void) { return failures_in_test; }

static void vsay(const char *what, const char *fmt, va_list ap) {
  fprintf(stdout, "  %s [%s]: ", what, running_test);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
}

void check_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay("note", fmt, ap);
  va_end(ap);
}

void check_skip(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay("skip", fmt, ap);
  va_end(ap);
  skipped = 1;
}

/* ---- the list --------------------------------------------------------------------- */

#define MAX_TESTS 256
static const check_test *tests[MAX_TESTS];
static size_t test_count;

void check_register(const check_test *test) {
  if (test_count == MAX_TESTS) {
    fprintf(stderr, "more than %d tests in one program: raise MAX_TESTS\n", MAX_TESTS);
    exit(CHILD_FAILED);
  }
  /* Constructors run in no promised order: keep the list in source order. */
  size_t at = test_count++;
  while (at > 0 && tests[at - 1]->line > test->line) {
    tests[at] = tests[at - 1];
    at--;
  }
  tests[at] = test;
}

static const check_test *find_test(const char *name) {
  for (size_t i = 0; i < test_count; i++)
    if (strcmp(tests[i]->name, name) == 0) return tests[i];
  return NULL;
}

/* Runs a test in this process and says how its checks ended. */
static int run_here(const check_test *t) {
  running_test = t->name;
  failures_in_test = 0;
  skipped = 0;
  t->run();
  fflush(stdout);
  if (failures_in_test) return CHILD_FAILED;
  return skipped ? CHILD_SKIPPED : CHILD_PASSED;
}

/* A test's own limit, else $VMPT_TIMEOUT, else the default. */
static unsigned timeout_of(const check_test *t) {
  if (t->timeout_s) return t->timeout_s;
  const char *env = getenv("VMPT_TIMEOUT");
  unsigned long s = env && *env ? strtoul(env, NULL, 10) : 0;
  return s > 0 && s < 86400 ? (unsigned)s : DEFAULT_TIMEOUT_S;
}

static check_outcome from_status(int status, char *why, size_t len) {
  switch (status) {
    case CHILD_PASSED:
      snprintf(why, len, "passed");
      return CHECK_PASSED;
    case CHILD_SKIPPED:
      snprintf(why, len, "skipped");
      return CHECK_SKIPPED;
    case CHILD_FAILED:
      snprintf(why, len, "a check failed");
      return CHECK_FAILED;
    default:
      snprintf(why, len, "exit status %d", status);
      return CHECK_FAILED;
  }
}

/* ---- one child per test ------------------------------------------------------------ */

/* The harness's own tests end badly on purpose: their messages would only
 * read like failures in the log. */
static void silence(void) {
#if defined(_WIN32)
  if (!freopen("NUL", "w", stdout)) return;
#else
  if (!freopen("/dev/null", "w", stdout)) return;
#endif
}

#if defined(_WIN32)

/* What a process that died of SIGSEGV's counterpart exits with. */
#define EXIT_ACCESS_VIOLATION 0xC0000005u

/* A child that meets an exception it does not handle ends at once with the
 * exception's code as its status: no error box, no debugger (Wine starts
 * one, and the status would then say nothing). */
static LONG WINAPI exit_with_exception(EXCEPTION_POINTERS *e) {
  fflush(stdout);
  TerminateProcess(GetCurrentProcess(), (UINT)e->ExceptionRecord->ExceptionCode);
  return EXCEPTION_EXECUTE_HANDLER;
}

static void end_on_exceptions(void) {
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
  SetUnhandledExceptionFilter(exit_with_exception);
}

static check_outcome spawn(const check_test *t, int quiet, char *why, size_t len) {
  char exe[MAX_PATH], cmd[MAX_PATH + 300];
  DWORD n = GetModuleFileNameA(NULL, exe, sizeof exe);
  if (n == 0 || n >= sizeof exe) {
    snprintf(why, len, "cannot find this program's path (error %lu)", GetLastError());
    return CHECK_FAILED;
  }
  snprintf(cmd, sizeof cmd, "\"%s\" %s %s", exe, quiet ? "--quiet-child" : "--child", t->name);
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  fflush(stdout);
  if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
    snprintf(why, len, "CreateProcess failed (error %lu)", GetLastError());
    return CHECK_FAILED;
  }
  CloseHandle(pi.hThread);
  unsigned limit = timeout_of(t);
  DWORD waited = WaitForSingleObject(pi.hProcess, limit * 1000u);
  if (waited != WAIT_OBJECT_0) {
    TerminateProcess(pi.hProcess, 1);
    WaitForSingleObject(pi.hProcess, INFINITE);
    CloseHandle(pi.hProcess);
    snprintf(why, len, "timed out after %u s", limit);
    return CHECK_TIMED_OUT;
  }
  DWORD code = 1;
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hProcess);
  int crashed = code >= 0xC0000000u;
  if (t->expect_signal) {
    if (code == EXIT_ACCESS_VIOLATION) {
      snprintf(why, len, "died of the expected access violation");
      return CHECK_PASSED;
    }
    snprintf(why, len, "expected to die of signal %d, ended with status 0x%lx", t->expect_signal,
             (unsigned long)code);
    return CHECK_FAILED;
  }
  if (crashed) {
    snprintf(why, len, "crashed with exception 0x%lx", (unsigned long)code);
    return CHECK_FAILED;
  }
  return from_status((int)code, why, len);
}

#else

/* A signal ends a POSIX child by itself. */
static void end_on_exceptions(void) {}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static check_outcome spawn(const check_test *t, int quiet, char *why, size_t len) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, len, "fork failed");
    return CHECK_FAILED;
  }
  if (pid == 0) {
    if (quiet) silence();
    exit(run_here(t)); /* exit, not _exit: atexit clean-ups run */
  }
  unsigned limit = timeout_of(t);
  long waited_ms = 0, step = 1;
  int status = 0;
  for (;;) {
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    if (got < 0) {
      snprintf(why, len, "waitpid failed");
      return CHECK_FAILED;
    }
    if (waited_ms >= (long)limit * 1000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      snprintf(why, len, "timed out after %u s", limit);
      return CHECK_TIMED_OUT;
    }
    sleep_ms(step);
    waited_ms += step;
    if (step < 20) step *= 2;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (sig == t->expect_signal) {
      snprintf(why, len, "died of the expected signal %d", sig);
      return CHECK_PASSED;
    }
    snprintf(why, len, "killed by signal %d", sig);
    return CHECK_FAILED;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : CHILD_FAILED;
  if (t->expect_signal) {
    snprintf(why, len, "expected to die of signal %d, exited with status %d", t->expect_signal,
             code);
    return CHECK_FAILED;
  }
  return from_status(code, why, len);
}

#endif

check_outcome check_run_isolated(const char *name, char *why, size_t why_len) {
  const check_test *t = find_test(name);
  if (!t) {
    snprintf(why, why_len, "no test named %s", name);
    return CHECK_FAILED;
  }
  return spawn(t, 1, why, why_len);
}

/* ---- main ------------------------------------------------------------------------- */

static int usage(const char *program) {
  fprintf(stderr, "usage: %s [--list] [--no-fork] [TEST...]\n", program);
  return 2;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int quiet = argc == 3 && strcmp(argv[1], "--quiet-child") == 0;
  if (argc == 3 && (quiet || strcmp(argv[1], "--child") == 0)) {
    const check_test *t = find_test(argv[2]);
    if (!t) return usage(argv[0]);
    if (quiet) silence();
    end_on_exceptions();
    return run_here(t);
  }
  int in_process = 0, first = 1;
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < test_count; i++) printf("%s\n", tests[i]->name);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--no-fork") == 0) {
    in_process = 1;
    first = 2;
  }
  for (int i = first; i < argc; i++)
    if (!find_test(argv[i])) {
      fprintf(stderr, "%s: no test named %s\n", argv[0], argv[i]);
      return usage(argv[0]);
    }
  unsigned passed = 0, failed = 0, skips = 0;
  for (size_t i = 0; i < test_count; i++) {
    const check_test *t = tests[i];
    int asked = argc <= first;
    for (int a = first; a < argc && !asked; a++) asked = strcmp(argv[a], t->name) == 0;
    if (!asked || (argc <= first && t->name[0] == '_')) continue;
    char why[160];
    check_outcome outcome;
    if (in_process)
      outcome = from_status(run_here(t), why, sizeof why);
    else
      outcome = spawn(t, 0, why, sizeof why);
    switch (outcome) {
      case CHECK_PASSED:
        printf("PASS %s\n", t->name);
        passed++;
        break;
      case CHECK_SKIPPED:
        printf("SKIP %s\n", t->name);
        skips++;
        break;
      default:
        printf("FAIL %s (%s)\n", t->name, why);
        failed++;
    }
  }
  running_test = "(none)";
  printf("%u passed, %u failed, %u skipped\n", passed, failed, skips);
  return failed ? 1 : 0;
}
