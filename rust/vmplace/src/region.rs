//! Regions of reserved address space, and borrows of their bytes.

use std::ffi::CStr;
use std::fmt;
use std::ops::{BitOr, Deref, DerefMut};
use std::os::raw::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex};

use vmplace_sys as sys;

use crate::error::{check, Error, Result};
use crate::mem::{Mem, MemShared};

/// A protection: [`Prot::NONE`], [`Prot::READ`] or [`Prot::READ_WRITE`],
/// optionally with [`Prot::EXEC`] added to one that reads (`Prot::READ |
/// Prot::EXEC`). Any other combination is refused by the library with
/// `EINVAL`.
///
/// ```
/// use vmplace::Prot;
/// let rx = Prot::READ | Prot::EXEC;
/// assert!(rx.can_read() && !rx.can_write());
/// assert!(Prot::READ_WRITE.can_write());
/// assert_eq!(Prot::NONE.bits(), 0);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prot(c_int);

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot(sys::VMP_PROT_NONE);
    /// Read only.
    pub const READ: Prot = Prot(sys::VMP_PROT_READ);
    /// Read and write.
    pub const READ_WRITE: Prot = Prot(sys::VMP_PROT_RW);
    /// Execute, to be combined with a protection that reads.
    pub const EXEC: Prot = Prot(sys::VMP_PROT_EXEC);

    /// The C value (`VMP_PROT_*` bits).
    pub fn bits(self) -> i32 {
        self.0
    }

    /// The protection with these C bits, unchecked (the library checks).
    pub fn from_bits(bits: i32) -> Prot {
        Prot(bits)
    }

    /// Whether pages of this protection can be read.
    pub fn can_read(self) -> bool {
        self.0 & sys::VMP_PROT_READ != 0
    }

    /// Whether pages of this protection can be written.
    pub fn can_write(self) -> bool {
        self.0 & sys::VMP_PROT_WRITE != 0
    }
}

impl BitOr for Prot {
    type Output = Prot;
    fn bitor(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }
}

impl fmt::Debug for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.can_read() { 'r' } else { '-' };
        let w = if self.can_write() { 'w' } else { '-' };
        let x = if self.0 & sys::VMP_PROT_EXEC != 0 { 'x' } else { '-' };
        write!(f, "Prot({}{}{})", r, w, x)
    }
}

/// What a span of a region holds.
///
/// ```
/// use vmplace::{Kind, Region};
/// let region = Region::reserve(vmplace::page_size())?;
/// assert_eq!(region.query(0)?.kind, Kind::Placeholder);
/// assert_eq!(Kind::View.name(), "view");
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Reserved, inaccessible, costs no memory.
    Placeholder,
    /// Private anonymous memory.
    Private,
    /// A view of a memory object.
    View,
}

impl Kind {
    fn from_raw(kind: sys::vmp_kind) -> Kind {
        match kind {
            sys::VMP_PRIVATE => Kind::Private,
            sys::VMP_VIEW => Kind::View,
            _ => Kind::Placeholder,
        }
    }

    fn raw(self) -> sys::vmp_kind {
        match self {
            Kind::Placeholder => sys::VMP_PLACEHOLDER,
            Kind::Private => sys::VMP_PRIVATE,
            Kind::View => sys::VMP_VIEW,
        }
    }

    /// The library's name for the kind: "placeholder", "private", "view".
    pub fn name(self) -> &'static str {
        let name = unsafe { CStr::from_ptr(sys::vmp_kind_name(self.raw())) };
        name.to_str().unwrap_or("unknown")
    }
}

/// One span of a region, as [`Region::query`] and [`Region::spans`] report
/// it. Offsets and sizes are bytes from the region's base.
///
/// ```
/// use vmplace::{Kind, Mem, Prot, Region};
/// let page = vmplace::page_size();
/// let mem = Mem::create(2 * page as u64)?;
/// let region = Region::reserve(2 * page)?;
/// region.split(0, page)?;
/// region.map(page, page, &mem, page as u64, Prot::READ)?;
/// let info = region.query(page + 100)?;
/// assert_eq!((info.offset, info.size, info.kind), (page, page, Kind::View));
/// assert_eq!((info.prot, info.mem_offset), (Prot::READ, Some(page as u64)));
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanInfo {
    /// Where the span starts, from the region's base.
    pub offset: usize,
    /// Its size in bytes.
    pub size: usize,
    /// What it holds.
    pub kind: Kind,
    /// The protection of the queried page ([`Region::spans`]: of the span's
    /// first page).
    pub prot: Prot,
    /// For a view: the object offset of the span's first byte.
    pub mem_offset: Option<u64>,
}

