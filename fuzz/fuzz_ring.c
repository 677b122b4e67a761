/*
 * A hostile ring peer. The creator's handle is the producer; a second
 * handle attached from its descriptor is the consumer; and the fuzzer maps
 * the shared object a third time and scribbles on the control page (the
 * layout of src/ring_layout.h: header, head, tail, the sleep words,
 * shutdown) between their calls, before attach too. Whatever the page
 * says, each side may only answer with a range inside its own ring (the
 * data and its mirror, at most the capacity long, every byte readable) or
 * with an error (VMP_EPEER for an impossible index). While nobody has
 * scribbled, the bytes must also come out as they went in. Half the inputs
 * carry records instead of bytes (on single- and multi-producer rings),
 * and the scribbler also writes over the data, where the record headers
 * are: a record the consumer is given must lie inside the ring, no longer
 * than the largest record, and come out as it went in while nothing was
 * scribbled.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ring_layout.h"
#include "vmplace.h"

static size_t page;

typedef struct peer {
  vmp_ring *producer, *consumer;
  unsigned char *ctl; /* the fuzzer's own mapping of the control page and the data */
  size_t mapped;
  size_t capacity;
  int scribbled; /* the bytes can no longer be predicted */
  int scribbled_before_attach;
  uint64_t written, read; /* honest traffic, as byte counts */
  uint8_t next_out, next_in;
} peer;

static uint64_t load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static void store64(unsigned char *p, uint64_t v) { memcpy(p, &v, sizeof v); }

/* A value for a counter: near what is there, at the modulus, or anything. */
static uint64_t hostile_counter(fuzz_input *in, uint64_t now, size_t capacity) {
  uint64_t modulus = vmp__ring_modulus(capacity);
  switch (fuzz_below(in, 8)) {
    case 0:
      return now + 1 + fuzz_below(in, 64);
    case 1:
      return now - 1 - fuzz_below(in, 64);
    case 2:
      return now + capacity + 1;
    case 3:
      return modulus - 1 - fuzz_below(in, 4);
    case 4:
      return modulus + fuzz_below(in, 4);
    case 5:
      return UINT64_MAX - fuzz_below(in, 4);
    case 6:
      return now + capacity;
    default:
      return fuzz_u64(in);
  }
}

static void scribble(peer *p, fuzz_input *in) {
  unsigned char *c = p->ctl;
  switch (fuzz_below(in, 10)) {
    case 0:
      store64(c + VMP__RING_OFFSET_HEAD,
              hostile_counter(in, load64(c + VMP__RING_OFFSET_HEAD), p->capacity));
      break;
    case 1:
      store64(c + VMP__RING_OFFSET_TAIL,
              hostile_counter(in, load64(c + VMP__RING_OFFSET_TAIL), p->capacity));
      break;
    case 2:
      c[VMP__RING_OFFSET_MAGIC + fuzz_below(in, VMP__RING_MAGIC_BYTES)] ^=
          (uint8_t)(1 + fuzz_below(in, 255));
      break;
    case 3:
      store64(c + VMP__RING_OFFSET_CAPACITY, fuzz_u8(in) & 1 ? p->capacity * 2 : fuzz_u64(in));
      break;
    case 4:
      c[VMP__RING_OFFSET_VERSION] = fuzz_u8(in);
      break;
    case 5:
      c[VMP__RING_OFFSET_FLAGS] = fuzz_u8(in);
      break;
    case 6: { /* the sleep words and the shutdown flag, anywhere past the counters */
      size_t at = offsetof(vmp__ring_control, data_seq) +
                  fuzz_below(in, (unsigned)(sizeof(vmp__ring_control) -
                                            offsetof(vmp__ring_control, data_seq)));
      c[at] = fuzz_u8(in);
      break;
    }
    case 7: { /* both counters at once, consistent with each other but not with the sides */
      uint64_t head = fuzz_u64(in);
      store64(c + VMP__RING_OFFSET_HEAD, head);
      store64(c + VMP__RING_OFFSET_TAIL,
              head - fuzz_below(in, (unsigned)(p->capacity < 65536 ? p->capacity + 1 : 65536)));
      break;
    }
    case 8:
      c[fuzz_below(in, (unsigned)page)] = fuzz_u8(in);
      break;
    default: { /* the data, where record headers are: near the counters mostly */
      uint64_t near = load64(c + (fuzz_u8(in) & 1 ? VMP__RING_OFFSET_HEAD : VMP__RING_OFFSET_TAIL));
      size_t at =
          (size_t)((near + fuzz_below(in, 64) - 32) % p->capacity) & ~(size_t)(fuzz_u8(in) & 7);
      c[page + at] = fuzz_u8(in);
      break;
    }
  }
  p->scribbled = 1;
}

