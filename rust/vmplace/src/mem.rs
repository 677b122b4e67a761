//! Memory objects: what views map.

use std::ffi::CString;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex};

use vmplace_sys as sys;

use crate::error::{check, Error, Result};
use crate::native::{self, OwnedNative};

/// What views of a memory object may do.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("vmplace-doc-access-{}", std::process::id()));
/// # std::fs::write(&path, vec![0u8; vmplace::page_size()]).unwrap();
/// use vmplace::{Access, Mem};
/// let mem = unsafe { Mem::open(&path, Access::ReadWrite)? };
/// assert!(mem.is_writable());
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Views may only read.
    ReadOnly,
    /// Views may read and write (writes are shared with every other view
    /// and reach the file).
    ReadWrite,
}

impl Access {
    fn flags(self) -> u32 {
        match self {
            Access::ReadOnly => sys::VMP_MEM_READ,
            Access::ReadWrite => sys::VMP_MEM_RW,
        }
    }
}

/// Turns a path into the NUL-terminated form the C library takes; a path
/// with a NUL byte inside is an invalid argument, as the C side would say.
pub(crate) fn c_path(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    // The Windows backend takes UTF-8 (and widens it for CreateFileW).
    #[cfg(windows)]
    let bytes = path.to_str().ok_or_else(|| Error::from_code(sys::VMP_EINVAL))?.as_bytes();
    CString::new(bytes).map_err(|_| Error::from_code(sys::VMP_EINVAL))
}

/// Flags for [`Mem::create_named`], combined with `|`.
///
/// ```
/// use vmplace::MemFlags;
/// let flags = MemFlags::NO_FALLBACK | MemFlags::PREALLOCATE;
/// assert!(flags.contains(MemFlags::PREALLOCATE));
/// assert!(!flags.contains(MemFlags::EXEC));
/// assert_eq!(MemFlags::NONE.bits(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemFlags(u32);

impl MemFlags {
    /// No flag: the backend's own way (a memfd on Linux), else a fallback
    /// (/dev/shm, a temporary file).
    pub const NONE: MemFlags = MemFlags(0);
    /// The backend's own way or `ENOTSUP`: never an object in /dev/shm or
    /// `$TMPDIR` (always `ENOTSUP` on the generic POSIX backend).
    pub const NO_FALLBACK: MemFlags = MemFlags(sys::VMP_MEM_NO_FALLBACK);
    /// Views will be executable (Linux 6.3+ otherwise seals a memfd
    /// against exec, and an executable view is `EACCES`).
    pub const EXEC: MemFlags = MemFlags(sys::VMP_MEM_EXEC);
    /// Reserve the backing store now: a full tmpfs or disk is `OS:ENOSPC`
    /// at create, never SIGBUS at a later touch.
    pub const PREALLOCATE: MemFlags = MemFlags(sys::VMP_MEM_PREALLOCATE);
    /// Huge pages from the system's pool (size a multiple of
    /// [`Budget::huge_page`](crate::Budget::huge_page)); `ENOTSUP` when the
    /// pool cannot hold it.
    pub const HUGE: MemFlags = MemFlags(sys::VMP_MEM_HUGE);
    /// As [`HUGE`](MemFlags::HUGE), falling back to ordinary pages whose
    /// views ask for transparent huge pages.
    pub const HUGE_OR_THP: MemFlags = MemFlags(sys::VMP_MEM_HUGE_OR_THP);

