/* vmplace pipe [-m SIZE] [-q]: a large buffer between stdin and stdout.
 *
 * Both ends work on one vmp_ring. A reader thread fills it from stdin
 * (vmp_ring_fill: one read() straight into the free space the ring offers)
 * and the main thread drains it to stdout (vmp_ring_drain: one write()
 * straight from the data). Because
 * the ring is mirrored, the space and the data it offers are always one
 * contiguous block, so neither side ever splits a system call at the wrap
 * and no byte is copied by us: the kernel copies into the ring and out of it.
 * A slow producer or a slow consumer only fills or drains the buffer; each
 * side sleeps in the ring's wait calls when it has nothing to do.
 *
 * End of input: the reader publishes its last bytes and shuts the ring
 * down; the writer drains what is left and finishes. A failed write stops
 * the reader at once: its rings are shut down (waking it from a wait for
 * space) and its read on idle input is interrupted (a signal on POSIX,
 * CancelSynchronousIo on Windows: pipe_sys_*.c), so a closed output never
 * leaves the tool waiting on input. Pipes on either side are widened to
 * the chunk size where the system allows it. Short reads and writes only move
 * the indexes by what was transferred; EINTR, and EAGAIN from a
 * non-blocking descriptor, are waited out and retried.
 *
 * Exit status: 0 everything read was written; 1 reading stdin failed
 * (what was read before is still written); 2 usage; 3 writing stdout
 * failed; 4 the ring or the thread could not be set up, or the ring
 * reported an error. A reader that goes away ends the
 * command with status 141, what a shell reports for cat killed by SIGPIPE,
 * without a message; the ring's drain never raises the signal itself.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pipe_sys.h"
#include "vmplace.h"

enum {
  PIPE_OK = 0,
  PIPE_READ_FAILED = 1,
  PIPE_USAGE = 2,
  PIPE_WRITE_FAILED = 3,
  PIPE_SETUP_FAILED = 4,
  PIPE_READER_GONE = 128 + 13 /* what a shell reports for a death by SIGPIPE */
};

#define DEFAULT_SIZE ((size_t)16 << 20)
/* The largest single read() or write(): big enough that system calls cost
 * nothing, small enough that space is handed back to the other side often
 * (a write to a pipe returns only once the whole request went through). */
#define MAX_CHUNK ((size_t)1 << 20)
#define PROGRESS_INTERVAL_NS 250000000 /* at most 4 updates a second */

/* The ring starts this small (or at -m, if smaller) and grows fourfold each
 * time it fills up, to at most -m: while the output keeps up, the data
 * goes round a ring that stays in the caches and whose pages were touched
 * once, as dd's buffer does; only a burst the output cannot take makes it
 * as large as the user allowed. */
#define FIRST_SIZE ((size_t)1 << 20)
#define GROWTH 4
#define MAX_RINGS 32

typedef struct pipe_job {
  vmp_ring *ring; /* the writer's ring (the reader's may be newer) */
  /* The rings the reader went on to, in order: the writer takes the next
   * one each time it has drained its ring and found it shut down. Each is
   * GROWTH times the last, so few are ever needed. */
  vmp_ring *chain[MAX_RINGS];
  _Atomic size_t chained;    /* entries the reader has filled */
  size_t taken;              /* entries the writer has taken */
  size_t max_size;           /* -m */
  size_t chunk;              /* the largest single read() or write() */
  size_t low_water;          /* a full ring: the reader sleeps until this much is free */
  _Atomic int stop;          /* the writer gave up: the reader must end */
  _Atomic int reader_done;   /* the reader has ended */
  intptr_t in, out;          /* the standard handles */
  int read_err;              /* reader: the OS error that stopped it, or 0 */
  int ring_err;              /* reader: a ring error (never VMP_ESHUTDOWN), or 0 */
  _Atomic uint64_t bytes_in; /* for the progress line's fill level only */
} pipe_job;

/* ---- options -------------------------------------------------------------- */

