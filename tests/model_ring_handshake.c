/*
 * A model check of the ring's sleep handshake (src/ring.c, publish() and
 * wait_for()), litmus style: every interleaving of one publisher and one
 * sleeper on a machine with store buffers (x86-TSO: each CPU's stores wait
 * in a FIFO buffer and reach memory in order, loads see their own CPU's
 * buffered stores first), explored exhaustively.
 *
 *   publisher                        sleeper
 *   store head = 1                   s = load seq
 *   [fence, in the fencing mode]     store sleeping = 1
 *   r = load sleeping                barrier: fence, or membarrier (a full
 *   if r: r = exchange sleeping, 0            barrier in every other CPU)
 *   if r: seq += 1 (locked), wake    h = load head
 *                                    if h == 0: futex_wait(seq, s)
 *
 * A wake-up is lost when the sleeper ends blocked in futex_wait with the
 * publisher done. Only the publisher whose exchange finds the flag up
 * wakes; with two publishers (each its own head, the sleeper waiting for
 * the second's, as a consumer waits for one producer's record while
 * another's wake-up comes first) a woken sleeper that still finds nothing
 * goes back to sleep, raising the flag again. The check asserts that no interleaving loses one in
 * the two modes the ring uses (publisher fences / sleeper issues membarrier), and, so that the
 * check can fail, that a lost wake-up is found when neither side has a barrier, and when only the
 * publisher has one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HEAD, HEAD2, SLEEPING, SEQ, VARS };
#define BUFFER 4

typedef struct cpu {
  int pc;
  int buffer_var[BUFFER], buffer_val[BUFFER], buffered;
  int reg;      /* the publisher's r, or the sleeper's h */
  int seen_seq; /* the sleeper's s */
} cpu;

typedef struct state {
  int mem[VARS];
  cpu p, q, w; /* q: the second publisher, when there is one */
  int blocked; /* the sleeper sleeps in futex_wait */
} state;

typedef struct mode {
  int publisher_fence;
  int sleeper_fence;
  int sleeper_membarrier;
  int two_publishers; /* q publishes HEAD2, which is what the sleeper waits for */
} mode;

static long explored;

static int load(const state *s, const cpu *c, int var) {
  for (int i = c->buffered - 1; i >= 0; i--)
    if (c->buffer_var[i] == var) return c->buffer_val[i];
  return s->mem[var];
}

static void store(cpu *c, int var, int val) {
  c->buffer_var[c->buffered] = var;
  c->buffer_val[c->buffered] = val;
  c->buffered++;
}

static void flush_one(state *s, cpu *c) {
  s->mem[c->buffer_var[0]] = c->buffer_val[0];
  memmove(c->buffer_var, c->buffer_var + 1, sizeof(int) * (BUFFER - 1));
  memmove(c->buffer_val, c->buffer_val + 1, sizeof(int) * (BUFFER - 1));
  c->buffered--;
}

static void flush_all(state *s, cpu *c) {
  while (c->buffered) flush_one(s, c);
}

/* Publisher program counters. */
enum { P_STORE_HEAD, P_FENCE, P_LOAD_SLEEPING, P_LOWER, P_BUMP, P_WAKE, P_DONE };
/* Sleeper program counters. */
enum { W_LOAD_SEQ, W_STORE_SLEEPING, W_BARRIER, W_LOAD_HEAD, W_WAIT, W_DONE };

/* One step of a publisher of `head`; 0 when it cannot move. */
static int step_publisher(state *s, cpu *p, int head, const mode *m) {
  switch (p->pc) {
    case P_STORE_HEAD:
      store(p, head, 1);
      p->pc = m->publisher_fence ? P_FENCE : P_LOAD_SLEEPING;
      return 1;
    case P_FENCE:
      if (p->buffered) return 0; /* a fence waits for the buffer to drain */
      p->pc = P_LOAD_SLEEPING;
      return 1;
    case P_LOAD_SLEEPING:
      p->reg = load(s, p, SLEEPING);
      p->pc = p->reg ? P_LOWER : P_DONE;
      return 1;
    case P_LOWER: /* locked too: the buffer drains first */
      if (p->buffered) return 0;
      p->reg = s->mem[SLEEPING];
      s->mem[SLEEPING] = 0;
      p->pc = p->reg ? P_BUMP : P_DONE;
      return 1;
    case P_BUMP: /* a locked read-modify-write drains the buffer first */
      if (p->buffered) return 0;
      s->mem[SEQ]++;
      p->pc = P_WAKE;
      return 1;
    case P_WAKE:
      s->blocked = 0;
      p->pc = P_DONE;
      return 1;
  }
  return 0;
}

