/*
 * Multi-file views over files that change size between calls. Three
 * scratch files, named by path or by descriptor (read-write or read-only),
 * are grown and shrunk with ftruncate behind the library's back while
 * views are opened over segment lists drawn from the input, appended to,
 * checked, located, described and read. A model written from the header
 * predicts every call: the error, the segment it names and, on success,
 * each segment's range and place in the view. The fuzzer reads a view's
 * bytes only where the model says the file still reaches, so a SIGBUS can
 * only come from the library touching a page past a file's end. Failures
 * of system calls and allocations are mixed in; a failed call must leave
 * the view as it was and no descriptor open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "inject.h"
#include "testing.h"
#include "vmplace.h"

#define FILES 3
#define MAX_SEGMENTS 6

typedef struct mfile {
  char path[4096];
  int fd_rw, fd_ro;
  uint64_t size;
  uint64_t intact; /* bytes from the start that still hold the pattern */
} mfile;

typedef struct mseg {
  int file;
  uint64_t file_offset, length, start;
} mseg;

typedef struct mview {
  vmp_mview *v;
  uint64_t capacity, length;
  size_t count;
  mseg seg[MAX_SEGMENTS + 1];
  int writing;
  int close_files;
} mview;

static size_t page;
static mfile files[FILES];
static char missing_path[4096];

static uint8_t pattern(int file, uint64_t at) {
  return (uint8_t)((uint64_t)file * 37 + (at / 4096) * 13 + at);
}

static uint8_t file_byte(int file, uint64_t at) {
  const mfile *f = &files[file];
  return at < f->intact && at < f->size ? pattern(file, at) : 0;
}

static void resize(int file, uint64_t size) {
  mfile *f = &files[file];
  if (ftruncate(f->fd_rw, (off_t)size) != 0) fuzz_fail("ftruncate: %s", strerror(errno));
  f->size = size;
  if (size < f->intact) f->intact = size;
}

static void write_pattern(int file, uint64_t size) {
  mfile *f = &files[file];
  static uint8_t buf[65536];
  resize(file, 0);
  resize(file, size);
  for (uint64_t at = 0; at < size; at += sizeof buf) {
    size_t n = size - at < sizeof buf ? (size_t)(size - at) : sizeof buf;
    for (size_t i = 0; i < n; i++) buf[i] = pattern(file, at + i);
    if (pwrite(f->fd_rw, buf, n, (off_t)at) != (ssize_t)n) fuzz_fail("pwrite: %s", strerror(errno));
  }
  f->intact = size;
}

static uint64_t draw_size(fuzz_input *in) {
  uint64_t pages = fuzz_below(in, 9);
  return pages * page + (fuzz_u8(in) & 1 ? fuzz_below(in, (unsigned)page) : 0);
}

/* ---- one segment, drawn and judged -------------------------------------------------- */

typedef struct drawn {
  vmp_segment s;
  int file; /* -1: names nothing usable */
  int how;  /* 0 path, 1 rw descriptor, 2 read-only descriptor, 3 missing path,
               4 a directory, 5 no file at all, 6 a closed descriptor */
} drawn;

