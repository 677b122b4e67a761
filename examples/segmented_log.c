/*
 * segmented_log: an append-only log kept in fixed-size segment files, read
 * through ONE contiguous vmp_mview that grows as segments appear.
 *
 * The problem it shows: a log cut into 64 KiB files has records that
 * straddle two files. Read file by file, such a record must be glued
 * together in a buffer. Mapped back to back in one reservation, the files
 * ARE one buffer: every record, straddling or not, is parsed in place with
 * plain pointer arithmetic, and no byte is copied.
 *
 * The program plays both sides in turn, in one thread:
 *   - the writer appends records of varying length to the current segment
 *     file and, when it is full, publishes it (renames "N.tmp" to "N.seg")
 *     and starts the next one; a record that does not fit is split across
 *     the two files;
 *   - the reader holds one vmp_mview created empty but with room for
 *     MAX_SEGMENTS segments, appends each segment as soon as it is
 *     published, and parses every record that is now complete.
 * At the end it checks that every record came back intact and prints a
 * summary. Everything lives in a temporary directory, removed at the end.
 *
 * Record layout (little-endian): 4-byte payload length, payload, 4-byte
 * checksum (FNV-1a of the payload).
 *
 * Exit status 0 when every record was read back intact.
 */
#ifndef _WIN32
#  define _XOPEN_SOURCE 700 /* mkdtemp, rmdir */
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  include <direct.h>
#  include <windows.h>
#else
#  include <unistd.h>
#endif

#include <vmplace.h>

/* A multiple of the page on every system (4 KiB, 16 KiB and 64 KiB pages):
 * only the log's last segment may end mid-page, and only the last is ever
 * short. */
#define SEGMENT_SIZE (64u * 1024u)
#define MAX_SEGMENTS 64u
#define RECORD_COUNT 3000u
#define MAX_PAYLOAD 2000u
#define HEADER_BYTES 4u
#define TRAILER_BYTES 4u

/* ---- record format ------------------------------------------------------ */

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static void put_u32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Record i's payload is a function of i, so the reader can tell a record
 * that is merely self-consistent from the one that was written. */
static uint32_t payload_length(uint32_t i)
{
  return 1u + (i * 2654435761u) % MAX_PAYLOAD;
}

static void fill_payload(uint32_t i, unsigned char *p, uint32_t n)
{
  uint32_t x = i * 747796405u + 2891336453u;
  for (uint32_t k = 0; k < n; k++) {
    x = x * 1664525u + 1013904223u;
    p[k] = (unsigned char)(x >> 24);
  }
}

/* ---- the directory ------------------------------------------------------ */

typedef struct log_dir {
  char path[512];
} log_dir;

