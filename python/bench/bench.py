"""Benchmarks of the Python binding, in vmplace_bench's one-line format:

    NAME: vmplace X UNIT, baseline Y UNIT, ratio R
    # bar NAME: CONDITION -> met|MISSED

    /usr/bin/python3 python/bench/bench.py [--quick] [FILTER]

(with the built package importable: PYTHONPATH=<build>/python). `make bench`
runs it after vmplace_bench. --quick uses tiny sizes: a smoke test of the
code, not a measurement. Every figure here is a rate, so higher is better and
the ratio is vmplace / baseline.

- py_ring_vs_pipe_64KiB: two processes, 64 KiB messages, vmplace.Ring against
  multiprocessing.Pipe (recv_bytes_into, so neither side allocates).
- py_ring_vs_shm_64B: two processes, 64 B messages, vmplace.Ring against a
  ring written by hand over multiprocessing.shared_memory (head and tail
  counters in the segment, both sides polling).
- py_mview_scan: summing 1 GiB over 64 files with NumPy: np.frombuffer(MView)
  against reading the files into one array first.
"""

import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import vmplace

try:
    import numpy as np
except ImportError:
    np = None

QUICK = "--quick" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--quick"]
FILTER = ARGS[0] if ARGS else ""
CTX = multiprocessing.get_context("fork")
BARS = []


def fmt3(x):
    """Three significant digits without exponents, as vmplace_bench prints."""
    if x == 0:
        return "0"
    if math.isinf(x) or math.isnan(x):
        return str(x)
    magnitude = math.floor(math.log10(abs(x)))
    rounded = round(x, 2 - magnitude)
    magnitude = math.floor(math.log10(abs(rounded)))
    return "%.*f" % (max(0, 2 - magnitude), rounded)


def line(name, vmp, base, unit):
    print("%s: vmplace %s %s, baseline %s %s, ratio %s"
          % (name, fmt3(vmp), unit, fmt3(base), unit, fmt3(vmp / base)), flush=True)
    return vmp / base


def best_of(rounds, fn):
    return max(fn() for _ in range(rounds))


# ---- 64 KiB messages: Ring against Pipe ----------------------------------------

def ring_consumer(ring, size, count):
    buf = bytearray(size)
    view = memoryview(buf)
    for _ in range(count):
        got = 0
        while got < size:
            n = ring.readinto(view[got:])
            if n == 0:
                ring.wait_read(1, None)
            got += n


def ring_producer_rate(size, count):
    msg = os.urandom(size)
    with vmplace.Ring(16 * size) as ring:
        child = CTX.Process(target=ring_consumer, args=(ring, size, count))
        child.start()
        t0 = time.perf_counter()
        for _ in range(count):
            done = ring.write(msg)
            while done < size:
                ring.wait_write(1, None)
                done += ring.write(memoryview(msg)[done:])
        child.join()
        spent = time.perf_counter() - t0
    return size * count / spent / 1e6


def pipe_consumer(conn, size, count):
    buf = bytearray(size)
    for _ in range(count):
        conn.recv_bytes_into(buf)


def pipe_producer_rate(size, count):
    msg = os.urandom(size)
    reader, writer = CTX.Pipe(duplex=False)
    child = CTX.Process(target=pipe_consumer, args=(reader, size, count))
    child.start()
    t0 = time.perf_counter()
    for _ in range(count):
        writer.send_bytes(msg)
    child.join()
    spent = time.perf_counter() - t0
    writer.close()
    reader.close()
    return size * count / spent / 1e6


def bench_ring_vs_pipe():
    size = 64 * 1024
    count = 200 if QUICK else 20000
    rounds = 1 if QUICK else 3
    vmp = best_of(rounds, lambda: ring_producer_rate(size, count))
    base = best_of(rounds, lambda: pipe_producer_rate(size, count))
    ratio = line("py_ring_vs_pipe_64KiB", vmp, base, "MB/s")
    BARS.append(("py_ring_vs_pipe_64KiB", "ratio >= 5", ratio >= 5))


# ---- 64 B messages: Ring against a hand-written shared_memory ring ------------

SHM_HEADER = 128  # head at 0, tail at 64: separate cache lines


def shm_consumer(name, capacity, size, count):
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(name=name)
    try:
        buf = shm.buf
        counters = buf[:SHM_HEADER].cast("Q")
        data = buf[SHM_HEADER:SHM_HEADER + capacity]
        out = bytearray(size)
        tail = 0
        for _ in range(count):
            while counters[0] - tail < size:
                pass
            pos = tail % capacity
            out[:] = data[pos:pos + size]  # messages never straddle: size divides capacity
            tail += size
            counters[8] = tail
        del counters, data, buf
    finally:
        shm.close()