    /// The C value (`VMP_MEM_*` bits).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set here.
    pub fn contains(self, other: MemFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for MemFlags {
    type Output = MemFlags;
    fn bitor(self, other: MemFlags) -> MemFlags {
        MemFlags(self.0 | other.0)
    }
}

/// Where a memory object's memory comes from: [`MemInfo::backing`].
///
/// ```
/// use vmplace::{Backing, Mem};
/// let backing = Mem::create(vmplace::page_size() as u64)?.query()?.backing;
/// // Anonymous memory: a memfd, or a fallback that lives in /dev/shm or $TMPDIR.
/// assert!(matches!(backing, Backing::Memfd | Backing::Shm | Backing::TempFile));
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backing {
    /// Linux `memfd_create`.
    Memfd,
    /// `shm_open`, the name removed at once (lives in /dev/shm).
    Shm,
    /// An unnamed file in `$TMPDIR`.
    TempFile,
    /// A regular file opened by path.
    File,
    /// A Windows pagefile-backed section.
    Section,
    /// An adopted descriptor: whatever the caller had.
    Descriptor,
    /// A value this crate does not know.
    Unknown(i32),
}

impl Backing {
    fn from_raw(raw: sys::vmp_backing) -> Backing {
        match raw {
            sys::VMP_BACKING_MEMFD => Backing::Memfd,
            sys::VMP_BACKING_SHM => Backing::Shm,
            sys::VMP_BACKING_TEMP_FILE => Backing::TempFile,
            sys::VMP_BACKING_FILE => Backing::File,
            sys::VMP_BACKING_SECTION => Backing::Section,
            sys::VMP_BACKING_DESCRIPTOR => Backing::Descriptor,
            other => Backing::Unknown(other),
        }
    }
}

/// What was obtained for a memory object: [`Mem::query`].
///
/// ```
/// use vmplace::{Backing, Mem};
/// let info = Mem::create(vmplace::page_size() as u64)?.query()?;
/// if info.fell_back {
///     // A sandbox refused memfd_create: the object lives in /dev/shm or a
///     // file, which can fill up and then fault.
///     assert_ne!(info.backing, Backing::Memfd);
/// }
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemInfo {
    /// Where the memory comes from.
    pub backing: Backing,
    /// Its size can never shrink: views of it never fault from truncation.
    pub sealed: bool,
    /// Backed by huge pages ([`MemFlags::HUGE`], huge-page rings).
    pub huge_pages: bool,
    /// Ordinary pages whose views ask for transparent huge pages (the
    /// [`MemFlags::HUGE_OR_THP`] fallback).
    pub transparent_huge_pages: bool,
    /// `Some(true)`: made exec-capable on purpose ([`MemFlags::EXEC`]);
    /// `Some(false)`: sealed against exec; `None`: as the system decides.
    pub exec: Option<bool>,
    /// The backend's own way was refused and a fallback taken.
    pub fell_back: bool,
}

/// One borrow of a byte range of an object, through any of its views.
struct ByteBorrow {
    id: u64,
    start: u64,
    end: u64,
    exclusive: bool,
}

/// The object handle and the borrows of its bytes: shared by every [`Mem`]
/// clone and every view mapped from it, so that two mappings of the same
/// bytes (in two regions) never hand out a `&mut [u8]` and another
/// reference to those bytes at once.
pub(crate) struct MemShared {
    raw: NonNull<sys::vmp_mem>,
    borrows: Mutex<(u64, Vec<ByteBorrow>)>,
}

// The C library allows calls on one object from many threads; only close
// must not race, and that happens in Drop, when no one else holds it.
unsafe impl Send for MemShared {}
unsafe impl Sync for MemShared {}

impl MemShared {
    pub(crate) fn raw(&self) -> *mut sys::vmp_mem {
        self.raw.as_ptr()
    }

    /// Records a borrow of the object's bytes [start, end); refused with
    /// [`crate::ErrorKind::Borrowed`] when it conflicts with a live one.
    pub(crate) fn borrow(&self, start: u64, end: u64, exclusive: bool) -> Result<u64> {
        let mut guard = self.borrows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (next_id, live) = &mut *guard;
        let conflict = live
            .iter()
            .any(|b| b.start < end && start < b.end && (exclusive || b.exclusive));
        if conflict {
            return Err(Error::borrowed());
        }
        *next_id += 1;
        live.push(ByteBorrow { id: *next_id, start, end, exclusive });
        Ok(*next_id)
    }

    pub(crate) fn unborrow(&self, id: u64) {
        let mut guard = self.borrows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.1.retain(|b| b.id != id);
    }
}

impl Drop for MemShared {
    fn drop(&mut self) {
        // Views keep their own C references: closing the handle never
        // invalidates mapped bytes.
        unsafe { sys::vmp_mem_close(self.raw.as_ptr()) };
    }
}

/// A memory object: anonymous shared memory or a file, which
/// [`Region::map`](crate::Region::map) places in a region as a view.
///
/// Two views of one object at the same offset see the same bytes. Cloning a
/// `Mem` shares the handle; the object lives until the last clone and the
/// last view of it are gone.
///
/// # Example
///
/// ```
/// use vmplace::{Mem, Prot, Region};
/// let page = vmplace::page_size();
/// let mem = Mem::create(page as u64)?;
/// let mut region = Region::reserve(2 * page)?;
/// region.split(0, page)?;
/// // The same page, twice: what is written at 0 is read at `page`.
/// region.map(0, page, &mem, 0, Prot::READ_WRITE)?;
/// region.map(page, page, &mem, 0, Prot::READ)?;
/// region.bytes_mut(0, 5)?.copy_from_slice(b"hello");
/// assert_eq!(&region.bytes(page, 5)?[..], b"hello");
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Clone)]
pub struct Mem {
    pub(crate) shared: Arc<MemShared>,
}

