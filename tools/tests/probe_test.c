/* Checks the fault probe on its own: SIGSEGV (PROT_NONE, read-only page),
 * SIGBUS (a file mapping past the end of the file), accesses that must not
 * fault, and that the previous signal handlers are back afterwards.
 * Plain program: prints each failed check and exits 1 if any failed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probe.h"

static int failures;

static void expect(int ok, const char *what) {
  if (!ok) {
    printf("FAILED: %s\n", what);
    failures++;
  }
}

static void sentinel_handler(int sig) { (void)sig; }

int main(void) {
  long page = sysconf(_SC_PAGESIZE);
  unsigned char value = 0;

  /* A handler of our own, to see that probes put it back. */
  struct sigaction mine, now;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = sentinel_handler;
  sigemptyset(&mine.sa_mask);
  sigaction(SIGSEGV, &mine, NULL);
  sigaction(SIGBUS, &mine, NULL);

  unsigned char *rw =
      mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (rw == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  expect(vmp_probe_write(rw, 0x5a) == 0, "write to a rw page does not fault");
  expect(vmp_probe_read(rw, &value) == 0 && value == 0x5a, "read back what was written");

  mprotect(rw + page, (size_t)page, PROT_READ);
  value = 0x77;
  expect(vmp_probe_read(rw + page, &value) == 0 && value == 0, "read of a read-only page");
  expect(vmp_probe_write(rw + page, 1) == 1, "write to a read-only page faults");
  expect(rw[page] == 0, "a faulting write changed nothing");

  mprotect(rw, (size_t)page, PROT_NONE);
  value = 0x33;
  expect(vmp_probe_read(rw, &value) == 1, "read of a PROT_NONE page faults");
  expect(value == 0x33, "a faulting read leaves *out alone");
  expect(vmp_probe_write(rw + page - 1, 1) == 1, "write to a PROT_NONE page faults");
  /* Many in a row: the signal must not stay blocked after a jump. */
  int all = 1;
  for (int i = 0; i < 100; i++) all &= vmp_probe_read(rw + i, &value) == 1;
  expect(all, "repeated faults are all caught");
  munmap(rw, (size_t)page * 2);

  /* SIGBUS: two pages mapped from a one-page file. */
  FILE *tmp = tmpfile();
  if (tmp == NULL || ftruncate(fileno(tmp), page) != 0) {
    perror("tmpfile");
    return 1;
  }
  unsigned char *file =
      mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(tmp), 0);
  if (file == MAP_FAILED) {
    perror("mmap file");
    return 1;
  }
  expect(vmp_probe_write(file, 9) == 0, "write inside the file");
  expect(vmp_probe_read(file + page, &value) == 1, "read past the end of the file faults");
  expect(vmp_probe_write(file + page, 1) == 1, "write past the end of the file faults");
  munmap(file, (size_t)page * 2);
  fclose(tmp);

  sigaction(SIGSEGV, NULL, &now);
  expect(now.sa_handler == sentinel_handler, "SIGSEGV handler restored");
  sigaction(SIGBUS, NULL, &now);
  expect(now.sa_handler == sentinel_handler, "SIGBUS handler restored");

  printf("%s\n", failures == 0 ? "probe ok" : "probe FAILED");
  return failures == 0 ? 0 : 1;
}
