//! A growable byte deque whose contents are always one contiguous slice.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};

use vmplace_sys as sys;

use crate::error::{check, Error, Result};

/// A mirrored buffer: `capacity` bytes mapped twice back to back, so that
/// any run of up to `capacity` bytes from any start is contiguous.
struct Mirror {
    ring: NonNull<sys::vmp_ring>,
    data: *mut u8,
    capacity: usize,
}

impl Mirror {
    fn new(min_capacity: usize) -> Result<Mirror> {
        let mut raw = ptr::null_mut();
        // A child made by fork() must not share the parent's bytes (they
        // are a shared mapping): ask that it gets none where that is
        // possible.
        let mut code = unsafe { sys::vmp_ring_create(min_capacity, sys::VMP_RING_NO_INHERIT, &mut raw) };
        if code == sys::VMP_ENOTSUP {
            code = unsafe { sys::vmp_ring_create(min_capacity, 0, &mut raw) };
        }
        check(code)?;
        let ring = NonNull::new(raw).expect("the C library returned success with a null ring");
        let data = unsafe { sys::vmp_ring_data(raw) as *mut u8 };
        let capacity = unsafe { sys::vmp_ring_capacity(raw) };
        Ok(Mirror { ring, data, capacity })
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        unsafe { sys::vmp_ring_close(self.ring.as_ptr()) };
    }
}

/// A double-ended queue of bytes, like `VecDeque<u8>`, whose contents are
/// always one contiguous slice: it derefs to `&[u8]` / `&mut [u8]` with no
/// `make_contiguous` step, because its buffer is mapped twice back to back
/// (a vmplace mirrored ring). What slice-deque's users wanted, without its
/// retry loop: the mapping is placed race-free in one reservation.
///
/// Capacity is a multiple of the page and grows by doubling. An empty deque
/// made with [`new`](MirroredDeque::new) maps nothing until the first byte
/// arrives. The growing calls panic when the system refuses memory, as
/// `Vec` does; the `try_` calls return the [`Error`].
///
/// # Example
///
/// ```
/// use vmplace::MirroredDeque;
/// let mut deque = MirroredDeque::with_capacity(4096);
/// deque.extend_from_slice(&[0u8; 4000]);
/// deque.drain_front(3990);                 // the front is near the end now
/// deque.extend_from_slice(b"wraps around");
/// // No split at the wrap: one slice.
/// assert_eq!(&deque[10..], b"wraps around");
/// deque.push_front(b'>');
/// assert_eq!(deque.front(), Some(b'>'));
/// assert_eq!(deque.pop_back(), Some(b'd'));
/// # Ok::<(), vmplace::Error>(())
/// ```
///
/// Growing while a slice of the contents is borrowed does not compile:
///
/// ```compile_fail,E0502
/// let mut deque = vmplace::MirroredDeque::new();
/// deque.push_back(1);
/// let slice: &[u8] = &deque;
/// deque.push_back(2); // error: cannot borrow `deque` as mutable
/// assert_eq!(slice[0], 1);
/// ```
pub struct MirroredDeque {
    mirror: Option<Mirror>,
    head: usize,
    len: usize,
}

// The deque owns its buffer like a Vec owns its heap block.
unsafe impl Send for MirroredDeque {}
unsafe impl Sync for MirroredDeque {}

impl MirroredDeque {
    /// An empty deque; no memory is mapped until bytes are added.
    pub fn new() -> MirroredDeque {
        MirroredDeque { mirror: None, head: 0, len: 0 }
    }

    /// An empty deque with room for at least `capacity` bytes. Panics when
    /// the memory cannot be had; see
    /// [`try_with_capacity`](MirroredDeque::try_with_capacity).
    ///
    /// ```
    /// let deque = vmplace::MirroredDeque::with_capacity(100);
    /// assert!(deque.capacity() >= 100);
    /// assert!(deque.is_empty());
    /// ```
    pub fn with_capacity(capacity: usize) -> MirroredDeque {
        MirroredDeque::try_with_capacity(capacity).unwrap_or_else(|err| panic!("MirroredDeque: {}", err))
    }

