"""Ring records: reserve/submit/discard and next/consume, the BufferError
rule, many producers (threads and processes), stats, abandonment, and
fill/drain through descriptors."""

import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import unittest

import vmplace
from support import PAGE, needs_numpy, numpy, pattern

CHILD_ENV = dict(os.environ)
ITEM = struct.Struct("<IIQ")  # producer, sequence number, a check value


def check_value(producer, seq):
    return (producer * 1000003 + seq * 7919) & 0xFFFFFFFFFFFFFFFF


def put_items(ring, producer, count, timeout=30):
    """count records of 16..(16+63) bytes: an item header, then filler."""
    for seq in range(count):
        extra = (seq * 13 + producer) % 64
        with ring.reserve(ITEM.size + extra, timeout) as rec:
            with memoryview(rec) as mv:
                ITEM.pack_into(mv, 0, producer, seq, check_value(producer, seq))
                mv[ITEM.size:] = bytes([seq & 0xFF]) * extra


def process_producer(ring, producer, count):
    """The child of the two-process tests."""
    put_items(ring, producer, count, timeout=60)
    ring.close()


def killed_producer(ring):
    """Reserves a record, then dies before it can submit it."""
    rec = ring.reserve(100)
    with memoryview(rec) as mv:
        mv[:4] = b"dead"
    os.kill(os.getpid(), signal.SIGKILL)


def collect(test, ring, producers, count, timeout=60):
    """Consumes producers*count items; checks each producer's order and bytes."""
    next_seq = [0] * producers
    for _ in range(producers * count):
        with ring.next(timeout) as rec:
            with memoryview(rec) as mv:
                producer, seq, value = ITEM.unpack_from(mv, 0)
                extra = (seq * 13 + producer) % 64
                test.assertEqual(len(mv), ITEM.size + extra)
                test.assertEqual(value, check_value(producer, seq))
                test.assertEqual(mv[ITEM.size:].tobytes(), bytes([seq & 0xFF]) * extra)
        test.assertEqual(seq, next_seq[producer], "records of one producer in order")
        next_seq[producer] += 1
    test.assertEqual(next_seq, [count] * producers)