impl SpanInfo {
    fn from_raw(info: &sys::vmp_span_info) -> SpanInfo {
        let kind = Kind::from_raw(info.kind);
        SpanInfo {
            offset: info.offset,
            size: info.size,
            kind,
            prot: Prot(info.prot),
            mem_offset: if kind == Kind::View { Some(info.mem_offset) } else { None },
        }
    }
}

/// What this crate remembers of a view it mapped: which object, so that a
/// borrow of the view's bytes is checked against the object's other views.
struct ViewRecord {
    offset: usize,
    mem: Arc<MemShared>,
}

/// `vmp_map` or `vmp_carve_map`.
type MapFn = unsafe extern "C" fn(*mut sys::vmp_region, usize, usize, *mut sys::vmp_mem, u64, c_int) -> c_int;

/// `vmp_unmap` or `vmp_unmap_coalesce`.
type UnmapFn = unsafe extern "C" fn(*mut sys::vmp_region, usize, usize) -> c_int;

/// A reserved range of address space, split into placeholders that are
/// replaced with private memory or views of memory objects.
///
/// Offsets and sizes of the layout calls are bytes from the base and
/// multiples of [`page_size`](crate::page_size). The calls that only fill
/// placeholders ([`split`](Region::split), [`carve`](Region::carve),
/// [`coalesce`](Region::coalesce), [`commit`](Region::commit),
/// [`carve_commit`](Region::carve_commit), [`map`](Region::map),
/// [`carve_map`](Region::carve_map)) take `&self` and may run from many
/// threads at once; the calls that take away or change bytes someone may
/// be reading ([`unmap`](Region::unmap),
/// [`unmap_coalesce`](Region::unmap_coalesce),
/// [`protect`](Region::protect), [`discard`](Region::discard)) take `&mut
/// self`, so they cannot run while a [`Bytes`] or [`BytesMut`] borrow
/// lives. Dropping the region releases the whole range.
///
/// # Example
///
/// ```
/// use vmplace::{Kind, Prot, Region};
/// let page = vmplace::page_size();
/// let mut region = Region::reserve(4 * page)?;
/// region.split(page, page)?;                    // placeholders: [0,1) [1,2) [2,4)
/// region.commit(page, page, Prot::READ_WRITE)?; // [1,2) is private memory
/// region.bytes_mut(page, 3)?.copy_from_slice(b"abc");
/// assert_eq!(&region.bytes(page, 3)?[..], b"abc");
/// assert_eq!(region.query(page)?.kind, Kind::Private);
/// region.unmap(page, page)?;                    // a placeholder again
/// region.coalesce(0, 4 * page)?;                // one placeholder
/// assert_eq!(region.span_count(), 1);
/// # Ok::<(), vmplace::Error>(())
/// ```
///
/// Releasing the region while a borrow of its bytes lives does not compile:
///
/// ```compile_fail,E0505
/// use vmplace::{Prot, Region};
/// let page = vmplace::page_size();
/// let region = Region::reserve(page).unwrap();
/// region.commit(0, page, Prot::READ_WRITE).unwrap();
/// let bytes = region.bytes(0, 16).unwrap();
/// drop(region); // error: cannot move out of `region` because it is borrowed
/// assert_eq!(bytes[0], 0);
/// ```
///
/// Neither does unmapping (or discarding, or changing the protection of)
/// memory while a borrow lives:
///
/// ```compile_fail,E0502
/// use vmplace::{Prot, Region};
/// let page = vmplace::page_size();
/// let mut region = Region::reserve(page).unwrap();
/// region.commit(0, page, Prot::READ_WRITE).unwrap();
/// let bytes = region.bytes(0, 16).unwrap();
/// region.unmap(0, page).unwrap(); // error: `region` is also borrowed as immutable
/// assert_eq!(bytes[0], 0);
/// ```
///
/// ```compile_fail,E0499
/// use vmplace::{Prot, Region};
/// let page = vmplace::page_size();
/// let mut region = Region::reserve(page).unwrap();
/// region.commit(0, page, Prot::READ_WRITE).unwrap();
/// let mut bytes = region.bytes_mut(0, 16).unwrap();
/// region.discard(0, page).unwrap(); // error: `region` is already borrowed as mutable
/// bytes[0] = 1;
/// ```
///
/// The same steps in the right order compile and run:
///
/// ```
/// use vmplace::{Prot, Region};
/// let page = vmplace::page_size();
/// let mut region = Region::reserve(page)?;
/// region.commit(0, page, Prot::READ_WRITE)?;
/// let bytes = region.bytes(0, 16)?;
/// assert_eq!(bytes[0], 0);
/// drop(bytes);
/// region.unmap(0, page)?;
/// drop(region);
/// # Ok::<(), vmplace::Error>(())
/// ```
pub struct Region {
    raw: NonNull<sys::vmp_region>,
    views: Mutex<Vec<ViewRecord>>,
}