static void draw_segment(fuzz_input *in, drawn *d) {
  memset(d, 0, sizeof *d);
  d->file = (int)fuzz_below(in, FILES);
  unsigned how = fuzz_below(in, 16);
  d->how = how < 6 ? 0 : how < 10 ? 1 : how < 12 ? 2 : (int)how - 9;
  const mfile *f = &files[d->file];
  switch (d->how) {
    case 0:
      d->s.path = f->path;
      break;
    case 1:
      d->s.fd = f->fd_rw;
      break;
    case 2:
      d->s.fd = f->fd_ro;
      break;
    case 3:
      d->s.path = missing_path;
      break;
    case 4:
      d->s.path = "/";
      break;
    case 5:
      d->s.fd = -1;
      break;
    default:
      d->s.fd = 1000;
      break; /* never open here */
  }
  uint64_t size = f->size;
  switch (fuzz_below(in, 6)) {
    case 0:
      d->s.offset = 0;
      break;
    case 1:
      d->s.offset = 1 + fuzz_below(in, (unsigned)page - 1);
      break;
    case 2:
      d->s.offset = (size / page + fuzz_below(in, 2)) * page;
      break;
    default:
      d->s.offset = fuzz_below(in, (unsigned)(size / page) + 1) * page;
      break;
  }
  switch (fuzz_below(in, 6)) {
    case 0:
    case 1:
      d->s.length = 0;
      break;
    case 2:
      d->s.length = size > d->s.offset ? size - d->s.offset : 1;
      break;
    case 3:
      d->s.length = 1 + fuzz_below(in, (unsigned)page * 3);
      break;
    default:
      d->s.length = (1 + fuzz_below(in, 6)) * page;
      break;
  }
}

/* Step 1 for a segment; a view that keeps no descriptors must be able to
 * find each file again: by path only. */
static int names_file(const drawn *d, int close_files) {
  return close_files ? d->s.path != NULL : d->s.path || d->s.fd >= 0;
}

/* What preparing the segment gives: 0 and its resolved length, or the
 * error (the file-dependent part of the order). */
static int predict_prepare(const drawn *d, int writing, int is_last, uint64_t *length) {
  if (d->how == 3) return -ENOENT;
  if (d->how == 4 || d->how == 6) return VMP_EINVAL;
  if (d->how == 2 && writing) return VMP_EACCES;
  uint64_t size = files[d->file].size;
  if (d->s.offset > size || d->s.length > size - d->s.offset) return VMP_EBOUNDS;
  *length = d->s.length ? d->s.length : size - d->s.offset;
  if (!is_last && *length % page) return VMP_EALIGN;
  return 0;
}

/* ---- judging, with an injected failure perhaps standing in --------------------------- */

static struct {
  int armed; /* 1 system call, 2 allocation */
  long n;
  int err;
} pending;

static void arm(void) {
  if (pending.armed == 1) inject_arm(pending.n, INJECT_PLAIN, pending.err);
  if (pending.armed == 2) vmp__testing_alloc_fail_after(pending.n - 1);
}

static int fired(int *err) {
  int hit = 0;
  *err = VMP_ENOMEM;
  if (pending.armed == 1) {
    hit = inject_disarm();
    *err = pending.err == ENOMEM ? VMP_ENOMEM : -pending.err;
  }
  if (pending.armed == 2) hit = vmp__testing_alloc_disarm();
  pending.armed = 0;
  return hit;
}

/* Returns 1 when the call succeeded as predicted, 0 when it failed as
 * predicted or an injected failure stood in for the prediction where the
 * contract lets it: a failed allocation is VMP_ENOMEM (step 7), so it may
 * only replace a success or another step-7 error; a failed system call may
 * also replace an answer that only the system could give (a file's size
 * or type, decided by the file-dependent steps). */
static int judge(const char *what, int rc, int predicted, size_t bad, size_t predicted_bad,
                 int system_decided) {
  int injected;
  int was_allocation = pending.armed == 2;
  int hit = fired(&injected);
  fuzz_operations++;
  if (rc == predicted && (rc == 0 || bad == predicted_bad)) return rc == 0;
  int step7 =
      predicted == 0 || predicted == VMP_ENOMEM || vmp_err_is_os(predicted) || system_decided == 2;
  if (hit && rc == injected && (step7 || (!was_allocation && system_decided))) return 0;
  fuzz_fail("%s returned %s naming segment %zd; the model predicts %s naming %zd%s%s", what,
            vmp_err_name(rc), (ssize_t)bad, vmp_err_name(predicted), (ssize_t)predicted_bad,
            hit ? (was_allocation ? ", with an injected allocation failure: "
                                  : ", with an injected system-call failure: ")
                : "",
            hit ? vmp_err_name(injected) : "");
}