    /// As [`with_capacity`](MirroredDeque::with_capacity), returning the
    /// error (`ENOMEM`, OS errors) instead of panicking.
    pub fn try_with_capacity(capacity: usize) -> Result<MirroredDeque> {
        let mut deque = MirroredDeque::new();
        deque.try_reserve(capacity)?;
        Ok(deque)
    }

    /// The number of bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes fit without growing (0 before anything was mapped).
    pub fn capacity(&self) -> usize {
        self.mirror.as_ref().map_or(0, |m| m.capacity)
    }

    /// The contents, front first, as one slice.
    pub fn as_slice(&self) -> &[u8] {
        match &self.mirror {
            // `head < capacity` and `len <= capacity`: inside the two copies.
            Some(m) => unsafe { std::slice::from_raw_parts(m.data.add(self.head), self.len) },
            None => &[],
        }
    }

    /// The contents, front first, as one mutable slice. Its bytes are
    /// distinct: `len` never exceeds the capacity, so no byte appears twice.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &self.mirror {
            Some(m) => unsafe { std::slice::from_raw_parts_mut(m.data.add(self.head), self.len) },
            None => &mut [],
        }
    }

    /// Makes room for at least `additional` more bytes. Panics when the
    /// memory cannot be had; see [`try_reserve`](MirroredDeque::try_reserve).
    pub fn reserve(&mut self, additional: usize) {
        self.try_reserve(additional).unwrap_or_else(|err| panic!("MirroredDeque: {}", err))
    }

    /// Makes room for at least `additional` more bytes: a new buffer of
    /// at least twice the capacity, the contents moved to it. On error the
    /// deque is unchanged. Errors: `ENOMEM`, `ERANGE` (overflow), OS errors.
    ///
    /// ```
    /// let mut deque = vmplace::MirroredDeque::new();
    /// deque.try_reserve(10_000)?;
    /// assert!(deque.capacity() >= 10_000);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        let needed = self.len.checked_add(additional).ok_or_else(|| Error::from_code(sys::VMP_ERANGE))?;
        if needed <= self.capacity() {
            return Ok(());
        }
        let target = needed.max(self.capacity().saturating_mul(2)).max(1);
        let mirror = Mirror::new(target)?;
        // The contents go to the start of the new buffer.
        unsafe { ptr::copy_nonoverlapping(self.as_slice().as_ptr(), mirror.data, self.len) };
        self.mirror = Some(mirror);
        self.head = 0;
        Ok(())
    }

    /// Where the next byte at the back goes (an offset into the first copy).
    fn tail(&self) -> usize {
        let cap = self.capacity();
        (self.head + self.len) % cap
    }

    fn data(&self) -> *mut u8 {
        self.mirror.as_ref().map_or(ptr::null_mut(), |m| m.data)
    }

    /// Appends one byte at the back.
    pub fn push_back(&mut self, byte: u8) {
        self.reserve(1);
        let tail = self.tail();
        unsafe { *self.data().add(tail) = byte };
        self.len += 1;
    }

    /// Inserts one byte at the front.
    ///
    /// ```
    /// let mut deque = vmplace::MirroredDeque::new();
    /// deque.push_back(2);
    /// deque.push_front(1);
    /// assert_eq!(&deque[..], &[1, 2]);
    /// ```
    pub fn push_front(&mut self, byte: u8) {
        self.reserve(1);
        let cap = self.capacity();
        self.head = (self.head + cap - 1) % cap;
        unsafe { *self.data().add(self.head) = byte };
        self.len += 1;
    }

    /// Removes and returns the byte at the front.
    pub fn pop_front(&mut self) -> Option<u8> {
        let byte = self.front()?;
        self.drain_front(1);
        Some(byte)
    }

    /// Removes and returns the byte at the back.
    pub fn pop_back(&mut self) -> Option<u8> {
        let byte = self.back()?;
        self.len -= 1;
        Some(byte)
    }

    /// The byte at the front.
    pub fn front(&self) -> Option<u8> {
        self.as_slice().first().copied()
    }

    /// The byte at the back.
    pub fn back(&self) -> Option<u8> {
        self.as_slice().last().copied()
    }

    /// Appends `bytes` at the back in one copy.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let spare = self.spare_capacity_mut();
        spare[..bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Inserts `bytes` at the front in one copy, keeping their order.
    ///
    /// ```
    /// let mut deque: vmplace::MirroredDeque = b"world".as_slice().into();
    /// deque.prepend_from_slice(b"hello ");
    /// assert_eq!(&deque[..], b"hello world");
    /// ```
    pub fn prepend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let cap = self.capacity();
        let n = bytes.len();
        self.head = (self.head + cap - n % cap) % cap;
        // [head, head + n) is free and contiguous thanks to the mirror.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.data().add(self.head), n) };
        self.len += n;
    }

    /// Removes the first `n` bytes (all of them when `n` is more).
    pub fn drain_front(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.head = (self.head + n) % self.capacity();
        self.len -= n;
    }

    /// Keeps the first `len` bytes, dropping the rest from the back.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Removes every byte (the capacity stays).
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }

    /// The free space after the contents, contiguous: fill it and call
    /// [`commit_back`](MirroredDeque::commit_back) to append without an
    /// intermediate buffer (for example `read` from a file straight in).
    /// Its bytes are initialized (whatever was there before).
    ///
    /// ```
    /// use std::io::Read;
    /// let mut deque = vmplace::MirroredDeque::with_capacity(4096);
    /// let n = (&b"from a reader"[..]).read(deque.spare_capacity_mut()).unwrap();
    /// deque.commit_back(n);
    /// assert_eq!(&deque[..], b"from a reader");
    /// ```
    pub fn spare_capacity_mut(&mut self) -> &mut [u8] {
        let free = self.capacity() - self.len;
        if free == 0 {
            return &mut [];
        }
        let tail = self.tail();
        // [tail, tail + free) never overlaps the contents, mirror included.
        unsafe { std::slice::from_raw_parts_mut(self.data().add(tail), free) }
    }

    /// Appends the first `n` bytes of
    /// [`spare_capacity_mut`](MirroredDeque::spare_capacity_mut). Panics
    /// when `n` is more than the free space.
    pub fn commit_back(&mut self, n: usize) {
        assert!(n <= self.capacity() - self.len, "commit_back past the free space");
        self.len += n;
    }
}