static int usage(FILE *out, int status) {
  fputs(
      "usage: vmplace pipe [-m SIZE] [-q]\n"
      "Copies stdin to stdout through a buffer of up to SIZE bytes (default 16M;\n"
      "suffixes k, M, G are powers of 1024), so a bursty producer and a slow\n"
      "consumer do not wait for each other. The buffer starts at 1M and grows\n"
      "only while it is full. -q: no progress line (shown only\n"
      "when stderr is a terminal and stdout is not).\n"
      "Exit status: 0 done, 1 read error, 2 usage, 3 write error, 4 setup or\n"
      "buffer error, 141 the output was closed.\n",
      out);
  return status;
}

/* "16M" -> 16 MiB. Returns 0 for anything malformed, zero or too large. */
static size_t parse_size(const char *text) {
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (end == text || errno != 0 || text[0] == '-') return 0;
  unsigned shift = 0;
  switch (*end) {
    case '\0':
      break;
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    default:
      return 0;
  }
  if (*end != '\0' && end[1] != '\0') return 0;
  if (value == 0 || value > (SIZE_MAX >> shift)) return 0;
  return (size_t)value << shift;
}

/* ---- progress --------------------------------------------------------------- */

typedef struct progress {
  int enabled;
  uint64_t started_ns, shown_ns;
  int width; /* of the line on screen, to erase it */
} progress;

static uint64_t now_ns(void) { return pipe_sys_now_ns(); }

static void progress_show(progress *pg, uint64_t out, double fill, uint64_t now) {
  const double mib = 1024.0 * 1024.0;
  double elapsed = (double)(now - pg->started_ns) / 1e9;
  double rate = elapsed > 0 ? (double)out / mib / elapsed : 0.0;
  int n = fprintf(stderr, "\r%.1f MiB  %.0f MiB/s  buffer %.0f%% ", (double)out / mib, rate,
                  100.0 * fill);
  /* The new line may be shorter than the last: blank out the rest. */
  if (n - 1 < pg->width) fprintf(stderr, "%*s", pg->width - (n - 1), "");
  if (n - 1 > pg->width) pg->width = n - 1;
  fflush(stderr);
  pg->shown_ns = now;
}

static void progress_update(progress *pg, pipe_job *job, uint64_t out, int force) {
  if (!pg->enabled) return;
  uint64_t now = now_ns();
  if (!force && now - pg->shown_ns < PROGRESS_INTERVAL_NS) return;
  uint64_t in = atomic_load_explicit(&job->bytes_in, memory_order_relaxed);
  double fill = in > out ? (double)(in - out) / (double)vmp_ring_capacity(job->ring) : 0.0;
  progress_show(pg, out, fill > 1.0 ? 1.0 : fill, now);
}

static void progress_erase(progress *pg) {
  if (!pg->enabled) return;
  fprintf(stderr, "\r%*s\r", pg->width, "");
  fflush(stderr);
}

/* ---- the two sides ------------------------------------------------------------ */

/* A larger ring for the reader, handed to the writer behind the old one:
 * the old ring is shut down, so the writer drains it, then moves on. All
 * of them may be alive at once while the output is stalled, at most 4/3 of
 * -m in all. On failure (out of memory) the reader keeps the full ring and
 * waits. */
static vmp_ring *grow(pipe_job *job, vmp_ring *ring) {
  size_t capacity = vmp_ring_capacity(ring);
  size_t chained = atomic_load_explicit(&job->chained, memory_order_relaxed);
  if (capacity >= job->max_size || chained == MAX_RINGS) return ring;
  size_t size = capacity > job->max_size / GROWTH ? job->max_size : capacity * GROWTH;
  vmp_ring *bigger;
  if (vmp_ring_create(size, 0, &bigger) != 0) return ring;
  job->chain[chained] = bigger;
  atomic_store_explicit(&job->chained, chained + 1, memory_order_release);
  vmp_ring_shutdown(ring);
  return bigger;
}

/* stdin -> ring. The reader blocks in read() itself (a poll() first would
 * double the system calls); if the output fails meanwhile, the writer
 * interrupts it (see WAKE_SIGNAL). */
