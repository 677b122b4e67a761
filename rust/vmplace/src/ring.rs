//! Mirrored single-producer / single-consumer byte rings.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use vmplace_sys as sys;

use crate::error::{check, Error, ErrorKind, Result};
use crate::native::{self, AsNative};

/// How a ring is made: the flags of [`Ring::with_options`] and
/// [`Ring::attach_with`].
///
/// ```
/// let options = vmplace::RingOptions::new().no_inherit(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingOptions {
    flags: u32,
}

impl RingOptions {
    /// No flags: normal pages, a child made by `fork()` shares the ring.
    pub fn new() -> RingOptions {
        RingOptions { flags: 0 }
    }

    /// Backs the data with huge pages (Linux; `ENOTSUP` when none are
    /// free). Attach must say the same as create.
    pub fn huge_pages(mut self, on: bool) -> RingOptions {
        self.set(sys::VMP_RING_HUGE_PAGES, on);
        self
    }

    /// A child made by `fork()` does not get the mapping.
    pub fn no_inherit(mut self, on: bool) -> RingOptions {
        self.set(sys::VMP_RING_NO_INHERIT, on);
        self
    }

    /// Create only: records from many producers (threads or processes) at
    /// once, through a [`MultiProducer`](crate::MultiProducer)
    /// ([`Ring::split_multi`]). Such a ring carries records only: the byte
    /// calls (`io::Write`, `grant`, `io::Read`, `peek`) give `EINVAL`.
    pub fn multi_producer(mut self, on: bool) -> RingOptions {
        self.set(sys::VMP_RING_MULTI_PRODUCER, on);
        self
    }

    fn set(&mut self, flag: u32, on: bool) {
        self.flags = crate::with_flag(self.flags, flag, on);
    }
}

/// The C handle; closed when the last half that uses it is dropped.
pub(crate) struct RingShared {
    raw: NonNull<sys::vmp_ring>,
}

// The C ring takes one producer and one consumer at a time, from any
// threads; `Producer` and `Consumer` (each `Send`, not `Sync`) make sure
// there is at most one of each. Shutdown, fd, capacity and data may be
// asked from anywhere; close happens when the last half is gone.
unsafe impl Send for RingShared {}
unsafe impl Sync for RingShared {}

impl Drop for RingShared {
    fn drop(&mut self) {
        unsafe { sys::vmp_ring_close(self.raw.as_ptr()) };
    }
}

impl RingShared {
    #[inline]
    pub(crate) fn raw(&self) -> *mut sys::vmp_ring {
        self.raw.as_ptr()
    }
}

/// Makes a half `Send` but not `Sync`: one thread at a time drives it.
pub(crate) type NotSync = PhantomData<Cell<()>>;

pub(crate) fn timeout_ns(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => -1,
        Some(duration) => i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX),
    }
}

/// A mirrored ring buffer: one memory object mapped twice back to back, so
/// that any run of up to [`capacity`](Ring::capacity) bytes is contiguous,
/// with a single-producer / single-consumer byte queue on top.
///
/// Split it with [`split`](Ring::split) into a [`Producer`] (`io::Write`)
/// and a [`Consumer`] (`io::Read`, `io::BufRead`) for two threads, or keep
/// one half with [`into_producer`](Ring::into_producer) /
/// [`into_consumer`](Ring::into_consumer) when the other side is another
/// process that [`attach`](Ring::attach)es to the descriptor.
///
/// # Example
///
/// ```
/// use std::io::{Read, Write};
/// let ring = vmplace::Ring::new(64 * 1024)?;
/// let (mut tx, mut rx) = ring.split();
/// let writer = std::thread::spawn(move || {
///     for i in 0..1000u32 {
///         tx.write_all(&i.to_le_bytes()).unwrap();
///     }
///     // Dropping the producer shuts the ring down: the reader sees EOF.
/// });
/// let mut all = Vec::new();
/// rx.read_to_end(&mut all).unwrap();
/// writer.join().unwrap();
/// assert_eq!(all.len(), 4000);
/// assert_eq!(&all[4 * 999..], &999u32.to_le_bytes());
/// # Ok::<(), vmplace::Error>(())
/// ```
pub struct Ring {
    pub(crate) shared: Arc<RingShared>,
}

