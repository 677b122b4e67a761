/*
 * Records on rings (vmp_ring_reserve / submit / discard / next / consume)
 * on whatever backend is compiled in, Windows under Wine included: framing
 * and contiguity across the wrap, every error and what it counts, one
 * producer and one consumer thread, many producer threads on a
 * multi-producer ring (order per producer, nothing lost or doubled),
 * records abandoned by a producer that never submits (also one that never
 * wrote its header), shutdown, a peer's impossible headers, and a producer
 * on an attached handle.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_layout.h"
#include "support_check.h"
#include "support_stream.h"
#include "support_util.h"
#include "vmplace.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* The shared control page of a ring made without huge pages: one page
 * before the data. */
static vmp__ring_control *control_of(vmp_ring *r) {
  return (vmp__ring_control *)(void *)((char *)vmp_ring_data(r) - vmp_page_size());
}

static vmp_ring_stats stats_of(vmp_ring *r) {
  vmp_ring_stats s;
  memset(&s, 0xff, sizeof s);
  CHECK_RC(vmp_ring_get_stats(r, &s), 0);
  return s;
}

/* A record's bytes: its length and sequence number say what they are. */
static void fill_record(vmp_ring_record *rec, uint64_t id) {
  stream_fill(rec->data, rec->len, id * 1000003u);
}

static int record_is(const vmp_ring_record *rec, uint64_t id, size_t len) {
  if (rec->len != len) return 0;
  unsigned char *want = malloc(len ? len : 1);
  if (!want) return 0;
  stream_fill(want, len, id * 1000003u);
  int same = memcmp(want, rec->data, len) == 0;
  free(want);
  return same;
}

static int send_record(vmp_ring *r, uint64_t id, size_t len) {
  vmp_ring_record rec;
  int err = vmp_ring_reserve(r, len, -1, &rec);
  if (err) return err;
  fill_record(&rec, id);
  return vmp_ring_submit(r, &rec);
}

/* ---- one thread ------------------------------------------------------------------- */

/* Lengths 0 up to the largest, every record whole and contiguous however
 * it falls across the end of the data, and the counts that go with it. */
CHECK_TEST(framing_across_the_wrap) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(1, 0, &r), 0)) return;
  size_t cap = vmp_ring_capacity(r), max = vmp_ring_record_max(r);
  CHECK(max == cap - sizeof(vmp__ring_sp_header), "record max %zu for capacity %zu", max, cap);
  uint64_t seed = 7, id = 0, bytes = 0;
  for (int round = 0; round < 2000 && !check_failures(); round++) {
    size_t len = round == 0 ? 0 : round == 1 ? max : (size_t)(stream_rng(&seed) % (cap / 3));
    vmp_ring_record rec, got;
    if (!CHECK_RC(vmp_ring_reserve(r, len, 0, &rec), 0)) break;
    CHECK((unsigned char *)rec.data >= (unsigned char *)vmp_ring_data(r) &&
              (unsigned char *)rec.data + len <= (unsigned char *)vmp_ring_data(r) + 2 * cap,
          "record outside the data and its mirror");
    fill_record(&rec, id);
    CHECK_RC(vmp_ring_submit(r, &rec), 0);
    CHECK_RC(vmp_ring_submit(r, &rec), VMP_EINVAL); /* only once */
    if (!CHECK_RC(vmp_ring_next(r, 0, &got), 0)) break;
    CHECK(record_is(&got, id, len), "record %llu (length %zu) came out wrong",
          (unsigned long long)id, len);
    vmp_ring_record again;
    CHECK_RC(vmp_ring_next(r, 0, &again), 0); /* the same, until consumed */
    CHECK(again.data == got.data && again.len == got.len, "next moved on before consume");
    CHECK_RC(vmp_ring_consume(r, &got), 0);
    CHECK_RC(vmp_ring_consume(r, &got), VMP_EINVAL);
    bytes += (sizeof(vmp__ring_sp_header) + len + 7) / 8 * 8;
    id++;
  }
  vmp_ring_stats s = stats_of(r);
  CHECK(s.records_written == id && s.records_read == id, "records %llu/%llu, expected %llu",
        (unsigned long long)s.records_written, (unsigned long long)s.records_read,
        (unsigned long long)id);
  CHECK(s.bytes_written == bytes && s.bytes_read == bytes, "bytes %llu, expected %llu",
        (unsigned long long)s.bytes_written, (unsigned long long)bytes);
  CHECK(s.dropped == 0 && s.discarded == 0 && s.abandoned == 0, "counts that should be 0");
  CHECK_RC(vmp_ring_close(r), 0);
}

