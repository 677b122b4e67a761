"""A producer process and a consumer process passing NumPy records through a
vmplace ring, each record written and read in place (no pickling, no copy
into a message, no split at the wrap).

    /usr/bin/python3 ring_records.py [COUNT]

The consumer is started with multiprocessing's "spawn" method, so it gets the
ring by its descriptor, not by inheritance; nothing is named, so there is
nothing for a resource tracker to watch or to leave behind. Prints one line
and exits 0 when every record arrived in order with the right contents.
"""

import multiprocessing
import sys

import numpy as np

import vmplace

RECORD = np.dtype([("seq", "<u8"), ("x", "<f8"), ("y", "<f8"), ("label", "S8")])
BATCH = 256  # records written in one window


def consume(ring, expected, results):
    """Sum what arrives, checking every record as it sits in the ring."""
    seen = 0
    total = 0.0
    size = RECORD.itemsize
    while True:
        try:
            ring.wait_read(size, None)
        except vmplace.Error as e:
            if e.code == vmplace.ESHUTDOWN:
                break
            raise
        window = ring.read_window(ring.capacity)
        n = len(window) // size
        records = np.frombuffer(window, dtype=RECORD, count=n)
        if not np.array_equal(records["seq"], np.arange(seen, seen + n)):
            results.put("out of order at %d" % seen)
            return
        if not np.array_equal(records["y"], records["x"] * 2):
            results.put("bad contents at %d" % seen)
            return
        total += float(records["x"].sum())
        del records  # the export must go before the bytes are released
        ring.release(n * size)
        seen += n
    results.put("ok" if seen == expected else "got %d of %d" % (seen, expected))
    results.put(total)


def produce(ring, count):
    size = RECORD.itemsize
    seq = 0
    while seq < count:
        n = min(BATCH, count - seq)
        ring.wait_write(n * size, None)
        window = ring.write_window(n * size)
        out = np.frombuffer(window, dtype=RECORD, count=n)
        out["seq"] = np.arange(seq, seq + n)
        out["x"] = out["seq"] * 0.25
        out["y"] = out["x"] * 2
        out["label"] = b"rec"
        del out
        ring.commit(n * size)
        seq += n
    ring.shutdown()  # the consumer drains what is left, then stops


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    with vmplace.Ring(1 << 20) as ring:
        capacity = ring.capacity
        consumer = ctx.Process(target=consume, args=(ring, count, results))
        consumer.start()
        produce(ring, count)
        status = results.get(timeout=120)
        total = results.get(timeout=10) if status == "ok" else None
        consumer.join(60)
    expected = 0.25 * count * (count - 1) / 2
    if status != "ok" or consumer.exitcode != 0 or total != expected:
        print("ring_records: FAILED:", status, consumer.exitcode, total, expected)
        return 1
    print("ring_records: %d records of %d bytes through a %d KiB ring, sum of x %.1f"
          % (count, RECORD.itemsize, capacity // 1024, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
