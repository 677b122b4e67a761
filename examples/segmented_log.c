/*
 * segmented_log: a live follower of a log kept in fixed-size segment files,
 * read through ONE contiguous vmp_mview while another process writes it.
 *
 * The problem it shows: a write-ahead log cut into 64 KiB files has records
 * that straddle two files, a last file that is still growing, and old files
 * that must be deleted while the reader runs. Read file by file, a record
 * that straddles must be glued together in a buffer, and a growing file
 * must be read() again and again. Mapped back to back in one reservation,
 * the files ARE one buffer: every record, straddling or not, is parsed in
 * place with plain pointer arithmetic, and no byte is copied.
 *
 * Two processes:
 *   - the writer appends records of varying length to the current segment,
 *     a piece at a time (so the reader often sees half a record), and when
 *     the segment is full closes it and starts the next file; a record that
 *     does not fit is split across the two. At the end it leaves a "done"
 *     file holding the number of records.
 *   - the reader follows with one view: vmp_mview_refresh() maps what the
 *     last segment has gained, vmp_mview_append() takes the next file once
 *     it exists (the writer creates it only when the one before is full),
 *     and vmp_mview_retire() gives back every segment whose records are all
 *     read, after which the reader deletes its file (on Windows too: a
 *     retired file is closed and unmapped). The view keeps no descriptor
 *     but the last segment's (VMP_MVIEW_CLOSE_FILES).
 * The reader checks every record (length, checksum, and the payload the
 * writer's generator gives for its index) and prints a summary.
 *
 * Record layout (little-endian): 4-byte payload length, payload, 4-byte
 * checksum (FNV-1a of the payload).
 *
 * Exit status 0 when every record was read back intact, some straddled two
 * files, every retired file was deleted, and the writer succeeded.
 */
#ifndef _WIN32
#define _XOPEN_SOURCE 700 /* mkdtemp, rmdir, nanosleep */
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#include <direct.h>
#else
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <vmplace.h>

/* A multiple of the page on every system (4 KiB, 16 KiB and 64 KiB pages):
 * the page rule asks it of every segment but the last. */
#define SEGMENT_SIZE (64u * 1024u)
/* The view's reservation: the most the log can hold in one view. Retired
 * segments keep their offsets, so it counts them too. */
#define CAPACITY ((uint64_t)256 * SEGMENT_SIZE)
#define RECORD_COUNT 3000u
#define MAX_PAYLOAD 2000u
#define HEADER_BYTES 4u
#define TRAILER_BYTES 4u
#define GIVE_UP_SECONDS 60.0

/* ---- record format ------------------------------------------------------ */

static uint32_t fnv1a(const unsigned char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Record i's payload is a function of i, so the reader can tell a record
 * that is merely self-consistent from the one that was written. */
static uint32_t payload_length(uint32_t i) { return 1u + (i * 2654435761u) % MAX_PAYLOAD; }

static void fill_payload(uint32_t i, unsigned char *p, uint32_t n) {
  uint32_t x = i * 747796405u + 2891336453u;
  for (uint32_t k = 0; k < n; k++) {
    x = x * 1664525u + 1013904223u;
    p[k] = (unsigned char)(x >> 24);
  }
}

/* ---- the system: directories, processes, time ---------------------------- */

static void segment_path(const char *dir, unsigned index, char *out, size_t n) {
  snprintf(out, n, "%s/%06u.seg", dir, index);
}

static void done_path(const char *dir, int final, char *out, size_t n) {
  snprintf(out, n, "%s/%s", dir, final ? "done" : "done.tmp");
}

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f) fclose(f);
  return f != NULL;
}