/* ---- the checks ------------------------------------------------------------------------ */

static void check_view(const mview *m) {
  if (vmp_mview_length(m->v) != m->length || vmp_mview_segments(m->v) != m->count ||
      vmp_mview_capacity(m->v) < m->capacity)
    fuzz_fail("view: length %llu, %zu segments, capacity %llu; model %llu, %zu, >= %llu",
              (unsigned long long)vmp_mview_length(m->v), vmp_mview_segments(m->v),
              (unsigned long long)vmp_mview_capacity(m->v), (unsigned long long)m->length, m->count,
              (unsigned long long)m->capacity);
  for (size_t i = 0; i < m->count; i++) {
    vmp_mview_segment_info info;
    int rc = vmp_mview_describe(m->v, i, &info);
    if (rc || info.file_offset != m->seg[i].file_offset || info.length != m->seg[i].length ||
        info.view_offset != m->seg[i].start)
      fuzz_fail("describe(%zu): %s, offset %llu length %llu at %llu; model %llu %llu %llu", i,
                vmp_err_name(rc), (unsigned long long)info.file_offset,
                (unsigned long long)info.length, (unsigned long long)info.view_offset,
                (unsigned long long)m->seg[i].file_offset, (unsigned long long)m->seg[i].length,
                (unsigned long long)m->seg[i].start);
  }
  vmp_mview_segment_info info;
  if (vmp_mview_describe(m->v, m->count, &info) != VMP_ERANGE) fuzz_fail("describe past the end");
}

/* The segment holding view byte `at` (< length): the last non-empty one
 * starting at or before it. */
static size_t segment_of(const mview *m, uint64_t at) {
  size_t found = 0;
  for (size_t i = 0; i < m->count; i++)
    if (m->seg[i].start <= at && m->seg[i].length) found = i;
  return found;
}

static void op_locate_and_read(mview *m, fuzz_input *in) {
  uint64_t at = m->length ? fuzz_u32(in) % (m->length + 2) : fuzz_u8(in);
  size_t seg = 0;
  uint64_t file_offset = 0;
  int rc = vmp_mview_locate(m->v, at, &seg, &file_offset);
  fuzz_operations++;
  if (at >= m->length) {
    if (rc != VMP_ERANGE)
      fuzz_fail("locate(%llu) past the end: %s", (unsigned long long)at, vmp_err_name(rc));
    return;
  }
  size_t want = segment_of(m, at);
  uint64_t want_off = m->seg[want].file_offset + (at - m->seg[want].start);
  if (rc || seg != want || file_offset != want_off)
    fuzz_fail("locate(%llu): %s, segment %zu at %llu; model %zu at %llu", (unsigned long long)at,
              vmp_err_name(rc), seg, (unsigned long long)file_offset, want,
              (unsigned long long)want_off);
  /* Read only a page the file still reaches. */
  const mfile *f = &files[m->seg[want].file];
  if (want_off / page < (f->size + page - 1) / page) {
    uint8_t got = ((volatile uint8_t *)vmp_mview_base(m->v))[at];
    if (got != file_byte(m->seg[want].file, want_off))
      fuzz_fail("view byte %llu (file %d byte %llu): 0x%02x, model 0x%02x", (unsigned long long)at,
                m->seg[want].file, (unsigned long long)want_off, got,
                file_byte(m->seg[want].file, want_off));
  }
}

static void op_check(mview *m) {
  size_t bad = 0;
  size_t predicted_bad = (size_t)-1;
  for (size_t i = 0; i < m->count && predicted_bad == (size_t)-1; i++)
    if (m->seg[i].length && files[m->seg[i].file].size < m->seg[i].file_offset + m->seg[i].length)
      predicted_bad = i;
  arm();
  int rc = vmp_mview_check(m->v, &bad);
  /* Not an argument check but a question to the system, which a view that
   * keeps no descriptors answers by opening the file again (memory
   * included): any injected failure may stand in (2). */
  judge("vmp_mview_check", rc, predicted_bad == (size_t)-1 ? 0 : VMP_EBOUNDS, bad, predicted_bad,
        m->close_files ? 2 : 1);
}

