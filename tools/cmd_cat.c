/* vmplace cat FILE...: the files' bytes, one after another, on stdout.
 *
 * The files are mapped back to back as one contiguous vmp_mview and written
 * straight from that mapping with a few large write() calls: no buffer of
 * our own, no copy but the kernel's (and on Linux, into a pipe, not even
 * that: the view's pages are spliced into the pipe).
 *
 * Every file is checked before the first byte goes out, so a bad argument
 * never leaves half an output behind. Because the view's page rule says
 * that only the last segment may end mid-page, every file but the last must
 * have a size that is a multiple of the page (an empty file is one).
 *
 * Into a regular file, on Linux, the room for the whole output is
 * allocated first (see reserve_output), so a file system too full for it
 * is reported before anything is written.
 *
 * Exit status: 0 all written; 1 a file cannot be used (named on stderr,
 * nothing written), or was truncated while being written out (named on
 * stderr, the output incomplete: the system's copies report the missing
 * pages as an error, never a SIGBUS, and the library's fault-safe read
 * says which file); 2 usage; 3 writing failed, or no room for the output
 * (nothing written). A reader that goes away (a
 * closed pipe) is not an error worth a message: as with cat, SIGPIPE keeps
 * its default action and ends the process (status 141 in a shell); when
 * SIGPIPE is ignored, the EPIPE from write() makes the exit status 141 too,
 * without a message, so both cases look the same to a caller.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* vmsplice, F_SETPIPE_SZ, fallocate */
#endif
#if !defined(_WIN32) && !defined(_FILE_OFFSET_BITS)
#define _FILE_OFFSET_BITS 64 /* st_size of files past 2 GiB on 32-bit systems */
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

#include "commands.h"
#include "vmplace.h"

enum {
  CAT_OK = 0,
  CAT_BAD_FILE = 1,
  CAT_USAGE = 2,
  CAT_WRITE_FAILED = 3,
  CAT_READER_GONE = 128 + 13 /* what a shell reports for a death by SIGPIPE */
};

/* Large enough that the system call overhead vanishes, small enough that the
 * progress line moves and a write to a pipe is not one enormous request. */
#define WRITE_CHUNK ((size_t)4 << 20)
#define PROGRESS_MIN_BYTES ((uint64_t)64 << 20)
#define PROGRESS_INTERVAL 0.1 /* seconds */

/* ---- the few calls that differ between POSIX and Windows ---------------- */

#ifdef _WIN32
typedef struct _stat64 file_status;
static int status_of(const char *path, file_status *st) { return _stat64(path, st); }
#define IS_DIRECTORY(m) (((m)&_S_IFMT) == _S_IFDIR)
#define IS_REGULAR(m) (((m)&_S_IFMT) == _S_IFREG)
#define IS_FIFO(m) (((m)&_S_IFMT) == _S_IFIFO)
#define IS_CHAR_DEVICE(m) (((m)&_S_IFMT) == _S_IFCHR)

static long write_some(const void *p, size_t n) { return _write(1, p, (unsigned)n); }
static int is_terminal(int fd) { return _isatty(fd); }
static void prepare_output(const void *base, uint64_t length) {
  (void)base;
  (void)length;
  _setmode(1, _O_BINARY); /* no CR inserted before each LF */
}
static void finish_output(void) {}
static double now_seconds(void) { return (double)GetTickCount64() / 1e3; }
#else
typedef struct stat file_status;
static int status_of(const char *path, file_status *st) { return stat(path, st); }
#define IS_DIRECTORY(m) S_ISDIR(m)
#define IS_REGULAR(m) S_ISREG(m)
#define IS_FIFO(m) S_ISFIFO(m)
#define IS_CHAR_DEVICE(m) S_ISCHR(m)

