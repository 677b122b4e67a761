//! Safe Rust API over vmplace: race-free control of the address space
//! (regions of placeholders, private memory and views), mirrored
//! single-producer / single-consumer rings, a mirrored byte deque and
//! contiguous multi-file views.
//!
//! The C library (`vmplace-sys`) places every mapping inside a range it has
//! reserved and never gives an address back to the system to ask for it
//! again, so there is no retry loop and no window in which another thread's
//! allocation can land in the middle of a mirrored buffer.
//!
//! What the types guarantee:
//!
//! - [`Region`] owns its reserved range. [`Bytes`] and [`BytesMut`] borrow
//!   it and deref to `&[u8]` / `&mut [u8]`; releasing the region, or
//!   unmapping, discarding or re-protecting memory, needs the region by
//!   value or `&mut`, so it cannot happen while a borrow lives (the
//!   compiler refuses). Two views of one [`Mem`] are checked at run time:
//!   no `&mut [u8]` over bytes that another borrow also reaches.
//! - [`Ring`] splits into a [`Producer`] (`io::Write`) and a [`Consumer`]
//!   (`io::Read`, `io::BufRead`), each `Send` and not `Sync`, or attaches
//!   from a descriptor in another process. Records (framed messages, each
//!   contiguous, written and read in place) go through
//!   [`Producer::reserve`] / [`Consumer::next_record`], and from many
//!   threads at once through a [`MultiProducer`].
//! - [`MirroredDeque`] is a `VecDeque<u8>` whose contents are always one
//!   slice.
//! - [`MView`] maps files back to back and derefs to `&[u8]`.
//! - Every call that can fail returns [`Error`], with the library's
//!   [`code`](Error::code), [`name`](Error::name) and
//!   [`raw_os_error`](Error::raw_os_error).
//!
//! On Unix the descriptor calls take `AsFd` / `OwnedFd` / `BorrowedFd`
//! and the types implement `AsFd`; on Windows they take `AsHandle` /
//! `OwnedHandle` / `BorrowedHandle` (a section or file HANDLE) and the
//! types implement `AsHandle`, the way the C library takes a descriptor or
//! a HANDLE as one `intptr_t`.
//!
//! Constructors over memory others can reach ([`Mem::open`],
//! [`Mem::adopt`], [`MView::open`], [`Ring::attach`]) are `unsafe`: a file
//! can be changed or truncated by others while its bytes are borrowed, and
//! a second handle of one ring could take the same side twice, which no
//! type can prevent.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! let (mut tx, mut rx) = vmplace::Ring::new(1 << 16)?.split();
//! let writer = std::thread::spawn(move || tx.write_all(b"hello, ring"));
//! let mut text = String::new();
//! rx.read_to_string(&mut text)?;
//! writer.join().unwrap()?;
//! assert_eq!(text, "hello, ring");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod deque;
mod error;
mod mem;
mod mview;
mod native;
mod record;
mod region;
mod ring;
mod system;

/// `flags` with `flag` set (`on`) or cleared: the options builders' one rule.
pub(crate) fn with_flag(flags: u32, flag: u32, on: bool) -> u32 {
    if on {
        flags | flag
    } else {
        flags & !flag
    }
}

pub use deque::MirroredDeque;
pub use error::{Error, ErrorKind, Result};
pub use mem::{Access, Backing, Mem, MemFlags, MemInfo};
pub use mview::{Location, MView, MViewOptions, Segment, SegmentInfo};
pub use record::{MultiProducer, Record, RecordMut, RingStats};
pub use region::{Bytes, BytesMut, Kind, Prot, Region, SpanInfo};
pub use ring::{Consumer, Producer, Ring, RingOptions, ShutdownHandle};
pub use system::{budget, capabilities, Budget, Caps};

/// Raw declarations of the C API, for what the safe API does not cover.
pub use vmplace_sys as sys;

/// The page size in bytes: the unit of every offset and size of the
/// region calls. Constant for the life of the process.
///
/// ```
/// assert!(vmplace::page_size().is_power_of_two());
/// ```
pub fn page_size() -> usize {
    unsafe { sys::vmp_page_size() }
}

/// The alignment every region base has at least (the page on POSIX,
/// 64 KiB on Windows).
///
/// ```
/// assert!(vmplace::granularity() >= vmplace::page_size());
/// ```
pub fn granularity() -> usize {
    unsafe { sys::vmp_granularity() }
}

/// The backend compiled into the C library: "linux", "posix" or "windows".
///
/// ```
/// assert!(["linux", "posix", "windows"].contains(&vmplace::backend_name()));
/// ```
pub fn backend_name() -> &'static str {
    let name = unsafe { std::ffi::CStr::from_ptr(sys::vmp_backend_name()) };
    name.to_str().unwrap_or("unknown")
}