impl Ring {
    /// Creates a ring of at least `size` bytes (rounded up to the page).
    ///
    /// Errors: `EINVAL` (size 0), `ENOMEM`, OS errors.
    ///
    /// ```
    /// let ring = vmplace::Ring::new(1)?;
    /// assert_eq!(ring.capacity(), vmplace::page_size());
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn new(size: usize) -> Result<Ring> {
        Ring::with_options(size, RingOptions::new())
    }

    /// As [`new`](Ring::new), with options. Errors: also `ENOTSUP` (huge
    /// pages unavailable, no-inherit not possible here).
    pub fn with_options(size: usize, options: RingOptions) -> Result<Ring> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::vmp_ring_create(size, options.flags, &mut raw) })?;
        Ok(Ring::from_raw(raw))
    }

    fn from_raw(raw: *mut sys::vmp_ring) -> Ring {
        let raw = NonNull::new(raw).expect("the C library returned success with a null ring");
        Ring { shared: Arc::new(RingShared { raw }) }
    }

    /// Maps a ring that another process created, from its descriptor (an
    /// `OwnedFd` received over a socket or inherited, or any `AsFd`; on
    /// Windows its section HANDLE, any `AsHandle`: an `OwnedHandle`
    /// inherited or duplicated into this process). The
    /// descriptor stays the caller's; the ring keeps its own copy. The
    /// object and its shared header are checked before anything is trusted.
    ///
    /// Errors: `EINVAL`, `EPEER` (not a valid ring), `EACCES` (a read-only
    /// descriptor), `ENOTSUP`, `ENOMEM`, OS errors.
    ///
    /// # Safety
    ///
    /// The halves hand out `&mut [u8]` / `&[u8]` over bytes the single
    /// producer / single consumer protocol gives them alone. The caller
    /// guarantees that, in this process, no other handle of the same ring
    /// (the creating `Ring`, another attach) uses the side it takes from
    /// this one: two producers, or two consumers, would get slices of the
    /// same bytes. A peer process that breaks the protocol can change bytes
    /// under a borrow; its indices are checked (`EPEER`), so no access ever
    /// leaves the ring.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::io::{AsFd, OwnedFd};
    /// let ring = vmplace::Ring::new(4096)?;
    /// // What another process would receive: a duplicate of the descriptor
    /// // (on Windows: `AsHandle::as_handle` and an `OwnedHandle`).
    /// let fd: OwnedFd = ring.as_fd().try_clone_to_owned().unwrap();
    /// // Safety: `ring` keeps only the producer side, `other` the consumer.
    /// let other = unsafe { vmplace::Ring::attach(fd)? };
    /// let mut tx = ring.into_producer();
    /// let mut rx = other.into_consumer();
    /// tx.write_all(b"across")?;
    /// let mut buf = [0u8; 6];
    /// rx.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"across");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn attach<F: AsNative>(fd: F) -> Result<Ring> {
        Ring::attach_with(fd, RingOptions::new())
    }

    /// As [`attach`](Ring::attach), with options (huge pages must match how
    /// the ring was made).
    ///
    /// # Safety
    ///
    /// As for [`attach`](Ring::attach).
    pub unsafe fn attach_with<F: AsNative>(fd: F, options: RingOptions) -> Result<Ring> {
        let mut raw = ptr::null_mut();
        check(sys::vmp_ring_attach(native::raw(&fd), options.flags, &mut raw))?;
        Ok(Ring::from_raw(raw))
    }

    /// The capacity in bytes: the most that can be written and not yet read.
    pub fn capacity(&self) -> usize {
        unsafe { sys::vmp_ring_capacity(self.shared.raw()) }
    }

    /// Marks the ring shut down for both sides, in every process, and wakes
    /// every waiter: writes fail with `ESHUTDOWN`, reads drain what is left
    /// and then see the end.
    pub fn shutdown(&self) {
        unsafe { sys::vmp_ring_shutdown(self.shared.raw()) }
    }

    /// A handle that can shut the ring down from any thread (a watchdog, a
    /// signal-handling thread) after the ring was split.
    ///
    /// ```
    /// use std::io::Read;
    /// let ring = vmplace::Ring::new(4096)?;
    /// let stop = ring.shutdown_handle();
    /// let mut rx = ring.into_consumer();
    /// std::thread::spawn(move || stop.shutdown());
    /// let mut rest = Vec::new();
    /// rx.read_to_end(&mut rest).unwrap(); // returns once shut down
    /// assert!(rest.is_empty());
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { shared: Arc::clone(&self.shared) }
    }

    /// The two halves, for two threads. Dropping either shuts the ring
    /// down, like closing one end of a pipe.
    pub fn split(self) -> (Producer, Consumer) {
        let producer = Producer { shared: Arc::clone(&self.shared), not_sync: PhantomData };
        let consumer = Consumer { shared: self.shared, offered: 0, not_sync: PhantomData };
        (producer, consumer)
    }

    /// Only the producer half, for a process whose peer (another process)
    /// reads.
    pub fn into_producer(self) -> Producer {
        Producer { shared: self.shared, not_sync: PhantomData }
    }

    /// Only the consumer half, for a process whose peer writes.
    pub fn into_consumer(self) -> Consumer {
        Consumer { shared: self.shared, offered: 0, not_sync: PhantomData }
    }
}