/* A range a side was given must be inside its ring and readable. */
/* A record's payload follows its header (at most 16 bytes), which may
 * itself start at the last bytes of the data: the payload then starts in
 * the mirror. */
#define MAX_RECORD_HEADER 16

static void check_span(const peer *p, vmp_ring *ring, const void *ptr, size_t len, size_t slack,
                       const char *who) {
  const unsigned char *data = vmp_ring_data(ring), *at = ptr;
  size_t cap = vmp_ring_capacity(ring);
  if (cap != p->capacity) fuzz_fail("%s: capacity %zu became %zu", who, p->capacity, cap);
  if (at < data || at >= data + cap + slack || len > cap || (size_t)(at - data) + len > 2 * cap)
    fuzz_fail("%s: offered [%p, +%zu) outside the ring's data %p (capacity %zu)", who, ptr, len,
              (const void *)data, cap);
  volatile unsigned char sum = 0;
  for (size_t i = 0; i < len; i += 512) sum ^= at[i];
  if (len) sum ^= at[len - 1];
  (void)sum;
}

static void check_range(const peer *p, vmp_ring *ring, const void *ptr, size_t len,
                        const char *who) {
  check_span(p, ring, ptr, len, 0, who);
}

static void check_error(int rc, const char *who) {
  if (rc != VMP_EPEER && rc != VMP_ESHUTDOWN && rc != VMP_EINVAL)
    fuzz_fail("%s: unexpected %s", who, vmp_err_name(rc));
}

static size_t draw_want(fuzz_input *in, size_t capacity) {
  switch (fuzz_below(in, 5)) {
    case 0:
      return 0;
    case 1:
      return VMP_RING_ALL;
    case 2:
      return capacity;
    default:
      return 1 + fuzz_below(in, (unsigned)(capacity < 65536 ? capacity : 65536));
  }
}

static void produce(peer *p, fuzz_input *in) {
  size_t want = draw_want(in, p->capacity);
  void *ptr;
  size_t len;
  int rc = vmp_ring_write_begin(p->producer, want, &ptr, &len);
  fuzz_operations++;
  if (rc) {
    check_error(rc, "write_begin");
    if (rc == VMP_EINVAL) fuzz_fail("write_begin(%zu) refused as invalid", want);
    return;
  }
  check_range(p, p->producer, ptr, len, "write_begin");
  size_t n = len ? fuzz_below(in, 4) == 0 ? len : fuzz_u16(in) % (len + 1) : 0;
  unsigned char *out = ptr;
  for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(p->next_out + i);
  rc = vmp_ring_write_commit(p->producer, n);
  if (rc) {
    check_error(rc, "write_commit");
    return;
  }
  p->next_out = (uint8_t)(p->next_out + n);
  p->written += n;
}

static void consume(peer *p, fuzz_input *in) {
  size_t want = draw_want(in, p->capacity);
  const void *ptr;
  size_t len;
  int rc;
  if (fuzz_u8(in) & 1) {
    unsigned char buf[4096];
    size_t n = fuzz_u16(in) % (sizeof buf + 1);
    ptrdiff_t got = vmp_ring_read(p->consumer, buf, n);
    fuzz_operations++;
    if (got < 0) {
      check_error((int)got, "read");
      return;
    }
    if ((size_t)got > n) fuzz_fail("read gave %td bytes of %zu", got, n);
    if (!p->scribbled)
      for (ptrdiff_t i = 0; i < got; i++)
        if (buf[i] != (uint8_t)(p->next_in + i))
          fuzz_fail("read: byte %td is not what was written", i);
    p->next_in = (uint8_t)(p->next_in + got);
    p->read += (uint64_t)got;
    return;
  }
  rc = vmp_ring_read_begin(p->consumer, want, &ptr, &len);
  fuzz_operations++;
  if (rc) {
    check_error(rc, "read_begin");
    /* An attach after scribbles may have read the multi-producer flag
     * from the header: a records-only ring refuses byte calls. */
    if (rc == VMP_EINVAL && !p->scribbled_before_attach)
      fuzz_fail("read_begin(%zu) refused as invalid", want);
    return;
  }
  check_range(p, p->consumer, ptr, len, "read_begin");
  if (!p->scribbled) {
    if (len > p->written - p->read)
      fuzz_fail("read_begin offers %zu bytes, %llu were written", len,
                (unsigned long long)(p->written - p->read));
    for (size_t i = 0; i < len; i++)
      if (((const unsigned char *)ptr)[i] != (uint8_t)(p->next_in + i))
        fuzz_fail("read_begin: byte %zu is not what was written", i);
  }
  size_t n = fuzz_u8(in) & 1 ? len + (fuzz_u8(in) & 1) : fuzz_u16(in) % (len + 1);
  rc = vmp_ring_read_release(p->consumer, n);
  if (n > len ? rc != VMP_EINVAL && rc != VMP_EPEER : rc != 0 && rc != VMP_EPEER)
    fuzz_fail("read_release(%zu) of %zu offered: %s", n, len, vmp_err_name(rc));
  if (rc == 0) {
    p->next_in = (uint8_t)(p->next_in + n);
    p->read += n;
  }
}