def shm_rate(size, count):
    from multiprocessing import shared_memory
    capacity = 64 * 1024
    shm = shared_memory.SharedMemory(create=True, size=SHM_HEADER + capacity)
    try:
        buf = shm.buf
        counters = buf[:SHM_HEADER].cast("Q")
        data = buf[SHM_HEADER:SHM_HEADER + capacity]
        counters[0] = counters[8] = 0
        msg = os.urandom(size)
        child = CTX.Process(target=shm_consumer, args=(shm.name, capacity, size, count))
        child.start()
        t0 = time.perf_counter()
        head = 0
        for _ in range(count):
            while head - counters[8] > capacity - size:
                pass
            pos = head % capacity
            data[pos:pos + size] = msg
            head += size
            counters[0] = head
        child.join()
        spent = time.perf_counter() - t0
        del counters, data, buf
    finally:
        shm.close()
        shm.unlink()
    return count / spent / 1e6


def ring_small_consumer(ring, size, count):
    out = bytearray(size)
    for _ in range(count):
        while ring.readinto(out) == 0:
            ring.wait_read(size, None)


def ring_small_rate(size, count):
    msg = os.urandom(size)
    with vmplace.Ring(64 * 1024) as ring:
        child = CTX.Process(target=ring_small_consumer, args=(ring, size, count))
        child.start()
        t0 = time.perf_counter()
        for _ in range(count):
            while ring.write(msg) == 0:
                ring.wait_write(size, None)
        child.join()
        spent = time.perf_counter() - t0
    return count / spent / 1e6


def bench_ring_vs_shm():
    size = 64
    count = 2000 if QUICK else 1000000
    rounds = 1 if QUICK else 3
    vmp = best_of(rounds, lambda: ring_small_rate(size, count))
    base = best_of(rounds, lambda: shm_rate(size, count))
    ratio = line("py_ring_vs_shm_64B", vmp, base, "Mmsg/s")
    BARS.append(("py_ring_vs_shm_64B", "ratio >= 1", ratio >= 1))


# ---- scanning many files with NumPy --------------------------------------------

def bench_mview_scan():
    if np is None:
        print("# py_mview_scan: skipped (no NumPy; Debian: python3-numpy)")
        return
    files = 64
    shard = (64 << 10) if QUICK else (16 << 20)  # 1 GiB in all
    rounds = 1 if QUICK else 3
    directory = tempfile.mkdtemp(prefix="vmplace-bench-")
    try:
        paths = []
        block = np.arange(shard // 8, dtype=np.uint64)
        for i in range(files):
            path = os.path.join(directory, "f%02d" % i)
            block.tofile(path)
            paths.append(path)
        expected = int(block.sum()) * files

        def scan_mview():
            t0 = time.perf_counter()
            with vmplace.MView(paths) as view:
                a = np.frombuffer(view, dtype=np.uint64)
                total = int(a.sum())
                del a
            spent = time.perf_counter() - t0
            assert total == expected
            return files * shard / spent / 1e9

        def scan_read():
            t0 = time.perf_counter()
            a = np.empty(files * shard // 8, dtype=np.uint64)
            raw = memoryview(a).cast("B")
            for i, path in enumerate(paths):
                with open(path, "rb", buffering=0) as f:
                    f.readinto(raw[i * shard:(i + 1) * shard])
            total = int(a.sum())
            spent = time.perf_counter() - t0
            assert total == expected
            return files * shard / spent / 1e9

        scan_mview()  # the files in the page cache for both
        vmp = best_of(rounds, scan_mview)
        base = best_of(rounds, scan_read)
        ratio = line("py_mview_scan", vmp, base, "GB/s")
        BARS.append(("py_mview_scan", "ratio >= 1.0", ratio >= 1.0))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main():
    print("# vmplace python bench: backend %s, page %d B, %d CPUs, Python %s%s"
          % (vmplace.backend, vmplace.page_size(), os.cpu_count(), sys.version.split()[0],
             " (quick)" if QUICK else ""), flush=True)
    for name, fn in (("py_ring_vs_pipe_64KiB", bench_ring_vs_pipe),
                     ("py_ring_vs_shm_64B", bench_ring_vs_shm),
                     ("py_mview_scan", bench_mview_scan)):
        if FILTER in name:
            fn()
    for name, condition, met in BARS:
        print("# bar %s: %s -> %s" % (name, condition, "met" if met else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
