//! The hand-written structs must have the C layout: each test has the
//! library fill one, framed by canary words, and compares every field with
//! a value known another way (another call, the header's table, the
//! system itself), so a field at the wrong offset or a struct of the wrong
//! size shows up as a wrong value or a trampled canary.

use std::ffi::CStr;
use std::mem::{size_of, MaybeUninit};
use std::os::raw::c_int;
use std::ptr;

use vmplace_sys as sys;

const CANARY: u64 = 0x5afe_c0de_5afe_c0de;

/// A struct with a canary word on both sides.
#[repr(C)]
struct Framed<T> {
    before: u64,
    value: MaybeUninit<T>,
    after: [u64; 4],
}

impl<T> Framed<T> {
    fn new() -> Framed<T> {
        let mut framed = Framed { before: CANARY, value: MaybeUninit::uninit(), after: [CANARY; 4] };
        // Every byte set, so that a field the library does not write reads
        // as this pattern rather than as what happened to be there.
        unsafe { ptr::write_bytes(framed.value.as_mut_ptr() as *mut u8, 0xA5, size_of::<T>()) };
        framed
    }

    fn check_canaries(&self) {
        assert_eq!(self.before, CANARY);
        assert_eq!(self.after, [CANARY; 4], "the library wrote past the end of the Rust struct");
    }
}

fn backend() -> String {
    unsafe { CStr::from_ptr(sys::vmp_backend_name()) }.to_str().unwrap().to_string()
}

