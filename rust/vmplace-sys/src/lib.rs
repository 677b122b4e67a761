//! Raw FFI declarations of `include/vmplace.h`, the vmplace C library:
//! race-free control of a program's own address space (regions,
//! placeholders, views), contiguous multi-file views and mirrored rings.
//!
//! Every item here is the C declaration of the same name, written by hand;
//! the header is the documentation of what each function does, its units,
//! alignment, ownership, thread safety and errors. The safe API is the
//! `vmplace` crate.
//!
//! # Linking
//!
//! `build.rs` links the static library of a CMake build tree named by the
//! `VMPLACE_BUILD_DIR` environment variable, else what `pkg-config --libs
//! vmplace` names, else (inside the vmplace source tree) a static library it
//! builds with CMake.
//!
//! # Example
//!
//! ```
//! use vmplace_sys as sys;
//! let page = unsafe { sys::vmp_page_size() };
//! assert!(page.is_power_of_two());
//! let mut region = std::ptr::null_mut();
//! assert_eq!(unsafe { sys::vmp_reserve(4 * page, 0, &mut region) }, 0);
//! assert_eq!(unsafe { sys::vmp_size(region) }, 4 * page);
//! assert_eq!(unsafe { sys::vmp_release(region) }, 0);
//! ```
#![allow(non_camel_case_types)]
#![warn(missing_docs)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

/// Library error: invalid argument (null pointer, zero size, unknown flag
/// or protection).
pub const VMP_EINVAL: c_int = -30001;
/// Library error: an address, size or offset is not a page multiple.
pub const VMP_EALIGN: c_int = -30002;
/// Library error: the range is not inside the region (or overflows).
pub const VMP_ERANGE: c_int = -30003;
/// Library error: a span in the range is of a kind the operation does not take.
pub const VMP_ESTATE: c_int = -30004;
/// Library error: the kinds are right but the span boundaries are not.
pub const VMP_EEXTENT: c_int = -30005;
/// Library error: a view would reach past the end of its object or file.
pub const VMP_EBOUNDS: c_int = -30006;
/// Library error: the protection asks for more than the object allows.
pub const VMP_EACCES: c_int = -30007;
/// Library error: out of address space, memory or kernel mapping slots.
pub const VMP_ENOMEM: c_int = -30008;
/// Library error: not supported by this backend or system.
pub const VMP_ENOTSUP: c_int = -30009;
/// Library error: a wait timed out.
pub const VMP_ETIMEDOUT: c_int = -30010;
/// Library error: the ring was shut down.
pub const VMP_ESHUTDOWN: c_int = -30011;
/// Library error: the peer's shared ring is not valid.
pub const VMP_EPEER: c_int = -30012;
/// Library error: the ring is full.
pub const VMP_EFULL: c_int = -30013;
/// Library error: the bytes are gone (a file truncated under a view, or unreadable).
pub const VMP_EGONE: c_int = -30014;
/// Library error: the addresses a placement asked for are taken by another mapping.
pub const VMP_EADDRINUSE: c_int = -30015;
/// Library error: the process holds as many kernel mappings as it may (vm.max_map_count).
pub const VMP_EMAPLIMIT: c_int = -30016;
/// The lowest library error code; OS errors are negated native codes above it.
pub const VMP__ERR_MIN: c_int = -30016;

/// Library version, major part.
pub const VMP_VERSION_MAJOR: c_int = 0;
/// Library version, minor part.
pub const VMP_VERSION_MINOR: c_int = 1;
/// Library version, patch part.
pub const VMP_VERSION_PATCH: c_int = 0;

/// Protection: no access.
pub const VMP_PROT_NONE: c_int = 0;
/// Protection: read.
pub const VMP_PROT_READ: c_int = 1;
/// Protection bit: write (only together with read).
pub const VMP_PROT_WRITE: c_int = 2;
/// Protection: read and write.
pub const VMP_PROT_RW: c_int = VMP_PROT_READ | VMP_PROT_WRITE;
/// Protection bit: execute (only together with read).
pub const VMP_PROT_EXEC: c_int = 4;