// Every call on a region is atomic in the C library (one lock per region);
// release, the one that must not race, happens in Drop or `release(self)`.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    /// Reserves `size` bytes of address space (a page multiple) as one
    /// placeholder, at a base aligned to at least
    /// [`granularity`](crate::granularity). Costs no memory.
    ///
    /// Errors: `EINVAL` (size 0), `EALIGN` (size), `ENOMEM`.
    ///
    /// ```
    /// let region = vmplace::Region::reserve(16 * vmplace::page_size())?;
    /// assert_eq!(region.size(), 16 * vmplace::page_size());
    /// assert_eq!(region.span_count(), 1);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn reserve(size: usize) -> Result<Region> {
        Region::reserve_aligned(size, 0)
    }

    /// As [`reserve`](Region::reserve), with the base a multiple of
    /// `alignment` (a power of two, at least the page; 0 for the default).
    ///
    /// Errors: `EINVAL` (bad alignment), `EALIGN`, `ERANGE` (size +
    /// alignment overflows), `ENOMEM`.
    ///
    /// ```
    /// let align = 1 << 21;
    /// let region = vmplace::Region::reserve_aligned(vmplace::page_size(), align)?;
    /// assert_eq!(region.base() as usize % align, 0);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn reserve_aligned(size: usize, alignment: usize) -> Result<Region> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::vmp_reserve(size, alignment, &mut raw) })?;
        Ok(Region::from_raw(raw))
    }

    fn from_raw(raw: *mut sys::vmp_region) -> Region {
        let raw = NonNull::new(raw).expect("the C library returned success with a null region");
        Region { raw, views: Mutex::new(Vec::new()) }
    }

    /// Reserves exactly [addr, addr+size) as one placeholder, for memory
    /// that must lie at a chosen address (a guest address space, a heap
    /// below 4 GiB). Safe: nothing already mapped there is ever replaced,
    /// by this process or anyone else; a taken page is `EADDRINUSE`.
    ///
    /// Errors, in this order: `EINVAL` (addr 0, size 0), `EALIGN` (addr not
    /// a multiple of [`granularity`](crate::granularity), size not a page
    /// multiple), `ERANGE` (addr + size overflows), `EADDRINUSE` (any page
    /// of the range is taken), `ENOMEM`, OS errors (`OS:EPERM` below
    /// `vm.mmap_min_addr`).
    ///
    /// ```
    /// use vmplace::{ErrorKind, Region};
    /// let page = vmplace::page_size();
    /// // Find free room, give it back, and ask for exactly that address.
    /// let probe = Region::reserve(4 * page)?;
    /// let addr = probe.base() as usize;
    /// // Taken (by `probe`): refused, and `probe` is untouched.
    /// let err = Region::reserve_at(addr + page, page).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AddrInUse);
    /// drop(probe);
    /// let region = Region::reserve_at(addr, 4 * page)?;
    /// assert_eq!(region.base() as usize, addr);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn reserve_at(addr: usize, size: usize) -> Result<Region> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::vmp_reserve_at(addr as *mut c_void, size, &mut raw) })?;
        Ok(Region::from_raw(raw))
    }

    /// Reserves `size` bytes as one placeholder somewhere inside the address
    /// window [lowest, highest), at a multiple of `alignment` (0 or a power
    /// of two of at least the page): below 4 GiB for 32-bit pointers, for
    /// example. Nothing is ever replaced.
    ///
    /// Errors, in this order: `EINVAL` (size 0, bad alignment, lowest >=
    /// highest), `EALIGN` (size not a page multiple, lowest or highest not
    /// multiples of the granularity), `ERANGE` (the window cannot hold
    /// size bytes at that alignment), `EADDRINUSE` (no free room of that
    /// size in the window), `ENOMEM`, OS errors.
    ///
    /// ```
    /// use vmplace::Region;
    /// let page = vmplace::page_size();
    /// let (low, high) = (1usize << 32, 1usize << 40);
    /// let region = Region::reserve_in(low, high, 16 * page, 1 << 20)?;
    /// let base = region.base() as usize;
    /// assert!(base >= low && base + 16 * page <= high);
    /// assert_eq!(base % (1 << 20), 0);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn reserve_in(lowest: usize, highest: usize, size: usize, alignment: usize) -> Result<Region> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::vmp_reserve_in(lowest, highest, size, alignment, &mut raw) })?;
        Ok(Region::from_raw(raw))
    }

    /// Grows the region in place by `more` bytes (a page multiple): a new
    /// placeholder span right after the end (not merged with the span
    /// before it). The base never moves and nothing in the region changes,
    /// so borrows of its bytes stay valid: this takes `&self`, like the
    /// other calls that only add placeholders, and may run while a
    /// [`Bytes`] lives or from another thread. If any of the room is taken
    /// it is `EADDRINUSE` and nothing changed: a region is never moved.
    ///
    /// Errors, in this order: `EINVAL` (more 0), `EALIGN`, `ERANGE` (the
    /// end would overflow), `EADDRINUSE`, `ENOMEM`, OS errors.
    ///
    /// ```
    /// use vmplace::{Kind, Prot, Region};
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(page)?;
    /// region.commit(0, page, Prot::READ)?;
    /// let bytes = region.bytes(0, page)?; // stays valid across the growth
    /// match region.extend(2 * page) {
    ///     Ok(()) => {
    ///         assert_eq!(region.size(), 3 * page);
    ///         assert_eq!(region.query(page)?.kind, Kind::Placeholder);
    ///     }
    ///     // Someone else's mapping sits right after the region.
    ///     Err(err) => assert_eq!(err.kind(), vmplace::ErrorKind::AddrInUse),
    /// }
    /// assert_eq!(bytes[0], 0);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn extend(&self, more: usize) -> Result<()> {
        check(unsafe { sys::vmp_extend(self.raw(), more) })
    }

    fn raw(&self) -> *mut sys::vmp_region {
        self.raw.as_ptr()
    }

    /// The address of the region's first byte. Reading or writing through
    /// it is `unsafe`; [`bytes`](Region::bytes) is the checked way.
    pub fn base(&self) -> *mut u8 {
        unsafe { sys::vmp_base(self.raw()) as *mut u8 }
    }

    /// The region's size in bytes.
    pub fn size(&self) -> usize {
        unsafe { sys::vmp_size(self.raw()) }
    }

    /// Makes [off, off+size) a placeholder of its own, inside the
    /// placeholder that holds it. Errors: `EINVAL`, `EALIGN`, `ERANGE`,
    /// `ESTATE` (not a placeholder), `EEXTENT` (not inside one placeholder,
    /// or the whole of it), `ENOMEM`.
    pub fn split(&self, off: usize, size: usize) -> Result<()> {
        check(unsafe { sys::vmp_split(self.raw(), off, size) })
    }

    /// Makes [off, off+size) a placeholder span of its own, whether it
    /// already is exactly one (nothing changes) or lies inside a larger one
    /// (split): for an arena carving chunk after chunk out of its room,
    /// with no special case for the last. Errors: `EINVAL`, `EALIGN`,
    /// `ERANGE`, `ESTATE` (not a placeholder), `EEXTENT` (not inside one
    /// placeholder), `ENOMEM`.
    ///
    /// ```
    /// use vmplace::Region;
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(2 * page)?;
    /// region.carve(0, page)?;    // split: [0,1) [1,2)
    /// region.carve(page, page)?; // already a span of its own: no change
    /// assert_eq!(region.span_count(), 2);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn carve(&self, off: usize, size: usize) -> Result<()> {
        check(unsafe { sys::vmp_carve(self.raw(), off, size) })
    }

    /// Merges the placeholders covering [off, off+size) (at least two,
    /// whole) into one. Errors: `EINVAL`, `EALIGN`, `ERANGE`, `ESTATE`,
    /// `EEXTENT`.
    pub fn coalesce(&self, off: usize, size: usize) -> Result<()> {
        check(unsafe { sys::vmp_coalesce(self.raw(), off, size) })
    }

    /// Replaces exactly one whole placeholder with private memory,
    /// zero-filled, of protection `prot`. Errors: `EINVAL`, `EALIGN`,
    /// `ERANGE`, `ESTATE`, `EEXTENT`, `ENOMEM`, OS errors.
    pub fn commit(&self, off: usize, size: usize, prot: Prot) -> Result<()> {
        check(unsafe { sys::vmp_commit(self.raw(), off, size, prot.0) })
    }

    /// [`carve`](Region::carve) and [`commit`](Region::commit) in one call,
    /// under one lock: [off, off+size), inside one placeholder (or the whole
    /// of it), becomes private memory, zero-filled, of protection `prot`,
    /// the placeholder's rest staying placeholders on either side. For an
    /// arena committing chunk after chunk out of its room; no other thread
    /// ever sees the carved placeholder. On error nothing changed, not even
    /// the split. Errors, in this order: `EINVAL`, `EALIGN`, `ERANGE`,
    /// `ESTATE` (part of the range is not a placeholder), `EEXTENT` (the
    /// range crosses from one placeholder into the next), `ENOMEM`, OS
    /// errors.
    ///
    /// ```
    /// use vmplace::{Kind, Prot, Region};
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(3 * page)?;
    /// region.carve_commit(page, page, Prot::READ_WRITE)?; // [0,1) [1,2) private [2,3)
    /// assert_eq!(region.span_count(), 3);
    /// assert_eq!(region.query(page)?.kind, Kind::Private);
    /// region.carve_commit(0, page, Prot::READ)?; // a whole placeholder: as commit
    /// assert_eq!(region.span_count(), 3);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn carve_commit(&self, off: usize, size: usize, prot: Prot) -> Result<()> {
        check(unsafe { sys::vmp_carve_commit(self.raw(), off, size, prot.0) })
    }

    /// Replaces exactly one whole placeholder with a view of `mem` from
    /// object byte `mem_off` (a page multiple). The view keeps the object
    /// alive. Errors: `EINVAL`, `EALIGN`, `ERANGE`, `ESTATE`, `EEXTENT`,
    /// `EBOUNDS` (past the object's end), `EACCES` (write on a read-only
    /// object), `ENOMEM`, OS errors.
    ///
    /// ```
    /// use vmplace::{ErrorKind, Mem, Prot, Region};
    /// let page = vmplace::page_size();
    /// let mem = Mem::create(page as u64)?;
    /// let region = Region::reserve(2 * page)?;
    /// // Two pages of a one-page object reach past its end.
    /// let err = region.map(0, 2 * page, &mem, 0, Prot::READ).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Bounds);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn map(&self, off: usize, size: usize, mem: &Mem, mem_off: u64, prot: Prot) -> Result<()> {
        self.map_with(sys::vmp_map, off, size, mem, mem_off, prot)
    }

    /// [`carve`](Region::carve) and [`map`](Region::map) in one call, under
    /// one lock: [off, off+size), inside one placeholder (or the whole of
    /// it), becomes a view of `mem` from object byte `mem_off` (a page
    /// multiple), the placeholder's rest staying placeholders on either
    /// side. Everything [`map`](Region::map) says of the view holds: it
    /// keeps the object alive. With [`unmap_coalesce`](Region::unmap_coalesce)
    /// an arena maps views into its free room and gives them back, one call
    /// each way. On error nothing changed, not even the split. Errors, in
    /// this order: `EINVAL`, `EALIGN`, `ERANGE`, `ESTATE` (part of the range
    /// is not a placeholder), `EEXTENT` (the range crosses from one
    /// placeholder into the next), `EBOUNDS` (past the object's end),
    /// `EACCES` (write on a read-only object), `ENOMEM`, OS errors.
    ///
    /// ```
    /// use vmplace::{Kind, Mem, Prot, Region};
    /// let page = vmplace::page_size();
    /// let mem = Mem::create(page as u64)?;
    /// let region = Region::reserve(3 * page)?;
    /// region.carve_map(page, page, &mem, 0, Prot::READ)?; // [0,1) [1,2) view [2,3)
    /// assert_eq!(region.span_count(), 3);
    /// assert_eq!(region.query(page)?.kind, Kind::View);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn carve_map(&self, off: usize, size: usize, mem: &Mem, mem_off: u64, prot: Prot) -> Result<()> {
        self.map_with(sys::vmp_carve_map, off, size, mem, mem_off, prot)
    }

    /// `map` and `carve_map`: `call` maps the view, then the view is recorded.
    fn map_with(&self, call: MapFn, off: usize, size: usize, mem: &Mem, mem_off: u64, prot: Prot) -> Result<()> {
        // The record goes in under the same lock as the mapping, so that a
        // borrow on another thread never sees the view without it.
        let mut views = self.views.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        check(unsafe { call(self.raw(), off, size, mem.shared.raw(), mem_off, prot.0) })?;
        views.push(ViewRecord { offset: off, mem: Arc::clone(&mem.shared) });
        Ok(())
    }

    /// Turns [off, off+size) back into a placeholder: a whole view, or any
    /// page range of private memory. Errors: `EINVAL`, `EALIGN`, `ERANGE`,
    /// `ESTATE`, `EEXTENT`, `ENOMEM`, OS errors; on error nothing changed.
    pub fn unmap(&mut self, off: usize, size: usize) -> Result<()> {
        self.unmap_with(sys::vmp_unmap, off, size)
    }

    /// [`unmap`](Region::unmap), then the placeholder it leaves merges with
    /// the span right before it and the span right after it, each where it
    /// is a placeholder (placeholders further away stay as they are): the
    /// reverse of [`carve_map`](Region::carve_map) and
    /// [`carve_commit`](Region::carve_commit), so that an arena's free room
    /// stays one placeholder. The merge is bookkeeping (no system call).
    /// Private memory cut from the middle of a span has private pieces on
    /// both sides and merges with nothing. Errors: as
    /// [`unmap`](Region::unmap); on error nothing changed.
    ///
    /// ```
    /// use vmplace::{Prot, Region};
    /// let page = vmplace::page_size();
    /// let mut region = Region::reserve(3 * page)?;
    /// region.carve_commit(page, page, Prot::READ_WRITE)?;
    /// assert_eq!(region.span_count(), 3);
    /// region.unmap_coalesce(page, page)?; // one placeholder again
    /// assert_eq!(region.span_count(), 1);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    ///
    /// Like `unmap`, it does not compile while a borrow of the bytes lives:
    ///
    /// ```compile_fail,E0502
    /// use vmplace::{Prot, Region};
    /// let page = vmplace::page_size();
    /// let mut region = Region::reserve(2 * page).unwrap();
    /// region.carve_commit(0, page, Prot::READ_WRITE).unwrap();
    /// let bytes = region.bytes(0, 16).unwrap();
    /// region.unmap_coalesce(0, page).unwrap(); // error: `region` is also borrowed as immutable
    /// assert_eq!(bytes[0], 0);
    /// ```
    pub fn unmap_coalesce(&mut self, off: usize, size: usize) -> Result<()> {
        self.unmap_with(sys::vmp_unmap_coalesce, off, size)
    }

    /// `unmap` and `unmap_coalesce`: `call` unmaps, then the record of a
    /// view unmapped goes.
    fn unmap_with(&mut self, call: UnmapFn, off: usize, size: usize) -> Result<()> {
        let was_view = self.query(off).map(|info| info.kind == Kind::View).unwrap_or(false);
        check(unsafe { call(self.raw(), off, size) })?;
        if was_view {
            let views = self.views.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
            views.retain(|view| view.offset != off);
        }
        Ok(())
    }

    /// Changes the protection of [off, off+size), inside one private or
    /// view span. Errors: `EINVAL`, `EALIGN`, `ERANGE`, `ESTATE`, `EEXTENT`,
    /// `EACCES` (write on a view of a read-only object; more than a view's
    /// ceiling: a view mapped executable can never be made writable, nor a
    /// view mapped without execute executable), `ENOMEM`, OS errors.
    pub fn protect(&mut self, off: usize, size: usize, prot: Prot) -> Result<()> {
        check(unsafe { sys::vmp_protect(self.raw(), off, size, prot.0) })
    }

    /// Gives the memory of the private pages [off, off+size) back to the
    /// system; they read as zero afterwards. Errors: `EINVAL`, `EALIGN`,
    /// `ERANGE`, `ESTATE`, `EEXTENT`, `ENOMEM`, OS errors.
    ///
    /// ```
    /// use vmplace::{Prot, Region};
    /// let page = vmplace::page_size();
    /// let mut region = Region::reserve(page)?;
    /// region.commit(0, page, Prot::READ_WRITE)?;
    /// region.bytes_mut(0, 1)?[0] = 42;
    /// region.discard(0, page)?;
    /// assert_eq!(region.bytes(0, 1)?[0], 0);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn discard(&mut self, off: usize, size: usize) -> Result<()> {
        check(unsafe { sys::vmp_discard(self.raw(), off, size) })
    }

    /// Describes the span holding byte `off` (any offset inside the
    /// region). Errors: `ERANGE`.
    pub fn query(&self, off: usize) -> Result<SpanInfo> {
        Ok(SpanInfo::from_raw(&self.query_raw(off)?))
    }

    fn query_raw(&self, off: usize) -> Result<sys::vmp_span_info> {
        let mut info = sys::vmp_span_info {
            start: ptr::null_mut(),
            offset: 0,
            size: 0,
            kind: sys::VMP_PLACEHOLDER,
            prot: 0,
            mem: ptr::null_mut(),
            mem_offset: 0,
        };
        // The address is only compared by the library, never dereferenced.
        let addr = self.base().wrapping_add(off) as *const c_void;
        check(unsafe { sys::vmp_query(self.raw(), addr, &mut info) })?;
        Ok(info)
    }

    /// The number of spans.
    pub fn span_count(&self) -> usize {
        unsafe { sys::vmp_span_count(self.raw()) }
    }

    /// How many kernel mappings the region costs now (what counts against
    /// Linux's `vm.max_map_count`): one per run of pages of one kind and
    /// protection, however many spans make it up.
    ///
    /// ```
    /// use vmplace::{Prot, Region};
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(4 * page)?;
    /// region.split(0, page)?;
    /// region.split(page, page)?;
    /// assert_eq!(region.span_count(), 3);
    /// assert_eq!(region.mapping_count(), 1); // adjacent placeholders count once
    /// region.commit(page, page, Prot::READ)?;
    /// assert_eq!(region.mapping_count(), 3);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn mapping_count(&self) -> usize {
        unsafe { sys::vmp_mapping_count(self.raw()) }
    }

    /// Names the private pages [off, off+size), inside one private span,
    /// in the process's map (`[anon:NAME]` in `/proc/self/maps` on Linux
    /// 5.17+; elsewhere the arguments are checked and nothing is shown, see
    /// [`Caps::labels`](crate::Caps::labels)). A name is 1 to 79 printable
    /// ASCII characters, none of `` \ ` $ [ ] ``.
    ///
    /// Errors, in this order: `EINVAL` (size 0, invalid name), `EALIGN`,
    /// `ERANGE`, `ESTATE` (not private memory), `EEXTENT` (not inside one
    /// span), `EMAPLIMIT`, `ENOMEM`, OS errors.
    ///
    /// ```
    /// use vmplace::{ErrorKind, Prot, Region};
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(2 * page)?;
    /// region.split(0, page)?;
    /// region.commit(0, page, Prot::READ_WRITE)?;
    /// region.label(0, page, "guest-ram")?;
    /// assert_eq!(region.label(0, page, "no$dollars").unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// assert_eq!(region.label(page, page, "free").unwrap_err().kind(), ErrorKind::State);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn label(&self, off: usize, size: usize, name: &str) -> Result<()> {
        let name = std::ffi::CString::new(name).map_err(|_| Error::from_code(sys::VMP_EINVAL))?;
        check(unsafe { sys::vmp_label(self.raw(), off, size, name.as_ptr()) })
    }

    /// Every span, in address order.
    ///
    /// ```
    /// use vmplace::{Kind, Prot, Region};
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(3 * page)?;
    /// region.split(page, page)?;
    /// region.commit(page, page, Prot::READ)?;
    /// let kinds: Vec<Kind> = region.spans().iter().map(|s| s.kind).collect();
    /// assert_eq!(kinds, [Kind::Placeholder, Kind::Private, Kind::Placeholder]);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn spans(&self) -> Vec<SpanInfo> {
        unsafe extern "C" fn collect(info: *const sys::vmp_span_info, arg: *mut c_void) -> c_int {
            let spans = &mut *(arg as *mut Vec<SpanInfo>);
            spans.push(SpanInfo::from_raw(&*info));
            0
        }
        let mut spans: Vec<SpanInfo> = Vec::new();
        let arg = &mut spans as *mut Vec<SpanInfo> as *mut c_void;
        unsafe { sys::vmp_foreach_span(self.raw(), Some(collect), arg) };
        spans
    }

    /// Checks that every page of [off, off+len) can be accessed as asked,
    /// and records borrows of the view bytes among them.
    fn borrow_range(&self, off: usize, len: usize, write: bool) -> Result<Vec<(Arc<MemShared>, u64)>> {
        let end = off.checked_add(len).ok_or_else(|| Error::from_code(sys::VMP_ERANGE))?;
        if end > self.size() {
            return Err(Error::from_code(sys::VMP_ERANGE));
        }
        let page = crate::page_size();
        let views = self.views.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut borrows = Vec::new();
        let mut at = off;
        let result = (|| {
            while at < end {
                let info = self.query_raw(at)?;
                let span_end = info.offset + info.size;
                if info.kind == sys::VMP_PLACEHOLDER {
                    return Err(Error::from_code(sys::VMP_ESTATE));
                }
                // Protections may differ page by page inside a span.
                let mut page_start = at - at % page;
                while page_start < span_end && page_start < end {
                    let prot = if page_start <= at { Prot(info.prot) } else { self.query(page_start)?.prot };
                    if !prot.can_read() || (write && !prot.can_write()) {
                        return Err(Error::from_code(sys::VMP_EACCES));
                    }
                    page_start += page;
                }
                let piece_end = span_end.min(end);
                if info.kind == sys::VMP_VIEW {
                    let record = views
                        .iter()
                        .find(|view| view.offset == info.offset)
                        .expect("every view of a Region was mapped through Region::map");
                    let start = info.mem_offset + (at - info.offset) as u64;
                    let stop = info.mem_offset + (piece_end - info.offset) as u64;
                    let id = record.mem.borrow(start, stop, write)?;
                    borrows.push((Arc::clone(&record.mem), id));
                }
                at = piece_end;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(borrows),
            Err(err) => {
                for (mem, id) in borrows {
                    mem.unborrow(id);
                }
                Err(err)
            }
        }
    }

    /// Borrows the bytes [off, off+len) for reading. Every page must be
    /// private memory or a view, readable.
    ///
    /// Errors: `ERANGE` (past the region), `ESTATE` (a placeholder),
    /// `EACCES` (a page that cannot be read), `BORROWED` (view bytes that
    /// another region's mapping of the same object has borrowed mutably).
    ///
    /// ```
    /// use vmplace::{ErrorKind, Prot, Region};
    /// let page = vmplace::page_size();
    /// let region = Region::reserve(2 * page)?;
    /// region.split(0, page)?;
    /// region.commit(0, page, Prot::READ)?;
    /// assert!(region.bytes(0, page)?.iter().all(|&b| b == 0));
    /// assert_eq!(region.bytes(0, 2 * page).unwrap_err().kind(), ErrorKind::State);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn bytes(&self, off: usize, len: usize) -> Result<Bytes<'_>> {
        let borrows = self.borrow_range(off, len, false)?;
        let slice = unsafe { std::slice::from_raw_parts(self.base().add(off), len) };
        Ok(Bytes { slice, borrows })
    }

    /// Borrows the bytes [off, off+len) for writing. Every page must be
    /// private memory or a view, readable and writable. A range that
    /// covers two views of the same object bytes is refused: it would alias
    /// itself.
    ///
    /// Errors: as [`bytes`](Region::bytes), `EACCES` also for a page that
    /// cannot be written, `BORROWED` for view bytes borrowed elsewhere.
    ///
    /// ```
    /// use vmplace::{ErrorKind, Mem, Prot, Region};
    /// let page = vmplace::page_size();
    /// let mem = Mem::create(page as u64)?;
    /// let mut region = Region::reserve(2 * page)?;
    /// region.split(0, page)?;
    /// region.map(0, page, &mem, 0, Prot::READ_WRITE)?;
    /// region.map(page, page, &mem, 0, Prot::READ_WRITE)?;
    /// region.bytes_mut(page, 2)?.copy_from_slice(b"ok");
    /// // Both copies of the page at once would be two `&mut` to one byte.
    /// let err = region.bytes_mut(0, 2 * page).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Borrowed);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn bytes_mut(&mut self, off: usize, len: usize) -> Result<BytesMut<'_>> {
        let borrows = self.borrow_range(off, len, true)?;
        let slice = unsafe { std::slice::from_raw_parts_mut(self.base().add(off), len) };
        Ok(BytesMut { slice, borrows })
    }

    /// Unmaps everything and gives the address range back, reporting the
    /// library's error (dropping the region does the same silently).
    pub fn release(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        let code = unsafe { sys::vmp_release(this.raw()) };
        // The records drop their object references after the views are gone.
        drop(unsafe { ptr::read(&this.views) });
        check(code)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        unsafe { sys::vmp_release(self.raw()) };
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region").field("base", &self.base()).field("size", &self.size()).finish()
    }
}

