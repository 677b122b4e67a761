/*
 * The ring lines: a vmp_ring (mirrored, so every copy and every parse is one
 * contiguous block) against a classic ring tuned the same way that splits
 * at the wrap (classic_ring.c), against pipe(2), against memcpy as the
 * ceiling; messages that must be parsed whole; two processes; creation;
 * and `vmplace pipe` against mbuffer. See bench/README.md for each line.
 *
 * Every byte a consumer receives is checked: the first and last 8 bytes of
 * every message and the whole of every 64th (all of them in the warm-up
 * batch) against the source, and every parsed message's checksum. A broken
 * ring stops the benchmark with an error.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "classic_ring.h"
#include "vmplace.h"

#define RING_BYTES ((size_t)1 << 20)
#define MESSAGE_RING_BYTES ((size_t)64 << 10)
#define SOURCE_BYTES ((size_t)4 << 20)
#define CYCLE 1024            /* messages before sizes and offsets repeat */
#define MAX_MESSAGE (16 << 10)
#define FULL_CHECK_EVERY 64   /* messages; the others: first and last 8 bytes */
#define HEADER_BYTES 4

/* ---- what is sent ----------------------------------------------------------- */

typedef struct workload {
  const unsigned char *src; /* SOURCE_BYTES of random bytes, read-only */
  uint32_t sizes[CYCLE];
  uint32_t offsets[CYCLE];
  uint64_t sums[CYCLE]; /* checksum of each message's bytes */
  uint64_t cycle_bytes;
} workload;

/* The "parse" of the message workload, shared by every contender: a
 * checksum of 8-byte words, each mixed with its position. */
__attribute__((noinline)) static uint64_t checksum(const unsigned char *p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0, w[4];
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    memcpy(w, p + i, 32);
    a += w[0] ^ i;
    b += w[1] ^ (i + 8);
    c += w[2] ^ (i + 16);
    d += w[3] ^ (i + 24);
  }
  for (; i < n; i++)
    a += (uint64_t)p[i] << (8 * (i % 8));
  return a ^ (b * 3) ^ (c * 5) ^ (d * 7);
}

static void make_workload(workload *w, const unsigned char *src, uint32_t min_size,
                          uint32_t max_size, uint64_t seed) {
  w->src = src;
  w->cycle_bytes = 0;
  for (size_t i = 0; i < CYCLE; i++) {
    uint32_t size = min_size + (uint32_t)(bench_rng(&seed) % (max_size - min_size + 1));
    w->sizes[i] = size;
    w->offsets[i] = (uint32_t)(bench_rng(&seed) % (SOURCE_BYTES - size + 1));
    w->sums[i] = checksum(src + w->offsets[i], size);
    w->cycle_bytes += size;
  }
}

/* Whole cycles, at least one, close to `bytes`. */
static uint64_t cycles_for(const workload *w, uint64_t bytes) {
  uint64_t n = bytes / w->cycle_bytes;
  return n ? n : 1;
}

static void fatal(const char *what, int err) {
  bench_error(what, err);
  exit(1); /* a peer may be blocked forever on the other end */
}

/* ---- the transports ---------------------------------------------------------- */

enum { VIA_VMP, VIA_CLASSIC, VIA_PIPE };

typedef struct transport {
  int kind;
  vmp_ring *vmp;
  classic_ring *classic;
  int rfd, wfd;
} transport;

static int send_bytes(transport *t, const unsigned char *p, size_t n) {
  while (n > 0) {
    ptrdiff_t put;
    int err = 0;
    if (t->kind == VIA_VMP) {
      put = vmp_ring_write(t->vmp, p, n);
      if (put == 0)
        err = vmp_ring_wait_write(t->vmp, n, -1);
    } else if (t->kind == VIA_CLASSIC) {
      put = classic_write(t->classic, p, n);
      if (put == 0)
        err = classic_wait_write(t->classic, n);
    } else {
      put = write(t->wfd, p, n);
      if (put < 0 && errno == EINTR)
        put = 0;
      else if (put < 0)
        put = -errno;
    }
    if (put < 0)
      return (int)put;
    if (err)
      return err;
    p += put;
    n -= (size_t)put;
  }
  return 0;
}