impl Default for MirroredDeque {
    fn default() -> MirroredDeque {
        MirroredDeque::new()
    }
}

impl Deref for MirroredDeque {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for MirroredDeque {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for MirroredDeque {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for MirroredDeque {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl Clone for MirroredDeque {
    fn clone(&self) -> MirroredDeque {
        let mut copy = MirroredDeque::with_capacity(self.len);
        copy.extend_from_slice(self.as_slice());
        copy
    }
}

impl PartialEq for MirroredDeque {
    fn eq(&self, other: &MirroredDeque) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for MirroredDeque {}

impl fmt::Debug for MirroredDeque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl From<&[u8]> for MirroredDeque {
    fn from(bytes: &[u8]) -> MirroredDeque {
        let mut deque = MirroredDeque::with_capacity(bytes.len());
        deque.extend_from_slice(bytes);
        deque
    }
}

impl Extend<u8> for MirroredDeque {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for byte in iter {
            self.push_back(byte);
        }
    }
}

impl<'a> Extend<&'a u8> for MirroredDeque {
    fn extend<I: IntoIterator<Item = &'a u8>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied())
    }
}

impl std::iter::FromIterator<u8> for MirroredDeque {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> MirroredDeque {
        let mut deque = MirroredDeque::new();
        deque.extend(iter);
        deque
    }
}

impl Write for MirroredDeque {
    /// Appends everything (growing as needed).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.try_reserve(buf.len()).map_err(io::Error::from)?;
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for MirroredDeque {
    /// Takes bytes from the front.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len);
        buf[..n].copy_from_slice(&self.as_slice()[..n]);
        self.drain_front(n);
        Ok(n)
    }
}

impl BufRead for MirroredDeque {
    /// All the contents, in place.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.as_slice())
    }

