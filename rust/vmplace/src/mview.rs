//! Contiguous multi-file views.

use std::ffi::CString;
use std::fmt;
use std::ops::Deref;
use std::os::unix::io::{AsRawFd, BorrowedFd};
use std::path::Path;
use std::ptr::{self, NonNull};

use vmplace_sys as sys;

use crate::error::{check, Error, Result};
use crate::mem::c_path;

enum Source<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
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

    /// The whole file open as `fd` (it stays the caller's; the view keeps a
    /// reference of its own).
    pub fn fd(fd: BorrowedFd<'a>) -> Segment<'a> {
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
                Source::Fd(fd) => fd.as_raw_fd() as isize,
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
/// let copy = info.fd.try_clone_to_owned().unwrap();
/// assert_eq!(std::fs::File::from(copy).metadata().unwrap().len(), 5);
/// # drop(view); std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SegmentInfo<'a> {
    /// The segment file's descriptor, still the view's (for `sendfile`,
    /// `copy_file_range` and the like).
    pub fd: BorrowedFd<'a>,
    /// Where the segment starts in its file.
    pub file_offset: u64,
    /// Its bytes.
    pub length: u64,
    /// Where it starts in the view.
    pub view_offset: u64,
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
pub struct MView {
    raw: NonNull<sys::vmp_mview>,
    writable: bool,
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
    /// The view hands out `&[u8]` over the files' bytes: while it lives,
    /// the caller guarantees that no one writes the mapped bytes (another
    /// process, a write through a descriptor, a writable mapping) or
    /// truncates the files; a truncated file makes reads past its new end
    /// fault (SIGBUS). [`check`](MView::check) tells whether a file shrank.
    pub unsafe fn open(segments: &[Segment<'_>], capacity: u64) -> Result<MView> {
        MView::open_flags(segments, capacity, 0)
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
        Ok(MView { raw, writable: flags & sys::VMP_MVIEW_WRITE != 0 })
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

    /// The exact number of bytes of all segments.
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

    /// All the bytes, as one slice.
    pub fn as_slice(&self) -> &[u8] {
        let base = unsafe { sys::vmp_mview_base(self.raw.as_ptr()) as *const u8 };
        // Mapped and readable up to the length, for as long as the view.
        unsafe { std::slice::from_raw_parts(base, self.len()) }
    }

    /// All the bytes, writable: only for a view made with
    /// [`open_writable`](MView::open_writable) (else `EACCES`).
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        if !self.writable {
            return Err(Error::from_code(sys::VMP_EACCES));
        }
        let base = unsafe { sys::vmp_mview_base(self.raw.as_ptr()) as *mut u8 };
        Ok(unsafe { std::slice::from_raw_parts_mut(base, self.len()) })
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
            // The view keeps the descriptor open for as long as it lives.
            fd: unsafe { BorrowedFd::borrow_raw(info.fd as i32) },
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