static void op_open(mview *m, fuzz_input *in) {
  size_t count = fuzz_below(in, MAX_SEGMENTS + 1);
  drawn d[MAX_SEGMENTS];
  vmp_segment segs[MAX_SEGMENTS];
  for (size_t i = 0; i < count; i++) {
    draw_segment(in, &d[i]);
    segs[i] = d[i].s;
  }
  uint64_t capacity;
  switch (fuzz_below(in, 4)) {
    case 0:
      capacity = 0;
      break;
    case 1:
      capacity = fuzz_below(in, 40) * page;
      break;
    case 2:
      capacity = fuzz_u32(in) % (64 * page);
      break;
    default:
      capacity = (64 + fuzz_below(in, 64)) * page;
      break;
  }
  static const unsigned flag_choices[] = {0,
                                          0,
                                          0,
                                          VMP_MVIEW_CLOSE_FILES,
                                          VMP_MVIEW_CLOSE_FILES,
                                          VMP_MVIEW_WRITE,
                                          VMP_MVIEW_WRITE | VMP_MVIEW_CLOSE_FILES,
                                          0x4};
  unsigned flags = flag_choices[fuzz_below(in, 8)];
  int writing = (flags & VMP_MVIEW_WRITE) != 0;
  int close_files = (flags & VMP_MVIEW_CLOSE_FILES) != 0;

  int predicted = 0;
  size_t predicted_bad = (size_t)-1;
  mseg model[MAX_SEGMENTS];
  uint64_t length = 0;
  if (flags & ~(unsigned)(VMP_MVIEW_WRITE | VMP_MVIEW_CLOSE_FILES)) predicted = VMP_EINVAL;
  for (size_t i = 0; i < count && !predicted; i++)
    if (!names_file(&d[i], close_files)) predicted = VMP_EINVAL, predicted_bad = i;
  for (size_t i = 0; i < count && !predicted; i++)
    if (d[i].s.offset % page || (i + 1 < count && d[i].s.length % page))
      predicted = VMP_EALIGN, predicted_bad = i;
  int arguments_only = predicted != 0;
  for (size_t i = 0; i < count && !predicted; i++) {
    uint64_t len = 0;
    predicted = predict_prepare(&d[i], writing, i + 1 == count, &len);
    if (predicted) {
      predicted_bad = i;
      break;
    }
    model[i] = (mseg){d[i].file, d[i].s.offset, len, length};
    length += len;
  }
  if (!predicted && capacity != 0 && capacity < length) {
    predicted = VMP_ERANGE;
    predicted_bad = 0;
    while (model[predicted_bad].start + model[predicted_bad].length <= capacity) predicted_bad++;
  }
  int fds = fuzz_open_fds();
  vmp_mview *v = NULL;
  size_t bad = 0;
  arm();
  int rc = vmp_mview_open(count ? segs : NULL, count, capacity, flags, &v, &bad);
  if (!judge("vmp_mview_open", rc, predicted, bad, predicted_bad, !arguments_only)) {
    if (fuzz_open_fds() != fds) fuzz_fail("a failed vmp_mview_open left a descriptor open");
    return;
  }
  m->v = v;
  m->capacity = capacity;
  m->length = length;
  m->count = count;
  memcpy(m->seg, model, count * sizeof *model);
  m->writing = writing;
  m->close_files = close_files;
}