static void wait_some(peer *p, fuzz_input *in) {
  size_t want = fuzz_below(in, 3) == 0 ? p->capacity + 1 : 1 + fuzz_u16(in) % p->capacity;
  int rc = fuzz_u8(in) & 1 ? vmp_ring_wait_read(p->consumer, want, 0)
                           : vmp_ring_wait_write(p->producer, want, fuzz_below(in, 2) * 1000);
  fuzz_operations++;
  if (rc == VMP_EINVAL && p->scribbled_before_attach) return; /* see read_begin */
  if (want > p->capacity ? rc != VMP_EINVAL
                         : rc != 0 && rc != VMP_ETIMEDOUT && rc != VMP_EPEER && rc != VMP_ESHUTDOWN)
    fuzz_fail("wait(%zu) with capacity %zu: %s", want, p->capacity, vmp_err_name(rc));
}

/* ---- records ----------------------------------------------------------------- */

typedef struct records {
  vmp_ring_record held; /* the producer's reservation */
  int holding;
  uint8_t next_out, next_in; /* the first payload byte of the next record */
  unsigned in_flight;        /* submitted and not consumed, while honest */
} records;

static void check_record(const peer *p, vmp_ring *ring, const vmp_ring_record *rec,
                         const char *who) {
  if (rec->len > vmp_ring_record_max(ring))
    fuzz_fail("%s: a record of %zu bytes, the largest is %zu", who, rec->len,
              vmp_ring_record_max(ring));
  check_span(p, ring, rec->data, rec->len, MAX_RECORD_HEADER, who);
}

static void check_record_error(int rc, const char *who) {
  if (rc != VMP_EPEER && rc != VMP_ESHUTDOWN && rc != VMP_ETIMEDOUT && rc != VMP_EFULL &&
      rc != VMP_EINVAL)
    fuzz_fail("%s: unexpected %s", who, vmp_err_name(rc));
}

static void produce_record(peer *p, records *r, fuzz_input *in) {
  size_t max = vmp_ring_record_max(p->producer);
  size_t len = fuzz_below(in, 4) == 0 ? max : fuzz_u16(in) % (max < 8192 ? max + 1 : 8192);
  vmp_ring_record rec;
  int rc = vmp_ring_reserve(p->producer, len, 0, &rec);
  fuzz_operations++;
  if (rc) {
    check_record_error(rc, "reserve");
    return;
  }
  if (rec.len != len) fuzz_fail("reserve(%zu) gave %zu bytes", len, rec.len);
  check_record(p, p->producer, &rec, "reserve");
  unsigned char *out = rec.data;
  for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(r->next_out + i);
  if (fuzz_below(in, 8) == 0) {
    rc = vmp_ring_discard(p->producer, &rec);
    if (rc) check_record_error(rc, "discard");
    return;
  }
  rc = vmp_ring_submit(p->producer, &rec);
  if (rc) {
    check_record_error(rc, "submit");
    return;
  }
  r->next_out = (uint8_t)(r->next_out + 1);
  r->in_flight++;
}

