//! What the backend can do, and the process's budget of mappings, address
//! space and shared memory.

use std::ffi::CStr;

use vmplace_sys as sys;

use crate::error::{check, Result};

/// What the backend compiled into the C library can do, as data: decide
/// from these fields, never from [`backend`](Caps::backend)'s name.
/// [`capabilities`] returns it.
///
/// ```
/// let caps = vmplace::capabilities();
/// assert_eq!(caps.page_size, vmplace::page_size());
/// if caps.fault_safe_copy {
///     // MView::read_at turns even a truncation racing with the copy into
///     // ErrorKind::Gone; without it only one made before the call.
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caps {
    /// The backend's name, for messages: "linux", "posix" or "windows".
    pub backend: &'static str,
    /// The page size in bytes ([`page_size`](crate::page_size)).
    pub page_size: usize,
    /// The alignment of every region base ([`granularity`](crate::granularity)).
    pub granularity: usize,
    /// A view's object offset is a multiple of this many bytes.
    pub view_offset_unit: usize,
    /// Anonymous objects are sealed against shrinking, and attach refuses
    /// a ring object that is not.
    pub seals: bool,
    /// [`Mem::grow`](crate::Mem::grow) works on anonymous objects.
    pub anon_resizable: bool,
    /// Another program can cut a mapped file, so views of files can fault.
    pub mapped_files_shrink: bool,
    /// A discard over pages of several protections is one system call (a
    /// failure zeroes nothing).
    pub discard_mixed_one_step: bool,
    /// Huge-page rings can work (while the system has huge pages free).
    pub huge_pages: bool,
    /// [`RingOptions::no_inherit`](crate::RingOptions::no_inherit) is honoured.
    pub no_inherit: bool,
    /// A ring's waiter sleeps in the kernel and a peer in another process
    /// wakes it at once (else it polls, up to a millisecond between looks).
    pub wait_across_processes: bool,
    /// [`MView::read_at`](crate::MView::read_at) and
    /// [`MView::scan`](crate::MView::scan) copy with the system's checked
    /// copy: bytes cut from under them mid-copy are `EGONE`, never SIGBUS.
    pub fault_safe_copy: bool,
    /// [`Region::reserve_at`](crate::Region::reserve_at) is one system call
    /// refused over a taken range (else a hint, then a check).
    pub place_exact_checked: bool,
    /// [`Region::reserve_in`](crate::Region::reserve_in): the system picks
    /// the gap.
    pub place_window_by_system: bool,
    /// [`Region::reserve_in`](crate::Region::reserve_in) reads the process's
    /// map to find a gap (else it tries aligned addresses from the lowest).
    pub place_window_gap_list: bool,
    /// [`budget`] reports the kernel's mapping limit and count, and running
    /// into the limit is [`ErrorKind::MapLimit`](crate::ErrorKind::MapLimit).
    pub knows_mapping_limit: bool,
    /// [`Region::label`](crate::Region::label) and
    /// [`Mem::create_named`](crate::Mem::create_named) names show in the
    /// process's map (else they are accepted and shown nowhere).
    pub labels: bool,
}

/// What the backend can do; the same for the life of the process.
///
/// ```
/// let caps = vmplace::capabilities();
/// assert_eq!(caps.backend, vmplace::backend_name());
/// assert_eq!(caps.granularity, vmplace::granularity());
/// ```
pub fn capabilities() -> Caps {
    // Never null, constant data for the life of the process.
    let raw = unsafe { &*sys::vmp_capabilities() };
    let flag = |value: std::os::raw::c_int| value != 0;
    Caps {
        backend: unsafe { CStr::from_ptr(raw.backend) }.to_str().unwrap_or("unknown"),
        page_size: raw.page_size,
        granularity: raw.granularity,
        view_offset_unit: raw.view_offset_unit,
        seals: flag(raw.seals),
        anon_resizable: flag(raw.anon_resizable),
        mapped_files_shrink: flag(raw.mapped_files_shrink),
        discard_mixed_one_step: flag(raw.discard_mixed_one_step),
        huge_pages: flag(raw.huge_pages),
        no_inherit: flag(raw.no_inherit),
        wait_across_processes: flag(raw.wait_across_processes),
        fault_safe_copy: flag(raw.fault_safe_copy),
        place_exact_checked: flag(raw.place_exact_checked),
        place_window_by_system: flag(raw.place_window_by_system),
        place_window_gap_list: flag(raw.place_window_gap_list),
        knows_mapping_limit: flag(raw.knows_mapping_limit),
        labels: flag(raw.labels),
    }
}

/// The process's budget of kernel mappings, address space and shared
/// memory as it is now: what limits a program that reserves much, maps
/// many pieces or shares memory. `None` where the system cannot tell (or,
/// for the limits, where there is no limit). [`budget`] returns it.
///
/// ```
/// let budget = vmplace::budget()?;
/// if let (Some(limit), Some(count)) = (budget.map_limit, budget.map_count) {
///     assert!(count <= limit); // vm.max_map_count on Linux
/// }
/// # Ok::<(), vmplace::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budget {
    /// Kernel mappings the process may hold (Linux `vm.max_map_count`).
    pub map_limit: Option<u64>,
    /// Kernel mappings the process holds now.
    pub map_count: Option<u64>,
    /// Linux `vm.overcommit_memory`: 0 heuristic, 1 always, 2 never.
    pub overcommit: Option<i32>,
    /// Soft `RLIMIT_AS` in bytes.
    pub as_limit: Option<u64>,
    /// Soft `RLIMIT_DATA` in bytes (counts committed private memory on Linux).
    pub data_limit: Option<u64>,
    /// `Some(true)`: memfd_create works now; `Some(false)`: it is refused
    /// (a sandbox); `None`: the system has none. Without it memory objects
    /// come from /dev/shm or a file, which can fill up and fault.
    pub memfd: Option<bool>,
    /// Bytes of /dev/shm.
    pub shm_size: Option<u64>,
    /// Bytes of /dev/shm still free.
    pub shm_free: Option<u64>,
    /// Bytes of free huge pages.
    pub huge_free: Option<u64>,
    /// The huge page size in bytes.
    pub huge_page: Option<u64>,
}

fn known(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}

fn limit(value: u64) -> Option<u64> {
    if value == u64::MAX {
        None
    } else {
        Some(value)
    }
}

/// Asks the system for the budget now (`/proc` on Linux, `getrlimit` and
/// `statvfs` on POSIX). Errors: OS errors only in principle: the library
/// reports what it cannot read as unknown.
///
/// ```
/// let budget = vmplace::budget()?;
/// if vmplace::capabilities().knows_mapping_limit {
///     assert!(budget.map_limit.is_some());
/// }
/// # Ok::<(), vmplace::Error>(())
/// ```
pub fn budget() -> Result<Budget> {
    let mut raw = sys::vmp_budget::default();
    check(unsafe { sys::vmp_budget_get(&mut raw) })?;
    Ok(Budget {
        map_limit: known(raw.map_limit),
        map_count: known(raw.map_count),
        overcommit: if raw.overcommit < 0 { None } else { Some(raw.overcommit) },
        as_limit: limit(raw.as_limit),
        data_limit: limit(raw.data_limit),
        memfd: match raw.memfd {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        },
        shm_size: known(raw.shm_size),
        shm_free: known(raw.shm_free),
        huge_free: known(raw.huge_free),
        huge_page: known(raw.huge_page),
    })
}