static int make_temp_dir(log_dir *d)
{
#ifdef _WIN32
  char tmp[MAX_PATH];
  DWORD n = GetTempPathA(sizeof tmp, tmp);
  if (n == 0 || n >= sizeof tmp)
    return -1;
  snprintf(d->path, sizeof d->path, "%svmplace-log-%lu", tmp, (unsigned long)GetCurrentProcessId());
  return _mkdir(d->path);
#else
  const char *tmp = getenv("TMPDIR");
  snprintf(d->path, sizeof d->path, "%s/vmplace-log-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(d->path) ? 0 : -1;
#endif
}

static void remove_temp_dir(const log_dir *d)
{
#ifdef _WIN32
  _rmdir(d->path);
#else
  rmdir(d->path);
#endif
}

static void segment_path(const log_dir *d, unsigned index, int published, char *out, size_t n)
{
  snprintf(out, n, "%s/%06u.%s", d->path, index, published ? "seg" : "tmp");
}

/* ---- the writer ----------------------------------------------------------- */

typedef struct writer {
  const log_dir *dir;
  FILE *file;        /* the segment being filled */
  unsigned index;    /* its number */
  uint32_t used;     /* bytes in it */
  unsigned published;
} writer;

static int writer_open_segment(writer *w)
{
  char path[600];
  segment_path(w->dir, w->index, 0, path, sizeof path);
  w->file = fopen(path, "wb");
  w->used = 0;
  return w->file ? 0 : -1;
}

/* Closing a segment and renaming it is what makes it visible: a reader
 * never sees a segment that is still being written. */
static int writer_publish(writer *w)
{
  char from[600], to[600];
  if (fclose(w->file) != 0)
    return -1;
  w->file = NULL;
  segment_path(w->dir, w->index, 0, from, sizeof from);
  segment_path(w->dir, w->index, 1, to, sizeof to);
  if (rename(from, to) != 0)
    return -1;
  w->published++;
  w->index++;
  return 0;
}

/* Writes bytes, rolling over to a new segment whenever one is full: this is
 * where records end up straddling two files. */
static int writer_put(writer *w, const unsigned char *p, size_t n)
{
  while (n > 0) {
    size_t room = SEGMENT_SIZE - w->used;
    size_t now = n < room ? n : room;
    if (fwrite(p, 1, now, w->file) != now)
      return -1;
    w->used += (uint32_t)now;
    p += now;
    n -= now;
    if (w->used == SEGMENT_SIZE && (writer_publish(w) != 0 || writer_open_segment(w) != 0))
      return -1;
  }
  return 0;
}

static int writer_append(writer *w, uint32_t i)
{
  unsigned char record[HEADER_BYTES + MAX_PAYLOAD + TRAILER_BYTES];
  uint32_t n = payload_length(i);
  put_u32(record, n);
  fill_payload(i, record + HEADER_BYTES, n);
  put_u32(record + HEADER_BYTES + n, fnv1a(record + HEADER_BYTES, n));
  return writer_put(w, record, HEADER_BYTES + n + TRAILER_BYTES);
}

/* The last segment is published as it is, short: the page rule allows the
 * view's last segment to end anywhere, and nothing will follow it. (An
 * empty last segment is published too; it adds no bytes.) */
static int writer_close(writer *w)
{
  return writer_publish(w);
}

/* ---- the reader ----------------------------------------------------------- */

typedef struct reader {
  const log_dir *dir;
  vmp_mview *view;
  unsigned segments;   /* appended so far */
  uint64_t parsed;     /* view offset of the first record not yet read */
  uint32_t records;    /* read and verified */
  uint32_t straddling; /* of which began in one file and ended in the next */
  int corrupt;
} reader;

static int reader_open(reader *r)
{
  /* No segment yet: the view starts empty, with the whole capacity reserved
   * as placeholder, so later segments land right after the earlier ones
   * and the base never moves (pointers into the log stay valid). */
  size_t bad;
  int err = vmp_mview_open(NULL, 0, (uint64_t)MAX_SEGMENTS * SEGMENT_SIZE, 0, &r->view, &bad);
  if (err)
    fprintf(stderr, "vmp_mview_open: %s\n", vmp_strerror(err));
  return err;
}

static int file_exists(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f)
    fclose(f);
  return f != NULL;
}

/* Appends every segment published since the last call. */
static int reader_take_new_segments(reader *r)
{
  char path[600];
  for (;;) {
    segment_path(r->dir, r->segments, 1, path, sizeof path);
    if (!file_exists(path))
      return 0;
    /* length 0: the whole file. A full log (the capacity reached) is
     * VMP_ERANGE, never a move; a real reader would then start a second
     * view at this segment. */
    vmp_segment seg = {path, -1, 0, 0};
    int err = vmp_mview_append(r->view, &seg);
    if (err) {
      fprintf(stderr, "vmp_mview_append(%s): %s\n", path, vmp_strerror(err));
      return err;
    }
    r->segments++;
  }
}

/* Where a byte of the view came from, as a segment number. */
static size_t segment_of(const reader *r, uint64_t offset)
{
  size_t segment = 0;
  uint64_t file_offset;
  vmp_mview_locate(r->view, offset, &segment, &file_offset);
  return segment;
}

