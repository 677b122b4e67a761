"""Several producer processes and one consumer passing NumPy records through
one multi-producer vmplace ring: each producer reserves a record, fills it
in place through a NumPy view and submits it; the consumer reads each one
in place. Every record is contiguous in the ring, even where it wraps.

    /usr/bin/python3 ring_mpsc.py [PRODUCERS] [COUNT]

Prints one line and exits 0 when every record of every producer arrived in
its order with the right contents.
"""

import multiprocessing
import sys

import numpy as np

import vmplace

HEADER = np.dtype([("producer", "<u4"), ("n", "<u4"), ("seq", "<u8")])


def produce(ring, producer, count):
    for seq in range(count):
        n = 1 + seq % 32  # samples in this record: records vary in size
        with ring.reserve(HEADER.itemsize + 8 * n, timeout=60) as rec:
            head = np.frombuffer(rec, dtype=HEADER, count=1)
            head["producer"], head["n"], head["seq"] = producer, n, seq
            samples = np.frombuffer(rec, dtype="<f8", offset=HEADER.itemsize)
            samples[:] = seq + np.arange(n) / 32
            del head, samples  # the views go before the record is submitted
    ring.close()


def main():
    producers = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    ctx = multiprocessing.get_context("spawn")  # the ring goes by its descriptor
    with vmplace.Ring(256 * 1024, multi_producer=True) as ring:
        procs = [ctx.Process(target=produce, args=(ring, p, count)) for p in range(producers)]
        for p in procs:
            p.start()
        expected = [0] * producers
        total = 0.0
        for _ in range(producers * count):
            with ring.next(timeout=60) as rec:
                head = np.frombuffer(rec, dtype=HEADER, count=1)[0]
                samples = np.frombuffer(rec, dtype="<f8", offset=HEADER.itemsize)
                p, n, seq = int(head["producer"]), int(head["n"]), int(head["seq"])
                ok = (seq == expected[p] and len(samples) == n
                      and np.array_equal(samples, seq + np.arange(n) / 32))
                total += float(samples.sum())
                del head, samples
            if not ok:
                print("ring_mpsc: FAILED at producer %d record %d" % (p, seq))
                return 1
            expected[p] += 1
        for p in procs:
            p.join(60)
        stats = ring.stats()
    if any(p.exitcode != 0 for p in procs) or stats.abandoned:
        print("ring_mpsc: FAILED:", [p.exitcode for p in procs], stats)
        return 1
    # A drop here is a producer that found no room for a whole wait slice
    # after another process took the room it had seen (it then tried again).
    print("ring_mpsc: %d producers x %d records, %d bytes through the ring, %d dropped tries, "
          "sum %.1f" % (producers, count, stats.bytes_written, stats.dropped, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