#ifdef __linux__
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
/* Into a pipe, vmsplice() hands the reader the page-cache pages behind the
 * view themselves: no copy at all on our side (cat copies twice). The pages
 * are only read, and the view never writes, so what the reader gets is
 * what the files hold, as with write(). Into anything else (a file), the
 * pages go through a pipe of our own (vmsplice in, splice out), so the
 * kernel copies them through its own addresses: touching every page of the
 * view from user space costs a fault or a trap per page on some machines,
 * which a write() from the view would. Refused (an old kernel, an output
 * splice does not support): write() from then on. */
static int output_is_pipe;
static int relay[2] = {-1, -1};

static void relay_close(void) {
  if (relay[0] >= 0) {
    close(relay[0]);
    close(relay[1]);
  }
  relay[0] = relay[1] = -1;
}

/* Bytes moved, -1 with errno, or -2 when splicing is refused here (the
 * relay is then closed and nothing was written). */
static long relay_some(const void *p, size_t n) {
  struct iovec iov = {(void *)p, n};
  ssize_t in = vmsplice(relay[1], &iov, 1, 0);
  if (in < 0) {
    if (errno != EINVAL && errno != ENOSYS) return -1;
    relay_close();
    return -2;
  }
  size_t moved = 0;
  while (moved < (size_t)in) {
    ssize_t out = splice(relay[0], NULL, 1, NULL, (size_t)in - moved, SPLICE_F_MOVE);
    if (out < 0 && errno == EINTR) continue;
    if (out < 0 && moved == 0 && errno == EINVAL) {
      relay_close(); /* the output takes no splice: drop what the relay holds */
      return -2;
    }
    if (out <= 0) return out < 0 ? -1 : (errno = EIO, -1);
    moved += (size_t)out;
  }
  return (long)moved;
}

static long write_some(const void *p, size_t n) {
  if (output_is_pipe) {
    struct iovec iov = {(void *)p, n};
    ssize_t put = vmsplice(1, &iov, 1, 0);
    if (put >= 0 || (errno != EINVAL && errno != ENOSYS && errno != EBADF)) return (long)put;
    output_is_pipe = 0;
  }
  if (relay[0] >= 0) {
    long put = relay_some(p, n);
    if (put != -2) return put;
  }
  /* The kernel's copy out of the view would otherwise take a page fault
   * every few pages; populating the chunk first maps it in one call.
   * Refused (old kernel) or failed (a file shrank: write() then reports
   * it), the write below still does the right thing. */
  uintptr_t page = (uintptr_t)vmp_page_size();
  uintptr_t lo = (uintptr_t)p & ~(page - 1);
  (void)madvise((void *)lo, n + ((uintptr_t)p - lo), MADV_POPULATE_READ);
  return (long)write(1, p, n);
}
static void finish_output(void) { relay_close(); }

/* Into a regular file, the blocks for the whole output are allocated
 * before its first byte, in one call: the copy into them is faster (about
 * 1.2x on ext4 here, and ext4 has no delayed blocks left to allocate when
 * the file is closed; bench/README.md, cat_vs_coreutils_file), and a file
 * system without room for the output says so while nothing is written.
 * Not for an output opened for appending (below). Only room past the
 * file's end is asked for, with FALLOC_FL_KEEP_SIZE: the size still grows
 * only as bytes are written, so a reader of the file sees what it would
 * see without this. Refused (a file system without fallocate, an old
 * kernel): the copy goes on without it. */
static off_t reserved_end = -1; /* the end of the room asked for */

/* Room asked for but not written (a failed copy; an allocation that ran
 * out of space half way): given back. Past the file's end it holds no
 * byte of the file. Punching frees it on most file systems; ext4 punches
 * nothing past the end but frees it on a truncate to the same size, made
 * only while blocks past the end remain (it would change the file's
 * modification time). */
static void release_unwritten(void) {
  struct stat st;
  off_t end = reserved_end;
  reserved_end = -1;
  if (end < 0 || fstat(1, &st) != 0 || st.st_size >= end) return;
  (void)fallocate(1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size, end - st.st_size);
  off_t block = st.st_blksize > 0 ? st.st_blksize : 4096;
  off_t whole = (st.st_size + block - 1) / block * block;
  if (fstat(1, &st) == 0 && (off_t)st.st_blocks * 512 > whole) (void)ftruncate(1, st.st_size);
}