class RecordTest(unittest.TestCase):
    def ring(self, size=PAGE, **kw):
        r = vmplace.Ring(size, **kw)
        self.addCleanup(r.close)
        return r

    def test_reserve_submit_next_consume(self):
        r = self.ring()
        self.assertFalse(r.multi_producer)
        self.assertEqual(r.record_max, r.capacity - 8)
        with r.reserve(5) as rec:
            self.assertTrue(rec.writable)
            self.assertEqual(len(rec), 5)
            self.assertEqual(rec.state, "open")
            self.assertIs(rec.ring, r)
            with memoryview(rec) as mv:
                self.assertFalse(mv.readonly)
                mv[:] = b"hello"
        self.assertEqual(rec.state, "submitted")
        got = r.next(0)
        self.assertFalse(got.writable)
        self.assertIs(r.next(), got)  # before consume: the same record
        with memoryview(got) as mv:
            self.assertTrue(mv.readonly)
            self.assertEqual(mv.tobytes(), b"hello")
            with self.assertRaises(TypeError):
                mv[0] = 1
        r.consume(got)
        self.assertEqual(got.state, "consumed")
        st = r.stats()
        self.assertIsInstance(st, vmplace.RingStats)
        self.assertEqual((st.records_written, st.records_read), (1, 1))
        self.assertEqual(st.bytes_written, 16)  # 8 header + 5 payload, to a multiple of 8
        self.assertEqual(st.bytes_read, 16)
        self.assertEqual((st.dropped, st.discarded, st.abandoned), (0, 0, 0))
        with self.assertRaises(vmplace.Error) as cm:
            r.next(0)
        self.assertEqual(cm.exception.code, vmplace.ETIMEDOUT)

    def test_records_are_contiguous_across_the_wrap(self):
        r = self.ring()
        total = 0
        for i in range(2000):  # many times round a one-page ring
            size = (i * 37) % 1500
            data = pattern(size, seed=i % 50)
            with r.reserve(size, 0) as rec, memoryview(rec) as mv:
                mv[:] = data
            with r.next(0) as got, memoryview(got) as mv:
                self.assertEqual(mv.tobytes(), data)
            total += size
        self.assertGreater(r.stats().bytes_written, 100 * r.capacity)

    def test_explicit_calls_and_the_ring_forms(self):
        r = self.ring()
        a = r.reserve(3)
        a.submit()
        b = r.reserve(4)
        r.discard(b)
        c = r.reserve(2)
        r.submit(c)
        first = r.next()
        self.assertEqual(len(first), 3)
        first.consume()
        second = r.next()
        self.assertEqual(len(second), 2)  # the discarded one never shows
        r.consume(second)
        self.assertEqual(r.stats().discarded, 1)
        with self.assertRaises(ValueError):
            a.submit()  # twice
        with self.assertRaises(ValueError):
            r.consume(a)  # a reservation is not consumed
        with self.assertRaises(ValueError):
            first.submit()
        with self.assertRaises(TypeError):
            r.consume(b"x")
        with vmplace.Ring(PAGE) as other:
            rec = other.reserve(1)
            with self.assertRaises(ValueError):
                r.submit(rec)
            rec.submit()

    def test_a_block_that_raises_discards(self):
        r = self.ring()
        with self.assertRaises(KeyError):
            with r.reserve(10) as rec:
                raise KeyError("no")
        self.assertEqual(rec.state, "discarded")
        self.assertEqual(r.stats().discarded, 1)
        with self.assertRaises(vmplace.Error):
            r.next(0)

    def test_size_limits(self):
        r = self.ring()
        with r.reserve(0) as rec:
            self.assertEqual(len(rec), 0)
        with r.next(0) as got:
            self.assertEqual(bytes(got), b"")
        with r.reserve(r.record_max) as rec:
            self.assertEqual(len(rec), r.capacity - 8)
        r.next(0).consume()
        with self.assertRaises(vmplace.Error) as cm:
            r.reserve(r.record_max + 1)
        self.assertEqual(cm.exception.code, vmplace.EINVAL)
        with self.assertRaises(OverflowError):
            r.reserve(-1)

    def test_full_ring_drops_and_times_out(self):
        r = self.ring()
        r.reserve(r.record_max).submit()
        with self.assertRaises(vmplace.Error) as cm:
            r.reserve(8, 0)
        self.assertEqual(cm.exception.code, vmplace.EFULL)
        self.assertEqual(cm.exception.name, "EFULL")
        t0 = time.monotonic()
        with self.assertRaises(vmplace.Error) as cm:
            r.reserve(8, 0.2)
        self.assertEqual(cm.exception.code, vmplace.ETIMEDOUT)
        self.assertGreaterEqual(time.monotonic() - t0, 0.19)
        self.assertEqual(r.stats().dropped, 2)

        def consume_later():
            time.sleep(0.2)
            r.next(0).consume()

        t = threading.Thread(target=consume_later)
        t.start()
        with r.reserve(8, 10) as rec:  # waits with the GIL released, counting nothing
            pass
        t.join(5)
        self.assertEqual(rec.state, "submitted")
        self.assertEqual(r.stats().dropped, 2)

    def test_shutdown_ends_next_after_the_last_record(self):
        r = self.ring()
        for i in range(3):
            with r.reserve(1) as rec, memoryview(rec) as mv:
                mv[0] = i
        r.shutdown()
        self.assertEqual([bytes(rec) for rec in r.records()], [b"\0", b"\1", b"\2"])
        with self.assertRaises(vmplace.Error) as cm:
            r.next(None)
        self.assertEqual(cm.exception.code, vmplace.ESHUTDOWN)
        with self.assertRaises(vmplace.Error) as cm:
            r.reserve(1)
        self.assertEqual(cm.exception.code, vmplace.ESHUTDOWN)

    def test_next_waits_without_the_gil_and_sees_close(self):
        r = vmplace.Ring(PAGE)
        got = {}

        def consumer():
            with r.next(10) as rec:
                got["first"] = bytes(rec)
            try:
                r.next(None)
            except ValueError as e:
                got["closed"] = str(e)

        t = threading.Thread(target=consumer)
        t.start()
        count = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            count += 1  # runs only if the waiting thread let the GIL go
        self.assertGreater(count, 10000)
        with r.reserve(2) as rec, memoryview(rec) as mv:
            mv[:] = b"hi"
        time.sleep(0.2)
        r.close()  # the waiter comes back within a slice and the ring closes
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertEqual(got["first"], b"hi")
        self.assertIn("closed", got["closed"])
        self.assertTrue(r.closed)

    def test_ctrl_c_interrupts_next(self):
        code = textwrap.dedent("""
            import sys, vmplace
            r = vmplace.Ring(4096, multi_producer=True)
            print("waiting", flush=True)
            try:
                r.next(None)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
            sys.exit(1)
        """)
        run_and_interrupt(self, code)