/// Memory object flag: views may read.
pub const VMP_MEM_READ: c_uint = 0x1;
/// Memory object flag: views may write (shared).
pub const VMP_MEM_WRITE: c_uint = 0x2;
/// Memory object flags: read and write.
pub const VMP_MEM_RW: c_uint = VMP_MEM_READ | VMP_MEM_WRITE;
/// `vmp_mem_create_named` flag: the backend's own way (a memfd) or
/// `VMP_ENOTSUP`, never an object in /dev/shm or $TMPDIR.
pub const VMP_MEM_NO_FALLBACK: c_uint = 0x10;
/// `vmp_mem_create_named` flag: views will be executable (Linux MFD_EXEC).
pub const VMP_MEM_EXEC: c_uint = 0x20;
/// `vmp_mem_create_named` flag: reserve the backing store at create, so a
/// full tmpfs is an error now rather than SIGBUS later.
pub const VMP_MEM_PREALLOCATE: c_uint = 0x40;
/// `vmp_mem_create_named` flag: huge pages from the system's pool.
pub const VMP_MEM_HUGE: c_uint = 0x80;
/// `vmp_mem_create_named` flag: huge pages, else ordinary pages whose views
/// ask for transparent huge pages.
pub const VMP_MEM_HUGE_OR_THP: c_uint = 0x100;

/// Where an object's memory comes from (`enum vmp_backing`).
pub type vmp_backing = c_int;
/// Linux memfd_create.
pub const VMP_BACKING_MEMFD: vmp_backing = 1;
/// shm_open, name removed (lives in /dev/shm).
pub const VMP_BACKING_SHM: vmp_backing = 2;
/// An unnamed file in $TMPDIR.
pub const VMP_BACKING_TEMP_FILE: vmp_backing = 3;
/// A regular file opened by path.
pub const VMP_BACKING_FILE: vmp_backing = 4;
/// A Windows pagefile-backed section.
pub const VMP_BACKING_SECTION: vmp_backing = 5;
/// Adopted (`vmp_mem_adopt`): whatever the caller had.
pub const VMP_BACKING_DESCRIPTOR: vmp_backing = 6;

/// Span kind (`enum vmp_kind`).
pub type vmp_kind = c_int;
/// Reserved, inaccessible, costs no memory.
pub const VMP_PLACEHOLDER: vmp_kind = 0;
/// Private anonymous memory.
pub const VMP_PRIVATE: vmp_kind = 1;
/// A window onto a memory object.
pub const VMP_VIEW: vmp_kind = 2;

/// Multi-file view flag: map the files read-write and shared.
pub const VMP_MVIEW_WRITE: c_uint = 0x1;
/// Multi-file view flag: keep no descriptor for a segment once it is no
/// longer last; every segment must then be given by path.
pub const VMP_MVIEW_CLOSE_FILES: c_uint = 0x2;

/// Ring flag: back the data with huge pages (Linux).
pub const VMP_RING_HUGE_PAGES: c_uint = 0x1;
/// Ring flag: a child made by fork() does not get the mapping.
pub const VMP_RING_NO_INHERIT: c_uint = 0x2;
/// Ring flag (create only): records from many producers at once; the
/// byte calls then give `VMP_EINVAL`.
pub const VMP_RING_MULTI_PRODUCER: c_uint = 0x4;
/// `want` for the ring begin calls: look at the other side's index every time.
pub const VMP_RING_ALL: usize = usize::MAX;

/// Opaque memory object (`struct vmp_mem`).
#[repr(C)]
pub struct vmp_mem {
    _private: [u8; 0],
}

/// Opaque region (`struct vmp_region`).
#[repr(C)]
pub struct vmp_region {
    _private: [u8; 0],
}

/// Opaque contiguous multi-file view (`struct vmp_mview`).
#[repr(C)]
pub struct vmp_mview {
    _private: [u8; 0],
}

