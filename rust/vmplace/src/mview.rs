//! Contiguous multi-file views.

use std::ffi::CString;
use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::ptr::{self, NonNull};

use vmplace_sys as sys;

use crate::error::{check, Error, Result};
use crate::mem::c_path;
use crate::native::{self, BorrowedNative};

enum Source<'a> {
    Path(&'a Path),
    Fd(BorrowedNative<'a>),
}

/// One segment of an [`MView`]: a file by path or by descriptor, and the
/// byte range of it to map (all of it by default).
///
/// ```
/// use std::path::Path;
/// let whole = vmplace::Segment::path(Path::new("/etc/hostname"));
/// let part = vmplace::Segment::path(Path::new("/etc/hostname")).range(0, 4096);
/// # let _ = (whole, part);
/// ```
pub struct Segment<'a> {
    source: Source<'a>,
    offset: u64,
    length: u64,
}

impl<'a> Segment<'a> {
    /// The whole file at `path`.
    pub fn path<P: AsRef<Path> + ?Sized>(path: &'a P) -> Segment<'a> {
        Segment { source: Source::Path(path.as_ref()), offset: 0, length: 0 }
    }

    /// The whole file open as `fd` (a `BorrowedFd`; on Windows a
    /// `BorrowedHandle` of a file). It stays the caller's; the view keeps a
    /// reference of its own.
    pub fn fd(fd: BorrowedNative<'a>) -> Segment<'a> {
        Segment { source: Source::Fd(fd), offset: 0, length: 0 }
    }

    /// Only the bytes [offset, offset+length) of the file; `offset` a
    /// multiple of the page, `length` 0 for "to the end".
    pub fn range(mut self, offset: u64, length: u64) -> Segment<'a> {
        self.offset = offset;
        self.length = length;
        self
    }
}

/// The C segments and the path strings they point into, kept alive
/// together for the call.
struct RawSegments {
    _paths: Vec<Option<CString>>,
    raw: Vec<sys::vmp_segment>,
}

fn raw_segments(segments: &[Segment<'_>]) -> Result<RawSegments> {
    let mut paths = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        paths.push(match segment.source {
            Source::Path(path) => Some(c_path(path).map_err(|err| err.with_segment(index))?),
            Source::Fd(_) => None,
        });
    }
    let raw = segments
        .iter()
        .zip(paths.iter())
        .map(|(segment, path)| sys::vmp_segment {
            path: path.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
            fd: match segment.source {
                Source::Fd(fd) => native::raw(&fd),
                Source::Path(_) => -1,
            },
            offset: segment.offset,
            length: segment.length,
        })
        .collect();
    Ok(RawSegments { _paths: paths, raw })
}

/// Where a byte of an [`MView`] comes from: [`MView::locate`].
///
/// ```
/// # let path = std::env::temp_dir().join(format!("vmplace-doc-locate-{}", std::process::id()));
/// # std::fs::write(&path, vec![0u8; 2 * vmplace::page_size()]).unwrap();
/// use vmplace::{Location, MView, Segment};
/// let page = vmplace::page_size() as u64;
/// let view = unsafe { MView::open(&[Segment::path(&path).range(page, 0)], 0)? };
/// assert_eq!(view.locate(1)?, Location { segment: 0, file_offset: page + 1 });
/// # drop(view); std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The segment's index (0 is the first).
    pub segment: usize,
    /// The byte's offset in that segment's file.
    pub file_offset: u64,
}

/// One segment as the view holds it: [`MView::describe`].
///
/// ```
/// # let path = std::env::temp_dir().join(format!("vmplace-doc-describe-{}", std::process::id()));
/// # std::fs::write(&path, b"12345").unwrap();
/// use vmplace::{MView, Segment};
/// let view = unsafe { MView::open(&[Segment::path(&path)], 0)? };
/// let info = view.describe(0)?;
/// assert_eq!((info.file_offset, info.length, info.view_offset), (0, 5, 0));
/// // The descriptor is the view's: for sendfile, copy_file_range, ...
/// let copy = info.fd.unwrap().try_clone_to_owned().unwrap();
/// assert_eq!(std::fs::File::from(copy).metadata().unwrap().len(), 5);
/// # drop(view); std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SegmentInfo<'a> {
    /// The segment file's descriptor (on Windows its file HANDLE), still
    /// the view's (for `sendfile`, `copy_file_range` and the like); `None`
    /// for a retired segment, and under [`MViewOptions::close_files`] for
    /// one that is no longer last.
    pub fd: Option<BorrowedNative<'a>>,
    /// Where the segment starts in its file.
    pub file_offset: u64,
    /// Its bytes.
    pub length: u64,
    /// Where it starts in the view.
    pub view_offset: u64,
}