class BufferRuleTest(unittest.TestCase):
    def test_no_submit_consume_or_close_while_exported(self):
        r = vmplace.Ring(PAGE)
        rec = r.reserve(8)
        mv = memoryview(rec)
        self.assertEqual(r.exports, 1)
        with self.assertRaises(BufferError):
            rec.submit()
        with self.assertRaises(BufferError):
            r.close()
        with self.assertRaises(BufferError):
            rec.__exit__(None, None, None)
        self.assertEqual(rec.state, "open")
        mv[:] = b"12345678"
        mv.release()
        rec.submit()
        with self.assertRaises(ValueError):
            memoryview(rec)  # its bytes are the consumer's now
        got = r.next()
        mv = memoryview(got)
        with self.assertRaises(BufferError):
            got.consume()
        with self.assertRaises(BufferError):
            r.close()
        self.assertEqual(mv.tobytes(), b"12345678")
        mv.release()
        got.consume()
        with self.assertRaises(ValueError):
            memoryview(got)
        r.close()
        self.assertTrue(r.closed)
        with self.assertRaises(ValueError):
            r.reserve(1)

    def test_a_record_after_its_ring_closed(self):
        r = vmplace.Ring(PAGE)
        rec = r.reserve(8)
        r.close()  # nothing exported: allowed
        with self.assertRaises(ValueError):
            memoryview(rec)
        with self.assertRaises(ValueError):
            rec.submit()
        del rec  # does not touch the closed ring

    def test_single_producer_reservation_is_replaced(self):
        r = vmplace.Ring(PAGE)
        self.addCleanup(r.close)
        first = r.reserve(8)
        with memoryview(first):
            with self.assertRaises(BufferError):
                r.reserve(8)  # it would start where those bytes are
        second = r.reserve(8)
        self.assertEqual(first.state, "replaced")
        with self.assertRaises(ValueError):
            first.submit()
        with self.assertRaises(ValueError):
            memoryview(first)
        second.submit()
        self.assertEqual(len(r.next(0)), 8)

    def test_exit_with_an_export_still_alive(self):
        r = vmplace.Ring(PAGE)
        self.addCleanup(r.close)
        with self.assertRaises(BufferError):
            with r.reserve(4) as rec:
                mv = memoryview(rec)
        mv.release()
        rec.submit()
        with self.assertRaises(BufferError):
            with r.next() as got:
                mv = memoryview(got)
        self.assertEqual(got.state, "open")
        mv.release()
        got.consume()

    @needs_numpy
    def test_numpy_is_zero_copy_both_ways(self):
        r = vmplace.Ring(PAGE)
        self.addCleanup(r.close)
        rec = r.reserve(64)
        out = numpy.frombuffer(rec, dtype="<u8")
        self.assertTrue(out.flags.writeable)
        out[:] = numpy.arange(8) * 3
        with memoryview(rec) as mv:  # the array's writes are in the ring itself
            self.assertEqual(struct.unpack("<8Q", mv), tuple(range(0, 24, 3)))
        address = out.__array_interface__["data"][0]
        with self.assertRaises(BufferError):
            rec.submit()
        del out
        rec.submit()
        got = r.next()
        arr = numpy.frombuffer(got, dtype="<u8")
        self.assertFalse(arr.flags.writeable)
        self.assertEqual(arr.__array_interface__["data"][0], address)  # the same bytes
        self.assertEqual(arr.tolist(), list(range(0, 24, 3)))
        with self.assertRaises(BufferError):
            got.consume()
        del arr
        got.consume()


