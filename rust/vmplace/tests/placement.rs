//! Capabilities, the budget, placement (reserve_at, reserve_in, extend),
//! carve, mapping counts, labels and object info through the safe API.

use vmplace::{Backing, ErrorKind, Kind, Mem, MemFlags, Prot, Region};

fn page() -> usize {
    vmplace::page_size()
}

fn granularity() -> usize {
    vmplace::granularity()
}

/// Free room of `size` bytes at a multiple of the granularity: reserved
/// and given back, so that `claim` can ask for it by address. Other test
/// threads may take it in between; `claim` tries again then.
fn free_room(size: usize) -> usize {
    Region::reserve_aligned(size, granularity()).unwrap().base() as usize
}

/// Runs `attempt` on fresh free room until no other thread's mapping got
/// there first (`EADDRINUSE` from the setup), at most 100 times.
fn claim<T>(size: usize, mut attempt: impl FnMut(usize) -> vmplace::Result<T>) -> T {
    for _ in 0..100 {
        match attempt(free_room(size)) {
            Ok(value) => return value,
            Err(err) if err.kind() == ErrorKind::AddrInUse => continue,
            Err(err) => panic!("{}", err),
        }
    }
    panic!("other threads took the room 100 times in a row");
}

/// The lines of /proc/self/maps (Linux), or None elsewhere.
fn maps() -> Option<String> {
    std::fs::read_to_string("/proc/self/maps").ok()
}

#[test]
fn capabilities_agree_with_the_other_calls_and_the_backend() {
    let caps = vmplace::capabilities();
    assert_eq!(caps.backend, vmplace::backend_name());
    assert_eq!((caps.page_size, caps.granularity), (page(), granularity()));
    assert!(caps.view_offset_unit == page() || caps.view_offset_unit == granularity());
    let budget = vmplace::budget().unwrap();
    assert_eq!(budget.map_limit.is_some(), caps.knows_mapping_limit, "{:?}", budget);
    assert_eq!(budget.map_count.is_some(), caps.knows_mapping_limit, "{:?}", budget);
    if let (Some(limit), Some(count)) = (budget.map_limit, budget.map_count) {
        assert!(count > 0 && count < limit, "{:?}", budget);
    }
}

#[test]
fn the_mapping_count_in_the_budget_follows_what_the_process_maps() {
    if !vmplace::capabilities().knows_mapping_limit {
        return;
    }
    let before = vmplace::budget().unwrap().map_count.unwrap();
    // Regions far apart cannot merge with anything: one mapping each.
    let regions: Vec<Region> = (0..64).map(|_| Region::reserve_aligned(page(), 1 << 21).unwrap()).collect();
    let during = vmplace::budget().unwrap().map_count.unwrap();
    drop(regions);
    let after = vmplace::budget().unwrap().map_count.unwrap();
    // Other test threads map and unmap meanwhile: allow them some slack.
    assert!(during >= before + 32, "before {} during {}", before, during);
    assert!(after + 32 <= during, "during {} after {}", during, after);
}