/// Shuts a [`Ring`] down from anywhere: [`Ring::shutdown_handle`]. `Send`
/// and `Sync`; keeps the ring mapped while it lives.
///
/// ```
/// let ring = vmplace::Ring::new(4096)?;
/// let stop = ring.shutdown_handle();
/// let (mut tx, _rx) = ring.split();
/// stop.shutdown();
/// assert_eq!(tx.grant(1).unwrap_err().kind(), vmplace::ErrorKind::Shutdown);
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<RingShared>,
}

impl ShutdownHandle {
    /// Shuts the ring down for both sides (see [`Ring::shutdown`]).
    pub fn shutdown(&self) {
        unsafe { sys::vmp_ring_shutdown(self.shared.raw()) }
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").finish()
    }
}

/// The ring owns its descriptor for as long as it lives.
pub(crate) fn ring_fd(shared: &RingShared) -> isize {
    unsafe { sys::vmp_ring_fd(shared.raw()) }
}

native::impl_as_native!(
    Ring,
    |ring| ring_fd(&ring.shared),
    "The descriptor (Unix) or section HANDLE (Windows) to give a peer \
     process (duplicate it, pass it with `SCM_RIGHTS`, or let a child \
     inherit it); still owned by the ring."
);

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring").field("capacity", &self.capacity()).finish()
    }
}

fn io_error(err: Error) -> io::Error {
    err.into()
}

/// The writing half of a [`Ring`]: `Send`, not `Sync` (one producer).
///
/// Besides `io::Write`, [`grant`](Producer::grant) and
/// [`commit`](Producer::commit) write in place without a copy. Dropping the
/// producer shuts the ring down, so the consumer sees the end of the data.
///
/// ```
/// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
/// let space = tx.grant(5)?;
/// space[..5].copy_from_slice(b"hello");
/// tx.commit(5)?;
/// assert_eq!(rx.peek(1)?, b"hello");
/// # Ok::<(), vmplace::Error>(())
/// ```
///
/// Committing while the granted slice is still in use does not compile:
///
/// ```compile_fail,E0499
/// let (mut tx, _rx) = vmplace::Ring::new(4096).unwrap().split();
/// let space = tx.grant(5).unwrap();
/// tx.commit(5).unwrap(); // error: `tx` is already borrowed as mutable
/// space[0] = 1;
/// ```
///
/// and a producer cannot be shared between threads (it is not `Sync`):
///
/// ```compile_fail,E0277
/// fn shared<T: Sync>(_: &T) {}
/// let (tx, _rx) = vmplace::Ring::new(4096).unwrap().split();
/// shared(&tx);
/// ```
pub struct Producer {
    pub(crate) shared: Arc<RingShared>,
    not_sync: NotSync,
}