fn unborrow_all(borrows: &mut Vec<(Arc<MemShared>, u64)>) {
    for (mem, id) in borrows.drain(..) {
        mem.unborrow(id);
    }
}

/// Bytes of a [`Region`] borrowed for reading; derefs to `&[u8]`. The
/// region cannot be released, nor its memory unmapped, discarded or
/// re-protected, while this lives.
///
/// ```
/// use vmplace::{Prot, Region};
/// let page = vmplace::page_size();
/// let region = Region::reserve(page)?;
/// region.commit(0, page, Prot::READ)?;
/// let bytes: vmplace::Bytes<'_> = region.bytes(8, 8)?;
/// assert_eq!(bytes.len(), 8);
/// assert_eq!(&bytes[..], &[0u8; 8]);
/// # Ok::<(), vmplace::Error>(())
/// ```
pub struct Bytes<'a> {
    slice: &'a [u8],
    borrows: Vec<(Arc<MemShared>, u64)>,
}

impl Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.slice
    }
}

impl AsRef<[u8]> for Bytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self.slice
    }
}

impl Drop for Bytes<'_> {
    fn drop(&mut self) {
        unborrow_all(&mut self.borrows);
    }
}

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bytes").field("ptr", &self.slice.as_ptr()).field("len", &self.slice.len()).finish()
    }
}