static int receive_bytes(transport *t, unsigned char *p, size_t n) {
  while (n > 0) {
    ptrdiff_t got;
    int err = 0;
    if (t->kind == VIA_VMP) {
      got = vmp_ring_read(t->vmp, p, n);
      if (got == 0)
        err = vmp_ring_wait_read(t->vmp, n, -1);
    } else if (t->kind == VIA_CLASSIC) {
      got = classic_read(t->classic, p, n);
      if (got == 0)
        err = classic_wait_read(t->classic, n);
    } else {
      got = read(t->rfd, p, n);
      if (got < 0 && errno == EINTR)
        got = 0;
      else if (got < 0)
        got = -errno;
      else if (got == 0)
        return -EPIPE;
    }
    if (got < 0)
      return (int)got;
    if (err)
      return err;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

static int produce_stream(transport *t, const workload *w, uint64_t messages) {
  for (uint64_t i = 0; i < messages; i++) {
    size_t k = i % CYCLE;
    int err = send_bytes(t, w->src + w->offsets[k], w->sizes[k]);
    if (err)
      return err;
  }
  return 0;
}

/* Receives every message; checks each one's ends, and the whole of some.
 * Returns 0, an error, or -EIO after naming the first wrong message. */
static int consume_stream(transport *t, const workload *w, uint64_t messages,
                          unsigned char *dst, int check_all) {
  uint64_t wrong = 0;
  for (uint64_t i = 0; i < messages; i++) {
    size_t k = i % CYCLE, n = w->sizes[k];
    int err = receive_bytes(t, dst, n);
    if (err)
      return err;
    if (wrong)
      continue; /* drain, so the producer finishes */
    const unsigned char *want = w->src + w->offsets[k];
    size_t edge = n < 8 ? n : 8;
    if (memcmp(dst, want, edge) != 0 || memcmp(dst + n - edge, want + n - edge, edge) != 0 ||
        ((check_all || i % FULL_CHECK_EVERY == 0) && memcmp(dst, want, n) != 0))
      wrong = i + 1;
  }
  if (wrong) {
    fprintf(stderr, "vmplace_bench: ring: message %llu arrived with the wrong bytes\n",
            (unsigned long long)(wrong - 1));
    return -EIO;
  }
  return 0;
}

/* ---- two threads --------------------------------------------------------------- */

typedef struct stream_ctx {
  transport t;
  const workload *w;
  uint64_t messages;
  unsigned char *dst;
  int batches; /* the first (the warm-up) checks every byte */
  int err;     /* the consumer's */
} stream_ctx;

/* A consumer that stops early leaves the producer waiting for space
 * forever: any error ends the whole benchmark from here. */
static void *consumer_thread(void *arg) {
  stream_ctx *c = arg;
  c->err = consume_stream(&c->t, c->w, c->messages, c->dst, c->batches == 0);
  if (c->err)
    fatal("ring consumer", c->err);
  return NULL;
}

static int stream_batch(void *arg, size_t iters, uint64_t *elapsed) {
  stream_ctx *c = arg;
  (void)iters;
  pthread_t consumer;
  uint64_t t0 = bench_now_ns();
  int err = pthread_create(&consumer, NULL, consumer_thread, c);
  if (err)
    return -err;
  err = produce_stream(&c->t, c->w, c->messages);
  if (err)
    fatal("ring producer", err);
  pthread_join(consumer, NULL);
  *elapsed = bench_now_ns() - t0;
  c->batches++;
  return c->err;
}

/* The ceiling: the same blocks copied by one thread, from the same places
 * to one destination, as the consumer's copies are. */
static int memcpy_batch(void *arg, size_t iters, uint64_t *elapsed) {
  stream_ctx *c = arg;
  (void)iters;
  const workload *w = c->w;
  uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < c->messages; i++) {
    size_t k = i % CYCLE;
    memcpy(c->dst, w->src + w->offsets[k], w->sizes[k]);
    __asm__ volatile("" : : "r"(c->dst) : "memory"); /* every copy happens */
  }
  *elapsed = bench_now_ns() - t0;
  size_t last = (size_t)((c->messages - 1) % CYCLE);
  return memcmp(c->dst, w->src + w->offsets[last], w->sizes[last]) == 0 ? 0 : -EIO;
}

static int open_pipe(transport *t) {
  int fds[2];
  if (pipe(fds) != 0)
    return -errno;
  /* As large as the rings, where the system allows it. */
  (void)fcntl(fds[1], F_SETPIPE_SZ, (int)RING_BYTES);
  t->kind = VIA_PIPE;
  t->rfd = fds[0];
  t->wfd = fds[1];
  return 0;
}

/* ---- one group of contenders moving the same workload ----------------------------- */

typedef struct group {
  stream_ctx ctx[4];
  bench_contender c[4];
  size_t count;
} group;

static int add_stream(group *g, int kind, const workload *w, uint64_t bytes, unsigned char *dst,
                      vmp_ring *vr, classic_ring *cr, bench_batch_fn run) {
  stream_ctx *c = &g->ctx[g->count];
  memset(c, 0, sizeof *c);
  c->t.kind = kind;
  c->t.vmp = vr;
  c->t.classic = cr;
  c->t.rfd = c->t.wfd = -1;
  if (kind == VIA_PIPE) {
    int err = open_pipe(&c->t);
    if (err)
      return err;
  }
  c->w = w;
  c->messages = cycles_for(w, bytes) * CYCLE;
  c->dst = dst;
  g->c[g->count] = (bench_contender){run, c, (size_t)(cycles_for(w, bytes) * w->cycle_bytes), 0};
  g->count++;
  return 0;
}

static void close_group(group *g) {
  for (size_t i = 0; i < g->count; i++)
    if (g->ctx[i].t.kind == VIA_PIPE) {
      close(g->ctx[i].t.rfd);
      close(g->ctx[i].t.wfd);
    }
}

static double gbps(const bench_contender *c) {
  return 1.0 / c->ns_per_op; /* bytes per ns */
}

typedef struct ring_env {
  const bench_opts *opts;
  const unsigned char *src;
  unsigned char *dst;
  vmp_ring *vmp;
  classic_ring *classic;
  int reps;
} ring_env;

/* ring_<label>, plus against a pipe and memcpy when asked. */
static int run_size(ring_env *e, const char *label, uint32_t min_size, uint32_t max_size,
                    int with_pipe, int with_memcpy) {
  char name[64], pipe_name[64], memcpy_name[64];
  snprintf(name, sizeof name, "ring_%s", label);
  snprintf(pipe_name, sizeof pipe_name, "ring_vs_pipe_%s", label);
  snprintf(memcpy_name, sizeof memcpy_name, "ring_vs_memcpy_%s", label);
  int want_ring = bench_selected(e->opts, name);
  with_pipe = with_pipe && bench_selected(e->opts, pipe_name);
  with_memcpy = with_memcpy && bench_selected(e->opts, memcpy_name);
  if (!want_ring && !with_pipe && !with_memcpy)
    return 0;

  static workload w;
  make_workload(&w, e->src, min_size, max_size, 0x72696e67u + min_size);
  int quick = e->opts->quick;
  /* Batches of tens of milliseconds at the rates seen here. */
  uint64_t bytes = quick                  ? (4u << 20)
                   : min_size < 1024      ? (16u << 20)
                   : max_size < MAX_MESSAGE ? (64u << 20)
                                          : (256u << 20);
  /* A pipe pays two system calls per small message: fewer of them. */
  uint64_t pipe_bytes = min_size < 1024 ? bytes / 8 : bytes;
  group g = {0};
  int err = add_stream(&g, VIA_VMP, &w, bytes, e->dst, e->vmp, NULL, stream_batch);
  if (!err)
    err = add_stream(&g, VIA_CLASSIC, &w, bytes, e->dst, NULL, e->classic, stream_batch);
  size_t pipe_at = g.count, memcpy_at = 0;
  if (!err && with_pipe)
    err = add_stream(&g, VIA_PIPE, &w, pipe_bytes, e->dst, NULL, NULL, stream_batch);
  if (!err && with_memcpy) {
    memcpy_at = g.count;
    err = add_stream(&g, VIA_VMP, &w, bytes, e->dst, NULL, NULL, memcpy_batch);
  }
  if (!err)
    err = bench_interleave(g.c, g.count, e->reps);
  close_group(&g);
  if (err)
    return bench_error(name, err);

  double ring = gbps(&g.c[0]), classic = gbps(&g.c[1]);
  if (want_ring) {
    bench_line(name, ring, classic, "GB/s");
    bench_bar(name, "ratio >= 1.0", ring / classic >= 1.0);
  }
  if (with_pipe) {
    double pipe_rate = gbps(&g.c[pipe_at]);
    double bar = min_size < 1024 ? 10.0 : 4.0;
    char cond[32];
    snprintf(cond, sizeof cond, "ratio >= %.0f", bar);
    bench_line(pipe_name, ring, pipe_rate, "GB/s");
    bench_bar(pipe_name, cond, ring / pipe_rate >= bar);
  }
  if (with_memcpy) {
    double copy = gbps(&g.c[memcpy_at]);
    bench_line(memcpy_name, ring, copy, "GB/s");
    bench_bar(memcpy_name, "ratio >= 0.4", ring / copy >= 0.4);
  }
  return 0;
}

/* ---- messages parsed whole ------------------------------------------------------------ */

typedef struct message_ctx {
  int kind; /* VIA_VMP or VIA_CLASSIC */
  vmp_ring *vmp;
  classic_ring *classic;
  const workload *w;
  uint64_t messages;
  unsigned char *scratch; /* the classic consumer's copy of a straddling message */
  int err;
} message_ctx;

static int check_message(const workload *w, uint64_t i, uint32_t len, const unsigned char *payload) {
  size_t k = (size_t)(i % CYCLE);
  if (len == w->sizes[k] && checksum(payload, len) == w->sums[k])
    return 0;
  fprintf(stderr, "vmplace_bench: ring_contiguous_messages: message %llu is wrong "
                  "(length %u, expected %u)\n",
          (unsigned long long)i, len, w->sizes[k]);
  return -EIO;
}

static int produce_messages_vmp(message_ctx *c) {
  for (uint64_t i = 0; i < c->messages; i++) {
    size_t k = i % CYCLE;
    uint32_t len = c->w->sizes[k];
    size_t need = HEADER_BYTES + len;
    void *p;
    size_t room;
    int err;
    while ((err = vmp_ring_write_begin(c->vmp, VMP_RING_ALL, &p, &room)) == 0 && room < need)
      if ((err = vmp_ring_wait_write(c->vmp, need, -1)) != 0)
        break;
    if (err)
      return err;
    memcpy(p, &len, HEADER_BYTES);
    memcpy((unsigned char *)p + HEADER_BYTES, c->w->src + c->w->offsets[k], len);
    if ((err = vmp_ring_write_commit(c->vmp, need)) != 0)
      return err;
  }
  return 0;
}

static int consume_messages_vmp(message_ctx *c) {
  for (uint64_t i = 0; i < c->messages; i++) {
    const unsigned char *p;
    size_t there, need = HEADER_BYTES;
    uint32_t len = 0;
    int err;
    for (;;) {
      if ((err = vmp_ring_read_begin(c->vmp, VMP_RING_ALL, (const void **)&p, &there)) != 0)
        return err;
      if (there >= HEADER_BYTES) {
        memcpy(&len, p, HEADER_BYTES);
        if (len > MAX_MESSAGE)
          return check_message(c->w, i, len, p);
        need = HEADER_BYTES + len;
        if (there >= need)
          break;
      }
      if ((err = vmp_ring_wait_read(c->vmp, need, -1)) != 0)
        return err;
    }
    if ((err = check_message(c->w, i, len, p + HEADER_BYTES)) != 0)
      return err;
    if ((err = vmp_ring_read_release(c->vmp, need)) != 0)
      return err;
  }
  return 0;
}

/* Copies len bytes to logical position `at` of the two-piece space. */
static void put_split(unsigned char *first, size_t first_len, unsigned char *second, size_t at,
                      const void *src, size_t len) {
  const unsigned char *s = src;
  if (at < first_len) {
    size_t n = first_len - at < len ? first_len - at : len;
    memcpy(first + at, s, n);
    s += n;
    len -= n;
    at = first_len;
  }
  if (len)
    memcpy(second + (at - first_len), s, len);
}

static void get_split(const unsigned char *first, size_t first_len, const unsigned char *second,
                      size_t at, void *dst, size_t len) {
  unsigned char *d = dst;
  if (at < first_len) {
    size_t n = first_len - at < len ? first_len - at : len;
    memcpy(d, first + at, n);
    d += n;
    len -= n;
    at = first_len;
  }
  if (len)
    memcpy(d, second + (at - first_len), len);
}

static int produce_messages_classic(message_ctx *c) {
  for (uint64_t i = 0; i < c->messages; i++) {
    size_t k = i % CYCLE;
    uint32_t len = c->w->sizes[k];
    size_t need = HEADER_BYTES + len;
    unsigned char *first, *second;
    size_t first_len, room;
    int err;
    while ((err = classic_write_begin(c->classic, &first, &first_len, &second, &room)) == 0 &&
           room < need)
      if ((err = classic_wait_write(c->classic, need)) != 0)
        break;
    if (err)
      return err;
    put_split(first, first_len, second, 0, &len, HEADER_BYTES);
    put_split(first, first_len, second, HEADER_BYTES, c->w->src + c->w->offsets[k], len);
    classic_write_commit(c->classic, need);
  }
  return 0;
}

static int consume_messages_classic(message_ctx *c) {
  for (uint64_t i = 0; i < c->messages; i++) {
    const unsigned char *first, *second;
    size_t first_len, there, need = HEADER_BYTES;
    uint32_t len = 0;
    int err;
    for (;;) {
      if ((err = classic_read_begin(c->classic, &first, &first_len, &second, &there)) != 0)
        return err;
      if (there >= HEADER_BYTES) {
        get_split(first, first_len, second, 0, &len, HEADER_BYTES);
        if (len > MAX_MESSAGE)
          return check_message(c->w, i, len, first);
        need = HEADER_BYTES + len;
        if (there >= need)
          break;
      }
      if ((err = classic_wait_read(c->classic, need)) != 0)
        return err;
    }
    const unsigned char *payload;
    if (need <= first_len)
      payload = first + HEADER_BYTES; /* in place, before the wrap */
    else if (HEADER_BYTES >= first_len)
      payload = second + (HEADER_BYTES - first_len); /* in place, after it */
    else {
      get_split(first, first_len, second, HEADER_BYTES, c->scratch, len); /* straddles */
      payload = c->scratch;
    }
    if ((err = check_message(c->w, i, len, payload)) != 0)
      return err;
    classic_read_release(c->classic, need);
  }
  return 0;
}

static void *message_consumer(void *arg) {
  message_ctx *c = arg;
  c->err = c->kind == VIA_VMP ? consume_messages_vmp(c) : consume_messages_classic(c);
  if (c->err)
    fatal("ring_contiguous_messages consumer", c->err); /* as consumer_thread */
  return NULL;
}

static int message_batch(void *arg, size_t iters, uint64_t *elapsed) {
  message_ctx *c = arg;
  (void)iters;
  pthread_t consumer;
  uint64_t t0 = bench_now_ns();
  int err = pthread_create(&consumer, NULL, message_consumer, c);
  if (err)
    return -err;
  err = c->kind == VIA_VMP ? produce_messages_vmp(c) : produce_messages_classic(c);
  if (err)
    fatal("ring_contiguous_messages producer", err);
  pthread_join(consumer, NULL);
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int run_messages(ring_env *e) {
  const char *name = "ring_contiguous_messages";
  if (!bench_selected(e->opts, name))
    return 0;
  static workload w;
  make_workload(&w, e->src, 1024, MAX_MESSAGE, 0x6d736773u);
  vmp_ring *vr = NULL;
  classic_ring *cr = NULL;
  unsigned char *scratch = malloc(MAX_MESSAGE);
  int err = scratch ? vmp_ring_create(MESSAGE_RING_BYTES, 0, &vr) : -ENOMEM;
  if (!err && vmp_ring_capacity(vr) != MESSAGE_RING_BYTES)
    err = -EINVAL; /* the two rings must be the same size */
  if (!err)
    err = classic_create(MESSAGE_RING_BYTES, &cr);
  int failed = 0;
  if (err) {
    failed = bench_error("creating the 64 KiB rings", err);
    goto out;
  }
  uint64_t bytes = e->opts->quick ? (4u << 20) : (256u << 20);
  uint64_t messages = cycles_for(&w, bytes) * CYCLE;
  size_t moved = (size_t)(cycles_for(&w, bytes) * w.cycle_bytes);
  message_ctx ctx[2] = {{VIA_VMP, vr, NULL, &w, messages, scratch, 0},
                        {VIA_CLASSIC, NULL, cr, &w, messages, scratch, 0}};
  bench_contender c[2] = {{message_batch, &ctx[0], moved, 0}, {message_batch, &ctx[1], moved, 0}};
  err = bench_interleave(c, 2, e->reps);
  if (err) {
    failed = bench_error(name, err);
    goto out;
  }
  bench_line(name, gbps(&c[0]), gbps(&c[1]), "GB/s");
  bench_bar(name, "ratio >= 1.2", gbps(&c[0]) / gbps(&c[1]) >= 1.2);
out:
  vmp_ring_close(vr);
  classic_destroy(cr);
  free(scratch);
  return failed;
}

/* ---- two processes ------------------------------------------------------------------- */

typedef struct process_ctx {
  transport t; /* the producer's side, in this process */
  const workload *w;
  uint64_t messages;
  pid_t child;
  int command_fd; /* to the child: a message count; closed: stop */
  int result_fd;  /* from the child: its consumer's result */
} process_ctx;

/* The consumer process: for vmp_ring, its own handle attached from the
 * descriptor; for the classic ring, the shared mapping it inherited. */
__attribute__((noreturn)) static void consumer_process(process_ctx *c, int command_fd,
                                                       int result_fd) {
  transport t = c->t;
  if (t.kind == VIA_VMP) {
    int err = vmp_ring_attach(vmp_ring_fd(c->t.vmp), 0, &t.vmp);
    if (err) {
      bench_error("vmp_ring_attach in the child", err);
      _exit(1);
    }
  }
  unsigned char *dst = malloc(MAX_MESSAGE);
  uint64_t messages;
  int batches = 0;
  while (dst && read(command_fd, &messages, sizeof messages) == (ssize_t)sizeof messages) {
    int32_t err = consume_stream(&t, c->w, messages, dst, batches++ == 0);
    if (err && err != -EIO) {
      /* Stopped early (wrong bytes are drained first): the producer would
       * wait for space forever. */
      bench_error("ring_two_processes consumer", err);
      kill(getppid(), SIGTERM);
      _exit(1);
    }
    if (write(result_fd, &err, sizeof err) != (ssize_t)sizeof err)
      break;
  }
  _exit(0);
}

/* `others`: the consumers started before, whose pipe ends the new child
 * must not keep open (the first could then never see its end of input). */
static int start_consumer_process(process_ctx *c, const process_ctx *others, int count) {
  int command[2], result[2];
  if (pipe(command) != 0)
    return -errno;
  if (pipe(result) != 0) {
    close(command[0]);
    close(command[1]);
    return -errno;
  }
  fflush(NULL);
  c->child = fork();
  if (c->child < 0) {
    int err = -errno;
    close(command[0]), close(command[1]), close(result[0]), close(result[1]);
    return err;
  }
  if (c->child == 0) {
    close(command[1]);
    close(result[0]);
    for (int i = 0; i < count; i++)
      close(others[i].command_fd), close(others[i].result_fd);
    consumer_process(c, command[0], result[1]);
  }
  close(command[0]);
  close(result[1]);
  c->command_fd = command[1];
  c->result_fd = result[0];
  return 0;
}

static void stop_consumer_process(process_ctx *c) {
  if (c->child <= 0)
    return;
  close(c->command_fd);
  close(c->result_fd);
  waitpid(c->child, NULL, 0);
  c->child = 0;
}

static int process_batch(void *arg, size_t iters, uint64_t *elapsed) {
  process_ctx *c = arg;
  (void)iters;
  int32_t result = -EIO;
  uint64_t t0 = bench_now_ns();
  if (write(c->command_fd, &c->messages, sizeof c->messages) != (ssize_t)sizeof c->messages)
    return -EPIPE;
  int err = produce_stream(&c->t, c->w, c->messages);
  if (err)
    fatal("ring_two_processes producer", err);
  if (read(c->result_fd, &result, sizeof result) != (ssize_t)sizeof result)
    fatal("ring_two_processes: the consumer process died", -EPIPE);
  *elapsed = bench_now_ns() - t0;
  return result;
}

static int run_processes(ring_env *e) {
  const char *name = "ring_two_processes_16KiB";
  if (!bench_selected(e->opts, name))
    return 0;
  static workload w;
  make_workload(&w, e->src, MAX_MESSAGE, MAX_MESSAGE, 0x70726f63u);
  uint64_t bytes = e->opts->quick ? (4u << 20) : (256u << 20);
  uint64_t messages = cycles_for(&w, bytes) * CYCLE;
  size_t moved = (size_t)(cycles_for(&w, bytes) * w.cycle_bytes);
  process_ctx ctx[2];
  memset(ctx, 0, sizeof ctx);
  ctx[0].t = (transport){VIA_VMP, e->vmp, NULL, -1, -1};
  ctx[1].t = (transport){VIA_CLASSIC, NULL, e->classic, -1, -1};
  int err = 0;
  for (int i = 0; i < 2 && !err; i++) {
    ctx[i].w = &w;
    ctx[i].messages = messages;
    err = start_consumer_process(&ctx[i], ctx, i);
  }
  bench_contender c[2] = {{process_batch, &ctx[0], moved, 0}, {process_batch, &ctx[1], moved, 0}};
  if (!err)
    err = bench_interleave(c, 2, e->reps);
  stop_consumer_process(&ctx[0]);
  stop_consumer_process(&ctx[1]);
  if (err)
    return bench_error(name, err);
  bench_line(name, gbps(&c[0]), gbps(&c[1]), "GB/s");
  bench_bar(name, "ratio >= 1.0", gbps(&c[0]) / gbps(&c[1]) >= 1.0);
  return 0;
}

/* ---- creating and destroying ------------------------------------------------------------ */

static int create_ring_batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    vmp_ring *r;
    int err = vmp_ring_create(RING_BYTES, 0, &r);
    if (!err)
      err = vmp_ring_close(r);
    if (err)
      return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int create_mmap_batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    void *p = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return -errno;
    if (munmap(p, RING_BYTES) != 0)
      return -errno;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int run_create(ring_env *e) {
  const char *name = "ring_create_destroy";
  if (!bench_selected(e->opts, name))
    return 0;
  size_t iters = e->opts->quick ? 20 : 200;
  bench_contender c[2] = {{create_ring_batch, NULL, iters, 0}, {create_mmap_batch, NULL, iters, 0}};
  int err = bench_interleave(c, 2, e->opts->quick ? 3 : 11);
  if (err)
    return bench_error(name, err);
  bench_line(name, c[0].ns_per_op / 1e3, c[1].ns_per_op / 1e3, "us");
  return 0;
}

/* ---- vmplace pipe against mbuffer ----------------------------------------------------------- */

#define STREAM_BLOCK ((size_t)1 << 20)

typedef struct stream_run {
  const char *const *argv; /* the buffer program between generator and sink */
  const uint64_t *pattern; /* STREAM_BLOCK bytes, repeated */
  uint64_t bytes;
  unsigned char *buffer;
} stream_run;

/* Writes `bytes` of the repeated pattern to fd 1, then exits. */
__attribute__((noreturn)) static void generator(const stream_run *s) {
  uint64_t left = s->bytes;
  const unsigned char *p = (const unsigned char *)s->pattern;
  while (left > 0) {
    size_t n = left < STREAM_BLOCK ? (size_t)left : STREAM_BLOCK;
    size_t done = 0;
    while (done < n) {
      ssize_t w = write(1, p + done, n - done);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        _exit(1);
      done += (size_t)w;
    }
    left -= n;
  }
  _exit(0);
}

static int wait_ok(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* generator | buffer program | this process as the sink, which counts the
 * bytes and checks one aligned word of every read against the pattern. */
static int stream_batch_processes(void *arg, size_t iters, uint64_t *elapsed) {
  stream_run *s = arg;
  (void)iters;
  int in[2], out[2];
  if (pipe(in) != 0)
    return -errno;
  if (pipe(out) != 0) {
    close(in[0]), close(in[1]);
    return -errno;
  }
  fflush(NULL);
  uint64_t t0 = bench_now_ns();
  pid_t gen = fork();
  if (gen == 0) {
    dup2(in[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    generator(s);
  }
  pid_t mid = gen > 0 ? fork() : -1;
  if (mid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0)
      dup2(null, 2);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execvp(s->argv[0], (char *const *)s->argv);
    _exit(127);
  }
  close(in[0]), close(in[1]), close(out[1]);
  int err = gen < 0 || mid < 0 ? -EAGAIN : 0;
  uint64_t got = 0;
  size_t pattern_words = STREAM_BLOCK / 8;
  while (!err) {
    ssize_t n = read(out[0], s->buffer, STREAM_BLOCK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      err = -errno;
    if (n <= 0)
      break;
    uint64_t word = (got + 7) / 8; /* the first whole word in this piece */
    if (word * 8 + 8 <= got + (uint64_t)n) {
      uint64_t v;
      memcpy(&v, s->buffer + (word * 8 - got), 8);
      if (v != s->pattern[word % pattern_words])
        err = -EIO;
    }
    got += (uint64_t)n;
  }
  close(out[0]);
  int gen_err = gen > 0 ? wait_ok(gen) : 0;
  int mid_err = mid > 0 ? wait_ok(mid) : 0;
  *elapsed = bench_now_ns() - t0;
  if (err == -EIO || (!err && got != s->bytes)) {
    fprintf(stderr, "vmplace_bench: pipe_vs_mbuffer: %s delivered wrong bytes (%llu of %llu)\n",
            s->argv[0], (unsigned long long)got, (unsigned long long)s->bytes);
    return -EIO;
  }
  if (!err && (gen_err || mid_err))
    fprintf(stderr, "vmplace_bench: pipe_vs_mbuffer: %s or the generator failed\n", s->argv[0]);
  return err ? err : gen_err ? gen_err : mid_err;
}

static int on_path(const char *program) {
  const char *path = getenv("PATH");
  char full[4096];
  while (path && *path) {
    size_t len = strcspn(path, ":");
    snprintf(full, sizeof full, "%.*s/%s", (int)len, path, program);
    if (len > 0 && access(full, X_OK) == 0)
      return 1;
    path += len + (path[len] == ':');
  }
  return 0;
}

/* The line is also part of the ring group: `vmplace_bench ring` runs it. */
static int mbuffer_selected(const bench_opts *opts) {
  return bench_selected(opts, "pipe_vs_mbuffer") || bench_selected(opts, "ring");
}

static int run_mbuffer(ring_env *e) {
  const char *name = "pipe_vs_mbuffer";
  if (!mbuffer_selected(e->opts))
    return 0;
#ifndef VMP_BENCH_TOOL
  printf("# %s: skipped (vmplace_bench was built without the vmplace tool)\n", name);
  return 0;
#else
  if (!on_path("mbuffer")) {
    printf("# %s: skipped (mbuffer is not installed)\n", name);
    return 0;
  }
  static const char *const tool_argv[] = {VMP_BENCH_TOOL, "pipe", "-q", "-m", "16M", NULL};
  static const char *const mbuffer_argv[] = {"mbuffer", "-q", "-m", "16M", NULL};
  uint64_t *pattern = malloc(STREAM_BLOCK);
  unsigned char *buffers = malloc(2 * STREAM_BLOCK);
  if (pattern == NULL || buffers == NULL) {
    free(pattern);
    free(buffers);
    return bench_error(name, -ENOMEM);
  }
  uint64_t seed = 0x6d627566u;
  for (size_t i = 0; i < STREAM_BLOCK / 8; i++)
    pattern[i] = bench_rng(&seed);
  uint64_t bytes = e->opts->quick ? ((uint64_t)64 << 20) : ((uint64_t)1 << 30);
  stream_run runs[2] = {{tool_argv, pattern, bytes, buffers},
                        {mbuffer_argv, pattern, bytes, buffers + STREAM_BLOCK}};
  bench_contender c[2] = {{stream_batch_processes, &runs[0], (size_t)bytes, 0},
                          {stream_batch_processes, &runs[1], (size_t)bytes, 0}};
  int err = bench_interleave(c, 2, 3);
  free(pattern);
  free(buffers);
  if (err)
    return bench_error(name, err);
  double tool = 1e3 / c[0].ns_per_op, mbuffer = 1e3 / c[1].ns_per_op; /* MB/s */
  bench_line(name, tool, mbuffer, "MB/s");
  bench_bar(name, "ratio >= 1.0", tool / mbuffer >= 1.0);
  return 0;
#endif
}

/* ---- all of them -------------------------------------------------------------------------------- */

static int any_selected(const bench_opts *opts) {
  static const char *const names[] = {
      "ring_64B", "ring_1KiB", "ring_16KiB", "ring_rand_1_16KiB", "ring_vs_pipe_64B",
      "ring_vs_pipe_16KiB", "ring_vs_memcpy_16KiB", "ring_contiguous_messages",
      "ring_two_processes_16KiB", "ring_create_destroy"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (bench_selected(opts, names[i]))
      return 1;
  return mbuffer_selected(opts);
}

int bench_ring(const bench_opts *opts) {
  if (!any_selected(opts))
    return 0;
  /* A closed pipe must be an error from write(), not the end of the bench. */
  signal(SIGPIPE, SIG_IGN);
  ring_env e = {opts, NULL, NULL, NULL, NULL, opts->quick ? 3 : 11};
  unsigned char *src = malloc(SOURCE_BYTES);
  e.dst = malloc(MAX_MESSAGE);
  int failed = 0;
  int err = src && e.dst ? vmp_ring_create(RING_BYTES, 0, &e.vmp) : -ENOMEM;
  if (!err && vmp_ring_capacity(e.vmp) != RING_BYTES)
    err = -EINVAL; /* the two rings must be the same size */
  if (!err)
    err = classic_create(RING_BYTES, &e.classic);
  if (err) {
    failed = bench_error("creating the rings", err);
    goto out;
  }
  uint64_t seed = 0x73726362u;
  for (size_t i = 0; i < SOURCE_BYTES; i += 8) {
    uint64_t v = bench_rng(&seed);
    memcpy(src + i, &v, 8);
  }
  e.src = src;
  printf("# ring: 1 MiB rings (64 KiB for the messages), two threads unless said\n");
  fflush(stdout);

  failed |= run_size(&e, "64B", 64, 64, 1, 0);
  failed |= run_size(&e, "1KiB", 1024, 1024, 0, 0);
  failed |= run_size(&e, "16KiB", MAX_MESSAGE, MAX_MESSAGE, 1, 1);
  failed |= run_size(&e, "rand_1_16KiB", 1024, MAX_MESSAGE, 0, 0);
  failed |= run_messages(&e);
  failed |= run_processes(&e);
  failed |= run_create(&e);
  failed |= run_mbuffer(&e);
out:
  vmp_ring_close(e.vmp);
  classic_destroy(e.classic);
  free(src);
  free(e.dst);
  return failed;
}
