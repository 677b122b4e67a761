//! Records: framed messages on a ring, each contiguous, with no copy.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use vmplace_sys as sys;

use crate::error::{check, Error, Result};
use crate::native;
use crate::ring::{ring_fd, timeout_ns, Consumer, Producer, Ring, RingShared};

/// The counts a ring keeps in its shared control page, readable from either
/// side (each read on its own, so they may be a moment apart; a peer can
/// make them wrong, never harmful).
///
/// ```
/// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
/// tx.reserve(10, None)?.submit()?;
/// rx.next_record(None)?.consume()?;
/// let stats = rx.stats()?;
/// assert_eq!((stats.records_written, stats.records_read), (1, 1));
/// # Ok::<(), vmplace::Error>(())
/// ```
pub type RingStats = sys::vmp_ring_stats;

fn empty_record() -> sys::vmp_ring_record {
    sys::vmp_ring_record { data: ptr::null_mut(), len: 0, at: 0 }
}

fn stats_of(shared: &RingShared) -> Result<RingStats> {
    let mut stats = RingStats::default();
    check(unsafe { sys::vmp_ring_get_stats(shared.raw(), &mut stats) })?;
    Ok(stats)
}

fn reserve_on<'a>(shared: &'a RingShared, len: usize, timeout: Option<Duration>) -> Result<RecordMut<'a>> {
    let mut rec = empty_record();
    check(unsafe { sys::vmp_ring_reserve(shared.raw(), len, timeout_ns(timeout), &mut rec) })?;
    Ok(RecordMut { ring: shared, rec, _bytes: PhantomData })
}

fn wait_room_on(shared: &RingShared, len: usize, timeout: Option<Duration>) -> Result<()> {
    check(unsafe { sys::vmp_ring_wait_room(shared.raw(), len, timeout_ns(timeout)) })
}

impl Ring {
    /// The largest payload one record can have: the capacity less the
    /// record header, and at most `u32::MAX`.
    pub fn record_max(&self) -> usize {
        unsafe { sys::vmp_ring_record_max(self.shared.raw()) }
    }

    /// The ring's counts (see [`RingStats`]).
    pub fn stats(&self) -> Result<RingStats> {
        stats_of(&self.shared)
    }

    /// Splits a ring made with
    /// [`RingOptions::multi_producer`](crate::RingOptions::multi_producer)
    /// (or attached to one) into a [`MultiProducer`], which any number of
    /// threads may clone and use at once, and the [`Consumer`]. `EINVAL` on
    /// a single-producer ring, where two producers at once would race.
    pub fn split_multi(self) -> Result<(MultiProducer, Consumer)> {
        let producer = self.multi_producer_handle()?;
        Ok((producer, self.into_consumer()))
    }

    /// Only a [`MultiProducer`], for a process whose consumer is another
    /// process. `EINVAL` on a single-producer ring.
    pub fn into_multi_producer(self) -> Result<MultiProducer> {
        self.multi_producer_handle()
    }

    fn multi_producer_handle(&self) -> Result<MultiProducer> {
        // The byte calls refuse a multi-producer ring, and only such a ring:
        // the arguments are otherwise valid and nothing is reserved.
        let mut ptr: *mut std::os::raw::c_void = ptr::null_mut();
        let mut len = 0usize;
        let code = unsafe { sys::vmp_ring_write_begin(self.shared.raw(), 1, &mut ptr, &mut len) };
        if code != sys::VMP_EINVAL {
            return Err(Error::from_code(sys::VMP_EINVAL));
        }
        Ok(MultiProducer { shared: Arc::clone(&self.shared) })
    }
}

