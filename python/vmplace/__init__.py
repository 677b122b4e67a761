"""vmplace: race-free control of the process's own address space.

Reserve address space (Region), fill it with private memory or views of
memory objects (Mem), read many files as one buffer (MView), and pass bytes
or records between threads or processes through mirrored rings (Ring) whose
free space, data and records are always contiguous. Every piece of memory is reached through the
buffer protocol (memoryview, numpy.frombuffer: zero-copy), and nothing that
is exported can be unmapped: close() and unmap() raise BufferError instead,
as mmap.mmap.close() does.

Errors of the library itself raise vmplace.Error (an OSError with .code and
.name); operating-system errors raise the built-in OSError subclasses
(FileNotFoundError, PermissionError, ...) with errno set.
"""

import io as _io
import os as _os

try:
    from . import _vmplace
except ImportError as _e:  # the source tree itself, not a build or an install
    raise ImportError(
        "vmplace: the C extension is not next to %s; import the built package "
        "(PYTHONPATH=<build>/python, with -DVMP_BUILD_PYTHON=ON) or install it "
        "(make install CMAKE_FLAGS=-DVMP_BUILD_PYTHON=ON)" % __file__) from _e
from ._vmplace import (  # noqa: F401  (re-exported)
    EACCES,
    EADDRINUSE,
    EALIGN,
    EBOUNDS,
    EEXTENT,
    EFULL,
    EGONE,
    EINVAL,
    EMAPLIMIT,
    ENOMEM,
    ENOTSUP,
    EPEER,
    ERANGE,
    ESHUTDOWN,
    ESTATE,
    ETIMEDOUT,
    MEM_EXEC,
    MEM_HUGE,
    MEM_HUGE_OR_THP,
    MEM_NO_FALLBACK,
    MEM_PREALLOCATE,
    MEM_READ,
    MEM_RW,
    MEM_WRITE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_RW,
    PROT_WRITE,
    RING_HUGE_PAGES,
    RING_MULTI_PRODUCER,
    RING_NO_INHERIT,
    Budget,
    Capabilities,
    Error,
    Mem,
    MemInfo,
    MView,
    Record,
    Region,
    RingStats,
    SegmentInfo,
    SpanInfo,
    Window,
    backend,
    budget,
    capabilities,
    err_name,
    granularity,
    page_size,
    strerror,
    version,
)

__all__ = [
    "Budget", "Capabilities", "Error", "Mem", "MemInfo", "MView", "Record", "Region", "Ring", "RingReader", "RingStats",
    "RingWriter", "SegmentInfo", "SpanInfo", "Window", "backend", "budget", "capabilities", "err_name", "granularity",
    "page_size", "strerror", "version",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_RW", "PROT_EXEC",
    "MEM_READ", "MEM_WRITE", "MEM_RW", "MEM_NO_FALLBACK", "MEM_EXEC", "MEM_PREALLOCATE",
    "MEM_HUGE", "MEM_HUGE_OR_THP", "RING_HUGE_PAGES", "RING_MULTI_PRODUCER",
    "RING_NO_INHERIT",
    "EINVAL", "EALIGN", "ERANGE", "ESTATE", "EEXTENT", "EBOUNDS", "EACCES", "ENOMEM",
    "ENOTSUP", "ETIMEDOUT", "ESHUTDOWN", "EPEER", "EFULL", "EGONE", "EADDRINUSE", "EMAPLIMIT",
]

__version__ = "%d.%d.%d" % version


