"""Ring: copies, contiguous windows, waits (GIL, timeouts, Ctrl-C), file-like
use and two processes."""

import hashlib
import io
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import vmplace
from support import PAGE, pattern

CHILD_ENV = dict(os.environ)


def spawn_producer(ring, total, chunk):
    """The child of the multiprocessing test: writes total bytes of a pattern."""
    data = pattern(total, seed=3)
    out = ring.writer()
    for i in range(0, total, chunk):
        out.write(data[i:i + chunk])
    out.close()  # shuts the ring down: the parent's reader sees the end


def queue_producer(queue, total):
    """The child of the queue test: gets a ring after it started, fills it."""
    ring = queue.get(timeout=60)
    out = ring.writer()
    out.write(pattern(total, seed=6))
    out.close()
    ring.close()


class RingTest(unittest.TestCase):
    def ring(self, size=PAGE):
        r = vmplace.Ring(size)
        self.addCleanup(r.close)
        return r

    def test_capacity_is_rounded_to_the_page(self):
        r = self.ring(1)
        self.assertEqual(r.capacity, PAGE)
        self.assertIn("capacity=%d" % PAGE, repr(r))
        self.assertIsInstance(r, vmplace.Ring)

    def test_no_inherit_is_refused(self):
        with self.assertRaises(ValueError):
            vmplace.Ring(PAGE, vmplace.RING_NO_INHERIT)
        with vmplace.Ring(PAGE) as r, self.assertRaises(ValueError):
            vmplace.Ring.attach(r.fileno(), vmplace.RING_NO_INHERIT)

    def test_a_forked_child_shares_the_ring(self):
        r = self.ring()
        pid = os.fork()
        if pid == 0:
            try:
                r.write(b"from the child")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        self.assertEqual(r.read(), b"from the child")

    def test_write_and_read_copy(self):
        r = self.ring()
        self.assertEqual(r.write(b"hello "), 6)
        self.assertEqual(r.write(bytearray(b"world")), 5)
        self.assertEqual(r.read(3), b"hel")
        buf = bytearray(20)
        self.assertEqual(r.readinto(buf), 8)
        self.assertEqual(bytes(buf[:8]), b"lo world")
        self.assertEqual(r.read(), b"")
        self.assertEqual(r.write(bytes(2 * PAGE)), PAGE)  # as much as fits
        self.assertEqual(r.write(b"x"), 0)

    def test_windows_are_contiguous_across_the_wrap(self):
        r = self.ring()
        cap = r.capacity
        r.write(bytes(cap - 10))
        r.read(cap - 10)  # both counters sit 10 bytes before the end
        w = r.write_window(cap)
        self.assertEqual(len(w), cap)
        self.assertEqual(w.offset, cap - 10)
        data = pattern(cap, seed=1)
        with memoryview(w) as mv:
            self.assertFalse(mv.readonly)
            mv[:] = data  # one copy over the wrap
        r.commit(cap)
        rw = r.read_window(cap)
        self.assertEqual(len(rw), cap)
        with memoryview(rw) as mv:
            self.assertTrue(mv.readonly)
            self.assertEqual(mv.tobytes(), data)
            with self.assertRaises(TypeError):
                mv[0] = 1
        r.release(cap)
        self.assertEqual(len(r.read_window()), 0)
        with self.assertRaises(vmplace.Error) as cm:
            r.release(1)
        self.assertEqual(cm.exception.code, vmplace.EINVAL)

    def test_close_while_a_window_is_exported_raises_buffer_error(self):
        r = vmplace.Ring(PAGE)
        w = r.write_window()
        view = memoryview(w)
        with self.assertRaises(BufferError):
            r.close()
        self.assertFalse(r.closed)
        self.assertEqual(r.exports, 1)
        view[0] = 1  # still mapped
        view.release()
        r.close()
        self.assertTrue(r.closed)
        r.close()
        with self.assertRaises(ValueError):
            memoryview(w)
        with self.assertRaises(ValueError):
            r.write(b"x")
        self.assertEqual(repr(r), "<vmplace.Ring closed>")

    def test_context_manager(self):
        with vmplace.Ring(PAGE) as r:
            r.write(b"x")
        self.assertTrue(r.closed)

    def test_timeout_in_seconds(self):
        r = self.ring()
        t0 = time.monotonic()
        self.assertFalse(r.wait_read(1, 0.2))
        spent = time.monotonic() - t0
        self.assertGreaterEqual(spent, 0.19)
        self.assertLess(spent, 2.0)
        self.assertTrue(r.wait_write(r.capacity, 0))
        with self.assertRaises(ValueError):
            r.wait_read(1, -1)
        with self.assertRaises(vmplace.Error) as cm:
            r.wait_read(r.capacity + 1, 0)
        self.assertEqual(cm.exception.code, vmplace.EINVAL)

    def test_wait_releases_the_gil(self):
        r = self.ring()
        result = {}

        def consumer():
            result["ready"] = r.wait_read(5, 10.0)  # a GIL kept would end it False
            result["data"] = r.read()

        t = threading.Thread(target=consumer)
        t.start()
        # The waiting thread must not hold the GIL: this pure-Python loop runs.
        count = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            count += 1
        self.assertTrue(t.is_alive())
        r.write(b"hello")
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertEqual(result, {"ready": True, "data": b"hello"})
        self.assertGreater(count, 10000)

    def test_shutdown_drains_then_ends(self):
        r = self.ring()
        r.write(b"abc")
        r.shutdown()
        self.assertTrue(r.wait_read(10, None))  # fewer than asked, but all there will be
        self.assertEqual(r.read(), b"abc")
        with self.assertRaises(vmplace.Error) as cm:
            r.wait_read(1, None)
        self.assertEqual(cm.exception.name, "ESHUTDOWN")
        with self.assertRaises(vmplace.Error):
            r.wait_write(1, None)

    def test_shutdown_wakes_a_waiter_in_another_thread(self):
        r = self.ring()
        caught = []

        def waiter():
            try:
                r.wait_read(1, None)
            except vmplace.Error as e:
                caught.append(e.code)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.1)
        r.shutdown()
        t.join(5)
        self.assertEqual(caught, [vmplace.ESHUTDOWN])

    def test_close_during_a_wait_in_another_thread(self):
        r = vmplace.Ring(PAGE)
        caught = []

        def waiter():
            try:
                r.wait_read(1, None)
            except ValueError as e:
                caught.append(str(e))

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.1)
        r.close()  # the waiter comes back and the ring is closed then
        self.assertTrue(r.closed)
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(caught), 1)
        self.assertIn("closed", caught[0])
        r.close()

    def test_ctrl_c_interrupts_a_wait(self):
        code = textwrap.dedent("""
            import sys, vmplace
            r = vmplace.Ring(4096)
            print("waiting", flush=True)
            try:
                r.wait_read(1, None)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
            sys.exit(1)
        """)
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                 env=CHILD_ENV)
        try:
            self.assertEqual(child.stdout.readline(), b"waiting\n")
            time.sleep(0.2)  # well inside the wait
            t0 = time.monotonic()
            child.send_signal(signal.SIGINT)
            self.assertEqual(child.wait(10), 3)
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertEqual(child.stdout.read(), b"interrupted\n")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()

    def test_file_like_with_copyfileobj(self):
        r = self.ring(16 * PAGE)
        data = pattern(1 << 20, seed=2)
        sink = io.BytesIO()

        def produce():
            with r.writer() as out:
                shutil.copyfileobj(io.BytesIO(data), out, 3 * PAGE + 7)

        t = threading.Thread(target=produce)
        t.start()
        with io.BufferedReader(r.reader()) as src:
            shutil.copyfileobj(src, sink)
        t.join(10)
        self.assertEqual(sink.getvalue(), data)

    def test_reader_timeout(self):
        r = self.ring()
        with self.assertRaises(TimeoutError):
            r.reader(timeout=0.05).read(1)
        r.write(bytes(r.capacity))
        with self.assertRaises(TimeoutError):
            r.writer(timeout=0.05, shutdown_on_close=False).write(b"x")

    def test_recv_into_a_write_window(self):
        r = self.ring()
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"from the socket")
            w = r.write_window(100)
            n = b.recv_into(w)
            self.assertEqual(n, 15)
            r.commit(n)
            self.assertEqual(r.read(), b"from the socket")

    def test_nothing_named_is_left_behind(self):
        def names():
            found = set()
            for d in ("/dev/shm", tempfile.gettempdir()):
                if os.path.isdir(d):
                    found |= {os.path.join(d, n) for n in os.listdir(d)}
            return found

        before = names()
        with vmplace.Ring(PAGE) as r, vmplace.Ring.attach(r.fileno()) as peer:
            r.write(b"x")
            self.assertEqual(peer.read(), b"x")
            during = names()
        self.assertEqual(during - before, set())  # not even while it is in use