    fn consume(&mut self, amt: usize) {
        self.drain_front(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::collections::VecDeque;

    /// A small deterministic generator, so that the model test needs no
    /// dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn behaves_like_vecdeque_and_stays_contiguous() {
        let mut rng = Lcg(7);
        let mut deque = MirroredDeque::new();
        let mut model: VecDeque<u8> = VecDeque::new();
        for step in 0..20_000u32 {
            match rng.next() % 7 {
                0 => {
                    let b = rng.next() as u8;
                    deque.push_back(b);
                    model.push_back(b);
                }
                1 => {
                    let b = rng.next() as u8;
                    deque.push_front(b);
                    model.push_front(b);
                }
                2 => assert_eq!(deque.pop_front(), model.pop_front()),
                3 => assert_eq!(deque.pop_back(), model.pop_back()),
                4 => {
                    let n = (rng.next() % 3000) as usize;
                    let chunk: Vec<u8> = (0..n).map(|i| (i as u32 ^ step) as u8).collect();
                    deque.extend_from_slice(&chunk);
                    model.extend(chunk.iter());
                }
                5 => {
                    let n = (rng.next() % 2000) as usize;
                    deque.drain_front(n);
                    model.drain(..n.min(model.len()));
                }
                _ => {
                    let n = (rng.next() % 100) as usize;
                    let chunk: Vec<u8> = (0..n).map(|i| i as u8).collect();
                    deque.prepend_from_slice(&chunk);
                    for &b in chunk.iter().rev() {
                        model.push_front(b);
                    }
                }
            }
            assert_eq!(deque.len(), model.len());
            if step % 64 == 0 {
                model.make_contiguous();
                assert_eq!(deque.as_slice(), model.as_slices().0, "step {}", step);
            }
        }
    }

    #[test]
    fn the_mirror_makes_a_wrapped_run_contiguous() {
        let mut deque = MirroredDeque::with_capacity(1);
        let cap = deque.capacity();
        deque.extend_from_slice(&vec![1u8; cap]);
        deque.drain_front(cap - 3);
        deque.extend_from_slice(&[9, 8, 7, 6]);
        // Bytes 3.. sit at physical 0..4, read through the second copy.
        assert_eq!(deque.as_slice(), &[1, 1, 1, 9, 8, 7, 6]);
        assert_eq!(deque.capacity(), cap, "no growth was needed");
        deque.as_mut_slice()[3] = 0;
        assert_eq!(deque[3], 0);
    }

    #[test]
    fn growing_keeps_the_contents_and_doubles() {
        let mut deque = MirroredDeque::with_capacity(1);
        let cap = deque.capacity();
        let data: Vec<u8> = (0..cap + 1).map(|i| i as u8).collect();
        deque.extend_from_slice(&data);
        assert!(deque.capacity() >= 2 * cap);
        assert_eq!(deque.as_slice(), &data[..]);
    }

    #[test]
    fn an_impossible_reservation_fails_and_changes_nothing() {
        let mut deque: MirroredDeque = b"keep".as_slice().into();
        let err = deque.try_reserve(usize::MAX).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Range);
        let err = deque.try_reserve(usize::MAX / 4).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::OutOfMemory | ErrorKind::Os | ErrorKind::InvalidArgument), "{}", err);
        assert_eq!(&deque[..], b"keep");
    }

    #[test]
    fn read_write_and_bufread() {
        let mut deque = MirroredDeque::new();
        deque.write_all(b"line one\nline two\n").unwrap();
        let mut line = String::new();
        deque.read_line(&mut line).unwrap();
        assert_eq!(line, "line one\n");
        let mut rest = Vec::new();
        deque.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"line two\n");
        assert!(deque.is_empty());
    }
}