static void *reader_main(void *arg) {
  pipe_job *job = arg;
  vmp_ring *ring = job->ring;
  while (!atomic_load_explicit(&job->stop, memory_order_acquire)) {
    ptrdiff_t got = vmp_ring_fill(ring, job->in, job->chunk);
    if (got == VMP_EFULL) {
      vmp_ring *bigger = grow(job, ring);
      if (bigger != ring) {
        ring = bigger;
        continue;
      }
      int err = vmp_ring_wait_write(ring, job->low_water, -1);
      if (err == 0) continue;
      got = err;
    }
    if (got > 0) {
      atomic_fetch_add_explicit(&job->bytes_in, (uint64_t)got, memory_order_relaxed);
      continue;
    }
    if (got == 0) break; /* end of input */
    if (pipe_sys_would_block((int)got) || pipe_sys_interrupted((int)got)) {
      /* A non-blocking stdin, or the writer's interruption: wait, but
       * stay stoppable. */
      if (!atomic_load_explicit(&job->stop, memory_order_acquire) && pipe_sys_would_block((int)got))
        pipe_sys_wait_readable(job->in);
      continue;
    }
    if (vmp_err_is_os((int)got))
      job->read_err = (int)got;
    else if (got != VMP_ESHUTDOWN) /* shut down: the writer has given up */
      job->ring_err = (int)got;
    break;
  }
  vmp_ring_shutdown(ring); /* the writer drains what is left */
  atomic_store_explicit(&job->reader_done, 1, memory_order_release);
  return NULL;
}

typedef struct writer_result {
  int write_err; /* an OS error, or 0 */
  int ring_err;  /* or 0 */
} writer_result;

/* ring -> stdout, until the ring is shut down and empty or a write fails. */
static writer_result write_out(pipe_job *job, progress *pg) {
  writer_result res = {0, 0};
  uint64_t out = 0;
  /* Only a progress line needs the writer to wake up while nothing comes. */
  int64_t idle_timeout = pg->enabled ? PROGRESS_INTERVAL_NS : -1;
  for (;;) {
    ptrdiff_t put = vmp_ring_drain(job->ring, job->out, job->chunk);
    if (put == 0) {
      int err = vmp_ring_wait_read(job->ring, 1, idle_timeout);
      if (err == 0 || err == VMP_ETIMEDOUT) {
        progress_update(pg, job, out, 0);
        continue;
      }
      put = err;
    }
    if (put == VMP_ESHUTDOWN) {
      /* Drained: the end, or the reader went on in a larger ring. */
      if (job->taken == atomic_load_explicit(&job->chained, memory_order_acquire))
        break; /* everything went out */
      vmp_ring_close(job->ring);
      job->ring = job->chain[job->taken++];
      continue;
    }
    if (pipe_sys_would_block((int)put)) {
      pipe_sys_wait_writable(job->out); /* a non-blocking stdout */
      continue;
    }
    if (put < 0) {
      if (vmp_err_is_os((int)put))
        res.write_err = (int)put;
      else
        res.ring_err = (int)put;
      break;
    }
    out += (uint64_t)put;
    progress_update(pg, job, out, 0);
  }
  progress_update(pg, job, out, 1);
  return res;
}

/* ---- the command ---------------------------------------------------------------- */

static int parse_options(int argc, char **argv, size_t *size, int *quiet) {
  *size = DEFAULT_SIZE;
  *quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-q") == 0) {
      *quiet = 1;
    } else if (strncmp(arg, "-m", 2) == 0) {
      const char *value = arg[2] != '\0' ? arg + 2 : (i + 1 < argc ? argv[++i] : NULL);
      if (value == NULL) {
        fputs("vmplace pipe: -m needs a size\n", stderr);
        return -1;
      }
      *size = parse_size(value);
      if (*size == 0) {
        fprintf(stderr, "vmplace pipe: bad size '%s' (a positive number, with k, M or G)\n", value);
        return -1;
      }
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      return 1;
    } else {
      fprintf(stderr, "vmplace pipe: unknown argument '%s'\n", arg);
      return -1;
    }
  }
  return 0;
}