static void consume_record(peer *p, records *r, fuzz_input *in) {
  vmp_ring_record rec;
  int rc = vmp_ring_next(p->consumer, 0, &rec);
  fuzz_operations++;
  if (rc) {
    check_record_error(rc, "next");
    if (!p->scribbled && rc == VMP_EPEER) fuzz_fail("next: VMP_EPEER with an honest peer");
    return;
  }
  check_record(p, p->consumer, &rec, "next");
  if (!p->scribbled) {
    if (r->in_flight == 0) fuzz_fail("next gave a record nobody submitted");
    const unsigned char *b = rec.data;
    for (size_t i = 0; i < rec.len; i++)
      if (b[i] != (uint8_t)(r->next_in + i))
        fuzz_fail("next: byte %zu of a record is not what was written", i);
  }
  if (fuzz_below(in, 8) == 0) return; /* next again gives the same record */
  rc = vmp_ring_consume(p->consumer, &rec);
  if (rc) {
    check_record_error(rc, "consume");
    return;
  }
  r->next_in = (uint8_t)(r->next_in + 1);
  if (r->in_flight) r->in_flight--;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  page = vmp_page_size();
  fuzz_report_operations_at_exit("ring");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size, 0};
  peer p;
  memset(&p, 0, sizeof p);
  unsigned mode = fuzz_below(&in, 4); /* 0, 1 bytes; 2 records; 3 records, many producers */
  size_t asked = 1 + fuzz_below(&in, 4) * page + fuzz_below(&in, 3) * (page / 3);
  int rc = vmp_ring_create(asked, mode == 3 ? VMP_RING_MULTI_PRODUCER : 0, &p.producer);
  if (rc) fuzz_fail("vmp_ring_create(%zu): %s", asked, vmp_err_name(rc));
  p.capacity = vmp_ring_capacity(p.producer);
  int fd = (int)vmp_ring_fd(p.producer);
  p.mapped = page + p.capacity;
  p.ctl = mmap(NULL, p.mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p.ctl == MAP_FAILED) fuzz_fail("mapping the ring's object");

  /* Scribbles before attach: attach either refuses or gives the real ring. */
  unsigned before = fuzz_below(&in, 4) == 0 ? 1 + fuzz_below(&in, 3) : 0;
  for (unsigned i = 0; i < before; i++) scribble(&p, &in);
  p.scribbled_before_attach = before > 0;
  rc = vmp_ring_attach(fd, 0, &p.consumer);
  fuzz_operations++;
  if (rc == 0 && vmp_ring_capacity(p.consumer) != p.capacity)
    fuzz_fail("attach gave capacity %zu, the ring has %zu", vmp_ring_capacity(p.consumer),
              p.capacity);
  if (rc != 0 && rc != VMP_EPEER) fuzz_fail("attach after scribbles: %s", vmp_err_name(rc));
  if (rc == 0 && before == 0 && vmp_ring_data(p.consumer) == vmp_ring_data(p.producer))
    fuzz_fail("attach mapped the ring over the creator's mapping");

  records r;
  memset(&r, 0, sizeof r);
  if (rc == 0 && mode == 3 && vmp_ring_set_abandon_timeout(p.consumer, 0) != 0 &&
      !p.scribbled_before_attach)
    fuzz_fail("set_abandon_timeout on a multi-producer ring");
  for (int n = 0; rc == 0 && mode >= 2 && n < 300 && fuzz_more(&in); n++) {
    switch (fuzz_below(&in, 8)) {
      case 0:
      case 1:
      case 2:
        produce_record(&p, &r, &in);
        break;
      case 3:
      case 4:
      case 5:
        consume_record(&p, &r, &in);
        break;
      case 6:
        break;
      default:
        scribble(&p, &in);
        break;
    }
  }
  for (int n = 0; rc == 0 && mode < 2 && n < 300 && fuzz_more(&in); n++) {
    switch (fuzz_below(&in, 8)) {
      case 0:
      case 1:
      case 2:
        produce(&p, &in);
        break;
      case 3:
      case 4:
      case 5:
        consume(&p, &in);
        break;
      case 6:
        wait_some(&p, &in);
        break;
      default:
        scribble(&p, &in);
        break;
    }
  }
  munmap(p.ctl, p.mapped);
  if (p.consumer && vmp_ring_close(p.consumer) != 0) fuzz_fail("closing the consumer");
  if (vmp_ring_close(p.producer) != 0) fuzz_fail("closing the producer");
  return 0;
}