static double now_seconds(void) {
#ifdef _WIN32
  return (double)GetTickCount64() / 1e3;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

static void pause_briefly(void) {
#ifdef _WIN32
  Sleep(1);
#else
  struct timespec ts = {0, 500000};
  nanosleep(&ts, NULL);
#endif
}

static int make_temp_dir(char *path, size_t n) {
#ifdef _WIN32
  char tmp[MAX_PATH];
  DWORD len = GetTempPathA(sizeof tmp, tmp);
  if (len == 0 || len >= sizeof tmp) return -1;
  /* The process ID and a count: a directory left by a run that failed
   * must not stop the next one (Wine gives out the same IDs again). */
  for (unsigned attempt = 0; attempt < 100; attempt++) {
    snprintf(path, n, "%svmplace-log-%lu-%u", tmp, (unsigned long)GetCurrentProcessId(), attempt);
    if (_mkdir(path) == 0) return 0;
  }
  return -1;
#else
  const char *tmp = getenv("TMPDIR");
  snprintf(path, n, "%s/vmplace-log-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(path) ? 0 : -1;
#endif
}

static void remove_temp_dir(const char *path) {
#ifdef _WIN32
  _rmdir(path);
#else
  rmdir(path);
#endif
}

static int writer_main(const char *dir);

/* The writer runs in a process of its own: fork() on POSIX, this program
 * started again with "--writer DIR" on Windows. */
typedef struct child {
#ifdef _WIN32
  PROCESS_INFORMATION pi;
#else
  pid_t pid;
#endif
} child;

static int start_writer(const char *dir, child *c) {
#ifdef _WIN32
  char self[MAX_PATH], line[2 * MAX_PATH + 64];
  if (GetModuleFileNameA(NULL, self, sizeof self) == 0) return -1;
  snprintf(line, sizeof line, "\"%s\" --writer \"%s\"", self, dir);
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  return CreateProcessA(self, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &c->pi) ? 0 : -1;
#else
  fflush(NULL);
  c->pid = fork();
  if (c->pid == 0) _exit(writer_main(dir));
  return c->pid > 0 ? 0 : -1;
#endif
}

/* The writer's exit status, or -1. */
static int wait_writer(child *c) {
#ifdef _WIN32
  DWORD code = 1;
  WaitForSingleObject(c->pi.hProcess, INFINITE);
  if (!GetExitCodeProcess(c->pi.hProcess, &code)) code = (DWORD)-1;
  CloseHandle(c->pi.hProcess);
  CloseHandle(c->pi.hThread);
  return (int)code;
#else
  int status;
  if (waitpid(c->pid, &status, 0) != c->pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
#endif
}

/* ---- the writer ----------------------------------------------------------- */

typedef struct writer {
  const char *dir;
  FILE *file;     /* the segment being filled */
  unsigned index; /* its number */
  uint32_t used;  /* bytes in it */
} writer;

static int writer_open_segment(writer *w) {
  char path[600];
  segment_path(w->dir, w->index, path, sizeof path);
  w->file = fopen(path, w->index == 0 ? "ab" : "wb");
  w->used = 0;
  return w->file ? 0 : -1;
}

/* Writes bytes, rolling over to a new file whenever one is full: this is
 * where records end up straddling two files. The next file is created only
 * once the full one is closed, so a reader that sees it knows the one
 * before is complete. */
static int writer_put(writer *w, const unsigned char *p, size_t n) {
  while (n > 0) {
    size_t room = SEGMENT_SIZE - w->used;
    size_t now = n < room ? n : room;
    if (fwrite(p, 1, now, w->file) != now || fflush(w->file) != 0) return -1;
    w->used += (uint32_t)now;
    p += now;
    n -= now;
    if (w->used == SEGMENT_SIZE) {
      if (fclose(w->file) != 0) return -1;
      w->index++;
      if (writer_open_segment(w) != 0) return -1;
    }
  }
  return 0;
}

/* One record, in three pieces with a flush after each: the reader sees
 * records whose header is there and whose payload is not yet. */
static int writer_append(writer *w, uint32_t i) {
  unsigned char record[HEADER_BYTES + MAX_PAYLOAD + TRAILER_BYTES];
  uint32_t n = payload_length(i);
  put_u32(record, n);
  fill_payload(i, record + HEADER_BYTES, n);
  put_u32(record + HEADER_BYTES + n, fnv1a(record + HEADER_BYTES, n));
  size_t total = HEADER_BYTES + n + TRAILER_BYTES, half = total / 2;
  return writer_put(w, record, HEADER_BYTES) != 0 ||
                 writer_put(w, record + HEADER_BYTES, half - HEADER_BYTES) != 0 ||
                 writer_put(w, record + half, total - half) != 0
             ? -1
             : 0;
}

static int writer_main(const char *dir) {
  writer w = {dir, NULL, 0, 0};
  if (writer_open_segment(&w) != 0) return 1;
  for (uint32_t i = 0; i < RECORD_COUNT; i++) {
    if (writer_append(&w, i) != 0) return 1;
    if (i % 64 == 63) pause_briefly(); /* a live log: the reader catches up now and then */
  }
  if (fclose(w.file) != 0) return 1;
  /* "done", complete or not at all. */
  char tmp[600], final[600];
  done_path(dir, 0, tmp, sizeof tmp);
  done_path(dir, 1, final, sizeof final);
  FILE *f = fopen(tmp, "wb");
  if (!f || fprintf(f, "%u\n", RECORD_COUNT) < 0 || fclose(f) != 0) return 1;
  return rename(tmp, final) == 0 ? 0 : 1;
}

/* ---- the reader ----------------------------------------------------------- */

typedef struct reader {
  const char *dir;
  vmp_mview *view;
  unsigned segments;   /* appended so far */
  unsigned deleted;    /* retired and their files removed */
  uint64_t parsed;     /* view offset of the first record not yet read */
  uint32_t records;    /* read and verified */
  uint32_t straddling; /* of which began in one file and ended in the next */
  uint32_t waited;     /* times a record was there only in part */
  uint32_t grew;       /* refreshes that found the last segment longer */
  int failed;
} reader;

static int fail(reader *r, const char *what, int err) {
  fprintf(stderr, "segmented_log: %s: %s (%s)\n", what, vmp_strerror(err), vmp_err_name(err));
  r->failed = 1;
  return err;
}

/* The view starts with segment 0 (which the reader made empty before the
 * writer started), followed as it grows, with the whole capacity reserved
 * so that later segments land right after the earlier ones and the base
 * never moves (pointers into the log stay valid). */
static int reader_open(reader *r) {
  char path[600];
  segment_path(r->dir, 0, path, sizeof path);
  vmp_segment first = {path, -1, 0, 0};
  int err = vmp_mview_open(&first, 1, CAPACITY, VMP_MVIEW_CLOSE_FILES, &r->view, NULL);
  if (err) return fail(r, "vmp_mview_open", err);
  r->segments = 1;
  /* A parser may load 8 bytes at a time up to the last byte without care:
   * the bytes after the end read as zeros, never a fault. */
  err = vmp_mview_set_padding(r->view, 8);
  return err ? fail(r, "vmp_mview_set_padding", err) : 0;
}

/* Follows the writer: the last segment's new bytes, then the next file as
 * soon as it exists (the one before is then full: refreshed first, so the
 * page rule holds when it stops being last). */
static int reader_follow(reader *r) {
  uint64_t before = vmp_mview_length(r->view), after;
  int err = vmp_mview_refresh(r->view, &after);
  if (err) return fail(r, "vmp_mview_refresh", err);
  char path[600];
  for (;;) {
    segment_path(r->dir, r->segments, path, sizeof path);
    if (!file_exists(path)) break;
    vmp_segment next = {path, -1, 0, 0};
    if ((err = vmp_mview_refresh(r->view, &after)) != 0) return fail(r, "vmp_mview_refresh", err);
    if ((err = vmp_mview_append(r->view, &next)) != 0) return fail(r, "vmp_mview_append", err);
    r->segments++;
    if ((err = vmp_mview_refresh(r->view, &after)) != 0) return fail(r, "vmp_mview_refresh", err);
  }
  r->grew += after > before;
  return 0;
}

/* Where a byte of the view came from, as a segment number. */
static size_t segment_of(const reader *r, uint64_t offset) {
  size_t segment = 0;
  uint64_t file_offset;
  vmp_mview_locate(r->view, offset, &segment, &file_offset);
  return segment;
}

/* Reads every record that is complete in the view, in place. A record
 * whose end is not written yet is left for the next call. */
static void reader_parse(reader *r) {
  const unsigned char *log = vmp_mview_base(r->view);
  uint64_t length = vmp_mview_length(r->view);
  while (!r->failed && length - r->parsed >= HEADER_BYTES) {
    const unsigned char *record = log + r->parsed; /* in place: no copy */
    uint32_t n = get_u32(record);
    uint64_t size = (uint64_t)HEADER_BYTES + n + TRAILER_BYTES;
    if (n == 0 || n > MAX_PAYLOAD) {
      fprintf(stderr, "record %u: impossible length %u\n", (unsigned)r->records, (unsigned)n);
      r->failed = 1;
      return;
    }
    if (length - r->parsed < size) {
      r->waited++;
      return; /* its end is not written yet */
    }
    const unsigned char *payload = record + HEADER_BYTES;
    unsigned char expected[MAX_PAYLOAD];
    fill_payload(r->records, expected, n);
    if (n != payload_length(r->records) || get_u32(payload + n) != fnv1a(payload, n) ||
        memcmp(payload, expected, n) != 0) {
      fprintf(stderr, "record %u at offset %llu: damaged\n", (unsigned)r->records,
              (unsigned long long)r->parsed);
      r->failed = 1;
      return;
    }
    if (segment_of(r, r->parsed) != segment_of(r, r->parsed + size - 1)) r->straddling++;
    r->records++;
    r->parsed += size;
  }
}

/* Gives back every segment, but the last, whose bytes are all read, and
 * deletes its file: the view no longer holds it. Offsets do not change. */
static void reader_retire(reader *r) {
  unsigned done = (unsigned)(r->parsed / SEGMENT_SIZE);
  if (done > r->segments - 1) done = r->segments - 1;
  if (done <= r->deleted) return;
  int err = vmp_mview_retire(r->view, done);
  if (err) {
    fail(r, "vmp_mview_retire", err);
    return;
  }
  char path[600];
  for (; r->deleted < done; r->deleted++) {
    segment_path(r->dir, r->deleted, path, sizeof path);
    if (remove(path) != 0) {
      fprintf(stderr, "segmented_log: cannot delete retired %s\n", path);
      r->failed = 1;
      return;
    }
  }
}

static void reader_main(reader *r) {
  char done[600];
  done_path(r->dir, 1, done, sizeof done);
  double give_up = now_seconds() + GIVE_UP_SECONDS;
  while (!r->failed) {
    /* Looked at before following: once it is there, one more pass sees
     * every byte the writer wrote. */
    int finished = file_exists(done);
    uint64_t seen = r->parsed;
    if (reader_follow(r) != 0) return;
    reader_parse(r);
    reader_retire(r);
    if (finished && r->parsed == vmp_mview_length(r->view)) return;
    if (now_seconds() > give_up) {
      fprintf(stderr, "segmented_log: the writer stopped after %u records\n", (unsigned)r->records);
      r->failed = 1;
      return;
    }
    if (r->parsed == seen) pause_briefly();
  }
}

/* ---- putting it together -------------------------------------------------- */

/* Every file either side may have made, also after a failure (the writer
 * may be ahead of the reader). */
static void remove_everything(const char *dir) {
  char path[600];
  for (unsigned i = 0; i <= CAPACITY / SEGMENT_SIZE; i++) {
    segment_path(dir, i, path, sizeof path);
    remove(path);
  }
  done_path(dir, 0, path, sizeof path);
  remove(path);
  done_path(dir, 1, path, sizeof path);
  remove(path);
  remove_temp_dir(dir);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--writer") == 0) return writer_main(argv[2]);

  char dir[512];
  if (make_temp_dir(dir, sizeof dir) != 0) {
    fprintf(stderr, "cannot create a temporary directory\n");
    return 1;
  }
  /* Segment 0 exists, empty, before anyone writes: the view starts there. */
  char first[600];
  segment_path(dir, 0, first, sizeof first);
  FILE *f = fopen(first, "wb");
  if (!f || fclose(f) != 0) {
    fprintf(stderr, "cannot create %s\n", first);
    return 1;
  }
  reader r;
  memset(&r, 0, sizeof r);
  r.dir = dir;
  child writer_process;
  int writer_status = -1;
  if (reader_open(&r) == 0) {
    if (start_writer(dir, &writer_process) != 0) {
      fprintf(stderr, "segmented_log: cannot start the writer\n");
      r.failed = 1;
    } else {
      reader_main(&r);
      writer_status = wait_writer(&writer_process);
    }
  }

  int ok = !r.failed && writer_status == 0;
  if (ok) {
    uint64_t length = vmp_mview_length(r.view);
    printf(
        "segmented_log: followed a live writer: %u records, %u of them straddling two "
        "segments, %u waited for, in %u segments of %u KiB (%llu bytes) through one view at "
        "%p; %u growths mapped in place, %u segments retired and deleted as read; every "
        "checksum and payload verified\n",
        (unsigned)r.records, (unsigned)r.straddling, (unsigned)r.waited, r.segments,
        SEGMENT_SIZE / 1024, (unsigned long long)length, vmp_mview_base(r.view), (unsigned)r.grew,
        r.deleted);
    if (r.records != RECORD_COUNT || r.parsed != length || r.straddling == 0 ||
        r.deleted + 1 != r.segments || vmp_mview_retired(r.view) != r.deleted) {
      fprintf(stderr,
              "expected %u records filling the view exactly, some straddling, and "
              "every segment but the last retired and deleted\n",
              RECORD_COUNT);
      ok = 0;
    }
  } else {
    fprintf(stderr, "segmented_log: failed (writer status %d)\n", writer_status);
  }

  /* Close the view before removing the last files: Windows refuses to
   * delete a file that is mapped. */
  vmp_mview_close(r.view);
  remove_everything(dir);
  return ok ? 0 : 1;
}