/// Opaque mirrored ring (`struct vmp_ring`).
#[repr(C)]
pub struct vmp_ring {
    _private: [u8; 0],
}

/// What the backend compiled in can do (`vmp_capabilities()`). Flags are 1
/// when the backend has the capability, 0 when it does not; the header
/// says what each means.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmp_caps {
    /// `vmp_backend_name()`, a static NUL-terminated string.
    pub backend: *const c_char,
    /// `vmp_page_size()`.
    pub page_size: usize,
    /// `vmp_granularity()`.
    pub granularity: usize,
    /// A view's object offset is a multiple of it (bytes).
    pub view_offset_unit: usize,
    /// Objects carry seals against shrinking.
    pub seals: c_int,
    /// `vmp_mem_grow` works on anonymous objects.
    pub anon_resizable: c_int,
    /// Another program can cut a mapped file, so views can fault.
    pub mapped_files_shrink: c_int,
    /// `vmp_discard` over pages of several protections is one system call.
    pub discard_mixed_one_step: c_int,
    /// `VMP_RING_HUGE_PAGES` can work.
    pub huge_pages: c_int,
    /// `VMP_RING_NO_INHERIT` is honoured.
    pub no_inherit: c_int,
    /// A ring's waiter sleeps in the kernel and a peer process wakes it.
    pub wait_across_processes: c_int,
    /// `vmp_mview_read`/`scan` copy with the system's checked copy.
    pub fault_safe_copy: c_int,
    /// `vmp_reserve_at` is one call the system refuses over a taken range.
    pub place_exact_checked: c_int,
    /// `vmp_reserve_in`: the system picks the gap.
    pub place_window_by_system: c_int,
    /// `vmp_reserve_in` reads the process's map to find a gap.
    pub place_window_gap_list: c_int,
    /// `vmp_budget_get` reports the kernel's mapping limit and count.
    pub knows_mapping_limit: c_int,
    /// `vmp_label` and named objects show in the process's map.
    pub labels: c_int,
}

/// The process's budget of address space and shared memory
/// (`vmp_budget_get()`); -1 (`u64::MAX` for the limits) where unknown.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vmp_budget {
    /// Kernel mappings a process may hold (vm.max_map_count); -1 unknown.
    pub map_limit: i64,
    /// Kernel mappings the process holds now.
    pub map_count: i64,
    /// Linux vm.overcommit_memory (0, 1, 2).
    pub overcommit: c_int,
    /// Soft RLIMIT_AS in bytes.
    pub as_limit: u64,
    /// Soft RLIMIT_DATA in bytes.
    pub data_limit: u64,
    /// 1 memfd_create works, 0 refused, -1 the system has none.
    pub memfd: c_int,
    /// Bytes of /dev/shm.
    pub shm_size: i64,
    /// Free bytes of /dev/shm.
    pub shm_free: i64,
    /// Bytes of free huge pages.
    pub huge_free: i64,
    /// The huge page size in bytes.
    pub huge_page: i64,
}

/// What `vmp_mem_query()` reports about an object.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmp_mem_info {
    /// Where the memory comes from (`VMP_BACKING_*`).
    pub backing: vmp_backing,
    /// Its size can never shrink.
    pub sealed: c_int,
    /// 1 huge pages, 2 ordinary pages asking for transparent huge pages.
    pub huge_pages: c_int,
    /// 1 exec-capable on purpose, 0 sealed against exec, -1 as the system decides.
    pub exec: c_int,
    /// The backend's own way was refused and a fallback taken.
    pub fell_back: c_int,
}

/// What `vmp_query()` reports about one span.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmp_span_info {
    /// Address of the span's first byte.
    pub start: *mut c_void,
    /// Span start, relative to the region's base.
    pub offset: usize,
    /// Span size in bytes.
    pub size: usize,
    /// The span's kind.
    pub kind: vmp_kind,
    /// Protection of the page holding the queried address.
    pub prot: c_int,
    /// View: its object (valid while the view is); else null.
    pub mem: *mut vmp_mem,
    /// View: object offset of the span's first byte.
    pub mem_offset: u64,
}