impl Producer {
    #[inline]
    fn raw(&self) -> *mut sys::vmp_ring {
        self.shared.raw()
    }

    /// One `vmp_ring_write` of `buf`: the count, 0 (full) or a negative code.
    #[inline]
    fn write_raw(&mut self, buf: &[u8]) -> isize {
        unsafe { sys::vmp_ring_write(self.raw(), buf.as_ptr() as *const c_void, buf.len()) }
    }

    /// Where `io::Write` goes when a write took nothing (`n` 0) or failed
    /// (`n` < 0): waits for room and writes again, until some of `buf`
    /// went (the count, never 0) or an error. Out of line, so that the
    /// write that succeeds at once is one C call and a compare.
    #[cold]
    #[inline(never)]
    fn write_waiting(&mut self, buf: &[u8], mut n: isize) -> io::Result<usize> {
        let want = buf.len().min(self.capacity() / 2).max(1);
        loop {
            if n > 0 {
                return Ok(n as usize);
            }
            if n < 0 {
                return Err(Error::from_code(n as i32).into());
            }
            self.wait(want, None).map_err(io_error)?;
            n = self.write_raw(buf);
        }
    }

    /// The rest of a `write_all` whose first write (result `n`) did not
    /// take all of `buf`.
    #[cold]
    #[inline(never)]
    fn write_all_rest(&mut self, buf: &[u8], mut n: isize) -> io::Result<()> {
        let mut done = 0;
        loop {
            done += self.write_waiting(&buf[done..], n)?;
            if done == buf.len() {
                return Ok(());
            }
            n = self.write_raw(&buf[done..]);
        }
    }

    /// The contiguous free space to write into, at least `want` bytes when
    /// there are (`want` larger than the capacity: `EINVAL`). Looks at the
    /// consumer's index again only when the cached free space is below
    /// `want`, so the slice may be shorter than `want`, even empty (full),
    /// or longer. [`commit`](Producer::commit) publishes what was written.
    ///
    /// Errors: `EINVAL`, `EPEER` (the consumer's index is impossible),
    /// `ESHUTDOWN`.
    #[inline]
    pub fn grant(&mut self, want: usize) -> Result<&mut [u8]> {
        let mut ptr: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        check(unsafe { sys::vmp_ring_write_begin(self.raw(), want, &mut ptr, &mut len) })?;
        if len == 0 {
            return Ok(&mut []);
        }
        // The consumer never touches the free space, and the mirror makes
        // it one run of `len` distinct bytes.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) })
    }

    /// Publishes the first `n` bytes of the last [`grant`](Producer::grant)
    /// (in one call or several). Errors: `EINVAL` when `n` is more than it
    /// offered.
    #[inline]
    pub fn commit(&mut self, n: usize) -> Result<()> {
        check(unsafe { sys::vmp_ring_write_commit(self.raw(), n) })
    }

    /// Writes as much of `buf` as fits now, without waiting: the count (0
    /// when full). Errors: as [`grant`](Producer::grant).
    #[inline]
    pub fn try_write(&mut self, buf: &[u8]) -> Result<usize> {
        let n = self.write_raw(buf);
        if n < 0 {
            return Err(Error::from_code(n as i32));
        }
        Ok(n as usize)
    }