CHECK_TEST(errors_and_counts) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(1, 0, &r), 0)) return;
  size_t max = vmp_ring_record_max(r);
  vmp_ring_record rec, got;
  CHECK_RC(vmp_ring_reserve(NULL, 1, 0, &rec), VMP_EINVAL);
  CHECK_RC(vmp_ring_reserve(r, 1, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_ring_reserve(r, max + 1, 0, &rec), VMP_EINVAL);
  CHECK_RC(vmp_ring_reserve(r, SIZE_MAX, -1, &rec), VMP_EINVAL);
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_next(r, 20000000, &got), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_set_abandon_timeout(r, 0), VMP_EINVAL); /* single producer */

  /* Nothing held: a zeroed record is none of the ring's. */
  vmp_ring_record zeroed = {0};
  CHECK_RC(vmp_ring_submit(r, &zeroed), VMP_EINVAL);
  CHECK_RC(vmp_ring_discard(r, &zeroed), VMP_EINVAL);
  CHECK_RC(vmp_ring_consume(r, &zeroed), VMP_EINVAL);

  /* The byte calls cannot finish a record, nor the record calls an offer. */
  CHECK_RC(vmp_ring_reserve(r, 16, 0, &rec), 0);
  CHECK_RC(vmp_ring_write_commit(r, 8), VMP_EINVAL);
  vmp_ring_record moved = rec;
  moved.data = (unsigned char *)moved.data + 8;
  CHECK_RC(vmp_ring_submit(r, &moved), VMP_EINVAL);
  CHECK_RC(vmp_ring_discard(r, &rec), 0);
  void *offer;
  size_t offered;
  CHECK_RC(vmp_ring_write_begin(r, 8, &offer, &offered), 0);
  vmp_ring_record like_offer = {(unsigned char *)offer + 8, 0, rec.at};
  CHECK_RC(vmp_ring_submit(r, &like_offer), VMP_EINVAL);
  CHECK_RC(vmp_ring_write_commit(r, 0), 0);

  /* Discarded: never delivered, counted. */
  CHECK_RC(vmp_ring_reserve(r, 100, 0, &rec), 0);
  CHECK_RC(vmp_ring_discard(r, &rec), 0);
  CHECK_RC(vmp_ring_submit(r, &rec), VMP_EINVAL);
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT);

  /* A later reservation replaces an earlier one. */
  vmp_ring_record first;
  CHECK_RC(vmp_ring_reserve(r, 10, 0, &first), 0);
  CHECK_RC(vmp_ring_reserve(r, 20, 0, &rec), 0);
  CHECK_RC(vmp_ring_submit(r, &first), VMP_EINVAL);
  CHECK_RC(vmp_ring_submit(r, &rec), 0);

  /* Full: at once (VMP_EFULL) or after the timeout, each counted dropped. */
  CHECK_RC(vmp_ring_reserve(r, max, 0, &rec), VMP_EFULL);
  CHECK_RC(vmp_ring_reserve(r, max, 10000000, &rec), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_wait_room(r, max, 0), VMP_ETIMEDOUT); /* counts nothing */
  CHECK_RC(vmp_ring_wait_room(r, max, 5000000), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_wait_room(r, 1, 0), 0);
  CHECK_RC(vmp_ring_wait_room(r, max + 1, 0), VMP_EINVAL);
  vmp_ring_stats s = stats_of(r);
  CHECK(s.dropped == 2 && s.discarded == 2 && s.records_written == 1,
        "dropped %llu discarded %llu written %llu", (unsigned long long)s.dropped,
        (unsigned long long)s.discarded, (unsigned long long)s.records_written);

  /* Consume wants exactly the record next gave. */
  CHECK_RC(vmp_ring_next(r, 0, &got), 0);
  CHECK_RC(vmp_ring_read_release(r, 8), VMP_EINVAL);
  vmp_ring_record wrong = got;
  wrong.len++;
  CHECK_RC(vmp_ring_consume(r, &wrong), VMP_EINVAL);
  wrong = got;
  wrong.data = (unsigned char *)wrong.data - 8;
  CHECK_RC(vmp_ring_consume(r, &wrong), VMP_EINVAL);
  wrong = got;
  wrong.at++;
  CHECK_RC(vmp_ring_consume(r, &wrong), VMP_EINVAL);
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK_RC(vmp_ring_reserve(r, max, 0, &rec), 0); /* room again */
  CHECK_RC(vmp_ring_discard(r, &rec), 0);

  /* Shut down: the records left come out, then VMP_ESHUTDOWN. */
  CHECK_RC(send_record(r, 1, 5), 0);
  vmp_ring_shutdown(r);
  CHECK_RC(vmp_ring_reserve(r, 1, 0, &rec), VMP_ESHUTDOWN);
  CHECK_RC(vmp_ring_next(r, -1, &got), 0);
  CHECK(record_is(&got, 1, 5), "the last record before shutdown");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK_RC(vmp_ring_next(r, -1, &got), VMP_ESHUTDOWN);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* A multi-producer ring carries records only. */