#[test]
fn caps_fields_match_the_header_table_and_the_other_calls() {
    let caps = unsafe { &*sys::vmp_capabilities() };
    assert_eq!(caps.backend, unsafe { sys::vmp_backend_name() });
    assert_eq!(caps.page_size, unsafe { sys::vmp_page_size() });
    assert_eq!(caps.granularity, unsafe { sys::vmp_granularity() });
    assert!(caps.view_offset_unit == caps.page_size || caps.view_offset_unit == caps.granularity);
    let flags = [
        caps.seals,
        caps.anon_resizable,
        caps.mapped_files_shrink,
        caps.discard_mixed_one_step,
        caps.huge_pages,
        caps.no_inherit,
        caps.wait_across_processes,
        caps.fault_safe_copy,
        caps.place_exact_checked,
        caps.place_window_by_system,
        caps.place_window_gap_list,
        caps.knows_mapping_limit,
        caps.labels,
    ];
    // The table in vmplace.h, column by column.
    let expected: [c_int; 13] = match backend().as_str() {
        "linux" => [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1],
        "posix" => [0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        "windows" => [0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0],
        other => panic!("backend {} has no column here", other),
    };
    assert_eq!(flags, expected);
}

#[cfg(target_os = "linux")]
#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

#[cfg(target_os = "linux")]
extern "C" {
    fn getrlimit(resource: c_int, limit: *mut Rlimit) -> c_int;
}

#[cfg(target_os = "linux")]
fn rlimit(resource: c_int) -> u64 {
    let mut limit = Rlimit { cur: 0, max: 0 };
    assert_eq!(unsafe { getrlimit(resource, &mut limit) }, 0);
    limit.cur
}

#[cfg(target_os = "linux")]
fn proc_number(path: &str) -> i64 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn budget_fields_match_what_the_system_says() {
    const RLIMIT_DATA: c_int = 2;
    const RLIMIT_AS: c_int = 9;
    let mut framed = Framed::<sys::vmp_budget>::new();
    assert_eq!(unsafe { sys::vmp_budget_get(framed.value.as_mut_ptr()) }, 0);
    framed.check_canaries();
    let budget = unsafe { framed.value.assume_init() };
    assert_eq!(budget.as_limit, rlimit(RLIMIT_AS));
    assert_eq!(budget.data_limit, rlimit(RLIMIT_DATA));
    if backend() == "linux" {
        assert_eq!(budget.map_limit, proc_number("/proc/sys/vm/max_map_count"));
        assert!(budget.map_count > 0 && budget.map_count < budget.map_limit, "{:?}", budget);
        assert_eq!(budget.overcommit as i64, proc_number("/proc/sys/vm/overcommit_memory"));
        assert!(budget.memfd == 0 || budget.memfd == 1, "{:?}", budget);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let huge_kib: Option<i64> = meminfo
            .lines()
            .find(|line| line.starts_with("Hugepagesize:"))
            .map(|line| line.split_whitespace().nth(1).unwrap().parse().unwrap());
        assert_eq!(budget.huge_page, huge_kib.map_or(-1, |kib| kib * 1024));
        assert!(budget.huge_free >= 0 && budget.huge_free % budget.huge_page.max(1) == 0, "{:?}", budget);
    } else {
        assert_eq!((budget.map_limit, budget.map_count), (-1, -1));
    }
    assert!(budget.shm_free <= budget.shm_size, "{:?}", budget);
    assert_eq!(unsafe { sys::vmp_budget_get(ptr::null_mut()) }, sys::VMP_EINVAL);
}

#[test]
fn mem_info_reports_an_anonymous_object_and_a_file() {
    let page = unsafe { sys::vmp_page_size() } as u64;
    let mut mem = ptr::null_mut();
    assert_eq!(unsafe { sys::vmp_mem_create(page, 0, &mut mem) }, 0);
    let mut framed = Framed::<sys::vmp_mem_info>::new();
    assert_eq!(unsafe { sys::vmp_mem_query(mem, framed.value.as_mut_ptr()) }, 0);
    framed.check_canaries();
    let info = unsafe { framed.value.assume_init() };
    let caps = unsafe { &*sys::vmp_capabilities() };
    let anonymous =
        [sys::VMP_BACKING_MEMFD, sys::VMP_BACKING_SHM, sys::VMP_BACKING_TEMP_FILE, sys::VMP_BACKING_SECTION];
    assert!(anonymous.contains(&info.backing), "{:?}", info);
    // A Windows section's size is fixed when it is made: sealed too.
    let section = info.backing == sys::VMP_BACKING_SECTION;
    assert_eq!(info.sealed, (caps.seals != 0 || section) as c_int, "{:?}", info);
    assert_eq!(info.huge_pages, 0, "{:?}", info);
    assert!([-1, 0, 1].contains(&info.exec), "{:?}", info);
    // Only /dev/shm and a temporary file are fallbacks (from a memfd).
    let fallback = [sys::VMP_BACKING_SHM, sys::VMP_BACKING_TEMP_FILE];
    assert_eq!(info.fell_back != 0, fallback.contains(&info.backing), "{:?}", info);
    assert_eq!(unsafe { sys::vmp_mem_close(mem) }, 0);

    let path = std::env::temp_dir().join(format!("vmplace-sys-layout-{}\0", std::process::id()));
    std::fs::write(path.to_str().unwrap().trim_end_matches('\0'), vec![0u8; page as usize]).unwrap();
    let mut file = ptr::null_mut();
    let c_path = path.to_str().unwrap();
    assert_eq!(unsafe { sys::vmp_mem_open(c_path.as_ptr() as *const _, sys::VMP_MEM_READ, &mut file) }, 0);
    let mut framed = Framed::<sys::vmp_mem_info>::new();
    assert_eq!(unsafe { sys::vmp_mem_query(file, framed.value.as_mut_ptr()) }, 0);
    framed.check_canaries();
    let info = unsafe { framed.value.assume_init() };
    assert_eq!((info.backing, info.sealed, info.huge_pages, info.fell_back), (sys::VMP_BACKING_FILE, 0, 0, 0));
    assert_eq!(unsafe { sys::vmp_mem_close(file) }, 0);
    std::fs::remove_file(c_path.trim_end_matches('\0')).unwrap();
}

#[test]
fn error_constants_are_the_codes_the_library_names() {
    let codes = [
        (sys::VMP_EINVAL, "EINVAL"),
        (sys::VMP_EALIGN, "EALIGN"),
        (sys::VMP_ERANGE, "ERANGE"),
        (sys::VMP_ESTATE, "ESTATE"),
        (sys::VMP_EEXTENT, "EEXTENT"),
        (sys::VMP_EBOUNDS, "EBOUNDS"),
        (sys::VMP_EACCES, "EACCES"),
        (sys::VMP_ENOMEM, "ENOMEM"),
        (sys::VMP_ENOTSUP, "ENOTSUP"),
        (sys::VMP_ETIMEDOUT, "ETIMEDOUT"),
        (sys::VMP_ESHUTDOWN, "ESHUTDOWN"),
        (sys::VMP_EPEER, "EPEER"),
        (sys::VMP_EFULL, "EFULL"),
        (sys::VMP_EGONE, "EGONE"),
        (sys::VMP_EADDRINUSE, "EADDRINUSE"),
        (sys::VMP_EMAPLIMIT, "EMAPLIMIT"),
    ];
    for (code, name) in codes {
        assert_eq!(unsafe { CStr::from_ptr(sys::vmp_err_name(code)) }.to_str().unwrap(), name);
        assert_eq!(unsafe { sys::vmp_err_is_os(code) }, 0, "{}", name);
    }
    assert_eq!(sys::VMP__ERR_MIN, codes.iter().map(|c| c.0).min().unwrap());
    // Just below the lowest code is nothing the library knows.
    assert_eq!(unsafe { CStr::from_ptr(sys::vmp_err_name(sys::VMP__ERR_MIN - 1)) }.to_str().unwrap(), "UNKNOWN");
}
