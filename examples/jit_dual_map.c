/*
 * jit_dual_map: W^X code generation with two views of one object.
 *
 * A JIT must never have a page that is writable and executable at once.
 * The object is made with VMP_MEM_EXEC: without it Linux seals it against
 * exec, and an RX view of it is refused.
 * Here one exec-capable memory object is mapped twice in one region: a
 * read-write view where the code is written, and a read-execute view,
 * somewhere else in the same reservation, from which it runs. Neither
 * view is ever both. The program writes a function that returns 42 into
 * the RW view, calls it through the RX view, rewrites it to return 7 (the
 * RX view sees the change at once: it is the same memory), and shows that
 * the RX view cannot be written: its protection says so, and on POSIX a
 * child process that tries it dies of the fault. The RX view is mapped
 * read-execute from the first moment (vmp_map never maps an executable
 * view with more than it was asked), so it is not writable during
 * vmp_map either, and it can never be made writable (a view keeps within
 * what it was mapped executable with, on every backend).
 *
 * Exit status 0 when it ran the code it wrote and the RX view refused the
 * write; 77 on a processor it has no code for.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vmplace.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

/* `return value;` for the processor this runs on. */
static size_t emit_return(unsigned char *code, uint32_t value) {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
  code[0] = 0xb8; /* mov eax, imm32 */
  memcpy(code + 1, &value, 4);
  code[5] = 0xc3; /* ret */
  return 6;
#elif defined(__aarch64__)
  uint32_t insns[2] = {0x52800000u | ((value & 0xffffu) << 5), /* movz w0, #value */
                       0xd65f03c0u};                           /* ret */
  memcpy(code, insns, sizeof insns);
  return sizeof insns;
#else
  (void)code, (void)value;
  return 0;
#endif
}

/* What a JIT does after writing code: make the processor see it. */
static void flush_code(void *start, size_t size) {
#if defined(_WIN32)
  FlushInstructionCache(GetCurrentProcess(), start, size);
#else
  __builtin___clear_cache((char *)start, (char *)start + size);
#endif
}

typedef int (*int_fn)(void);

static int fail(const char *what, int rc) {
  fprintf(stderr, "jit_dual_map: %s: %s\n", what, rc ? vmp_strerror(rc) : "check failed");
  return 1;
}

/* Whether writing to p faults. POSIX: a child tries it and must die of
 * the fault. Windows: the protection the system reports, now and as the
 * view was mapped (the most it can ever be given). */
static int write_faults(volatile unsigned char *p) {
#if defined(_WIN32)
  MEMORY_BASIC_INFORMATION mbi;
  if (VirtualQuery((const void *)p, &mbi, sizeof mbi) != sizeof mbi) return 0;
  return mbi.Protect == PAGE_EXECUTE_READ && mbi.AllocationProtect == PAGE_EXECUTE_READ;
#else
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    /* The system's own action (a sanitizer may have a handler installed). */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    p[0] = 0x90;
    _exit(0); /* the write went through */
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 0;
  return WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
#endif
}

int main(void) {
  unsigned char probe[16];
  if (emit_return(probe, 1) == 0) {
    puts("jit_dual_map: no code generator for this processor");
    return 77;
  }
  size_t size = vmp_granularity() > vmp_page_size() ? vmp_granularity() : 16 * vmp_page_size();
  vmp_mem *code;
  int rc = vmp_mem_create_named(size, "jit-code", VMP_MEM_EXEC, &code);
  if (rc) return fail("create the code object", rc);
  /* RW view, a placeholder gap, RX view: one reservation. */
  vmp_region *r;
  rc = vmp_reserve(3 * size, 0, &r);
  if (!rc) rc = vmp_split(r, 0, size);
  if (!rc) rc = vmp_split(r, 2 * size, size);
  if (!rc) rc = vmp_map(r, 0, size, code, 0, VMP_PROT_RW);
  if (!rc) rc = vmp_map(r, 2 * size, size, code, 0, VMP_PROT_READ | VMP_PROT_EXEC);
  if (rc) return fail("map the two views", rc);
  vmp_mem_close(code); /* the views keep the object */
  unsigned char *rw = vmp_base(r);
  unsigned char *rx = rw + 2 * size;

  size_t n = emit_return(rw, 42);
  flush_code(rx, n);
  int_fn fn;
  memcpy(&fn, &rx, sizeof fn); /* object to function pointer, as dlsym users do */
  int first = fn();
  emit_return(rw, 7);
  flush_code(rx, n);
  int second = fn();
  printf("jit_dual_map: wrote and ran %d, rewrote and ran %d, from %p (RW at %p)\n", first, second,
         (void *)rx, (void *)rw);
  if (first != 42 || second != 7) return fail("the code did not return what was written", 0);

  vmp_span_info info;
  rc = vmp_query(r, rx, &info);
  if (rc) return fail("query", rc);
  if (info.prot != (VMP_PROT_READ | VMP_PROT_EXEC) || info.kind != VMP_VIEW)
    return fail("the RX view's protection", 0);
  if (!write_faults(rx)) return fail("a write to the RX view did not fault", 0);
  if (rx[0] != rw[0]) return fail("the views show different bytes", 0);
  rc = vmp_release(r);
  if (rc) return fail("release", rc);
  puts(
      "jit_dual_map: no view was ever writable and executable; the RX view refused a "
      "write");
  return 0;
}