CHECK_TEST(multi_producer_refuses_bytes) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r), 0)) return;
  char buf[8] = {0};
  void *p;
  const void *q;
  size_t len;
  CHECK(vmp_ring_write(r, buf, 8) == VMP_EINVAL, "write on a multi-producer ring");
  CHECK(vmp_ring_read(r, buf, 8) == VMP_EINVAL, "read on a multi-producer ring");
  CHECK_RC(vmp_ring_write_begin(r, 1, &p, &len), VMP_EINVAL);
  CHECK_RC(vmp_ring_read_begin(r, 1, &q, &len), VMP_EINVAL);
  CHECK_RC(vmp_ring_wait_write(r, 1, 0), VMP_EINVAL);
  CHECK_RC(vmp_ring_wait_read(r, 1, 0), VMP_EINVAL);
  /* Also while a record is reserved or given by next, moving nothing. */
  vmp_ring_record held, got;
  CHECK_RC(vmp_ring_reserve(r, 16, 0, &held), 0);
  CHECK_RC(vmp_ring_write_commit(r, 1), VMP_EINVAL);
  CHECK_RC(vmp_ring_write_begin(r, 1, &p, &len), VMP_EINVAL);
  CHECK_RC(vmp_ring_submit(r, &held), 0);
  CHECK_RC(vmp_ring_next(r, 0, &got), 0);
  CHECK_RC(vmp_ring_read_release(r, 1), VMP_EINVAL);
  CHECK_RC(vmp_ring_read_begin(r, 1, &q, &len), VMP_EINVAL);
  CHECK(vmp_ring_read(r, buf, 8) == VMP_EINVAL, "read with a record on offer");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT);
  CHECK(vmp_ring_record_max(r) == vmp_ring_capacity(r) - sizeof(vmp__ring_mp_header), "record max");
  vmp_ring *other;
  CHECK_RC(vmp_ring_attach(vmp_ring_fd(r), VMP_RING_MULTI_PRODUCER, &other), VMP_EINVAL);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* Reservations of a multi-producer ring held at once, submitted out of
 * order, come out in reservation order; discarded ones are skipped. */
CHECK_TEST(multi_producer_order) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r), 0)) return;
  enum { N = 6 };
  vmp_ring_record rec[N], got;
  for (int i = 0; i < N; i++) {
    if (!CHECK_RC(vmp_ring_reserve(r, (size_t)(10 + i), 0, &rec[i]), 0)) return;
    fill_record(&rec[i], (uint64_t)i);
  }
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT); /* the first is busy */
  CHECK_RC(vmp_ring_wait_room(r, vmp_ring_record_max(r), 0), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_wait_room(r, 8, 0), 0);
  for (int i = N - 1; i >= 1; i--)
    CHECK_RC(i == 3 ? vmp_ring_discard(r, &rec[i]) : vmp_ring_submit(r, &rec[i]), 0);
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT); /* still busy */
  CHECK_RC(vmp_ring_submit(r, &rec[0]), 0);
  CHECK_RC(vmp_ring_submit(r, &rec[0]), VMP_EINVAL);
  for (int i = 0; i < N; i++) {
    if (i == 3) continue;
    if (!CHECK_RC(vmp_ring_next(r, 0, &got), 0)) break;
    CHECK(record_is(&got, (uint64_t)i, (size_t)(10 + i)), "record %d", i);
    CHECK_RC(vmp_ring_consume(r, &got), 0);
  }
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT);
  vmp_ring_stats s = stats_of(r);
  CHECK(s.records_written == N - 1 && s.records_read == N - 1 && s.discarded == 1,
        "written %llu read %llu discarded %llu", (unsigned long long)s.records_written,
        (unsigned long long)s.records_read, (unsigned long long)s.discarded);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* A multi-producer ring that gives a record up after timeout_ns, or NULL
 * (reported). */