class ManyProducerTest(unittest.TestCase):
    def test_threads_reserve_at_once(self):
        # A small ring, so producers wait for room: with the GIL kept in a
        # wait, the consumer below could never run and reserve would time out.
        r = vmplace.Ring(PAGE, multi_producer=True)
        self.addCleanup(r.close)
        self.assertTrue(r.multi_producer)
        self.assertEqual(r.record_max, r.capacity - 16)
        producers, count = 4, 3000
        errors = []

        def run(p):
            try:
                put_items(r, p, count)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(p,)) for p in range(producers)]
        for t in threads:
            t.start()
        collect(self, r, producers, count)
        for t in threads:
            t.join(10)
        self.assertEqual(errors, [])
        st = r.stats()
        self.assertEqual(st.records_written, producers * count)
        self.assertEqual(st.records_read, producers * count)
        self.assertEqual(st.abandoned, 0)
        # Producers of one process never lose room to each other between
        # the wait and the reservation: no drop, however often they waited.
        self.assertEqual(st.dropped, 0)

    def test_a_stalled_producer_is_skipped_and_told(self):
        r = vmplace.Ring(PAGE, multi_producer=True)
        self.addCleanup(r.close)
        r.set_abandon_timeout(0.1)
        slow = r.reserve(8)
        with r.reserve(3) as rec, memoryview(rec) as mv:
            mv[:] = b"yes"
        t0 = time.monotonic()
        with r.next(5) as got:
            self.assertEqual(bytes(got), b"yes")
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)
        with self.assertRaises(vmplace.Error) as cm:
            slow.submit()
        self.assertEqual(cm.exception.code, vmplace.ETIMEDOUT)
        self.assertEqual(slow.state, "abandoned")
        self.assertEqual(r.stats().abandoned, 1)
        r.set_abandon_timeout(None)  # never skip
        with self.assertRaises(vmplace.Error) as cm:
            vmplace.Ring(PAGE).set_abandon_timeout(1)
        self.assertEqual(cm.exception.code, vmplace.EINVAL)

    def test_a_reservation_dropped_unsubmitted_is_discarded(self):
        r = vmplace.Ring(PAGE, multi_producer=True)
        self.addCleanup(r.close)
        r.set_abandon_timeout(None)  # without the discard, next() would wait forever
        held = r.reserve(8)
        del held
        r.reserve(1).submit()
        got = r.next(2)
        self.assertEqual(len(got), 1)
        got.consume()
        self.assertEqual(r.stats().discarded, 1)

    def test_byte_calls_are_refused(self):
        r = vmplace.Ring(PAGE, multi_producer=True)
        self.addCleanup(r.close)
        for call in (lambda: r.write(b"x"), lambda: r.fill(0)):
            with self.assertRaises(vmplace.Error) as cm:
                call()
            self.assertEqual(cm.exception.code, vmplace.EINVAL)


class TwoProcessRecordTest(unittest.TestCase):
    def test_producer_processes_through_multiprocessing(self):
        ctx = multiprocessing.get_context("spawn")  # the ring goes by its descriptor
        producers, count = 2, 2000
        with vmplace.Ring(16 * 1024, multi_producer=True) as ring:
            procs = [ctx.Process(target=process_producer, args=(ring, p, count))
                     for p in range(producers)]
            for p in procs:
                p.start()
            try:
                collect(self, ring, producers, count, timeout=60)
                for p in procs:
                    p.join(30)
            finally:
                for p in procs:
                    if p.is_alive():
                        p.kill()
                        p.join()
            self.assertEqual([p.exitcode for p in procs], [0] * producers)
            self.assertEqual(ring.stats().records_read, producers * count)

    def test_a_producer_killed_before_submit(self):
        ctx = multiprocessing.get_context("spawn")
        with vmplace.Ring(PAGE, multi_producer=True) as ring:
            ring.set_abandon_timeout(0.2)
            proc = ctx.Process(target=killed_producer, args=(ring,))
            proc.start()
            proc.join(30)
            self.assertEqual(proc.exitcode, -signal.SIGKILL)
            with ring.reserve(5) as rec, memoryview(rec) as mv:
                mv[:] = b"alive"
            with ring.next(10) as got:
                self.assertEqual(bytes(got), b"alive")
            self.assertEqual(ring.stats().abandoned, 1)

    def test_send_fds_and_attach_learn_many_producers(self):
        child_code = textwrap.dedent("""
            import socket, struct, sys, vmplace
            sock = socket.socket(fileno=int(sys.argv[1]))
            _, fds, _, _ = socket.recv_fds(sock, 16, 1)
            ring = vmplace.Ring.attach(fds[0])
            assert ring.multi_producer
            for i in range(500):
                with ring.reserve(8, 30) as rec, memoryview(rec) as mv:
                    struct.pack_into("<Q", mv, 0, i * i)
            ring.close()
        """)
        import socket
        parent_sock, child_sock = socket.socketpair()
        with parent_sock, vmplace.Ring(PAGE, multi_producer=True) as ring:
            child = subprocess.Popen([sys.executable, "-c", child_code, str(child_sock.fileno())],
                                     pass_fds=[child_sock.fileno()], env=CHILD_ENV)
            child_sock.close()
            try:
                socket.send_fds(parent_sock, [b"r"], [ring.fileno()])
                got = []
                for _ in range(500):
                    with ring.next(30) as rec:
                        got.append(struct.unpack("<Q", rec)[0])
                self.assertEqual(child.wait(30), 0)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        self.assertEqual(got, [i * i for i in range(500)])