/// How an [`MView`] is opened: [`MView::open_with`].
///
/// ```
/// # let path = std::env::temp_dir().join(format!("vmplace-doc-mview-options-{}", std::process::id()));
/// # std::fs::write(&path, vec![0u8; vmplace::page_size()]).unwrap();
/// use vmplace::{MView, MViewOptions, Segment};
/// let options = MViewOptions::new().close_files(true);
/// let view = unsafe { MView::open_with(&[Segment::path(&path)], 0, options)? };
/// assert_eq!(view.len(), vmplace::page_size());
/// # drop(view); std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MViewOptions {
    flags: u32,
}

impl MViewOptions {
    /// Read-only, one descriptor kept per segment.
    pub fn new() -> MViewOptions {
        MViewOptions { flags: 0 }
    }

    /// Maps the files read-write and shared (as
    /// [`open_writable`](MView::open_writable)).
    pub fn write(mut self, on: bool) -> MViewOptions {
        self.set(sys::VMP_MVIEW_WRITE, on);
        self
    }

    /// Keeps no descriptor for a segment once it is mapped and no longer
    /// last (the last keeps one: it may grow), so that 10^5 segments cost
    /// at most two descriptors. Every segment must then be given by path
    /// ([`Segment::fd`] is `EINVAL`): check, read and scan open the path
    /// again to ask its file's size.
    pub fn close_files(mut self, on: bool) -> MViewOptions {
        self.set(sys::VMP_MVIEW_CLOSE_FILES, on);
        self
    }

    fn set(&mut self, flag: u32, on: bool) {
        self.flags = crate::with_flag(self.flags, flag, on);
    }
}

/// Several files, or ranges of files, mapped back to back and read as one
/// `&[u8]`, with room reserved after them so that more segments can be
/// [`append`](MView::append)ed without moving the base.
///
/// Page rule: every segment's file offset is a multiple of the page, and
/// every segment but the last has a length that is one (else `EALIGN`,
/// with [`Error::segment`] naming it). The last may end anywhere:
/// [`len`](MView::len) is the exact byte count.
///
/// Live logs: a last segment given "to the end of the file" follows its
/// file as it grows ([`refresh`](MView::refresh)); the writer's next file
/// is [`append`](MView::append)ed; old segments are
/// [`retire`](MView::retire)d so their files can be deleted. Byte `i` of
/// the view is byte `i` for the view's life; once segments are retired the
/// slice starts at [`live_offset`](MView::live_offset).
/// [`read_at`](MView::read_at) and [`scan`](MView::scan) read without
/// faulting: a file truncated under them is [`ErrorKind::Gone`](crate::ErrorKind::Gone).
///
/// # Example
///
/// ```
/// # let dir = std::env::temp_dir();
/// # let page = vmplace::page_size();
/// # let a = dir.join(format!("vmplace-doc-mview-a-{}", std::process::id()));
/// # let b = dir.join(format!("vmplace-doc-mview-b-{}", std::process::id()));
/// std::fs::write(&a, vec![b'a'; page]).unwrap();   // a whole page
/// std::fs::write(&b, b"tail").unwrap();             // the last may be short
/// use vmplace::{MView, Segment};
/// // Safety: no one truncates or writes the files while the view is read.
/// let view = unsafe { MView::open(&[Segment::path(&a), Segment::path(&b)], 0)? };
/// assert_eq!(view.len(), page + 4);
/// assert_eq!(&view[page - 1..], b"atail");   // one slice across both files
/// assert_eq!(view.locate(page as u64)?.segment, 1);
/// # drop(view); std::fs::remove_file(&a).unwrap(); std::fs::remove_file(&b).unwrap();
/// # Ok::<(), vmplace::Error>(())
/// ```
///
/// The bytes cannot outlive the view:
///
/// ```compile_fail,E0505
/// # let path = std::env::temp_dir().join("vmplace-doc-mview-never-made");
/// let view = unsafe { vmplace::MView::open(&[vmplace::Segment::path(&path)], 0).unwrap() };
/// let bytes: &[u8] = &view;
/// drop(view); // error: cannot move out of `view` because it is borrowed
/// println!("{}", bytes.len());
/// ```
///
/// Nor can a slice live across a retire, which takes those bytes away:
///
/// ```compile_fail,E0502
/// # let path = std::env::temp_dir().join("vmplace-doc-mview-never-made");
/// let mut view = unsafe { vmplace::MView::open(&[vmplace::Segment::path(&path)], 0).unwrap() };
/// let bytes: &[u8] = &view;
/// view.retire(1).unwrap(); // error: `view` is also borrowed as immutable
/// println!("{}", bytes.len());
/// ```
pub struct MView {
    raw: NonNull<sys::vmp_mview>,
    writable: bool,
    padding: usize,
}

