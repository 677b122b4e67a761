//! The error type of every fallible call.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::raw::c_int;

use vmplace_sys as sys;

/// The library's own error codes (the `VMP_E*` constants of the C header),
/// for matching on [`Error::kind`].
///
/// ```
/// use vmplace::{ErrorKind, Region};
/// match Region::reserve(0) {
///     Err(err) if err.kind() == ErrorKind::InvalidArgument => {}
///     other => panic!("{:?}", other),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Null pointer, zero size, unknown flag or protection.
    InvalidArgument,
    /// An address, size or offset that is not a page multiple.
    Alignment,
    /// The range is not entirely inside the region (or overflows).
    Range,
    /// A span in the range is of a kind the operation does not take.
    State,
    /// The kinds are right but the span boundaries are not.
    Extent,
    /// A view would reach past the end of its object or file.
    Bounds,
    /// The protection asks for more than the object allows.
    Access,
    /// Out of address space, memory or kernel mapping slots.
    OutOfMemory,
    /// Not supported by this backend or system.
    Unsupported,
    /// A wait timed out.
    TimedOut,
    /// The ring was shut down.
    Shutdown,
    /// The peer's shared ring is not valid.
    Peer,
    /// The ring is full (a record reserved without waiting was dropped, or
    /// a fill found no room).
    Full,
    /// The bytes are gone: a file truncated under a view, or unreadable.
    Gone,
    /// The addresses a placement asked for are taken by another mapping.
    AddrInUse,
    /// The process holds as many kernel mappings as it may (Linux
    /// `vm.max_map_count`), however much memory is free.
    MapLimit,
    /// The bytes are already borrowed in a way that conflicts (this crate's
    /// own check, for memory objects mapped more than once).
    Borrowed,
    /// An operating-system error; see [`Error::raw_os_error`].
    Os,
    /// A code this crate does not know.
    Unknown,
}

/// An error from vmplace: a library code (`VMP_E*`) or an operating-system
/// error that kept its native code.
///
/// # Example
///
/// ```
/// use vmplace::{Error, ErrorKind, Region};
/// // A size that is not a page multiple is refused with EALIGN.
/// let err: Error = Region::reserve(vmplace::page_size() + 1).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Alignment);
/// assert_eq!(err.name(), "EALIGN");
/// assert_eq!(err.raw_os_error(), None);
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    code: c_int,
    segment: Option<usize>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The code of [`ErrorKind::Borrowed`]: below every library code, so that it
/// cannot be mistaken for one of them or for an OS error.
const BORROWED_CODE: c_int = -30100;

impl Error {
    /// The error with this code (a negative `VMP_E*` value or a negated OS
    /// error code), as the C functions return it.
    #[inline]
    pub fn from_code(code: c_int) -> Error {
        Error { code, segment: None }
    }

    pub(crate) fn borrowed() -> Error {
        Error::from_code(BORROWED_CODE)
    }

    pub(crate) fn with_segment(mut self, segment: usize) -> Error {
        self.segment = Some(segment);
        self
    }

    /// The C code: a negative `VMP_E*` value, or a negated native OS code
    /// (`-errno`). [`ErrorKind::Borrowed`] has its own code, -30100.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The code's unique name: "EINVAL", "EALIGN", ... for the library's
    /// codes, "OS:ENOENT" and the like for OS errors, "BORROWED" for this
    /// crate's borrow check.
    pub fn name(&self) -> String {
        if self.code == BORROWED_CODE {
            return "BORROWED".to_string();
        }
        // The "OS:number" form lives only until this thread's next call, so
        // it is copied at once.
        unsafe { CStr::from_ptr(sys::vmp_err_name(self.code)) }.to_string_lossy().into_owned()
    }

    /// The native OS error code (errno) when this is an OS error.
    pub fn raw_os_error(&self) -> Option<i32> {
        if self.code != BORROWED_CODE && unsafe { sys::vmp_err_is_os(self.code) } != 0 {
            Some(unsafe { sys::vmp_err_os_code(self.code) })
        } else {
            None
        }
    }

    /// For errors of a multi-file view's segments: the index of the segment
    /// at fault, when the library named one.
    pub fn segment(&self) -> Option<usize> {
        self.segment
    }

    /// Which library code this is, [`ErrorKind::Os`] for OS errors.
    pub fn kind(&self) -> ErrorKind {
        match self.code {
            sys::VMP_EINVAL => ErrorKind::InvalidArgument,
            sys::VMP_EALIGN => ErrorKind::Alignment,
            sys::VMP_ERANGE => ErrorKind::Range,
            sys::VMP_ESTATE => ErrorKind::State,
            sys::VMP_EEXTENT => ErrorKind::Extent,
            sys::VMP_EBOUNDS => ErrorKind::Bounds,
            sys::VMP_EACCES => ErrorKind::Access,
            sys::VMP_ENOMEM => ErrorKind::OutOfMemory,
            sys::VMP_ENOTSUP => ErrorKind::Unsupported,
            sys::VMP_ETIMEDOUT => ErrorKind::TimedOut,
            sys::VMP_ESHUTDOWN => ErrorKind::Shutdown,
            sys::VMP_EPEER => ErrorKind::Peer,
            sys::VMP_EFULL => ErrorKind::Full,
            sys::VMP_EGONE => ErrorKind::Gone,
            sys::VMP_EADDRINUSE => ErrorKind::AddrInUse,
            sys::VMP_EMAPLIMIT => ErrorKind::MapLimit,
            BORROWED_CODE => ErrorKind::Borrowed,
            _ if self.raw_os_error().is_some() => ErrorKind::Os,
            _ => ErrorKind::Unknown,
        }
    }

    /// The library's message for the code ("invalid argument", or the
    /// system's text for an OS error).
    pub fn message(&self) -> String {
        if self.code == BORROWED_CODE {
            return "the bytes are already borrowed through another mapping".to_string();
        }
        unsafe { CStr::from_ptr(sys::vmp_strerror(self.code)) }.to_string_lossy().into_owned()
    }
}

/// Turns a C return value (0 or a negative code) into a `Result`.
#[inline]
pub(crate) fn check(code: c_int) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::from_code(code))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())?;
        if let Some(segment) = self.segment {
            write!(f, " in segment {}", segment)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("name", &self.name())
            .field("segment", &self.segment)
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// OS errors keep their native code; the library's codes map onto the
    /// nearest [`io::ErrorKind`] and keep the [`Error`] as the inner error.
    fn from(err: Error) -> io::Error {
        if let Some(os) = err.raw_os_error() {
            return io::Error::from_raw_os_error(os);
        }
        let kind = match err.kind() {
            ErrorKind::InvalidArgument | ErrorKind::Alignment | ErrorKind::Range => io::ErrorKind::InvalidInput,
            ErrorKind::Access => io::ErrorKind::PermissionDenied,
            ErrorKind::OutOfMemory | ErrorKind::MapLimit => io::ErrorKind::OutOfMemory,
            ErrorKind::AddrInUse => io::ErrorKind::AddrInUse,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::Shutdown => io::ErrorKind::BrokenPipe,
            ErrorKind::Full => io::ErrorKind::WouldBlock,
            ErrorKind::Peer | ErrorKind::Bounds => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}