/* 0, or ENOSPC, EDQUOT or EFBIG when the output cannot fit. */
static int reserve_output(uint64_t length) {
  struct stat st;
  if (length == 0 || fstat(1, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  /* Appending (>>), other writers may share the file and its end: where
   * our bytes will land is not known, and giving room back could race with
   * them. */
  int flags = fcntl(1, F_GETFL);
  if (flags < 0 || (flags & O_APPEND)) return 0;
  off_t at = lseek(1, 0, SEEK_CUR);
  if (at < 0) return 0;
  if (length > (uint64_t)(INT64_MAX - at)) return EFBIG;
  off_t start = at > st.st_size ? at : st.st_size, end = at + (off_t)length;
  if (end <= start) return 0; /* it all goes over bytes the file has */
  reserved_end = end;
  if (fallocate(1, FALLOC_FL_KEEP_SIZE, start, end - start) == 0) return 0;
  int err = errno;
  release_unwritten();
  return err == ENOSPC || err == EDQUOT || err == EFBIG ? err : 0;
}
#else
static long write_some(const void *p, size_t n) { return (long)write(1, p, n); }
static void finish_output(void) {}
#endif
static int is_terminal(int fd) { return isatty(fd); }
static void prepare_output(const void *base, uint64_t length) {
  /* Only a hint for read-ahead; the output is the same without it. */
  if (length > 0) (void)posix_madvise((void *)base, (size_t)length, POSIX_MADV_SEQUENTIAL);
#ifdef __linux__
  struct stat st;
  output_is_pipe = fstat(1, &st) == 0 && S_ISFIFO(st.st_mode);
  if (!output_is_pipe && pipe2(relay, O_CLOEXEC) != 0) relay[0] = relay[1] = -1;
  /* Pages go into a pipe a pipe-full at a time: ask for large ones (up to
   * /proc/sys/fs/pipe-max-size; refused, nothing changes). */
  int widen = output_is_pipe ? 1 : relay[1];
  if (widen >= 0 && fcntl(widen, F_GETPIPE_SZ) < (1 << 20))
    (void)fcntl(widen, F_SETPIPE_SZ, 1 << 20);
#endif
}
static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
#endif

#ifndef __linux__
/* Elsewhere the output is written as it comes: posix_fallocate() would
 * grow the file before its bytes are there. */
static int reserve_output(uint64_t length) {
  (void)length;
  return 0;
}
static void release_unwritten(void) {}
#endif

/* ---- checks --------------------------------------------------------------- */

static void complain(const char *path, const char *why) {
  fprintf(stderr, "vmplace cat: %s: %s\n", path, why);
}

/* Checks what the library's own error would say less precisely (a directory
 * and a fifo are both "not a regular file" to it), and the page rule, whose
 * message is clearer with the numbers in it. Returns whether the file can
 * be used and its size. */
/* Whether a file that reports size 0 yields a byte when read. */
static int has_content(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  int c = fgetc(f);
  fclose(f);
  return c != EOF;
}

static int check_file(const char *path, int is_last, size_t page, uint64_t *size) {
  file_status st;
  if (status_of(path, &st) != 0) {
    complain(path, strerror(errno));
    return 0;
  }
  if (IS_DIRECTORY(st.st_mode)) {
    complain(path, "is a directory");
    return 0;
  }
  /* Told apart by stat() of the path, which never opens it: opening a
   * FIFO waits for a writer, a terminal or a device may wait for input. */
  if (IS_FIFO(st.st_mode)) {
    complain(path,
             "is a FIFO (named pipe): its bytes are not in a file that can be mapped; "
             "use cat(1)");
    return 0;
  }
  if (IS_CHAR_DEVICE(st.st_mode)) {
    complain(path,
             "is a character device (a terminal, /dev/zero, ...): it cannot be mapped; "
             "use cat(1)");
    return 0;
  }
  if (!IS_REGULAR(st.st_mode)) {
    complain(path, "not a regular file (only regular files can be mapped)");
    return 0;
  }
  *size = (uint64_t)st.st_size;
  if (*size == 0 && has_content(path)) {
    /* /proc and /sys files report size 0: mapping them maps nothing. */
    complain(path,
             "reports size 0 but has content (a /proc or /sys file?); such files "
             "cannot be mapped, use cat(1)");
    return 0;
  }
  if (!is_last && *size % page != 0) {
    fprintf(stderr,
            "vmplace cat: %s: size %" PRIu64
            " is not a multiple of the page (%zu bytes); "
            "only the last file may end mid-page\n",
            path, *size, page);
    return 0;
  }
  return 1;
}

/* ---- progress ------------------------------------------------------------- */

typedef struct progress {
  int enabled;
  uint64_t total;
  double started, shown_at;
  int width; /* of the line on screen, to erase it */
} progress;

static void progress_show(progress *pg, uint64_t done, double now) {
  const double mib = 1024.0 * 1024.0;
  double elapsed = now - pg->started;
  double rate = elapsed > 0 ? (double)done / mib / elapsed : 0.0;
  int n = fprintf(stderr, "\r%.1f / %.1f MiB  %.0f MiB/s ", (double)done / mib,
                  (double)pg->total / mib, rate);
  /* The new line may be shorter than the last: blank out the rest. */
  if (n - 1 < pg->width) fprintf(stderr, "%*s", pg->width - (n - 1), "");
  if (n - 1 > pg->width) pg->width = n - 1;
  fflush(stderr);
  pg->shown_at = now;
}

/* A progress line only where a person watches stderr and the data does not
 * go to the same screen (there it would be mixed into the output). */
static void progress_start(progress *pg, uint64_t total) {
  memset(pg, 0, sizeof *pg);
  pg->total = total;
  pg->enabled = total >= PROGRESS_MIN_BYTES && is_terminal(2) && !is_terminal(1);
  if (!pg->enabled) return;
  pg->started = now_seconds();
  progress_show(pg, 0, pg->started); /* at once: a large job says so */
}

static void progress_update(progress *pg, uint64_t done) {
  if (!pg->enabled) return;
  double now = now_seconds();
  if (now - pg->shown_at >= PROGRESS_INTERVAL) progress_show(pg, done, now);
}

static void progress_erase(progress *pg) {
  if (!pg->enabled) return;
  fprintf(stderr, "\r%*s\r", pg->width, "");
  fflush(stderr);
}

/* ---- copying by descriptor --------------------------------------------------- */

#if defined(__linux__)
/* Into a file, copy_file_range() copies from the segment's own descriptor
 * (the one the view checked and mapped) inside the kernel, page cache to
 * page cache, with no page of the view touched at all. `copied` is how
 * much of the segment went out that way; the rest is written from the
 * view (refused: another file system, an O_APPEND output, an old kernel;
 * copy_file_range is then not tried again). Returns 0 or an errno. */
static int copy_by_descriptor = 1;

static int copy_segment(const vmp_mview_segment_info *seg, uint64_t *copied, uint64_t *done,
                        progress *pg) {
  if (output_is_pipe || !copy_by_descriptor) return 0;
  loff_t at = (loff_t)seg->file_offset;
  while (*copied < seg->length) {
    uint64_t left = seg->length - *copied;
    size_t chunk = left < WRITE_CHUNK ? (size_t)left : WRITE_CHUNK;
    ssize_t n = copy_file_range((int)seg->fd, &at, 1, NULL, chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 && *copied == 0 && *done == 0 &&
        (n == 0 || errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EBADF ||
         errno == EOPNOTSUPP)) {
      copy_by_descriptor = 0;
      return 0;
    }
    if (n < 0 && *copied == 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS))
      return 0; /* this file only: from the view */
    if (n < 0) return errno;
    if (n == 0) return EIO; /* the file ended early: it shrank since it was checked */
    *copied += (uint64_t)n;
    *done += (uint64_t)n;
    progress_update(pg, *done);
  }
  return 0;
}
#else
static int copy_segment(const vmp_mview_segment_info *seg, uint64_t *copied, uint64_t *done,
                        progress *pg) {
  (void)seg, (void)copied, (void)done, (void)pg;
  return 0;
}
#endif

/* ---- output --------------------------------------------------------------- */

/* Writes [from, from+length) of the view; `done` counts the bytes of the
 * whole output so far. Returns 0 or the errno of the write that failed. */
static int write_range(const unsigned char *base, uint64_t from, uint64_t length, uint64_t *done,
                       progress *pg) {
  uint64_t end = from + length;
  while (from < end) {
    uint64_t left = end - from;
    size_t chunk = left < WRITE_CHUNK ? (size_t)left : WRITE_CHUNK;
    long n = write_some(base + from, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO; /* a device that takes nothing would loop forever */
    from += (uint64_t)n;
    *done += (uint64_t)n;
    progress_update(pg, *done);
  }
  return 0;
}

/* Segment by segment: by descriptor where the system copies files into
 * the output by itself, else from the view. *failed_at gets the view
 * offset where a failing copy stood. */
static int write_all(vmp_mview *view, progress *pg, uint64_t *failed_at) {
  const unsigned char *base = vmp_mview_base(view);
  uint64_t done = 0;
  for (size_t i = 0; i < vmp_mview_segments(view); i++) {
    vmp_mview_segment_info seg;
    int err = vmp_mview_describe(view, i, &seg);
    if (err != 0) return EIO;
    uint64_t copied = 0;
    err = copy_segment(&seg, &copied, &done, pg);
    uint64_t written = done;
    if (err == 0) err = write_range(base, seg.view_offset + copied, seg.length - copied, &done, pg);
    if (err != 0) {
      *failed_at = seg.view_offset + copied + (done - written);
      return err;
    }
  }
  return 0;
}

/* After a failed copy: whether a file was cut short under the view. The
 * system's copies out of the view (write, vmsplice, copy_file_range) report
 * such pages as EFAULT or a short copy, never a signal, so the question is
 * asked of the library: the fault-safe read of the byte where the copy
 * stopped says VMP_EGONE, or the check finds a file shorter than its
 * segment. Names the file and its sizes; returns nonzero when so. */
static int report_truncation(vmp_mview *view, char **paths, uint64_t at) {
  size_t seg = (size_t)-1;
  uint64_t file_offset;
  unsigned char byte;
  if (at < vmp_mview_length(view) && vmp_mview_read(view, at, &byte, 1) == VMP_EGONE)
    (void)vmp_mview_locate(view, at, &seg, &file_offset);
  else if (vmp_mview_check(view, &seg) != VMP_EBOUNDS)
    return 0;
  vmp_mview_segment_info info;
  if (seg == (size_t)-1 || vmp_mview_describe(view, seg, &info) != 0) return 0;
  file_status st;
  if (status_of(paths[seg], &st) == 0)
    fprintf(stderr,
            "vmplace cat: %s: truncated while being read (%" PRIu64
            " bytes when mapped, now %" PRIu64 "); output incomplete\n",
            paths[seg], info.length, (uint64_t)st.st_size);
  else
    fprintf(stderr, "vmplace cat: %s: truncated while being read; output incomplete\n", paths[seg]);
  return 1;
}

/* --help is an answer (stdout, status 0); a wrong command line is not. */
static int usage(FILE *out, int status) {
  fputs(
      "usage: vmplace cat FILE...\n"
      "Writes the files one after another to stdout, through one contiguous\n"
      "view of them. Every file but the last must be a whole number of pages\n"
      "(vmplace --version shows the page size). Only regular files: not '-'\n"
      "(standard input cannot be mapped), pipes, devices or /proc files.\n",
      out);
  return status;
}

/* Opens the view; on failure names the file at fault. */
static int open_view(char **paths, const uint64_t *sizes, size_t count, vmp_mview **view) {
  vmp_segment *segments = calloc(count, sizeof *segments);
  if (segments == NULL) {
    fputs("vmplace cat: out of memory\n", stderr);
    return CAT_BAD_FILE;
  }
  for (size_t i = 0; i < count; i++) {
    segments[i].path = paths[i];
    segments[i].fd = -1;
    segments[i].offset = 0;
    /* The size just checked, not "to the end": what was checked is what is
     * mapped, even if a file grows meanwhile. An empty file gives 0, which
     * means "to the end" and is 0 bytes as well. */
    segments[i].length = sizes[i];
  }
  size_t bad = (size_t)-1;
  int err = vmp_mview_open(segments, count, 0, 0, view, &bad);
  free(segments);
  if (err == 0) return CAT_OK;
  if (bad < count) {
    const char *why = vmp_strerror(err);
    if (err == VMP_EBOUNDS)
      why = "shorter than when it was checked (changed meanwhile?)";
    else if (err == VMP_EALIGN)
      why = "size is not a multiple of the page; only the last file may end mid-page";
    complain(paths[bad], why);
  } else {
    fprintf(stderr, "vmplace cat: cannot map the files: %s (%s)\n", vmp_strerror(err),
            vmp_err_name(err));
  }
  return CAT_BAD_FILE;
}

int vmp_cli_cat(int argc, char **argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0)
    first++;
  else
    for (int i = 1; i < argc; i++)
      if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
        return usage(stdout, CAT_OK);
      else if (argv[i][0] == '-' && argv[i][1] != '\0') {
        fprintf(stderr,
                "vmplace cat: unknown option '%s' (use -- before a file "
                "named like an option)\n",
                argv[i]);
        return usage(stderr, CAT_USAGE);
      }
  if (first >= argc) return usage(stderr, CAT_USAGE);
  for (int i = first; i < argc; i++)
    if (strcmp(argv[i], "-") == 0) {
      fputs(
          "vmplace cat: '-': standard input cannot be mapped; give regular files "
          "(or use ./- for a file named '-')\n",
          stderr);
      return CAT_USAGE;
    }

  char **paths = argv + first;
  size_t count = (size_t)(argc - first);
  uint64_t *sizes = calloc(count, sizeof *sizes);
  if (sizes == NULL) {
    fputs("vmplace cat: out of memory\n", stderr);
    return CAT_BAD_FILE;
  }
  size_t page = vmp_page_size();
  int usable = 1;
  for (size_t i = 0; i < count; i++)
    usable &= check_file(paths[i], i + 1 == count, page, &sizes[i]);
  vmp_mview *view = NULL;
  int status = usable ? open_view(paths, sizes, count, &view) : CAT_BAD_FILE;
  free(sizes);
  if (status != CAT_OK) return status;

  uint64_t length = vmp_mview_length(view);
  int err = reserve_output(length);
  if (err != 0) {
    vmp_mview_close(view);
    fprintf(stderr,
            "vmplace cat: no room for the output (%" PRIu64 " bytes): %s; nothing written\n",
            length, strerror(err));
    return CAT_WRITE_FAILED;
  }
  prepare_output(vmp_mview_base(view), length);
  progress pg;
  progress_start(&pg, length);
  uint64_t failed_at = 0;
  err = write_all(view, &pg, &failed_at);
  progress_erase(&pg);
  finish_output();
  if (err != 0) release_unwritten();
  int truncated = err != 0 && err != EPIPE && report_truncation(view, paths, failed_at);
  vmp_mview_close(view);

  if (truncated) return CAT_BAD_FILE;
  if (err == EPIPE) return CAT_READER_GONE;
  if (err != 0) {
    fprintf(stderr, "vmplace cat: write error: %s\n", strerror(err));
    return CAT_WRITE_FAILED;
  }
  return CAT_OK;
}