// Append, check, locate and the accessors may run from several threads at
// once in the C library; close, the one that must not race, is Drop.
unsafe impl Send for MView {}
unsafe impl Sync for MView {}

impl MView {
    /// Maps `segments` back to back, read-only, in a new region of at least
    /// `capacity` bytes (0: just enough, and at least the granularity).
    ///
    /// Errors (with [`Error::segment`] naming the segment at fault):
    /// `EINVAL` (not a regular file, a path with a NUL byte), `EALIGN` (the
    /// page rule), `EBOUNDS` (a range past the end of its file), `ERANGE`
    /// (capacity too small), `ENOMEM`, OS errors (`OS:ENOENT`, ...).
    ///
    /// # Safety
    ///
    /// The view hands out `&[u8]` over the files' bytes: while such a slice
    /// is borrowed, the caller guarantees that no one writes the bytes it
    /// covers (another process, a write through a descriptor, a writable
    /// mapping) or truncates the files under them; a truncated file makes
    /// reads past its new end fault (SIGBUS). Appending to a file past the
    /// view's length is fine (that is what [`refresh`](MView::refresh)
    /// follows), and so is truncation while no slice is borrowed:
    /// [`check`](MView::check) tells whether a file shrank, and
    /// [`read_at`](MView::read_at) and [`scan`](MView::scan) report it.
    pub unsafe fn open(segments: &[Segment<'_>], capacity: u64) -> Result<MView> {
        MView::open_flags(segments, capacity, 0)
    }

    /// As [`open`](MView::open), with [`MViewOptions`] (writable, close
    /// files). Errors: as [`open`](MView::open); `EINVAL` also for a segment
    /// given by descriptor under [`MViewOptions::close_files`], `EACCES`
    /// for a read-only file under [`MViewOptions::write`].
    ///
    /// # Safety
    ///
    /// As for [`open`](MView::open), and with
    /// [`MViewOptions::write`] as for [`open_writable`](MView::open_writable).
    pub unsafe fn open_with(segments: &[Segment<'_>], capacity: u64, options: MViewOptions) -> Result<MView> {
        MView::open_flags(segments, capacity, options.flags)
    }

    unsafe fn open_flags(segments: &[Segment<'_>], capacity: u64, flags: u32) -> Result<MView> {
        let raw_segments = raw_segments(segments)?;
        let mut raw = ptr::null_mut();
        let mut bad = usize::MAX;
        let code = sys::vmp_mview_open(
            raw_segments.raw.as_ptr(),
            raw_segments.raw.len(),
            capacity,
            flags,
            &mut raw,
            &mut bad,
        );
        if code != 0 {
            let err = Error::from_code(code);
            return Err(if bad == usize::MAX { err } else { err.with_segment(bad) });
        }
        let raw = NonNull::new(raw).expect("the C library returned success with a null view");
        Ok(MView { raw, writable: flags & sys::VMP_MVIEW_WRITE != 0, padding: 0 })
    }

    /// As [`open`](MView::open), mapped read-write and shared: writes
    /// through [`as_mut_slice`](MView::as_mut_slice) reach the files.
    /// Errors: also `EACCES` (a file or descriptor opened read-only).
    ///
    /// # Safety
    ///
    /// As for [`open`](MView::open); and no other mapping of the same file
    /// bytes may be accessed while a slice of this view is borrowed.
    pub unsafe fn open_writable(segments: &[Segment<'_>], capacity: u64) -> Result<MView> {
        MView::open_flags(segments, capacity, sys::VMP_MVIEW_WRITE)
    }

    /// Maps one more segment right after the last, in the reserved room,
    /// without moving the base: slices taken before stay valid. The
    /// previous last segment must have a length that is a multiple of the
    /// page. Errors as [`open`](MView::open), and `ERANGE` when the segment
    /// does not fit in the capacity; on error nothing changed.
    ///
    /// # Safety
    ///
    /// As for [`open`](MView::open), for the new segment's file.
    ///
    /// ```
    /// # let page = vmplace::page_size();
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-append-{}", std::process::id()));
    /// # std::fs::write(&path, vec![1u8; page]).unwrap();
    /// use vmplace::{MView, Segment};
    /// let view = unsafe { MView::open(&[], 4 * page as u64)? };
    /// assert!(view.is_empty());
    /// let before = view.as_slice().as_ptr();
    /// unsafe { view.append(&Segment::path(&path))? };
    /// unsafe { view.append(&Segment::path(&path))? };
    /// assert_eq!(view.len(), 2 * page);
    /// assert_eq!(view.as_slice().as_ptr(), before); // the base did not move
    /// # drop(view); std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub unsafe fn append(&self, segment: &Segment<'_>) -> Result<()> {
        let raw_segments = raw_segments(std::slice::from_ref(segment))?;
        check(sys::vmp_mview_append(self.raw.as_ptr(), raw_segments.raw.as_ptr()))
    }

    /// The exact number of bytes of all segments, retired ones included:
    /// the view offset of the end. The slice ([`as_slice`](MView::as_slice))
    /// holds `len() - live_offset()` of them.
    pub fn len(&self) -> usize {
        unsafe { sys::vmp_mview_length(self.raw.as_ptr()) as usize }
    }

    /// Whether the view holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes reserved in all: the most the view can ever hold.
    pub fn capacity(&self) -> u64 {
        unsafe { sys::vmp_mview_capacity(self.raw.as_ptr()) }
    }

    /// The number of segments.
    pub fn segments(&self) -> usize {
        unsafe { sys::vmp_mview_segments(self.raw.as_ptr()) }
    }

    /// All the bytes of the segments not retired, as one slice: view
    /// offsets [[`live_offset`](MView::live_offset), [`len`](MView::len)),
    /// so `as_slice()[i]` is view byte `live_offset() + i` (byte `i` until
    /// anything is retired).
    pub fn as_slice(&self) -> &[u8] {
        let (start, len) = self.live_range();
        // Mapped and readable from the first live byte up to the length;
        // retire, the one call that takes bytes away, needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.base().add(start), len - start) }
    }

    fn base(&self) -> *mut u8 {
        unsafe { sys::vmp_mview_base(self.raw.as_ptr()) as *mut u8 }
    }

    /// The first live byte's view offset and the length, read once each.
    fn live_range(&self) -> (usize, usize) {
        let len = self.len();
        (self.live_offset().min(len as u64) as usize, len)
    }

    /// The view offset of the first byte not retired: 0 until
    /// [`retire`](MView::retire), then the end of the last retired segment.
    pub fn live_offset(&self) -> u64 {
        let retired = self.retired();
        if retired == 0 {
            return 0;
        }
        let mut info = sys::vmp_mview_segment_info { fd: -1, file_offset: 0, length: 0, view_offset: 0 };
        // A retired segment keeps its index and its place in the view.
        match unsafe { sys::vmp_mview_describe(self.raw.as_ptr(), retired - 1, &mut info) } {
            0 => info.view_offset + info.length,
            _ => self.len() as u64,
        }
    }

    /// How many segments are retired: segments [0, n) are.
    pub fn retired(&self) -> usize {
        unsafe { sys::vmp_mview_retired(self.raw.as_ptr()) }
    }

    /// Follow mode: when the last segment was given "to the end of the
    /// file" (length 0) and its file has grown, maps the pages it gained
    /// right after the view's end, in place (the base does not move), and
    /// returns the new [`len`](MView::len); otherwise leaves the view as it
    /// is. Takes `&mut self` so that no slice lives across the change of
    /// length.
    ///
    /// Errors: `EBOUNDS` (the file is now shorter than the segment: it was
    /// truncated), `ERANGE` (the grown file no longer fits the capacity:
    /// append a new segment instead), `ENOMEM`, OS errors. On error nothing
    /// changed.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-refresh-{}", std::process::id()));
    /// use std::io::Write;
    /// std::fs::write(&path, b"first line\n").unwrap();
    /// use vmplace::{MView, Segment};
    /// let mut view = unsafe { MView::open(&[Segment::path(&path)], 1 << 20)? };
    /// assert_eq!(view.len(), 11);
    /// std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"second\n").unwrap();
    /// assert_eq!(view.refresh()?, 18);
    /// assert_eq!(&view[11..], b"second\n");
    /// # drop(view); std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn refresh(&mut self) -> Result<usize> {
        let mut length = 0u64;
        check(unsafe { sys::vmp_mview_refresh(self.raw.as_ptr(), &mut length) })?;
        Ok(length as usize)
    }

    /// Turns segments [0, count) back into placeholder and closes their
    /// files, so that a writer may delete them. `count` is an index, not a
    /// number more: fewer than are already retired does nothing, and all
    /// of them is allowed (appends go on after them). Later bytes keep
    /// their offsets; [`as_slice`](MView::as_slice) then starts at
    /// [`live_offset`](MView::live_offset), and
    /// [`locate`](MView::locate), [`read_at`](MView::read_at) and
    /// [`scan`](MView::scan) of a retired byte are `ESTATE`. Takes `&mut
    /// self`: no slice of the bytes it takes away can be borrowed across it.
    ///
    /// Errors: `ERANGE` (count above the segment count), `ENOMEM`, OS
    /// errors; on error nothing changed.
    ///
    /// ```
    /// # let page = vmplace::page_size();
    /// # let dir = std::env::temp_dir();
    /// # let old = dir.join(format!("vmplace-doc-retire-old-{}", std::process::id()));
    /// # let new = dir.join(format!("vmplace-doc-retire-new-{}", std::process::id()));
    /// std::fs::write(&old, vec![b'o'; page]).unwrap();
    /// std::fs::write(&new, b"new").unwrap();
    /// use vmplace::{ErrorKind, MView, Segment};
    /// let mut view = unsafe { MView::open(&[Segment::path(&old), Segment::path(&new)], 0)? };
    /// view.retire(1)?;
    /// std::fs::remove_file(&old).unwrap(); // the view holds it no more
    /// assert_eq!(view.live_offset(), page as u64);
    /// assert_eq!(&view[..], b"new");         // the live bytes
    /// assert_eq!(view.locate(page as u64)?.segment, 1); // offsets kept
    /// assert_eq!(view.locate(0).unwrap_err().kind(), ErrorKind::State);
    /// # drop(view); std::fs::remove_file(&new).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn retire(&mut self, count: usize) -> Result<()> {
        check(unsafe { sys::vmp_mview_retire(self.raw.as_ptr(), count) })
    }

    /// Guarantees `bytes` readable bytes right after the view's end (read-only
    /// zero pages, `bytes` rounded up to the page), for parsers that read a
    /// vector past the last byte; they move with the end on every refresh
    /// and append, and 0 takes them away. They count against the capacity.
    /// The slices stop at the view's end: the padding is for reads through
    /// a raw pointer (`unsafe`), which may go `padding()` bytes past the
    /// slice's last byte (`as_slice().as_ptr().add(as_slice().len())`) for
    /// as long as the view is not changed.
    ///
    /// Errors: `ERANGE` (they do not fit after the end), `ENOMEM`, OS
    /// errors; on error nothing changed.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-padding-{}", std::process::id()));
    /// # std::fs::write(&path, vec![1u8; vmplace::page_size()]).unwrap();
    /// use vmplace::{MView, Segment};
    /// let mut view = unsafe { MView::open(&[Segment::path(&path)], 1 << 20)? };
    /// view.set_padding(64)?;
    /// assert_eq!(view.padding(), 64);
    /// // Safety: 64 padding bytes are readable after the end.
    /// let end = unsafe { view.as_slice().as_ptr().add(view.as_slice().len()) };
    /// let past = unsafe { std::slice::from_raw_parts(end, 64) };
    /// assert!(past.iter().all(|&b| b == 0));
    /// # drop(view); std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn set_padding(&mut self, bytes: usize) -> Result<()> {
        check(unsafe { sys::vmp_mview_set_padding(self.raw.as_ptr(), bytes) })?;
        self.padding = bytes;
        Ok(())
    }