/// Bytes of a [`Region`] borrowed for writing; derefs to `&mut [u8]`. The
/// region is borrowed mutably while this lives.
///
/// ```
/// use vmplace::{Prot, Region};
/// let page = vmplace::page_size();
/// let mut region = Region::reserve(page)?;
/// region.commit(0, page, Prot::READ_WRITE)?;
/// let mut bytes: vmplace::BytesMut<'_> = region.bytes_mut(0, page)?;
/// bytes.fill(0xAB);
/// drop(bytes);
/// assert_eq!(region.bytes(page - 1, 1)?[0], 0xAB);
/// # Ok::<(), vmplace::Error>(())
/// ```
pub struct BytesMut<'a> {
    slice: &'a mut [u8],
    borrows: Vec<(Arc<MemShared>, u64)>,
}

impl Deref for BytesMut<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.slice
    }
}

impl DerefMut for BytesMut<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.slice
    }
}

impl AsRef<[u8]> for BytesMut<'_> {
    fn as_ref(&self) -> &[u8] {
        self.slice
    }
}

impl AsMut<[u8]> for BytesMut<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.slice
    }
}

impl Drop for BytesMut<'_> {
    fn drop(&mut self) {
        unborrow_all(&mut self.borrows);
    }
}

impl fmt::Debug for BytesMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytesMut").field("ptr", &self.slice.as_ptr()).field("len", &self.slice.len()).finish()
    }
}