/// One segment of a multi-file view: a file by path, or by descriptor when
/// `path` is null, and the byte range of it (`length` 0: to the end).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmp_segment {
    /// NUL-terminated path, or null to use `fd`.
    pub path: *const c_char,
    /// Descriptor (POSIX) or HANDLE (Windows), used when `path` is null.
    pub fd: isize,
    /// First byte of the file to map (a page multiple).
    pub offset: u64,
    /// Bytes to map; 0 maps to the end of the file.
    pub length: u64,
}

/// What `vmp_mview_describe()` reports about one segment.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmp_mview_segment_info {
    /// The segment file's descriptor, still the view's.
    pub fd: isize,
    /// Where the segment starts in its file.
    pub file_offset: u64,
    /// Its bytes.
    pub length: u64,
    /// Where it starts in the view.
    pub view_offset: u64,
}

/// One record of a ring, reserved or received.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vmp_ring_record {
    /// The payload: `len` contiguous bytes inside the ring.
    pub data: *mut c_void,
    /// Payload bytes.
    pub len: usize,
    /// Private to the ring: which record this is.
    pub at: u64,
}

/// Counts kept in a ring's shared control page.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct vmp_ring_stats {
    /// Bytes through the ring, headers included.
    pub bytes_written: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Records submitted.
    pub records_written: u64,
    /// Records consumed.
    pub records_read: u64,
    /// Reservations that failed for want of room.
    pub dropped: u64,
    /// Records reserved, then discarded.
    pub discarded: u64,
    /// Records the consumer skipped after the abandonment timeout.
    pub abandoned: u64,
}

/// Callback type of `vmp_foreach_span()`.
pub type vmp_span_fn = unsafe extern "C" fn(info: *const vmp_span_info, arg: *mut c_void) -> c_int;