    /// The padding bytes asked for with [`set_padding`](MView::set_padding).
    pub fn padding(&self) -> usize {
        self.padding
    }

    /// Fault-safe copy of view bytes [offset, offset + buf.len()) into
    /// `buf`: every file they come from is asked its size first, and (where
    /// [`Caps::fault_safe_copy`](crate::Caps::fault_safe_copy)) the copy is
    /// the kernel's checked one, so a file truncated under the bytes is
    /// [`ErrorKind::Gone`](crate::ErrorKind::Gone), never SIGBUS. Without
    /// that capability the size check catches every truncation made before
    /// the call, not one racing with the copy. `buf` may hold part of the
    /// bytes after `EGONE`.
    ///
    /// Errors, in this order: `ERANGE` (not inside [`len`](MView::len)),
    /// `ESTATE` (a retired segment), `EGONE`, OS errors from asking a
    /// file's size.
    ///
    /// ```
    /// # let page = vmplace::page_size();
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-read-at-{}", std::process::id()));
    /// std::fs::write(&path, vec![7u8; 2 * page]).unwrap();
    /// use vmplace::{ErrorKind, MView, Segment};
    /// let view = unsafe { MView::open(&[Segment::path(&path)], 0)? };
    /// let mut buf = [0u8; 16];
    /// view.read_at(page as u64, &mut buf)?;
    /// assert_eq!(buf, [7u8; 16]);
    /// // Someone cuts the file: the bytes are gone, and reading says so.
    /// std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    /// assert_eq!(view.read_at(page as u64, &mut buf).unwrap_err().kind(), ErrorKind::Gone);
    /// # drop(view); std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check(unsafe { sys::vmp_mview_read(self.raw.as_ptr(), offset, buf.as_mut_ptr() as *mut _, buf.len()) })
    }

    /// Fault-safe search: the view offset of the first byte equal to `byte`
    /// in [offset, offset+n), `None` when there is none. Checks and errors
    /// exactly as [`read_at`](MView::read_at).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-scan-{}", std::process::id()));
    /// std::fs::write(&path, b"key=value\nnext").unwrap();
    /// use vmplace::{MView, Segment};
    /// let view = unsafe { MView::open(&[Segment::path(&path)], 0)? };
    /// assert_eq!(view.scan(0, view.len() as u64, b'\n')?, Some(9));
    /// assert_eq!(view.scan(10, 4, b'\n')?, None);
    /// # drop(view); std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn scan(&self, offset: u64, n: u64, byte: u8) -> Result<Option<u64>> {
        let mut found = 0u64;
        check(unsafe { sys::vmp_mview_scan(self.raw.as_ptr(), offset, n, byte, &mut found) })?;
        // "Not found" is offset + n, which the checks above keep from
        // overflowing (the range lies inside the view).
        Ok(if found == offset + n { None } else { Some(found) })
    }

    /// The live bytes (as [`as_slice`](MView::as_slice)), writable: only for a view made with
    /// [`open_writable`](MView::open_writable) (else `EACCES`).
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        if !self.writable {
            return Err(Error::from_code(sys::VMP_EACCES));
        }
        let (start, len) = self.live_range();
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base().add(start), len - start) })
    }

    /// Which segment byte `offset` comes from, and its offset in that
    /// segment's file. Errors: `ERANGE` (at or past the length).
    pub fn locate(&self, offset: u64) -> Result<Location> {
        let mut segment = 0usize;
        let mut file_offset = 0u64;
        check(unsafe { sys::vmp_mview_locate(self.raw.as_ptr(), offset, &mut segment, &mut file_offset) })?;
        Ok(Location { segment, file_offset })
    }

    /// Describes segment `index`. Errors: `ERANGE` (no such segment).
    pub fn describe(&self, index: usize) -> Result<SegmentInfo<'_>> {
        let mut info = sys::vmp_mview_segment_info { fd: -1, file_offset: 0, length: 0, view_offset: 0 };
        check(unsafe { sys::vmp_mview_describe(self.raw.as_ptr(), index, &mut info) })?;
        Ok(SegmentInfo {
            // The view keeps the descriptor open for as long as it lives,
            // and only retire (&mut self) or an append after the segment
            // under close-files gives it back; -1 means it has none.
            fd: unsafe { native::borrow(info.fd) },
            file_offset: info.file_offset,
            length: info.length,
            view_offset: info.view_offset,
        })
    }

    /// Checks every segment's file against the range it was mapped with:
    /// `None` when none has shrunk, else the first that has. Errors: OS
    /// errors from asking a file's size.
    pub fn check(&self) -> Result<Option<usize>> {
        let mut segment = usize::MAX;
        match unsafe { sys::vmp_mview_check(self.raw.as_ptr(), &mut segment) } {
            0 => Ok(None),
            sys::VMP_EBOUNDS => Ok(Some(segment)),
            code => Err(Error::from_code(code)),
        }
    }
}

impl Deref for MView {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for MView {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for MView {
    fn drop(&mut self) {
        unsafe { sys::vmp_mview_close(self.raw.as_ptr()) };
    }
}

impl fmt::Debug for MView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MView")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("segments", &self.segments())
            .finish()
    }
}