impl Mem {
    fn from_raw(raw: *mut sys::vmp_mem) -> Mem {
        let raw = NonNull::new(raw).expect("the C library returned success with a null object");
        Mem { shared: Arc::new(MemShared { raw, borrows: Mutex::new((0, Vec::new())) }) }
    }

    /// Creates anonymous shared memory of `size` bytes (a multiple of
    /// [`page_size`](crate::page_size)), zero-filled, readable and
    /// writable. Nothing named is left behind (a sealed memfd on Linux).
    ///
    /// Errors: `EINVAL` (size 0), `EALIGN` (size), `ENOMEM`, OS errors.
    ///
    /// ```
    /// let mem = vmplace::Mem::create(vmplace::page_size() as u64)?;
    /// assert_eq!(mem.size()?, vmplace::page_size() as u64);
    /// assert!(mem.is_writable());
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn create(size: u64) -> Result<Mem> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::vmp_mem_create(size, 0, &mut raw) })?;
        Ok(Mem::from_raw(raw))
    }

    /// As [`create`](Mem::create), with a name that tells the object apart
    /// in the process's map (`/memfd:NAME (deleted)` on Linux; the
    /// fallbacks carry none) and [`MemFlags`]. A name is 1 to 79 printable
    /// ASCII characters, none of `` \ ` $ [ ] ``.
    ///
    /// Errors: as [`create`](Mem::create), `EINVAL` for an invalid name,
    /// `ENOTSUP` with [`MemFlags::NO_FALLBACK`] where the backend's own way
    /// is refused or missing, or [`MemFlags::HUGE`] without huge pages.
    ///
    /// ```
    /// use vmplace::{ErrorKind, Mem, MemFlags};
    /// let page = vmplace::page_size() as u64;
    /// let mem = Mem::create_named(page, "jit-code", MemFlags::EXEC)?;
    /// assert_eq!(mem.size()?, page);
    /// let err = Mem::create_named(page, "", MemFlags::NONE).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn create_named(size: u64, name: &str, flags: MemFlags) -> Result<Mem> {
        let name = CString::new(name).map_err(|_| Error::from_code(sys::VMP_EINVAL))?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::vmp_mem_create_named(size, name.as_ptr(), flags.0, &mut raw) })?;
        Ok(Mem::from_raw(raw))
    }

    /// What was obtained for the object: where its memory comes from,
    /// whether it is sealed, fell back, has huge pages.
    ///
    /// ```
    /// use vmplace::Backing;
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-query-{}", std::process::id()));
    /// # std::fs::write(&path, vec![0u8; vmplace::page_size()]).unwrap();
    /// let file = unsafe { vmplace::Mem::open(&path, vmplace::Access::ReadOnly)? };
    /// let info = file.query()?;
    /// assert_eq!(info.backing, Backing::File);
    /// assert!(!info.sealed); // someone may truncate a file
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn query(&self) -> Result<MemInfo> {
        let mut raw = sys::vmp_mem_info { backing: 0, sealed: 0, huge_pages: 0, exec: -1, fell_back: 0 };
        check(unsafe { sys::vmp_mem_query(self.shared.raw(), &mut raw) })?;
        Ok(MemInfo {
            backing: Backing::from_raw(raw.backing),
            sealed: raw.sealed != 0,
            huge_pages: raw.huge_pages == 1,
            transparent_huge_pages: raw.huge_pages == 2,
            exec: match raw.exec {
                1 => Some(true),
                0 => Some(false),
                _ => None,
            },
            fell_back: raw.fell_back != 0,
        })
    }

    /// Opens the regular file at `path` (not created, not resized).
    ///
    /// Errors: `EINVAL` (not a regular file, or a path with a NUL byte), OS
    /// errors from opening it (`OS:ENOENT`, `OS:EACCES`, ...).
    ///
    /// # Safety
    ///
    /// Views of a file hand out `&[u8]` and `&mut [u8]` over bytes that
    /// others can change: for as long as any such borrow of a view of this
    /// object lives, the caller guarantees that no one else writes or
    /// truncates those bytes of the file (another process, another `Mem`
    /// opened on the same file, a write through a file descriptor).
    /// Truncation makes access fault (SIGBUS); a write under a borrow breaks
    /// Rust's aliasing rules.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("vmplace-doc-open-{}", std::process::id()));
    /// # std::fs::write(&dir, vec![7u8; vmplace::page_size()]).unwrap();
    /// use vmplace::{Access, Mem};
    /// let mem = unsafe { Mem::open(&dir, Access::ReadOnly)? };
    /// assert_eq!(mem.size()?, vmplace::page_size() as u64);
    /// assert!(!mem.is_writable());
    /// # std::fs::remove_file(&dir).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub unsafe fn open<P: AsRef<Path>>(path: P, access: Access) -> Result<Mem> {
        let path = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check(sys::vmp_mem_open(path.as_ptr(), access.flags(), &mut raw))?;
        Ok(Mem::from_raw(raw))
    }

    /// Adopts an open descriptor of a regular file or shared memory (an
    /// `OwnedFd`; on Windows an `OwnedHandle` of a file or a section): the
    /// object owns it from now on, and it is closed even when adopting
    /// fails. `access` `None` takes what the descriptor allows.
    ///
    /// Errors: `EINVAL` (a pipe, directory, socket), `EACCES` (`access`
    /// asks for more than the descriptor allows), `ENOMEM`, OS errors.
    ///
    /// # Safety
    ///
    /// As for [`Mem::open`]: no one else may write or truncate the bytes
    /// while a borrow of a view of them lives.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("vmplace-doc-adopt-{}", std::process::id()));
    /// # std::fs::write(&path, vec![0u8; vmplace::page_size()]).unwrap();
    /// // An `OwnedFd` (Unix) or `OwnedHandle` (Windows).
    /// let fd = std::fs::File::open(&path).unwrap().into();
    /// let mem = unsafe { vmplace::Mem::adopt(fd, None)? };
    /// assert!(!mem.is_writable());
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub unsafe fn adopt(fd: OwnedNative, access: Option<Access>) -> Result<Mem> {
        let flags = access.map_or(0, Access::flags);
        let raw_fd = native::into_raw(fd);
        let mut raw = ptr::null_mut();
        let code = sys::vmp_mem_adopt(raw_fd, flags, &mut raw);
        if code != 0 {
            // On failure the descriptor is still ours: close it as promised.
            drop(native::from_raw(raw_fd));
            return Err(Error::from_code(code));
        }
        Ok(Mem::from_raw(raw))
    }

    /// The object's current size in bytes, asked of the system.
    pub fn size(&self) -> Result<u64> {
        let mut size = 0;
        check(unsafe { sys::vmp_mem_size(self.shared.raw(), &mut size) })?;
        Ok(size)
    }

    /// Grows the object to `new_size` bytes; the new bytes read as zero.
    ///
    /// Errors: `EINVAL` (smaller than now), `EACCES` (read-only object),
    /// `ENOMEM`, OS errors (`OS:EPERM` when sealed, ...).
    ///
    /// ```
    /// let page = vmplace::page_size() as u64;
    /// let mem = vmplace::Mem::create(page)?;
    /// mem.grow(2 * page)?;
    /// assert_eq!(mem.size()?, 2 * page);
    /// assert_eq!(mem.grow(page).unwrap_err().kind(), vmplace::ErrorKind::InvalidArgument);
    /// # Ok::<(), vmplace::Error>(())
    /// ```
    pub fn grow(&self, new_size: u64) -> Result<()> {
        check(unsafe { sys::vmp_mem_grow(self.shared.raw(), new_size) })
    }

    /// Whether views may write (the object was opened read-write).
    pub fn is_writable(&self) -> bool {
        unsafe { sys::vmp_mem_flags(self.shared.raw()) & sys::VMP_MEM_WRITE != 0 }
    }
}

native::impl_as_native!(
    Mem,
    |mem| unsafe { sys::vmp_mem_fd(mem.shared.raw()) },
    "The object's descriptor (Unix) or section or file HANDLE (Windows), \
     still owned by the object: to pass it to another process."
);

impl std::fmt::Debug for Mem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fd = unsafe { sys::vmp_mem_fd(self.shared.raw()) };
        f.debug_struct("Mem").field("fd", &fd).field("size", &self.size().ok()).finish()
    }
}