int vmp_cli_pipe(int argc, char **argv) {
  size_t size;
  int quiet;
  int parsed = parse_options(argc, argv, &size, &quiet);
  if (parsed > 0) return usage(stdout, 0);
  if (parsed < 0) return usage(stderr, PIPE_USAGE);

  pipe_job job;
  memset(&job, 0, sizeof job);
  atomic_init(&job.bytes_in, 0);
  atomic_init(&job.chained, 0);
  job.max_size = size;
  /* The ring may grow to `size`: is there address space for that? */
  size_t page = vmp_page_size();
  size_t largest = size > (SIZE_MAX - page) / 2 ? 0 : (2 * size + page - 1) / page * page;
  vmp_region *room;
  int err = largest ? vmp_reserve(largest, 0, &room) : VMP_ENOMEM;
  if (err == 0) {
    vmp_release(room);
    err = vmp_ring_create(size < FIRST_SIZE ? size : FIRST_SIZE, 0, &job.ring);
  }
  if (err != 0) {
    fprintf(stderr, "vmplace pipe: cannot create a ring of %zu bytes: %s (%s)\n", size,
            vmp_strerror(err), vmp_err_name(err));
    return PIPE_SETUP_FAILED;
  }
  size_t capacity = vmp_ring_capacity(job.ring);
  job.chunk = capacity / 4 < MAX_CHUNK ? capacity / 4 : MAX_CHUNK;
  if (job.chunk == 0) job.chunk = capacity;
  job.low_water = job.chunk < ((size_t)64 << 10) ? job.chunk : ((size_t)64 << 10);
  job.in = pipe_sys_stdin();
  job.out = pipe_sys_stdout();
  pipe_sys_widen(job.in, job.chunk);
  pipe_sys_widen(job.out, job.chunk);

  atomic_init(&job.stop, 0);
  atomic_init(&job.reader_done, 0);
  pipe_thread *reader;
  const char *why = pipe_sys_start(&reader, reader_main, &job);
  if (why != NULL) {
    fprintf(stderr, "vmplace pipe: cannot start the reader thread: %s\n", why);
    vmp_ring_close(job.ring);
    return PIPE_SETUP_FAILED;
  }

  /* A progress line only where a person watches stderr and the data does
   * not go to the same screen (there it would be mixed into the output). */
  progress pg;
  memset(&pg, 0, sizeof pg);
  pg.enabled = !quiet && pipe_sys_is_terminal(2) && !pipe_sys_is_terminal(1);
  if (pg.enabled) {
    pg.started_ns = now_ns();
    progress_show(&pg, 0, 0.0, pg.started_ns);
  }

  writer_result res = write_out(&job, &pg);
  int failed = res.write_err != 0 || res.ring_err != 0;
  if (failed) {
    /* Stop the reader wherever it is: in a wait on any of its rings (the
     * shutdown wakes it), or in read() or poll() on input that may never
     * come (the signal interrupts it). */
    atomic_store_explicit(&job.stop, 1, memory_order_release);
    size_t chained = atomic_load_explicit(&job.chained, memory_order_acquire);
    vmp_ring_shutdown(job.ring);
    for (size_t i = job.taken; i < chained; i++) vmp_ring_shutdown(job.chain[i]);
    while (!atomic_load_explicit(&job.reader_done, memory_order_acquire)) {
      pipe_sys_interrupt(reader);
      pipe_sys_nap();
    }
  }
  pipe_sys_join(reader);
  /* The writer's ring, and any the reader went on to that it never took. */
  vmp_ring_close(job.ring);
  size_t chained = atomic_load_explicit(&job.chained, memory_order_acquire);
  for (size_t i = job.taken; i < chained; i++) vmp_ring_close(job.chain[i]);
  progress_erase(&pg);

  if (pipe_sys_reader_gone(res.write_err)) return PIPE_READER_GONE;
  if (res.write_err != 0) {
    fprintf(stderr, "vmplace pipe: write error: %s (%s)\n", vmp_strerror(res.write_err),
            vmp_err_name(res.write_err));
    return PIPE_WRITE_FAILED;
  }
  int ring_err = res.ring_err != 0 ? res.ring_err : job.ring_err;
  if (ring_err != 0) {
    fprintf(stderr, "vmplace pipe: the ring failed: %s (%s)\n", vmp_strerror(ring_err),
            vmp_err_name(ring_err));
    return PIPE_SETUP_FAILED;
  }
  if (job.read_err != 0) {
    fprintf(stderr, "vmplace pipe: read error: %s (%s)\n", vmp_strerror(job.read_err),
            vmp_err_name(job.read_err));
    return PIPE_READ_FAILED;
  }
  return PIPE_OK;
}