/* Reads every record that is complete in the view. A record whose tail is
 * in a segment not yet published is left for the next call. */
static void reader_parse(reader *r)
{
  const unsigned char *log = vmp_mview_base(r->view);
  uint64_t length = vmp_mview_length(r->view);
  while (length - r->parsed >= HEADER_BYTES) {
    const unsigned char *record = log + r->parsed; /* in place: no copy */
    uint32_t n = get_u32(record);
    uint64_t size = (uint64_t)HEADER_BYTES + n + TRAILER_BYTES;
    if (n == 0 || n > MAX_PAYLOAD) {
      fprintf(stderr, "record %u: impossible length %u\n", (unsigned)r->records, (unsigned)n);
      r->corrupt = 1;
      return;
    }
    if (length - r->parsed < size)
      return; /* its end is in a segment still being written */

    const unsigned char *payload = record + HEADER_BYTES;
    unsigned char expected[MAX_PAYLOAD];
    fill_payload(r->records, expected, n);
    if (n != payload_length(r->records) || get_u32(payload + n) != fnv1a(payload, n) ||
        memcmp(payload, expected, n) != 0) {
      fprintf(stderr, "record %u at offset %llu: damaged\n", (unsigned)r->records,
              (unsigned long long)r->parsed);
      r->corrupt = 1;
      return;
    }
    if (segment_of(r, r->parsed) != segment_of(r, r->parsed + size - 1))
      r->straddling++;
    r->records++;
    r->parsed += size;
  }
}

static int reader_poll(reader *r)
{
  int err = reader_take_new_segments(r);
  if (err == 0)
    reader_parse(r);
  return err;
}

/* ---- putting it together -------------------------------------------------- */

static void remove_segments(const log_dir *d, unsigned count)
{
  char path[600];
  for (unsigned i = 0; i <= count; i++) {
    segment_path(d, i, 1, path, sizeof path);
    remove(path);
    segment_path(d, i, 0, path, sizeof path);
    remove(path);
  }
}

int main(void)
{
  log_dir dir;
  if (make_temp_dir(&dir) != 0) {
    fprintf(stderr, "cannot create a temporary directory\n");
    return 1;
  }
  writer w = {&dir, NULL, 0, 0, 0};
  reader r = {&dir, NULL, 0, 0, 0, 0, 0};
  int failed = writer_open_segment(&w) != 0 || reader_open(&r) != 0;

  for (uint32_t i = 0; !failed && i < RECORD_COUNT; i++) {
    failed = writer_append(&w, i) != 0;
    /* The reader looks every 100 records, so it sees segments arrive one by
     * one and often stops at a record whose second half is not out yet. */
    if (!failed && i % 100 == 99)
      failed = reader_poll(&r) != 0 || r.corrupt;
  }
  if (!failed)
    failed = writer_close(&w) != 0 || reader_poll(&r) != 0 || r.corrupt;

  if (!failed) {
    uint64_t length = vmp_mview_length(r.view);
    printf("segmented_log: %u records, %u of them straddling two segments, in %u segments "
           "of %u KiB (%llu bytes), one view at %p, every checksum and payload verified\n",
           (unsigned)r.records, (unsigned)r.straddling, r.segments, SEGMENT_SIZE / 1024,
           (unsigned long long)length, vmp_mview_base(r.view));
    if (r.records != RECORD_COUNT || r.parsed != length || r.segments != w.published ||
        r.straddling == 0) {
      fprintf(stderr, "expected %u records filling the view exactly, and some straddling\n",
              RECORD_COUNT);
      failed = 1;
    }
  } else {
    fprintf(stderr, "segmented_log: failed\n");
  }

  /* Close the view before removing the files: Windows refuses to delete a
   * file that is mapped. */
  vmp_mview_close(r.view);
  if (w.file)
    fclose(w.file);
  remove_segments(&dir, w.index);
  remove_temp_dir(&dir);
  return failed ? 1 : 0;
}