impl Producer {
    /// Reserves a record of `len` bytes (0 allowed, up to
    /// [`Ring::record_max`]) to write in place; [`RecordMut::submit`]
    /// publishes it whole, dropping it discards it. When there is no room:
    /// `timeout` `None` waits, `Some(d)` waits at most `d` (`ETIMEDOUT`),
    /// `Some(Duration::ZERO)` fails at once with `EFULL` (both count the
    /// record as dropped). A ring carries records or bytes, not both.
    ///
    /// Errors: `EINVAL` (len too large), `EFULL`, `ETIMEDOUT`,
    /// `ESHUTDOWN`, `EPEER`.
    ///
    /// ```
    /// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
    /// let mut record = tx.reserve(5, None)?;
    /// record.copy_from_slice(b"hello");
    /// record.submit()?;
    /// let got = rx.next_record(None)?;
    /// assert_eq!(&got[..], b"hello");
    /// got.consume()?;
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    ///
    /// One reservation at a time: a second while the first lives does not
    /// compile.
    ///
    /// ```compile_fail,E0499
    /// let (mut tx, _rx) = vmplace::Ring::new(4096).unwrap().split();
    /// let a = tx.reserve(1, None).unwrap();
    /// let b = tx.reserve(1, None).unwrap();
    /// a.submit().unwrap();
    /// ```
    pub fn reserve(&mut self, len: usize, timeout: Option<Duration>) -> Result<RecordMut<'_>> {
        reserve_on(&self.shared, len, timeout)
    }

    /// Waits, as [`reserve`](Producer::reserve) would, until a record of
    /// `len` bytes fits, the timeout passes (`ETIMEDOUT`) or the ring is
    /// shut down (`ESHUTDOWN`), counting nothing as dropped: to wait in
    /// slices and then reserve with `Some(Duration::ZERO)`. `EINVAL` for
    /// `len` too large.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut tx, _rx) = vmplace::Ring::new(4096)?.split();
    /// tx.wait_room(100, Some(Duration::ZERO))?;
    /// tx.reserve(100, Some(Duration::ZERO))?.submit()?;
    /// assert_eq!(tx.stats()?.dropped, 0);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn wait_room(&mut self, len: usize, timeout: Option<Duration>) -> Result<()> {
        wait_room_on(&self.shared, len, timeout)
    }

    /// The ring's counts (see [`RingStats`]).
    pub fn stats(&self) -> Result<RingStats> {
        stats_of(&self.shared)
    }
}

impl Consumer {
    /// The next record, whole and contiguous, borrowed until
    /// [`Record::consume`] releases it (dropping it without consuming
    /// leaves it to be read again). `timeout` as for
    /// [`Producer::reserve`]; `Some(Duration::ZERO)` only looks.
    ///
    /// Errors: `ETIMEDOUT` (none came), `ESHUTDOWN` (shut down and no
    /// record left), `EPEER` (what a producer wrote cannot be valid).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
    /// let err = rx.next_record(Some(Duration::ZERO)).unwrap_err();
    /// assert_eq!(err.kind(), vmplace::ErrorKind::TimedOut);
    /// tx.reserve(3, None)?.submit()?;
    /// assert_eq!(rx.next_record(None)?.len(), 3); // dropped, not consumed
    /// let again = rx.next_record(Some(Duration::ZERO))?;
    /// assert_eq!(again.len(), 3);
    /// again.consume()?;
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn next_record(&mut self, timeout: Option<Duration>) -> Result<Record<'_>> {
        let mut rec = empty_record();
        check(unsafe { sys::vmp_ring_next(self.shared.raw(), timeout_ns(timeout), &mut rec) })?;
        Ok(Record { ring: &self.shared, rec, _bytes: PhantomData })
    }

    /// How long this consumer waits for a record that a producer of a
    /// multi-producer ring reserved and has not submitted, before skipping
    /// it as abandoned (default 1 s; `None`: never skip). `EINVAL` on a
    /// single-producer ring.
    pub fn set_abandon_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        check(unsafe { sys::vmp_ring_set_abandon_timeout(self.shared.raw(), timeout_ns(timeout)) })
    }

    /// The ring's counts (see [`RingStats`]).
    pub fn stats(&self) -> Result<RingStats> {
        stats_of(&self.shared)
    }
}

/// A reserved record: derefs to its `&mut [u8]` payload, inside the ring.
/// [`submit`](RecordMut::submit) publishes it; dropping it discards it.
///
/// ```
/// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
/// let mut dropped = tx.reserve(4, None)?;
/// dropped.fill(1);
/// drop(dropped); // discarded: the consumer never sees it
/// assert_eq!(tx.stats()?.discarded, 1);
/// # Ok::<(), vmplace::Error>(())
/// ```
pub struct RecordMut<'a> {
    ring: &'a RingShared,
    rec: sys::vmp_ring_record,
    _bytes: PhantomData<&'a mut [u8]>,
}

impl RecordMut<'_> {
    /// Publishes the record (its bytes as they are now). Errors: `EINVAL`
    /// (the reservation was replaced), `ETIMEDOUT` (a multi-producer ring's
    /// consumer already abandoned it), `EPEER`.
    pub fn submit(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        check(unsafe { sys::vmp_ring_submit(this.ring.raw(), &this.rec) })
    }

    /// Gives the record up (counted as discarded), reporting the error that
    /// dropping it would ignore.
    pub fn discard(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        check(unsafe { sys::vmp_ring_discard(this.ring.raw(), &this.rec) })
    }
}

impl Deref for RecordMut<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.rec.len == 0 {
            return &[];
        }
        // The reservation gives this producer these bytes alone until
        // submit or discard, and the mirror makes them contiguous.
        unsafe { std::slice::from_raw_parts(self.rec.data as *const u8, self.rec.len) }
    }
}

