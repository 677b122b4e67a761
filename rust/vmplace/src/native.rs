//! The operating system's handle of a memory object, a ring or a file:
//! a descriptor on Unix (`AsFd`, `BorrowedFd`, `OwnedFd`), a `HANDLE` on
//! Windows (`AsHandle`, `BorrowedHandle`, `OwnedHandle`). The C library
//! takes and gives either as an `intptr_t`; the conversions are here, so
//! the rest of the crate is written once for both.

#[cfg(unix)]
pub use std::os::unix::io::{AsFd as AsNative, BorrowedFd as BorrowedNative, OwnedFd as OwnedNative};
#[cfg(windows)]
pub use std::os::windows::io::{
    AsHandle as AsNative, BorrowedHandle as BorrowedNative, OwnedHandle as OwnedNative,
};

#[cfg(unix)]
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawHandle, FromRawHandle, IntoRawHandle};

/// What the C library takes for `handle` (it stays the caller's).
pub fn raw<H: AsNative + ?Sized>(handle: &H) -> isize {
    #[cfg(unix)]
    {
        handle.as_fd().as_raw_fd() as isize
    }
    #[cfg(windows)]
    {
        handle.as_handle().as_raw_handle() as isize
    }
}

/// Gives ownership of `handle` to the C library.
pub fn into_raw(handle: OwnedNative) -> isize {
    #[cfg(unix)]
    {
        handle.into_raw_fd() as isize
    }
    #[cfg(windows)]
    {
        handle.into_raw_handle() as isize
    }
}

/// Takes back a handle that [`into_raw`] gave away.
///
/// # Safety
///
/// `raw` came from [`into_raw`] and the C library did not keep it.
pub unsafe fn from_raw(raw: isize) -> OwnedNative {
    #[cfg(unix)]
    {
        OwnedNative::from_raw_fd(raw as i32)
    }
    #[cfg(windows)]
    {
        OwnedNative::from_raw_handle(raw as _)
    }
}

/// Borrows a handle the C library returned, or `None` for its "none"
/// value (-1 for a descriptor; NULL or `INVALID_HANDLE_VALUE`, which is
/// also -1, for a HANDLE).
///
/// # Safety
///
/// The object that returned `raw` keeps it open for `'a`.
pub unsafe fn borrow<'a>(raw: isize) -> Option<BorrowedNative<'a>> {
    #[cfg(unix)]
    {
        if raw < 0 {
            None
        } else {
            Some(BorrowedNative::borrow_raw(raw as i32))
        }
    }
    #[cfg(windows)]
    {
        if raw == 0 || raw == -1 {
            None
        } else {
            Some(BorrowedNative::borrow_raw(raw as _))
        }
    }
}

/// Implements `AsFd` and `AsRawFd` (Unix) or `AsHandle` and `AsRawHandle`
/// (Windows) for `$type`, from `$get: fn(&$type) -> isize` whose handle
/// the value keeps open for as long as it lives.
macro_rules! impl_as_native {
    ($type:ty, $get:expr, $doc:literal) => {
        #[cfg(unix)]
        impl std::os::unix::io::AsFd for $type {
            #[doc = $doc]
            fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
                let get: fn(&$type) -> isize = $get;
                // The value keeps the descriptor open for as long as it lives.
                unsafe { $crate::native::borrow(get(self)) }.expect("a live object has a descriptor")
            }
        }
        #[cfg(unix)]
        impl std::os::unix::io::AsRawFd for $type {
            fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
                std::os::unix::io::AsRawFd::as_raw_fd(&std::os::unix::io::AsFd::as_fd(self))
            }
        }
        #[cfg(windows)]
        impl std::os::windows::io::AsHandle for $type {
            #[doc = $doc]
            fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
                let get: fn(&$type) -> isize = $get;
                // The value keeps the HANDLE open for as long as it lives.
                unsafe { $crate::native::borrow(get(self)) }.expect("a live object has a HANDLE")
            }
        }
        #[cfg(windows)]
        impl std::os::windows::io::AsRawHandle for $type {
            fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
                std::os::windows::io::AsRawHandle::as_raw_handle(&std::os::windows::io::AsHandle::as_handle(self))
            }
        }
    };
}
pub(crate) use impl_as_native;