    /// One `read()` (`ReadFile` on Windows) from `fd` straight into the free space (at most `max`
    /// bytes; [`sys::VMP_RING_ALL`] for as many as fit), then publishes
    /// what came: no copy in between. The count (> 0), or 0 at the end of
    /// the input.
    ///
    /// Errors: `EFULL` (no room: [`wait`](Producer::wait) for it), OS
    /// errors from the read (`OS:EAGAIN` from a non-blocking descriptor
    /// with nothing), `EINVAL` (`max` 0, a multi-producer ring),
    /// `ESHUTDOWN`, `EPEER`.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-fill-{}", std::process::id()));
    /// # std::fs::write(&path, b"from a file").unwrap();
    /// use std::io::Read;
    /// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
    /// let file = std::fs::File::open(&path).unwrap();
    /// assert_eq!(tx.fill_from(&file, vmplace::sys::VMP_RING_ALL)?, 11);
    /// assert_eq!(tx.fill_from(&file, vmplace::sys::VMP_RING_ALL)?, 0); // end of file
    /// drop(tx);
    /// let mut text = String::new();
    /// rx.read_to_string(&mut text).unwrap();
    /// assert_eq!(text, "from a file");
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn fill_from<F: AsNative>(&mut self, fd: &F, max: usize) -> Result<usize> {
        let n = unsafe { sys::vmp_ring_fill(self.raw(), native::raw(fd), max) };
        if n < 0 {
            return Err(Error::from_code(n as i32));
        }
        Ok(n as usize)
    }

    /// Waits until at least `want` bytes can be written, the timeout
    /// passes (`ETIMEDOUT`; `None` waits forever) or the ring is shut down
    /// (`ESHUTDOWN`). Errors: also `EINVAL` (`want` above the capacity).
    pub fn wait(&mut self, want: usize, timeout: Option<Duration>) -> Result<()> {
        check(unsafe { sys::vmp_ring_wait_write(self.raw(), want, timeout_ns(timeout)) })
    }

    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        unsafe { sys::vmp_ring_capacity(self.raw()) }
    }

    /// Shuts the ring down for both sides (see [`Ring::shutdown`]).
    pub fn shutdown(&self) {
        unsafe { sys::vmp_ring_shutdown(self.raw()) }
    }
}

impl Write for Producer {
    /// Copies as much as fits; when the ring is full, waits until all of
    /// `buf` fits (at most half the capacity: the consumer need not drain
    /// the ring before the producer goes on), so that a full ring does not
    /// wake the producer for every byte freed. A shut-down ring is
    /// `BrokenPipe`.
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.write_raw(buf);
        if n > 0 {
            return Ok(n as usize);
        }
        self.write_waiting(buf, n)
    }

    /// As `write` until all of `buf` went, each call and wait as `write`
    /// makes them; a message that fits is one C call, as a C caller makes
    /// it.
    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let n = self.write_raw(buf);
        // A negative code, as usize, is never a slice length.
        if n as usize == buf.len() {
            return Ok(());
        }
        self.write_all_rest(buf, n)
    }

    /// Bytes are published by each write: nothing to do.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

native::impl_as_native!(
    Producer,
    |half| ring_fd(&half.shared),
    "The ring's descriptor (Unix) or section HANDLE (Windows), to give a peer process."
);

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").field("capacity", &self.capacity()).finish()
    }
}

/// The reading half of a [`Ring`]: `Send`, not `Sync` (one consumer).
///
/// `io::Read` copies out; `io::BufRead` reads in place: `fill_buf` is the
/// ring's read-begin and `consume` its release. The end of the data (0 from
/// `read`, an empty `fill_buf`) comes once the ring is shut down and
/// drained. Dropping the consumer shuts the ring down, so the producer's
/// next write fails with `BrokenPipe`.
///
/// ```
/// use std::io::{BufRead, Write};
/// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
/// tx.write_all(b"one\ntwo\n")?;
/// drop(tx);
/// let lines: Vec<String> = rx.lines().map(|l| l.unwrap()).collect();
/// assert_eq!(lines, ["one", "two"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Releasing bytes while a peeked slice is still in use does not compile:
///
/// ```compile_fail,E0499
/// let (_tx, mut rx) = vmplace::Ring::new(4096).unwrap().split();
/// let data = rx.peek(1).unwrap();
/// rx.release(data.len()).unwrap(); // error: `rx` is already borrowed as mutable
/// println!("{:?}", data);
/// ```
pub struct Consumer {
    pub(crate) shared: Arc<RingShared>,
    offered: usize,
    not_sync: NotSync,
}