impl DerefMut for RecordMut<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        if self.rec.len == 0 {
            return &mut [];
        }
        unsafe { std::slice::from_raw_parts_mut(self.rec.data as *mut u8, self.rec.len) }
    }
}

impl Drop for RecordMut<'_> {
    fn drop(&mut self) {
        unsafe { sys::vmp_ring_discard(self.ring.raw(), &self.rec) };
    }
}

impl fmt::Debug for RecordMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordMut").field("len", &self.rec.len).finish()
    }
}

/// A received record: derefs to its `&[u8]` payload, inside the ring, until
/// [`consume`](Record::consume) releases it.
///
/// ```
/// let (mut tx, mut rx) = vmplace::Ring::new(4096)?.split();
/// let mut out = tx.reserve(2, None)?;
/// out.copy_from_slice(&[4, 2]);
/// out.submit()?;
/// let record: vmplace::Record<'_> = rx.next_record(None)?;
/// assert_eq!(&record[..], &[4, 2]);
/// record.consume()?;
/// # Ok::<(), vmplace::Error>(())
/// ```
pub struct Record<'a> {
    ring: &'a RingShared,
    rec: sys::vmp_ring_record,
    _bytes: PhantomData<&'a [u8]>,
}

impl Record<'_> {
    /// Releases the record; its bytes may be reused at once. Errors:
    /// `EINVAL` (not the record the ring gave last).
    pub fn consume(self) -> Result<()> {
        check(unsafe { sys::vmp_ring_consume(self.ring.raw(), &self.rec) })
    }
}

impl Deref for Record<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.rec.len == 0 {
            return &[];
        }
        // Submitted bytes stay as they are until the consumer releases them.
        unsafe { std::slice::from_raw_parts(self.rec.data as *const u8, self.rec.len) }
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record").field("len", &self.rec.len).finish()
    }
}

/// The producing side of a multi-producer ring ([`Ring::split_multi`]):
/// `Clone`, `Send` and `Sync`; any number of threads reserve records at
/// once, each holding as many reservations as it likes. Records arrive in
/// reservation order. Unlike a [`Producer`], dropping it does not shut the
/// ring down (other producers, in this process or others, may go on): call
/// [`shutdown`](MultiProducer::shutdown) when all are done.
///
/// ```
/// use vmplace::{Ring, RingOptions};
/// let ring = Ring::with_options(1 << 16, RingOptions::new().multi_producer(true))?;
/// let (tx, mut rx) = ring.split_multi()?;
/// let threads: Vec<_> = (0..4u8)
///     .map(|t| {
///         let tx = tx.clone();
///         std::thread::spawn(move || {
///             for _ in 0..100 {
///                 let mut record = tx.reserve(1, None).unwrap();
///                 record[0] = t;
///                 record.submit().unwrap();
///             }
///         })
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// tx.shutdown(); // every producer is done: the consumer drains, then ends
/// let mut per_thread = [0u32; 4];
/// while let Ok(record) = rx.next_record(None) {
///     per_thread[record[0] as usize] += 1;
///     record.consume()?;
/// }
/// assert_eq!(per_thread, [100; 4]);
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Clone)]
pub struct MultiProducer {
    shared: Arc<RingShared>,
}

impl MultiProducer {
    /// Reserves a record of `len` bytes; as [`Producer::reserve`], except
    /// that several reservations may be held at once, from any threads.
    pub fn reserve(&self, len: usize, timeout: Option<Duration>) -> Result<RecordMut<'_>> {
        reserve_on(&self.shared, len, timeout)
    }

    /// As [`Producer::wait_room`]; another producer may take the room
    /// before this one reserves it.
    pub fn wait_room(&self, len: usize, timeout: Option<Duration>) -> Result<()> {
        wait_room_on(&self.shared, len, timeout)
    }

    /// The largest payload one record can have.
    pub fn record_max(&self) -> usize {
        unsafe { sys::vmp_ring_record_max(self.shared.raw()) }
    }

    /// The ring's counts (see [`RingStats`]).
    pub fn stats(&self) -> Result<RingStats> {
        stats_of(&self.shared)
    }

    /// Shuts the ring down for both sides (see [`Ring::shutdown`]).
    pub fn shutdown(&self) {
        unsafe { sys::vmp_ring_shutdown(self.shared.raw()) }
    }
}

native::impl_as_native!(
    MultiProducer,
    |producer| ring_fd(&producer.shared),
    "The ring's descriptor (Unix) or section HANDLE (Windows), to give a peer process."
);

impl fmt::Debug for MultiProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiProducer").field("record_max", &self.record_max()).finish()
    }
}