static vmp_ring *abandoning_ring(int64_t timeout_ns) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r), 0)) return NULL;
  CHECK_RC(vmp_ring_set_abandon_timeout(r, timeout_ns), 0);
  return r;
}

/* A producer that never submits (it died): after the timeout the consumer
 * skips its record, and its late submit is told so. */
CHECK_TEST(abandoned_record_is_skipped) {
  vmp_ring *r = abandoning_ring(30000000);
  if (!r) return;
  vmp_ring_record dead, got;
  CHECK_RC(vmp_ring_reserve(r, 40, 0, &dead), 0);
  CHECK_RC(send_record(r, 9, 33), 0);
  CHECK_RC(vmp_ring_next(r, 0, &got), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_next(r, -1, &got), 0); /* waits out the abandonment */
  CHECK(record_is(&got, 9, 33), "the record after the abandoned one");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK_RC(vmp_ring_submit(r, &dead), VMP_ETIMEDOUT);
  vmp_ring_stats s = stats_of(r);
  CHECK(s.abandoned == 1 && s.records_read == 1, "abandoned %llu read %llu",
        (unsigned long long)s.abandoned, (unsigned long long)s.records_read);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* A producer that died after it claimed its bytes but before it wrote the
 * header: the consumer finds the next record by its tag. */
CHECK_TEST(claim_without_header_is_skipped) {
  vmp_ring *r = abandoning_ring(20000000);
  if (!r) return;
  vmp__ring_control *ctl = control_of(r);
  /* The claim, as the dead producer's compare-and-swap left it. */
  memset(vmp_ring_data(r), 0x5a, 200);
  atomic_store(&ctl->head, atomic_load(&ctl->head) + 200);
  CHECK_RC(send_record(r, 4, 17), 0);
  vmp_ring_record got;
  CHECK_RC(vmp_ring_next(r, -1, &got), 0);
  CHECK(record_is(&got, 4, 17), "the record after the headerless claim");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  /* A claim at the very end, with nothing after it: skipped to the head. */
  atomic_store(&ctl->head, atomic_load(&ctl->head) + 64);
  CHECK_RC(vmp_ring_next(r, 100000000, &got), VMP_ETIMEDOUT);
  CHECK_RC(send_record(r, 5, 3), 0);
  CHECK_RC(vmp_ring_next(r, 0, &got), 0);
  CHECK(record_is(&got, 5, 3), "the record after the last headerless claim");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK(stats_of(r).abandoned == 2, "abandoned %llu", (unsigned long long)stats_of(r).abandoned);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* What a broken or hostile peer may write into a header gives VMP_EPEER
 * and never an access outside the ring. */
CHECK_TEST(impossible_headers) {
  for (int multi = 0; multi < 2; multi++) {
    for (int kind = 0; kind < 3; kind++) {
      vmp_ring *r;
      if (!CHECK_RC(vmp_ring_create(1, multi ? VMP_RING_MULTI_PRODUCER : 0, &r), 0)) return;
      CHECK_RC(send_record(r, 1, 24), 0);
      unsigned char *h = vmp_ring_data(r);
      if (multi) {
        vmp__ring_mp_header *mh = (vmp__ring_mp_header *)(void *)h;
        if (kind == 0) mh->len = 0xffffffffu;
        if (kind == 1) mh->len = (uint32_t)vmp_ring_capacity(r);
        if (kind == 2) atomic_store(&mh->state, 0x1234u);
      } else {
        vmp__ring_sp_header *sh = (vmp__ring_sp_header *)(void *)h;
        if (kind == 0) sh->len = 0xffffffffu;
        if (kind == 1) sh->len = 64; /* more than was published */
        if (kind == 2) sh->zero = 1;
      }
      vmp_ring_record got;
      CHECK_RC(vmp_ring_next(r, 0, &got), VMP_EPEER);
      CHECK_RC(vmp_ring_next(r, 0, &got), VMP_EPEER); /* for good */
      CHECK_RC(vmp_ring_close(r), 0);
    }
  }
}

/* The same behind a head the consumer has seen already: the header after
 * a record it took is read without a fresh look at the head, and checked
 * as closely. */
CHECK_TEST(impossible_header_after_a_record) {
  for (int kind = 0; kind < 3; kind++) {
    vmp_ring *r;
    if (!CHECK_RC(vmp_ring_create(1, 0, &r), 0)) return;
    CHECK_RC(send_record(r, 1, 24), 0);
    CHECK_RC(send_record(r, 2, 24), 0); /* its header at 8 + 24 */
    vmp_ring_record got;
    CHECK_RC(vmp_ring_next(r, 0, &got), 0);
    CHECK(record_is(&got, 1, 24), "the first record");
    CHECK_RC(vmp_ring_consume(r, &got), 0);
    vmp__ring_sp_header *sh =
        (vmp__ring_sp_header *)(void *)((unsigned char *)vmp_ring_data(r) + 32);
    if (kind == 0) sh->len = 0xffffffffu;
    if (kind == 1) sh->len = 64; /* more than was published */
    if (kind == 2) sh->zero = 1;
    CHECK_RC(vmp_ring_next(r, 0, &got), VMP_EPEER);
    CHECK_RC(vmp_ring_next(r, 0, &got), VMP_EPEER); /* for good */
    CHECK(stats_of(r).records_read == 1, "read %llu", (unsigned long long)stats_of(r).records_read);
    CHECK_RC(vmp_ring_close(r), 0);
  }
}

/* ---- threads ----------------------------------------------------------------------- */

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

typedef struct producer_arg {
  vmp_ring *ring;
  unsigned id;
  int err;
} producer_arg;

/* Each record: producer id and sequence number in its first 8 bytes, then
 * bytes that follow from them; every 7th is discarded. */
static void produce(void *p) {
  producer_arg *a = p;
  uint64_t seed = a->id + 1;
  for (uint64_t i = 0; i < PER_PRODUCER && !a->err; i++) {
    size_t len = 8 + (size_t)(stream_rng(&seed) % 300);
    vmp_ring_record rec;
    a->err = vmp_ring_reserve(a->ring, len, -1, &rec);
    if (a->err) break;
    uint64_t tag = ((uint64_t)a->id << 32) | i;
    stream_fill(rec.data, len, tag);
    memcpy(rec.data, &tag, 8);
    a->err = i % 7 == 3 ? vmp_ring_discard(a->ring, &rec) : vmp_ring_submit(a->ring, &rec);
  }
}

static void run_producers(unsigned flags, unsigned producers) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(64 * 1024, flags, &r), 0)) return;
  util_thread t[PRODUCERS];
  producer_arg args[PRODUCERS];
  for (unsigned i = 0; i < producers; i++) {
    args[i] = (producer_arg){r, i, 0};
    if (!CHECK(util_thread_start(&t[i], produce, &args[i]), "thread")) return;
  }
  uint64_t next[PRODUCERS] = {0};
  uint64_t want = 0;
  for (unsigned i = 0; i < producers; i++)
    for (uint64_t k = 0; k < PER_PRODUCER; k++) want += k % 7 != 3;
  unsigned char *expect = malloc(400);
  for (uint64_t got_count = 0; got_count < want && !check_failures(); got_count++) {
    vmp_ring_record rec;
    if (!CHECK_RC(vmp_ring_next(r, 10000000000LL, &rec), 0)) break;
    uint64_t tag;
    if (!CHECK(rec.len >= 8, "short record")) break;
    memcpy(&tag, rec.data, 8);
    unsigned id = (unsigned)(tag >> 32);
    uint64_t seq = tag & 0xffffffffu;
    if (!CHECK(id < producers, "producer %u", id)) break;
    while (next[id] % 7 == 3) next[id]++;
    CHECK(seq == next[id], "producer %u: record %llu, expected %llu", id, (unsigned long long)seq,
          (unsigned long long)next[id]);
    next[id] = seq + 1;
    stream_fill(expect, rec.len, tag);
    CHECK(memcmp(expect + 8, (unsigned char *)rec.data + 8, rec.len - 8) == 0,
          "producer %u record %llu: bytes", id, (unsigned long long)seq);
    CHECK_RC(vmp_ring_consume(r, &rec), 0);
  }
  free(expect);
  for (unsigned i = 0; i < producers; i++) {
    util_thread_join(&t[i]);
    CHECK_RC(args[i].err, 0);
  }
  vmp_ring_record extra;
  CHECK_RC(vmp_ring_next(r, 0, &extra), VMP_ETIMEDOUT);
  vmp_ring_stats s = stats_of(r);
  CHECK(s.records_read == want && s.records_written == want && s.abandoned == 0,
        "read %llu written %llu abandoned %llu, expected %llu", (unsigned long long)s.records_read,
        (unsigned long long)s.records_written, (unsigned long long)s.abandoned,
        (unsigned long long)want);
  CHECK_RC(vmp_ring_close(r), 0);
}