impl Consumer {
    #[inline]
    fn raw(&self) -> *mut sys::vmp_ring {
        self.shared.raw()
    }

    /// One `vmp_ring_read` into `buf`: the count, 0 (empty) or a negative
    /// code. The C call forgets what read-begin offered, and so does this.
    #[inline]
    fn read_raw(&mut self, buf: &mut [u8]) -> isize {
        let n = unsafe { sys::vmp_ring_read(self.raw(), buf.as_mut_ptr() as *mut c_void, buf.len()) };
        if n >= 0 {
            self.offered = 0;
        }
        n
    }

    /// Where `io::Read` goes when a read got nothing (`n` 0) or failed
    /// (`n` < 0): waits for `want` bytes (at most the capacity) and reads
    /// again, until some came (the count), the end (0) or an error. Out of
    /// line, so that the read that succeeds at once is one C call and a
    /// compare.
    #[cold]
    #[inline(never)]
    fn read_waiting(&mut self, buf: &mut [u8], mut n: isize, want: usize) -> io::Result<usize> {
        loop {
            if n > 0 {
                return Ok(n as usize);
            }
            if n < 0 {
                let err = Error::from_code(n as i32);
                return if is_end(&err) { Ok(0) } else { Err(err.into()) };
            }
            match self.wait(want, None) {
                Ok(()) => {}
                Err(err) if is_end(&err) => return Ok(0),
                Err(err) => return Err(err.into()),
            }
            n = self.read_raw(buf);
        }
    }

    /// The rest of a `read_exact` whose first read (result `n`) did not
    /// fill `buf`. Waits for all that is missing (as much as the ring
    /// holds), as a C caller would, rather than for every byte: the call
    /// cannot return before they are there anyway.
    #[cold]
    #[inline(never)]
    fn read_exact_rest(&mut self, buf: &mut [u8], mut n: isize) -> io::Result<()> {
        let capacity = self.capacity();
        let mut done = 0;
        loop {
            let left = buf.len() - done;
            match self.read_waiting(&mut buf[done..], n, left.min(capacity))? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer")),
                got => done += got,
            }
            if done == buf.len() {
                return Ok(());
            }
            n = self.read_raw(&mut buf[done..]);
        }
    }

    /// The bytes written and not yet released, contiguously; the
    /// producer's index is looked at again only when fewer than `want` are
    /// known, so it may be shorter (even empty) or longer than `want`.
    /// [`release`](Consumer::release) frees what was used.
    ///
    /// Errors: `EINVAL` (`want` above the capacity), `EPEER`, `ESHUTDOWN`
    /// (only once shut down and empty).
    #[inline]
    pub fn peek(&mut self, want: usize) -> Result<&[u8]> {
        let mut ptr: *const c_void = ptr::null();
        let mut len = 0usize;
        check(unsafe { sys::vmp_ring_read_begin(self.raw(), want, &mut ptr, &mut len) })?;
        self.offered = len;
        if len == 0 {
            return Ok(&[]);
        }
        // The producer never writes bytes it has published until they are
        // released, and the mirror makes them one contiguous run.
        Ok(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
    }

    /// Releases the first `n` bytes of the last [`peek`](Consumer::peek).
    /// Errors: `EINVAL` when more than it offered.
    #[inline]
    pub fn release(&mut self, n: usize) -> Result<()> {
        check(unsafe { sys::vmp_ring_read_release(self.raw(), n) })?;
        self.offered -= n.min(self.offered);
        Ok(())
    }

    /// Copies out what is there now, up to `buf.len()`, without waiting:
    /// the count (0 when empty). Errors: as [`peek`](Consumer::peek).
    #[inline]
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = self.read_raw(buf);
        if n < 0 {
            return Err(Error::from_code(n as i32));
        }
        Ok(n as usize)
    }

    /// One `write()` (`WriteFile` on Windows) to `fd` straight from the bytes there (at most `max`;
    /// [`sys::VMP_RING_ALL`] for all), then releases what went: no copy in
    /// between. The count, 0 when the ring is empty
    /// ([`wait`](Consumer::wait) for more).
    ///
    /// Errors: OS errors from the write (`OS:EPIPE` when a pipe's reader is
    /// gone, never a SIGPIPE; `OS:EAGAIN`), `ESHUTDOWN` (shut down and
    /// empty), `EINVAL`, `EPEER`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-drain-{}", std::process::id()));
    /// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
    /// tx.write_all(b"to a file").unwrap();
    /// let file = std::fs::File::create(&path).unwrap();
    /// assert_eq!(rx.drain_to(&file, vmplace::sys::VMP_RING_ALL)?, 9);
    /// assert_eq!(rx.drain_to(&file, vmplace::sys::VMP_RING_ALL)?, 0); // empty
    /// assert_eq!(std::fs::read(&path).unwrap(), b"to a file");
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn drain_to<F: AsNative>(&mut self, fd: &F, max: usize) -> Result<usize> {
        let n = unsafe { sys::vmp_ring_drain(self.raw(), native::raw(fd), max) };
        if n < 0 {
            return Err(Error::from_code(n as i32));
        }
        self.offered = 0;
        Ok(n as usize)
    }

    /// Waits until at least `want` bytes can be read, the timeout passes
    /// (`ETIMEDOUT`; `None` waits forever) or the ring is shut down and
    /// empty (`ESHUTDOWN`; once shut down, any bytes left end the wait).
    pub fn wait(&mut self, want: usize, timeout: Option<Duration>) -> Result<()> {
        check(unsafe { sys::vmp_ring_wait_read(self.raw(), want, timeout_ns(timeout)) })
    }

    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        unsafe { sys::vmp_ring_capacity(self.raw()) }
    }

    /// Shuts the ring down for both sides (see [`Ring::shutdown`]).
    pub fn shutdown(&self) {
        unsafe { sys::vmp_ring_shutdown(self.raw()) }
    }
}

