/*
 * The Linux backend: unix.c plus memfd_create with seals, MAP_NORESERVE
 * placeholders, MADV_DONTNEED discard and O_TMPFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unix.h"
#include "vmplace.h"

#define LINUX_SYSCALLS(X)                            \
  X(memfd_create, int, (const char *, unsigned int)) \
  X(madvise, int, (void *, size_t, int))

VMP__DEFINE_SYSCALLS(LINUX_SYSCALLS, vmp__unix_backend_syscalls)
#define SYS(name) VMP__SYSCALL(vmp__unix_backend_syscalls, name)

const char vmp__unix_backend_name[] = "linux";
const int vmp__unix_placeholder_flags = MAP_NORESERVE;
const int vmp__unix_anon_seals = 1;

/* A memfd sealed against shrinking: no holder of the fd can truncate it
 * under a view and turn the view's pages into SIGBUS. */
int vmp__unix_anon_create(uint64_t size, unsigned *traits) {
  int fd = SYS(memfd_create)("vmplace", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  fd = vmp__unix_size_new_object(fd, size);
  if (fd < 0) return fd;
  if (vmp__unix_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    int err = vmp__unix_error(errno);
    vmp__unix_close_quietly(fd);
    return err;
  }
  *traits = VMP__OBJ_NO_SHRINK;
  return fd;
}

/* O_TMPFILE: a file that never has a name, so a crash at any moment
 * leaves nothing behind. */
int vmp__unix_anon_unnamed_file(const char *dir, uint64_t size, unsigned *traits) {
  int fd = vmp__unix_open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  *traits = 0;
  return vmp__unix_size_new_object(fd, size);
}

unsigned vmp__unix_sealed_traits(int fd) {
  int seals = vmp__unix_fcntl(fd, F_GET_SEALS, 0);
  return (seals >= 0 && (seals & F_SEAL_SHRINK)) ? VMP__OBJ_NO_SHRINK : 0;
}

int vmp__unix_discard(void *addr, size_t size, int prot) {
  (void)prot;
  return SYS(madvise)(addr, size, MADV_DONTNEED) == 0 ? 0 : vmp__unix_error(errno);
}