CHECK_TEST(one_producer_thread) { run_producers(0, 1); }
CHECK_TEST(many_producer_threads) { run_producers(VMP_RING_MULTI_PRODUCER, PRODUCERS); }

/* Takes the next record, which must be record *taken of len bytes. */
static int take_next(vmp_ring *r, uint64_t *taken, size_t len) {
  vmp_ring_record got;
  if (!CHECK_RC(vmp_ring_next(r, 0, &got), 0)) return 0;
  CHECK(record_is(&got, *taken, len), "record %llu", (unsigned long long)*taken);
  (*taken)++;
  return CHECK_RC(vmp_ring_consume(r, &got), 0);
}

/* Producers look at the consumer's tail only when the tail they saw last
 * (per process) shows too little room: that must never let them past the
 * real tail, and must always see the room the consumer made since, on
 * the handle that saw the tail before as on one that never looked. */
CHECK_TEST(producers_see_the_tail_move) {
  vmp_ring *r, *peer;
  if (!CHECK_RC(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r), 0)) return;
  if (!CHECK_RC(vmp_ring_attach(vmp_ring_fd(r), 0, &peer), 0)) return;
  enum { LEN = 40 }; /* 56 ring bytes a record */
  uint64_t sent = 0, taken = 0;
  vmp_ring_record rec;
  while (vmp_ring_reserve(r, LEN, 0, &rec) == 0) {
    fill_record(&rec, sent++);
    CHECK_RC(vmp_ring_submit(r, &rec), 0);
  }
  uint64_t fits = sent;
  CHECK(fits == vmp_ring_capacity(r) / 56, "%llu records fit", (unsigned long long)fits);
  CHECK_RC(vmp_ring_reserve(peer, LEN, 0, &rec), VMP_EFULL);
  for (int round = 0; round < 3; round++) {
    /* One record's room, then two: each taken exactly, by either handle. */
    for (unsigned freed = 1; freed <= 2; freed++) {
      for (unsigned i = 0; i < freed; i++) {
        if (!take_next(r, &taken, LEN)) return;
      }
      vmp_ring *by = ((unsigned)round + freed) % 2 ? r : peer;
      for (unsigned i = 0; i < freed; i++) {
        if (!CHECK_RC(vmp_ring_reserve(by, LEN, 0, &rec), 0)) return;
        fill_record(&rec, sent++);
        CHECK_RC(vmp_ring_submit(by, &rec), 0);
      }
      CHECK_RC(vmp_ring_reserve(r, LEN, 0, &rec), VMP_EFULL);
      CHECK_RC(vmp_ring_reserve(peer, LEN, 0, &rec), VMP_EFULL);
    }
    /* Drained, then filled again: a whole ring ahead of what was seen. */
    while (taken < sent) {
      if (!take_next(r, &taken, LEN)) return;
    }
    for (uint64_t i = 0; i < fits; i++) {
      if (!CHECK_RC(vmp_ring_reserve(i % 2 ? peer : r, LEN, 0, &rec), 0)) return;
      fill_record(&rec, sent++);
      CHECK_RC(vmp_ring_submit(i % 2 ? peer : r, &rec), 0);
    }
    CHECK_RC(vmp_ring_reserve(r, LEN, 0, &rec), VMP_EFULL);
  }
  vmp_ring_stats st = stats_of(r);
  CHECK(st.records_written == sent && st.dropped == 17, "written %llu dropped %llu",
        (unsigned long long)st.records_written, (unsigned long long)st.dropped);
  CHECK_RC(vmp_ring_close(peer), 0);
  CHECK_RC(vmp_ring_close(r), 0);
}