class Ring(_vmplace.Ring):
    """Ring(size, flags=0, *, multi_producer=False)

    A mirrored ring buffer: one producer and one consumer (threads, or two
    processes) exchange bytes through one memory object mapped twice back to
    back, so the free space (write_window) and the waiting data
    (read_window) are each one contiguous buffer however the ring wraps.

    size is rounded up to the page; flags may be RING_HUGE_PAGES
    (RING_NO_INHERIT is refused with ValueError: a child made by fork
    would hold this object over memory it does not have). One producer and
    one consumer at a time, each in one thread. Nothing is ever named: another process gets the ring by
    its descriptor (fileno(), then Ring.attach(fd)), passed with
    socket.send_fds, inherited, or pickled through multiprocessing. There is
    no resource tracker and nothing is left behind.

    Or a ring of records, each one contiguous (no split, no padding at the
    wrap): the producer writes into ``ring.reserve(n)`` (a writable buffer;
    ``with`` submits it, or discards it when the block raises), the
    consumer reads ``ring.next()`` (read-only; ``with`` consumes it).
    multi_producer=True lets many threads and processes reserve at once. A
    ring carries bytes or records, not both. fill() and drain() move bytes
    between the ring and a descriptor with no copy in between.

    Waits release the GIL, take a timeout in seconds (None: no limit) and
    can be interrupted with Ctrl-C. reader() and writer() give blocking
    file-like objects (shutil.copyfileobj, io.BufferedReader).
    """

    __slots__ = ()

    def records(self, timeout=None):
        """Yield every record as next() gives it, until the ring is shut down
        and empty; each is consumed when the loop moves on (release its
        buffers before that, or BufferError). A wait longer than timeout
        seconds raises vmplace.Error (ETIMEDOUT).
        """
        while True:
            try:
                rec = self.next(timeout)
            except Error as e:
                if e.code == ESHUTDOWN:
                    return
                raise
            with rec:
                yield rec

    def reader(self, timeout=None):
        """A blocking file-like reader (io.RawIOBase) over the consumer side.

        read() returns b'' once the ring is shut down and drained; a wait
        longer than timeout seconds raises TimeoutError. Closing the reader
        leaves the ring open.
        """
        return RingReader(self, timeout)

    def writer(self, timeout=None, shutdown_on_close=True):
        """A blocking file-like writer (io.RawIOBase) over the producer side.

        write() returns only once every byte is in the ring. Closing the
        writer shuts the ring down (the reader then sees end of file) unless
        shutdown_on_close is False; it leaves the ring open.
        """
        return RingWriter(self, timeout, shutdown_on_close)


class RingReader(_io.RawIOBase):
    """A blocking, file-like consumer of a Ring (see Ring.reader())."""

    def __init__(self, ring, timeout=None):
        super().__init__()
        self._ring = ring
        self._timeout = timeout

    def readable(self):
        """True: this object reads."""
        return True

    def readinto(self, buffer):
        """Wait for at least one byte, copy up to len(buffer); 0 at the end."""
        if self.closed:
            raise ValueError("I/O operation on a closed file")
        ring = self._ring
        try:
            while True:
                n = ring.readinto(buffer)
                if n or not len(memoryview(buffer)):
                    return n
                if not ring.wait_read(1, self._timeout):
                    raise TimeoutError("no data came in %r seconds" % (self._timeout,))
        except Error as e:
            if e.code == ESHUTDOWN:
                return 0
            raise


class RingWriter(_io.RawIOBase):
    """A blocking, file-like producer of a Ring (see Ring.writer())."""

    def __init__(self, ring, timeout=None, shutdown_on_close=True):
        super().__init__()
        self._ring = ring
        self._timeout = timeout
        self._shutdown_on_close = shutdown_on_close

    def writable(self):
        """True: this object writes."""
        return True

    def write(self, data):
        """Copy all of data into the ring, waiting for room as needed."""
        if self.closed:
            raise ValueError("I/O operation on a closed file")
        ring = self._ring
        with memoryview(data) as view, view.cast("B") as flat:
            done = 0
            while done < len(flat):
                n = ring.write(flat[done:])
                done += n
                if n == 0 and not ring.wait_write(1, self._timeout):
                    raise TimeoutError("no room came in %r seconds" % (self._timeout,))
            return done

    def close(self):
        """Shut the ring down (unless told not to) and close this writer."""
        if not self.closed and self._shutdown_on_close and not self._ring.closed:
            self._ring.shutdown()
        super().close()


def _rebuild_ring(dup):
    fd = dup.detach()
    try:
        return Ring.attach(fd)
    finally:
        _os.close(fd)


def _reduce_ring(ring):
    # multiprocessing passes the descriptor itself (SCM_RIGHTS or a
    # duplicate for a spawned child); the other side attaches to it.
    from multiprocessing.reduction import DupFd

    return _rebuild_ring, (DupFd(ring.fileno()),)


def _register_with_multiprocessing():
    try:
        from multiprocessing.reduction import ForkingPickler
    except ImportError:  # a Python built without multiprocessing
        return
    ForkingPickler.register(Ring, _reduce_ring)


_register_with_multiprocessing()