extern "C" {
    // Errors
    /// A static message for any code the library returns.
    pub fn vmp_strerror(err: c_int) -> *const c_char;
    /// The code's unique name ("EINVAL", "OS:ENOENT", ...).
    pub fn vmp_err_name(err: c_int) -> *const c_char;
    /// Nonzero when `err` is an OS error with a native code.
    pub fn vmp_err_is_os(err: c_int) -> c_int;
    /// The native code of an OS error, 0 otherwise.
    pub fn vmp_err_os_code(err: c_int) -> c_int;

    // System facts
    /// The page size in bytes.
    pub fn vmp_page_size() -> usize;
    /// The alignment every region base has at least.
    pub fn vmp_granularity() -> usize;
    /// "linux", "posix" or "windows".
    pub fn vmp_backend_name() -> *const c_char;
    /// What the backend can do; never null, constant for the process.
    pub fn vmp_capabilities() -> *const vmp_caps;
    /// Fills `*out` with the process's budget as it is now.
    pub fn vmp_budget_get(out: *mut vmp_budget) -> c_int;

    // Memory objects
    /// Creates anonymous shared memory of `size` bytes.
    pub fn vmp_mem_create(size: u64, flags: c_uint, out: *mut *mut vmp_mem) -> c_int;
    /// As `vmp_mem_create`, with a name shown in the process's map and flags.
    pub fn vmp_mem_create_named(size: u64, name: *const c_char, flags: c_uint, out: *mut *mut vmp_mem) -> c_int;
    /// What was obtained for an object.
    pub fn vmp_mem_query(mem: *const vmp_mem, out: *mut vmp_mem_info) -> c_int;
    /// Opens a regular file as a memory object.
    pub fn vmp_mem_open(path: *const c_char, flags: c_uint, out: *mut *mut vmp_mem) -> c_int;
    /// Adopts an open descriptor; owned by the object on success.
    pub fn vmp_mem_adopt(fd: isize, flags: c_uint, out: *mut *mut vmp_mem) -> c_int;
    /// The object's current size in bytes.
    pub fn vmp_mem_size(mem: *mut vmp_mem, size_out: *mut u64) -> c_int;
    /// Grows the object to `new_size` bytes.
    pub fn vmp_mem_grow(mem: *mut vmp_mem, new_size: u64) -> c_int;
    /// The native descriptor, still owned by the object; -1 on null.
    pub fn vmp_mem_fd(mem: *const vmp_mem) -> isize;
    /// The flags the object was opened with.
    pub fn vmp_mem_flags(mem: *const vmp_mem) -> c_uint;
    /// Gives the caller's handle back; views stay valid.
    pub fn vmp_mem_close(mem: *mut vmp_mem) -> c_int;

    // Regions
    /// The name of a kind: "placeholder", "private", "view".
    pub fn vmp_kind_name(kind: vmp_kind) -> *const c_char;
    /// Reserves `size` bytes of address space as one placeholder.
    pub fn vmp_reserve(size: usize, alignment: usize, out: *mut *mut vmp_region) -> c_int;
    /// Reserves exactly [addr, addr+size), never replacing anything.
    pub fn vmp_reserve_at(addr: *mut c_void, size: usize, out: *mut *mut vmp_region) -> c_int;
    /// Reserves `size` bytes somewhere in [lowest, highest).
    pub fn vmp_reserve_in(
        lowest: usize,
        highest: usize,
        size: usize,
        alignment: usize,
        out: *mut *mut vmp_region,
    ) -> c_int;
    /// Grows the region in place by a placeholder of `more` bytes.
    pub fn vmp_extend(region: *mut vmp_region, more: usize) -> c_int;
    /// Unmaps everything in the region and gives its range back.
    pub fn vmp_release(region: *mut vmp_region) -> c_int;
    /// The region's base address.
    pub fn vmp_base(region: *const vmp_region) -> *mut c_void;
    /// The region's size in bytes.
    pub fn vmp_size(region: *const vmp_region) -> usize;
    /// Makes [off, off+size) a placeholder of its own.
    pub fn vmp_split(region: *mut vmp_region, off: usize, size: usize) -> c_int;
    /// Makes [off, off+size) a placeholder span of its own (split, or nothing).
    pub fn vmp_carve(region: *mut vmp_region, off: usize, size: usize) -> c_int;
    /// Merges the placeholders covering [off, off+size).
    pub fn vmp_coalesce(region: *mut vmp_region, off: usize, size: usize) -> c_int;
    /// Replaces one whole placeholder with private memory.
    pub fn vmp_commit(region: *mut vmp_region, off: usize, size: usize, prot: c_int) -> c_int;
    /// vmp_carve and vmp_commit under one lock: [off, off+size), inside one
    /// placeholder, becomes private memory.
    pub fn vmp_carve_commit(region: *mut vmp_region, off: usize, size: usize, prot: c_int) -> c_int;
    /// Replaces one whole placeholder with a view of `mem`.
    pub fn vmp_map(
        region: *mut vmp_region,
        off: usize,
        size: usize,
        mem: *mut vmp_mem,
        mem_off: u64,
        prot: c_int,
    ) -> c_int;
    /// vmp_carve and vmp_map under one lock: [off, off+size), inside one
    /// placeholder, becomes a view of `mem`.
    pub fn vmp_carve_map(
        region: *mut vmp_region,
        off: usize,
        size: usize,
        mem: *mut vmp_mem,
        mem_off: u64,
        prot: c_int,
    ) -> c_int;
    /// Turns [off, off+size) back into a placeholder.
    pub fn vmp_unmap(region: *mut vmp_region, off: usize, size: usize) -> c_int;
    /// vmp_unmap, then the new placeholder merges with a placeholder right
    /// before and right after it.
    pub fn vmp_unmap_coalesce(region: *mut vmp_region, off: usize, size: usize) -> c_int;
    /// Changes the protection of [off, off+size).
    pub fn vmp_protect(region: *mut vmp_region, off: usize, size: usize, prot: c_int) -> c_int;
    /// Gives the memory of private pages back; they read as zero.
    pub fn vmp_discard(region: *mut vmp_region, off: usize, size: usize) -> c_int;
    /// Names the private pages [off, off+size) in the process's map.
    pub fn vmp_label(region: *mut vmp_region, off: usize, size: usize, name: *const c_char) -> c_int;
    /// Describes the span holding `addr`.
    pub fn vmp_query(region: *mut vmp_region, addr: *const c_void, info: *mut vmp_span_info) -> c_int;
    /// The number of spans in the region.
    pub fn vmp_span_count(region: *mut vmp_region) -> usize;
    /// How many kernel mappings the region costs now.
    pub fn vmp_mapping_count(region: *mut vmp_region) -> usize;
    /// Calls `fn_` for every span in address order, under the region's lock.
    pub fn vmp_foreach_span(region: *mut vmp_region, fn_: Option<vmp_span_fn>, arg: *mut c_void) -> c_int;

    // Contiguous multi-file views
    /// Maps `count` segments back to back in a new region.
    pub fn vmp_mview_open(
        segments: *const vmp_segment,
        count: usize,
        capacity: u64,
        flags: c_uint,
        out: *mut *mut vmp_mview,
        bad_segment: *mut usize,
    ) -> c_int;
    /// Maps one more segment after the last.
    pub fn vmp_mview_append(view: *mut vmp_mview, segment: *const vmp_segment) -> c_int;
    /// The first byte of the view.
    pub fn vmp_mview_base(view: *const vmp_mview) -> *mut c_void;
    /// The exact number of bytes of all segments.
    pub fn vmp_mview_length(view: *const vmp_mview) -> u64;
    /// The bytes reserved in all.
    pub fn vmp_mview_capacity(view: *const vmp_mview) -> u64;
    /// The segment count.
    pub fn vmp_mview_segments(view: *const vmp_mview) -> usize;
    /// Which segment byte `offset` comes from, and its file offset.
    pub fn vmp_mview_locate(
        view: *const vmp_mview,
        offset: u64,
        segment: *mut usize,
        file_offset: *mut u64,
    ) -> c_int;
    /// Describes segment `segment`.
    pub fn vmp_mview_describe(view: *const vmp_mview, segment: usize, info: *mut vmp_mview_segment_info) -> c_int;
    /// Checks every segment's file against the range it was mapped with.
    pub fn vmp_mview_check(view: *const vmp_mview, segment: *mut usize) -> c_int;
    /// Follows the last segment's file as it grows; `*length` gets the length.
    pub fn vmp_mview_refresh(view: *mut vmp_mview, length: *mut u64) -> c_int;
    /// Turns segments [0, count) back into placeholder and closes their files.
    pub fn vmp_mview_retire(view: *mut vmp_mview, count: usize) -> c_int;
    /// How many segments are retired.
    pub fn vmp_mview_retired(view: *const vmp_mview) -> usize;
    /// Guarantees `bytes` readable zero bytes after the view's end.
    pub fn vmp_mview_set_padding(view: *mut vmp_mview, bytes: usize) -> c_int;
    /// Fault-safe copy of view bytes [offset, offset+n) to `dst`.
    pub fn vmp_mview_read(view: *const vmp_mview, offset: u64, dst: *mut c_void, n: usize) -> c_int;
    /// Fault-safe scan for `byte` in [offset, offset+n).
    pub fn vmp_mview_scan(view: *const vmp_mview, offset: u64, n: u64, byte: u8, found: *mut u64) -> c_int;
    /// Unmaps everything and closes the files.
    pub fn vmp_mview_close(view: *mut vmp_mview) -> c_int;

    // Mirrored rings
    /// Creates a ring of at least `size` bytes.
    pub fn vmp_ring_create(size: usize, flags: c_uint, out: *mut *mut vmp_ring) -> c_int;
    /// Maps the ring another process created from its descriptor.
    pub fn vmp_ring_attach(fd: isize, flags: c_uint, out: *mut *mut vmp_ring) -> c_int;
    /// The descriptor to give a peer, still the ring's.
    pub fn vmp_ring_fd(ring: *const vmp_ring) -> isize;
    /// The capacity in bytes.
    pub fn vmp_ring_capacity(ring: *const vmp_ring) -> usize;
    /// The first byte of the data; byte i's mirror is at i + capacity.
    pub fn vmp_ring_data(ring: *const vmp_ring) -> *mut c_void;
    /// Producer: where to write and how many bytes, contiguously.
    pub fn vmp_ring_write_begin(ring: *mut vmp_ring, want: usize, ptr: *mut *mut c_void, len: *mut usize) -> c_int;
    /// Producer: publishes `n` bytes.
    pub fn vmp_ring_write_commit(ring: *mut vmp_ring, n: usize) -> c_int;
    /// Consumer: the bytes written and not yet released, contiguously.
    pub fn vmp_ring_read_begin(ring: *mut vmp_ring, want: usize, ptr: *mut *const c_void, len: *mut usize) -> c_int;
    /// Consumer: releases the first `n` bytes offered.
    pub fn vmp_ring_read_release(ring: *mut vmp_ring, n: usize) -> c_int;
    /// Copies in up to `n` bytes; the count or a negative error.
    pub fn vmp_ring_write(ring: *mut vmp_ring, src: *const c_void, n: usize) -> isize;
    /// Copies out up to `n` bytes; the count or a negative error.
    pub fn vmp_ring_read(ring: *mut vmp_ring, dst: *mut c_void, n: usize) -> isize;
    /// Producer: one read() from `fd` into the free space, then commits it.
    pub fn vmp_ring_fill(ring: *mut vmp_ring, fd: isize, max: usize) -> isize;
    /// Consumer: one write() to `fd` of the bytes there, then releases them.
    pub fn vmp_ring_drain(ring: *mut vmp_ring, fd: isize, max: usize) -> isize;
    /// Waits until `want` bytes can be written.
    pub fn vmp_ring_wait_write(ring: *mut vmp_ring, want: usize, timeout_ns: i64) -> c_int;
    /// Waits until `want` bytes can be read.
    pub fn vmp_ring_wait_read(ring: *mut vmp_ring, want: usize, timeout_ns: i64) -> c_int;
    /// The largest payload one record can have.
    pub fn vmp_ring_record_max(ring: *const vmp_ring) -> usize;
    /// Producer: reserves a record of `len` bytes.
    pub fn vmp_ring_reserve(ring: *mut vmp_ring, len: usize, timeout_ns: i64, rec: *mut vmp_ring_record) -> c_int;
    /// Waits until a record of `len` bytes fits, counting nothing.
    pub fn vmp_ring_wait_room(ring: *mut vmp_ring, len: usize, timeout_ns: i64) -> c_int;
    /// Publishes a reserved record.
    pub fn vmp_ring_submit(ring: *mut vmp_ring, rec: *const vmp_ring_record) -> c_int;
    /// Gives a reserved record up.
    pub fn vmp_ring_discard(ring: *mut vmp_ring, rec: *const vmp_ring_record) -> c_int;
    /// Consumer: the next record, whole and contiguous.
    pub fn vmp_ring_next(ring: *mut vmp_ring, timeout_ns: i64, rec: *mut vmp_ring_record) -> c_int;
    /// Releases the record `vmp_ring_next` gave.
    pub fn vmp_ring_consume(ring: *mut vmp_ring, rec: *const vmp_ring_record) -> c_int;
    /// How long the consumer waits for a busy record before skipping it.
    pub fn vmp_ring_set_abandon_timeout(ring: *mut vmp_ring, timeout_ns: i64) -> c_int;
    /// The ring's shared counts.
    pub fn vmp_ring_get_stats(ring: *const vmp_ring, out: *mut vmp_ring_stats) -> c_int;
    /// Shuts the ring down for both sides and wakes every waiter.
    pub fn vmp_ring_shutdown(ring: *mut vmp_ring);
    /// Unmaps the ring and closes this process's handle.
    pub fn vmp_ring_close(ring: *mut vmp_ring) -> c_int;
}