static int step_sleeper(state *s, const mode *m) {
  cpu *w = &s->w;
  if (s->blocked) return 0; /* until a publisher wakes it */
  switch (w->pc) {
    case W_LOAD_SEQ:
      w->seen_seq = load(s, w, SEQ);
      w->pc = W_STORE_SLEEPING;
      return 1;
    case W_STORE_SLEEPING:
      store(w, SLEEPING, 1);
      w->pc = W_BARRIER;
      return 1;
    case W_BARRIER:
      if (m->sleeper_membarrier) {
        /* The system call is a full barrier here, and puts one into the
         * other CPU at this point: both buffers drain. */
        flush_all(s, w);
        flush_all(s, &s->p);
        flush_all(s, &s->q);
      } else if (m->sleeper_fence) {
        if (w->buffered) return 0;
      }
      w->pc = W_LOAD_HEAD;
      return 1;
    case W_LOAD_HEAD:
      w->reg = load(s, w, m->two_publishers ? HEAD2 : HEAD);
      w->pc = w->reg ? W_DONE : W_WAIT;
      return 1;
    case W_WAIT: /* futex_wait: a system call (drains), then compares */
      if (s->blocked) return 0;
      if (w->buffered) return 0;
      if (s->mem[SEQ] == w->seen_seq) {
        s->blocked = 1;
        /* Once woken it looks again, and sleeps again if need be. */
        w->pc = m->two_publishers ? W_LOAD_SEQ : W_DONE;
        return 1;
      }
      w->pc = m->two_publishers ? W_LOAD_SEQ : W_DONE;
      return 1;
  }
  return 0;
}

/* The states seen so far (by a 64-bit hash of their bytes: states are
 * copies of one zeroed start, padding included), so that each is explored
 * once: two publishers' interleavings are too many to walk one by one. */
#define SEEN_BITS 16 /* far more than the states there are */
static uint64_t *seen;

static int first_visit(const state *s) {
  const unsigned char *b = (const unsigned char *)s;
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < sizeof *s; i++) h = (h ^ b[i]) * 1099511628211u;
  h |= 1; /* 0 marks a free slot */
  size_t mask = ((size_t)1 << SEEN_BITS) - 1;
  for (size_t i = (size_t)(h >> 20) & mask;; i = (i + 1) & mask) {
    if (seen[i] == h) return 0;
    if (seen[i] == 0) {
      seen[i] = h;
      return 1;
    }
  }
}

/* Depth-first over every interleaving of steps and buffer drains; returns
 * the number of distinct final states in which the sleeper is blocked. */
static long explore(const state *s, const mode *m) {
  if (!first_visit(s)) return 0;
  explored++;
  long lost = 0;
  int moved = 0;
  state next;
  next = *s;
  if (step_publisher(&next, &next.p, HEAD, m)) moved = 1, lost += explore(&next, m);
  next = *s;
  if (m->two_publishers && step_publisher(&next, &next.q, HEAD2, m))
    moved = 1, lost += explore(&next, m);
  next = *s;
  if (step_sleeper(&next, m)) moved = 1, lost += explore(&next, m);
  if (s->p.buffered) {
    next = *s;
    flush_one(&next, &next.p);
    moved = 1;
    lost += explore(&next, m);
  }
  if (s->q.buffered) {
    next = *s;
    flush_one(&next, &next.q);
    moved = 1;
    lost += explore(&next, m);
  }
  if (s->w.buffered) {
    next = *s;
    flush_one(&next, &next.w);
    moved = 1;
    lost += explore(&next, m);
  }
  if (!moved) lost += s->blocked; /* the end: nothing will ever wake it */
  return lost;
}

static int check(const char *name, mode m, int expect_lost) {
  state start;
  memset(&start, 0, sizeof start);
  memset(seen, 0, sizeof(uint64_t) << SEEN_BITS);
  explored = 0;
  long lost = explore(&start, &m);
  int ok = expect_lost ? lost > 0 : lost == 0;
  printf("model_ring_handshake: %s: %ld states, %ld final ones lose the wake-up: %s\n", name,
         explored, lost, ok ? "as expected" : "WRONG");
  return ok;
}

int main(void) {
  seen = malloc(sizeof(uint64_t) << SEEN_BITS);
  if (!seen) return 1;
  int ok = 1;
  /* The modes the ring uses. */
  ok &= check("publisher fences, sleeper fences", (mode){1, 1, 0, 0}, 0);
  ok &= check("no publisher fence, sleeper membarrier", (mode){0, 0, 1, 0}, 0);
  ok &= check("two publishers, fences", (mode){1, 1, 0, 1}, 0);
  ok &= check("two publishers, membarrier", (mode){0, 0, 1, 1}, 0);
  /* The checker finds the bug it is there for. */
  ok &= check("no barrier anywhere", (mode){0, 0, 0, 0}, 1);
  ok &= check("publisher fences, sleeper does not", (mode){1, 0, 0, 0}, 1);
  ok &= check("sleeper fences, publisher does not", (mode){0, 1, 0, 0}, 1);
  ok &= check("two publishers, only the sleeper fences", (mode){0, 1, 0, 1}, 1);
  free(seen);
  return ok ? 0 : 1;
}