class DescriptorTest(unittest.TestCase):
    def ring(self, size=PAGE):
        r = vmplace.Ring(size)
        self.addCleanup(r.close)
        return r

    def setUp(self):
        self.fds = set()
        self.addCleanup(lambda: [os.close(fd) for fd in self.fds])

    def pipe(self):
        rfd, wfd = os.pipe()
        self.fds |= {rfd, wfd}
        return rfd, wfd

    def close_fd(self, fd):
        self.fds.discard(fd)
        os.close(fd)

    def test_fill_and_drain_through_pipes(self):
        r = self.ring(4 * PAGE)
        src_r, src_w = self.pipe()
        dst_r, dst_w = self.pipe()
        data = pattern(3 * PAGE + 123, seed=4)
        os.write(src_w, data)
        self.close_fd(src_w)
        moved = 0
        with open(dst_r, "rb", buffering=0, closefd=False) as reader:
            got = b""
            while True:
                n = r.fill(src_r, max=1000)
                self.assertLessEqual(n, 1000)
                if n == 0:  # end of file
                    break
                moved += n
                while True:
                    out = r.drain(dst_w)
                    if out == 0:  # the ring is empty
                        break
                    got += reader.read(out)
        self.assertEqual(moved, len(data))
        self.assertEqual(got, data)
        self.assertEqual(r.drain(dst_w), 0)  # empty

    def test_file_objects_and_a_full_ring(self):
        r = self.ring()
        rfd, wfd = self.pipe()
        with open(wfd, "wb", buffering=0, closefd=False) as w:
            w.write(bytes(r.capacity + 10))
        with open(rfd, "rb", buffering=0, closefd=False) as f:
            self.assertEqual(r.fill(f), r.capacity)
            with self.assertRaises(vmplace.Error) as cm:
                r.fill(f)
            self.assertEqual(cm.exception.code, vmplace.EFULL)
        with self.assertRaises(vmplace.Error) as cm:
            r.fill(rfd, max=0)
        self.assertEqual(cm.exception.code, vmplace.EINVAL)
        with self.assertRaises(TypeError):
            r.fill("not a descriptor")

    def test_a_non_blocking_pipe_with_nothing(self):
        r = self.ring()
        rfd, _ = self.pipe()
        os.set_blocking(rfd, False)
        with self.assertRaises(BlockingIOError):
            r.fill(rfd)

    def test_fill_waits_without_the_gil(self):
        r = self.ring()
        rfd, wfd = self.pipe()
        got = []
        t = threading.Thread(target=lambda: got.append(r.fill(rfd)))
        t.start()
        count = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            count += 1
        self.assertGreater(count, 10000)
        os.write(wfd, b"late")
        t.join(5)
        self.assertEqual(got, [4])
        self.assertEqual(r.read(), b"late")

    def test_ctrl_c_interrupts_a_blocked_fill(self):
        code = textwrap.dedent("""
            import os, sys, vmplace
            r = vmplace.Ring(4096)
            rfd, wfd = os.pipe()
            print("waiting", flush=True)
            try:
                r.fill(rfd)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
            sys.exit(1)
        """)
        run_and_interrupt(self, code)

    def test_a_gone_reader_raises_broken_pipe_not_sigpipe(self):
        # SIGPIPE at its default (Python ignores it at start-up): a write
        # that raised it would kill the interpreter.
        code = textwrap.dedent("""
            import os, signal, vmplace
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            r = vmplace.Ring(4096)
            r.write(b"to nobody")
            rfd, wfd = os.pipe()
            os.close(rfd)
            try:
                r.drain(wfd)
            except BrokenPipeError as e:
                print("broken pipe", e.errno, len(r.read()), flush=True)
        """)
        out = subprocess.run([sys.executable, "-c", code], env=CHILD_ENV, capture_output=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        import errno
        self.assertEqual(out.stdout.decode(), "broken pipe %d 9\n" % errno.EPIPE)


def run_and_interrupt(test, code):
    """Runs code in a child that prints 'waiting' and blocks; Ctrl-C must
    end it with status 3 within a moment."""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=CHILD_ENV)
    try:
        test.assertEqual(child.stdout.readline(), b"waiting\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        child.send_signal(signal.SIGINT)
        test.assertEqual(child.wait(10), 3)
        test.assertLess(time.monotonic() - t0, 2.0)
        test.assertEqual(child.stdout.read(), b"interrupted\n")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


if __name__ == "__main__":
    unittest.main()