#[test]
fn reserve_at_takes_exactly_the_address_and_never_replaces_a_mapping() {
    let p = page();
    let g = granularity();
    let probe = Region::reserve_aligned(4 * g, g).unwrap();
    let addr = probe.base() as usize;
    probe.split(0, g).unwrap();
    probe.commit(0, g, Prot::READ_WRITE).unwrap();
    let mut probe = probe;
    probe.bytes_mut(0, 4).unwrap().copy_from_slice(b"mine");

    // Every overlap is refused, and the bytes there stay as they were.
    for (at, size) in [(addr, g), (addr + g, g), (addr + 3 * g, 2 * g)] {
        let err = Region::reserve_at(at, size).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "at {:#x} size {:#x}", at, size);
    }
    if addr >= g {
        assert_eq!(Region::reserve_at(addr - g, 2 * g).unwrap_err().kind(), ErrorKind::AddrInUse);
    }
    assert_eq!(&probe.bytes(0, 4).unwrap()[..], b"mine");

    // The contract's order: EINVAL, EALIGN, ERANGE.
    assert_eq!(Region::reserve_at(0, p).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(Region::reserve_at(addr, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    if g > 1 {
        assert_eq!(Region::reserve_at(addr + 1, p).unwrap_err().kind(), ErrorKind::Alignment);
    }
    assert_eq!(Region::reserve_at(addr, p + 1).unwrap_err().kind(), ErrorKind::Alignment);
    let top = usize::MAX - (g - 1);
    assert_eq!(Region::reserve_at(top, 2 * g).unwrap_err().kind(), ErrorKind::Range);

    drop(probe);
    let (addr, region) = claim(4 * g, |addr| Region::reserve_at(addr, 4 * g).map(|region| (addr, region)));
    assert_eq!((region.base() as usize, region.size()), (addr, 4 * g));
    assert_eq!(region.span_count(), 1);
}

#[test]
fn reserve_in_stays_inside_its_window() {
    // Sizes in units of the granularity, what a region's size is rounded
    // to (the page on Linux).
    let p = granularity();
    // A window known to be free: room reserved and given back (a fixed
    // one may be taken, by ASan's shadow memory for one). Another test
    // thread may map into it before we do: then try a new window.
    let (low, high, regions) = claim(64 << 20, |low| {
        let high = low + (64 << 20);
        let regions = (0..4)
            .map(|_| Region::reserve_in(low, high, 8 * p, 1 << 21))
            .collect::<vmplace::Result<Vec<Region>>>()?;
        Ok((low, high, regions))
    });
    for region in &regions {
        let base = region.base() as usize;
        assert!(base >= low && base + 8 * p <= high, "{:#x}", base);
        assert_eq!(base % (1 << 21), 0);
    }
    // A window exactly as large as one taken region has no room left.
    let taken = regions[0].base() as usize;
    let err = Region::reserve_in(taken, taken + 8 * p, 8 * p, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert_eq!(Region::reserve_in(high, low, p, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(Region::reserve_in(low, low + granularity(), 2 * granularity(), 0).unwrap_err().kind(), ErrorKind::Range);
}

#[test]
fn extend_grows_in_place_keeping_borrows_and_refuses_taken_room() {
    let p = page();
    let g = granularity();
    // Room for the region, then a free granule, then a neighbour.
    let (addr, region, neighbour) = claim(4 * g, |addr| {
        let region = Region::reserve_at(addr, g)?;
        let neighbour = Region::reserve_at(addr + 2 * g, g)?;
        Ok((addr, region, neighbour))
    });
    region.commit(0, g, Prot::READ).unwrap();
    let bytes = region.bytes(0, p).unwrap();

    region.extend(g).unwrap();
    assert_eq!((region.base() as usize, region.size()), (addr, 2 * g));
    assert_eq!(region.query(g).unwrap().kind, Kind::Placeholder);
    assert_eq!(region.span_count(), 2);
    assert_eq!(bytes[p - 1], 0, "a borrow from before the growth is still good");
    drop(bytes);

    // The next granule is the neighbour's: refused, nothing changed.
    assert_eq!(region.extend(g).unwrap_err().kind(), ErrorKind::AddrInUse);
    assert_eq!(region.size(), 2 * g);
    assert_eq!(neighbour.size(), g);
    assert_eq!(region.extend(0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.extend(p + 1).unwrap_err().kind(), ErrorKind::Alignment);

    // The new room holds memory like any other.
    let mut region = region;
    region.commit(g, g, Prot::READ_WRITE).unwrap();
    region.bytes_mut(2 * g - 1, 1).unwrap()[0] = 5;
    assert_eq!(region.bytes(2 * g - 1, 1).unwrap()[0], 5);
}

#[test]
fn carve_splits_or_leaves_a_span_and_refuses_what_is_not_placeholder() {
    let p = page();
    let region = Region::reserve(4 * p).unwrap();
    region.carve(0, p).unwrap();
    assert_eq!(region.span_count(), 2);
    region.carve(0, p).unwrap();
    assert_eq!(region.span_count(), 2, "carving a span that is one already changes nothing");
    region.carve(p, 3 * p).unwrap();
    assert_eq!(region.span_count(), 2);
    region.carve(2 * p, p).unwrap();
    assert_eq!(region.span_count(), 4);
    region.commit(0, p, Prot::READ).unwrap();
    assert_eq!(region.carve(0, p).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.carve(p, 2 * p).unwrap_err().kind(), ErrorKind::Extent);
    assert_eq!(region.carve(p, 4 * p).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(region.carve(p, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn mapping_count_counts_runs_as_the_kernel_merges_them() {
    let p = page();
    let mut region = Region::reserve(6 * p).unwrap();
    for i in 1..6 {
        region.carve((i - 1) * p, p).unwrap();
    }
    assert_eq!((region.span_count(), region.mapping_count()), (6, 1));
    region.commit(p, p, Prot::READ_WRITE).unwrap();
    region.commit(2 * p, p, Prot::READ_WRITE).unwrap();
    // placeholder | private private | placeholder...
    assert_eq!(region.mapping_count(), 3);
    region.protect(2 * p, p, Prot::READ).unwrap();
    assert_eq!(region.mapping_count(), 4);
    let mem = Mem::create(2 * p as u64).unwrap();
    region.map(4 * p, p, &mem, 0, Prot::READ).unwrap();
    region.map(5 * p, p, &mem, p as u64, Prot::READ).unwrap();
    // Two views continuing each other in one object are one mapping.
    assert_eq!(region.mapping_count(), 5);
}

#[test]
fn labels_check_their_arguments_and_show_in_the_map() {
    let p = page();
    let region = Region::reserve(3 * p).unwrap();
    region.carve(0, p).unwrap();
    region.carve(p, p).unwrap();
    region.commit(0, p, Prot::READ_WRITE).unwrap();
    region.commit(p, p, Prot::READ_WRITE).unwrap();
    let name = format!("vmp-rust-{}", std::process::id());
    region.label(0, p, &name).unwrap();
    assert_eq!(region.label(0, p, "").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.label(0, p, "a[b]").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.label(0, p, "nul\0inside").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.label(0, p, &"x".repeat(80)).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.label(1, p, "odd").unwrap_err().kind(), ErrorKind::Alignment);
    assert_eq!(region.label(2 * p, p, "free").unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.label(p, 2 * p, "into-free").unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.label(0, 2 * p, "two-spans").unwrap_err().kind(), ErrorKind::Extent);
    if vmplace::capabilities().labels {
        let maps = maps().unwrap();
        let wanted = format!("[anon:{}]", name);
        let line = maps.lines().find(|line| line.ends_with(&wanted));
        match line {
            Some(line) => {
                let start = usize::from_str_radix(line.split('-').next().unwrap(), 16).unwrap();
                assert_eq!(start, region.base() as usize, "{}", line);
            }
            // A kernel without anonymous names (before 5.17, or built
            // without CONFIG_ANON_VMA_NAME) takes the call and shows nothing.
            None => {}
        }
    }
}

#[test]
fn objects_say_where_their_memory_comes_from() {
    let p = page() as u64;
    let caps = vmplace::capabilities();
    let info = Mem::create(p).unwrap().query().unwrap();
    // A Windows section's size is fixed when it is made: sealed too.
    assert_eq!(info.sealed, caps.seals || info.backing == Backing::Section, "{:?}", info);
    // Only /dev/shm and a temporary file are fallbacks (from a memfd).
    assert_eq!(info.fell_back, matches!(info.backing, Backing::Shm | Backing::TempFile), "{:?}", info);
    assert!(!info.huge_pages && !info.transparent_huge_pages, "{:?}", info);

    let name = format!("vmp-rust-mem-{}", std::process::id());
    match Mem::create_named(p, &name, MemFlags::NO_FALLBACK) {
        Ok(mem) => {
            let info = mem.query().unwrap();
            // The backend's own way: a memfd (Linux) or a section (Windows).
            assert!(matches!(info.backing, Backing::Memfd | Backing::Section), "{:?}", info);
            assert!(!info.fell_back, "{:?}", info);
            let region = Region::reserve(p as usize).unwrap();
            region.map(0, p as usize, &mem, 0, Prot::READ).unwrap();
            if caps.labels {
                let wanted = format!("/memfd:{} (deleted)", name);
                assert!(maps().unwrap().lines().any(|line| line.ends_with(&wanted)), "no {} in the map", wanted);
            }
        }
        // The generic POSIX backend has no way of its own; a sandbox may refuse memfd.
        Err(err) => assert_eq!(err.kind(), ErrorKind::Unsupported),
    }
    assert_eq!(Mem::create_named(p, "bad`name", MemFlags::NONE).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(Mem::create_named(p + 1, "odd", MemFlags::NONE).unwrap_err().kind(), ErrorKind::Alignment);
    let exec = Mem::create_named(p, "exec", MemFlags::EXEC).unwrap();
    let region = Region::reserve(p as usize).unwrap();
    region.map(0, p as usize, &exec, 0, Prot::READ | Prot::EXEC).unwrap();
    if exec.query().unwrap().backing == Backing::Memfd {
        assert_ne!(exec.query().unwrap().exec, Some(false));
    }
}