fn is_end(err: &Error) -> bool {
    err.kind() == ErrorKind::Shutdown
}

impl Read for Consumer {
    /// Copies what is there, waiting while the ring is empty; 0 at the end
    /// (shut down and drained).
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.read_raw(buf);
        if n > 0 {
            return Ok(n as usize);
        }
        self.read_waiting(buf, n, 1)
    }

    /// Fills `buf`, waiting as needed; `UnexpectedEof` when the ring ends
    /// first (what came is consumed). A message that is there is one C
    /// call, as a C caller makes it.
    #[inline]
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let n = self.read_raw(buf);
        // A negative code, as usize, is never a slice length.
        if n as usize == buf.len() {
            return Ok(());
        }
        self.read_exact_rest(buf, n)
    }
}

impl BufRead for Consumer {
    /// The readable bytes in place (all of them, looked at afresh), waiting
    /// while there are none; empty at the end.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.peek(sys::VMP_RING_ALL) {
                Ok(data) if !data.is_empty() => break,
                Ok(_) => {}
                Err(err) if is_end(&err) => return Ok(&[]),
                Err(err) => return Err(err.into()),
            }
            match self.wait(1, None) {
                Ok(()) => {}
                Err(err) if is_end(&err) => return Ok(&[]),
                Err(err) => return Err(err.into()),
            }
        }
        // The loop broke on data: offer it again without waiting.
        self.peek(1).map_err(io_error)
    }

    /// Releases `amt` bytes of what `fill_buf` offered (at most that).
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.offered);
        if amt > 0 {
            // Cannot fail: `amt` is within what read-begin offered.
            let _ = self.release(amt);
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

native::impl_as_native!(
    Consumer,
    |half| ring_fd(&half.shared),
    "The ring's descriptor (Unix) or section HANDLE (Windows), to give a peer process."
);

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").field("capacity", &self.capacity()).finish()
    }
}