static void send_blocked(void *p) {
  producer_arg *b = p;
  b->err = send_record(b->ring, b->id, 40);
}

static void take_blocked(void *p) {
  producer_arg *b = p;
  vmp_ring_record got;
  b->err = vmp_ring_next(b->ring, -1, &got);
  if (!b->err && !record_is(&got, b->id, 40)) b->err = VMP_EPEER;
  if (!b->err) b->err = vmp_ring_consume(b->ring, &got);
}

/* Whether `flag` is raised within about a second. */
static int raised(_Atomic uint32_t *flag) {
  for (int i = 0; i < 1000; i++) {
    if (atomic_load(flag)) return 1;
    util_sleep_ms(1);
  }
  return 0;
}

/* Sleepers raise a flag; the first publisher to see it lowers it and wakes
 * every sleeper, so that those publishing after it make no system call.
 * Two producers asleep on a full ring: one consume wakes both, the one
 * that finds no room sleeps again, and the next consume wakes it (a woken
 * producer may raise the flag again at any time, so whether it is down
 * is checked on the consumer's side, with one sleeper). */
CHECK_TEST(one_wake_for_all_sleepers) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r), 0)) return;
  vmp__ring_control *ctl = control_of(r);
  uint64_t sent = 0;
  vmp_ring_record rec, got;
  while (vmp_ring_reserve(r, 40, 0, &rec) == 0) {
    fill_record(&rec, sent++);
    CHECK_RC(vmp_ring_submit(r, &rec), 0);
  }
  producer_arg b[2] = {{r, 1000, -1}, {r, 1001, -1}};
  util_thread t[2];
  for (int i = 0; i < 2; i++)
    if (!CHECK(util_thread_start(&t[i], send_blocked, &b[i]), "thread")) return;
  CHECK(raised(&ctl->producer_sleeping), "the producers sleep");
  util_sleep_ms(20); /* both of them, most likely */
  uint64_t taken = 0;
  for (int i = 0; i < 2; i++) {
    if (!take_next(r, &taken, 40)) break;
    if (i == 0) CHECK(raised(&ctl->producer_sleeping), "the producer without room sleeps again");
  }
  for (int i = 0; i < 2; i++) {
    util_thread_join(&t[i]);
    CHECK_RC(b[i].err, 0);
  }
  while (taken < sent) {
    if (!take_next(r, &taken, 40)) break;
  }
  for (int i = 0; i < 2; i++) {
    if (!CHECK_RC(vmp_ring_next(r, 0, &got), 0)) break;
    CHECK(got.len == 40, "a blocked producer's record");
    CHECK_RC(vmp_ring_consume(r, &got), 0);
  }

  /* The consumer's side: it sleeps on the empty ring, and the submit that
   * wakes it lowers the flag before the consumer runs. */
  producer_arg c = {r, 7, -1};
  if (!CHECK(util_thread_start(&t[0], take_blocked, &c), "thread")) return;
  CHECK(raised(&ctl->consumer_sleeping), "the consumer sleeps");
  util_sleep_ms(20);
  CHECK_RC(send_record(r, 7, 40), 0);
  CHECK(atomic_load(&ctl->consumer_sleeping) == 0, "the submit lowered the flag");
  util_thread_join(&t[0]);
  CHECK_RC(c.err, 0);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* Producers on an attached handle of the same ring, the consumer on the
 * creator's. */
CHECK_TEST(producer_on_attached_handle) {
  vmp_ring *r, *peer;
  if (!CHECK_RC(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r), 0)) return;
  if (!CHECK_RC(vmp_ring_attach(vmp_ring_fd(r), 0, &peer), 0)) return;
  CHECK(vmp_ring_record_max(peer) == vmp_ring_record_max(r), "attach learned the mode");
  CHECK_RC(send_record(peer, 1, 100), 0);
  CHECK_RC(send_record(r, 2, 50), 0);
  vmp_ring_record got;
  CHECK_RC(vmp_ring_next(r, 0, &got), 0);
  CHECK(record_is(&got, 1, 100), "the attached producer's record");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK_RC(vmp_ring_next(r, 0, &got), 0);
  CHECK(record_is(&got, 2, 50), "the creator's record");
  CHECK_RC(vmp_ring_consume(r, &got), 0);
  CHECK(stats_of(peer).records_read == 2, "stats seen from the other handle");
  CHECK_RC(vmp_ring_close(peer), 0);
  CHECK_RC(vmp_ring_close(r), 0);
}