static void op_append(mview *m, fuzz_input *in) {
  drawn d;
  draw_segment(in, &d);
  int null_segment = fuzz_below(in, 32) == 0;
  int predicted = 0;
  uint64_t len = 0;
  if (null_segment || !names_file(&d, m->close_files))
    predicted = VMP_EINVAL;
  else if (d.s.offset % page)
    predicted = VMP_EALIGN;
  int arguments_only = predicted != 0;
  if (!predicted && m->count && m->seg[m->count - 1].length % page) predicted = VMP_EALIGN;
  if (!predicted) predicted = predict_prepare(&d, m->writing, 1, &len);
  if (!predicted && len > vmp_mview_capacity(m->v) - m->length) predicted = VMP_ERANGE;
  if (!predicted && m->count == MAX_SEGMENTS + 1) return; /* the model is full */
  int fds = fuzz_open_fds();
  arm();
  int rc = vmp_mview_append(m->v, null_segment ? NULL : &d.s);
  if (!judge("vmp_mview_append", rc, predicted, 0, 0, !arguments_only)) {
    if (fuzz_open_fds() != fds) fuzz_fail("a failed vmp_mview_append left a descriptor open");
    return;
  }
  m->seg[m->count++] = (mseg){d.file, d.s.offset, len, m->length};
  m->length += len;
}

static void op_resize(fuzz_input *in) {
  int file = (int)fuzz_below(in, FILES);
  resize(file, draw_size(in));
  fuzz_operations++;
}

static void op_arm(fuzz_input *in) {
  static const int errs[] = {ENOMEM, EIO, EMFILE};
  pending.armed = fuzz_below(in, 3) == 0 ? 2 : 1;
  pending.n = 1 + fuzz_below(in, 8);
  pending.err = errs[fuzz_below(in, 3)];
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  page = vmp_page_size();
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  for (int i = 0; i < FILES; i++) {
    mfile *f = &files[i];
    snprintf(f->path, sizeof f->path, "%s/vmp-fuzz-mview-%ld-%d", dir, (long)getpid(), i);
    f->fd_rw = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    f->fd_ro = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd_rw < 0 || f->fd_ro < 0) fuzz_fail("cannot make %s: %s", f->path, strerror(errno));
  }
  snprintf(missing_path, sizeof missing_path, "%s/vmp-fuzz-mview-%ld-missing", dir, (long)getpid());
  inject_setup();
  fuzz_report_operations_at_exit("mview");
  return 0;
}

static void remove_files(void) {
  for (int i = 0; i < FILES; i++) unlink(files[i].path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int registered;
  if (!registered) registered = !atexit(remove_files);
  fuzz_input in = {data, size, 0};
  for (int i = 0; i < FILES; i++) write_pattern(i, draw_size(&in));
  int fds = fuzz_open_fds();
  mview m;
  memset(&m, 0, sizeof m);
  for (int n = 0; n < 200 && fuzz_more(&in); n++) {
    unsigned op = fuzz_below(&in, 10);
    if (!m.v) {
      if (op == 9)
        op_arm(&in);
      else if (op >= 6)
        op_resize(&in);
      else
        op_open(&m, &in);
      continue;
    }
    switch (op) {
      case 0:
        op_append(&m, &in);
        break;
      case 1:
      case 2:
        op_resize(&in);
        break;
      case 3:
        op_check(&m);
        break;
      case 4:
      case 5:
      case 6:
        op_locate_and_read(&m, &in);
        break;
      case 7:
        if (vmp_mview_close(m.v) != 0) fuzz_fail("vmp_mview_close");
        memset(&m, 0, sizeof m);
        fuzz_operations++;
        continue;
      default:
        op_arm(&in);
        continue;
    }
    check_view(&m);
  }
  pending.armed = 0;
  inject_disarm();
  vmp__testing_alloc_disarm();
  if (m.v && vmp_mview_close(m.v) != 0) fuzz_fail("vmp_mview_close at the end");
  if (fuzz_open_fds() != fds) fuzz_fail("%d descriptors before, %d after", fds, fuzz_open_fds());
  return 0;
}