class TwoProcessTest(unittest.TestCase):
    def test_send_fds_to_another_process(self):
        total, chunk = 4 << 20, 10007
        child_code = textwrap.dedent("""
            import hashlib, socket, sys, vmplace
            sock = socket.socket(fileno=int(sys.argv[1]))
            _, fds, _, _ = socket.recv_fds(sock, 16, 1)
            ring = vmplace.Ring.attach(fds[0])
            digest = hashlib.sha256()
            count = 0
            while True:
                try:
                    if not ring.wait_read(1, 30):
                        sys.exit("timed out")
                except vmplace.Error as e:
                    if e.name != "ESHUTDOWN":
                        raise
                    break
                w = ring.read_window(ring.capacity)
                with memoryview(w) as view:
                    digest.update(view)  # hashed in place, no copy
                    n = len(view)
                ring.release(n)
                count += n
            sock.sendall(("%d %s" % (count, digest.hexdigest())).encode())
        """)
        parent_sock, child_sock = socket.socketpair()
        with parent_sock, vmplace.Ring(64 * 1024) as ring:
            child = subprocess.Popen([sys.executable, "-c", child_code, str(child_sock.fileno())],
                                     pass_fds=[child_sock.fileno()], env=CHILD_ENV)
            child_sock.close()
            try:
                socket.send_fds(parent_sock, [b"r"], [ring.fileno()])
                data = pattern(total, seed=5)
                out = ring.writer()
                for i in range(0, total, chunk):
                    out.write(data[i:i + chunk])
                out.close()
                answer = parent_sock.makefile("rb").read().decode()
                self.assertEqual(child.wait(30), 0)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        self.assertEqual(answer, "%d %s" % (total, hashlib.sha256(data).hexdigest()))

    def test_multiprocessing_spawn_passes_the_ring(self):
        ctx = multiprocessing.get_context("spawn")  # no inheritance: the fd is passed
        total, chunk = 1 << 20, 4099
        with vmplace.Ring(32 * 1024) as ring:
            proc = ctx.Process(target=spawn_producer, args=(ring, total, chunk))
            proc.start()
            try:
                got = ring.reader(timeout=60).read()
                proc.join(30)
            finally:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            self.assertEqual(proc.exitcode, 0)
        self.assertEqual(got, pattern(total, seed=3))

    def test_a_ring_sent_through_a_queue_to_a_running_process(self):
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=queue_producer, args=(queue, 300000))
        proc.start()
        try:
            with vmplace.Ring(16 * 1024) as ring:
                queue.put(ring)  # pickled with its descriptor, after the start
                got = ring.reader(timeout=60).read()
            proc.join(30)
        finally:
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.assertEqual(proc.exitcode, 0)
        self.assertEqual(got, pattern(300000, seed=6))

    def test_attach_checks_its_peer(self):
        with vmplace.Ring(PAGE) as ring:
            with vmplace.Ring.attach(ring.fileno()) as other:
                self.assertEqual(other.capacity, ring.capacity)
                ring.write(b"ping")
                self.assertEqual(other.read(), b"ping")
        with vmplace.Mem(2 * PAGE) as mem, self.assertRaises(vmplace.Error) as cm:
            vmplace.Ring.attach(mem.fileno())
        self.assertEqual(cm.exception.name, "EPEER")


if __name__ == "__main__":
    unittest.main()
