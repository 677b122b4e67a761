/* POSIX implementation: mkstemp + ftruncate, then unlink once the library
 * holds its own descriptor. */
#include "tempfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int vmp_cli_temp_file(uint64_t size, unsigned flags, vmp_mem **out) {
  const char *dir = getenv("TMPDIR");
  if (dir == NULL || dir[0] == '\0') dir = "/tmp";

  char path[4096];
  int n = snprintf(path, sizeof path, "%s/vmplace-scenario-XXXXXX", dir);
  if (n < 0 || (size_t)n >= sizeof path) return -ENAMETOOLONG;

  int fd = mkstemp(path);
  if (fd < 0) return -errno;

  int rc = 0;
  if ((uint64_t)(off_t)size != size || size > (uint64_t)INT64_MAX)
    rc = -EFBIG;
  else if (ftruncate(fd, (off_t)size) != 0)
    rc = -errno;
  close(fd);

  if (rc == 0) rc = vmp_mem_open(path, flags, out);
  unlink(path);
  return rc;
}
