//! Capabilities, the budget, placement (reserve_at, reserve_in, extend),
//! carve (carve_commit, carve_map, unmap_coalesce), mapping counts, labels
//! and object info through the safe API.

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

/// (offset, size, kind) of every span.
fn layout(region: &Region) -> Vec<(usize, usize, Kind)> {
    region.spans().iter().map(|s| (s.offset, s.size, s.kind)).collect()
}

#[test]
fn carve_commit_splits_or_commits_a_whole_placeholder_and_refuses_as_carve_does() {
    let p = page();
    let mut region = Region::reserve(4 * p).unwrap();
    region.carve_commit(p, p, Prot::READ_WRITE).unwrap();
    assert_eq!(region.span_count(), 3, "carving inside a placeholder splits it");
    assert_eq!(layout(&region), [(0, p, Kind::Placeholder), (p, p, Kind::Private), (2 * p, 2 * p, Kind::Placeholder)]);
    assert_eq!(region.query(p).unwrap().prot, Prot::READ_WRITE);
    assert!(region.bytes(p, p).unwrap().iter().all(|&b| b == 0));
    region.bytes_mut(p, 3).unwrap().copy_from_slice(b"abc");
    region.bytes_mut(2 * p - 1, 1).unwrap()[0] = 7;
    assert_eq!(&region.bytes(p, 3).unwrap()[..], b"abc");
    assert_eq!(region.bytes(2 * p - 1, 1).unwrap()[0], 7);
    // The rest is still placeholder: no bytes there.
    assert_eq!(region.bytes(0, 1).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.bytes(2 * p, 1).unwrap_err().kind(), ErrorKind::State);

    // A whole placeholder: as commit, no split.
    region.carve_commit(0, p, Prot::READ).unwrap();
    assert_eq!(region.span_count(), 3);
    let info = region.query(0).unwrap();
    assert_eq!((info.offset, info.size, info.kind, info.prot), (0, p, Kind::Private, Prot::READ));
    assert_eq!(region.bytes(0, p).unwrap().iter().filter(|&&b| b != 0).count(), 0);

    // The errors of carve; on each nothing changed, not even a split.
    region.carve(2 * p, p).unwrap();
    let before = layout(&region);
    assert_eq!(before.len(), 4);
    assert_eq!(region.carve_commit(0, p, Prot::READ).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.carve_commit(p, 2 * p, Prot::READ).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.carve_commit(2 * p, 2 * p, Prot::READ).unwrap_err().kind(), ErrorKind::Extent);
    assert_eq!(region.carve_commit(2 * p, 4 * p, Prot::READ).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(region.carve_commit(2 * p, 0, Prot::READ).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.carve_commit(2 * p + 1, p, Prot::READ).unwrap_err().kind(), ErrorKind::Alignment);
    assert_eq!(region.carve_commit(2 * p, p, Prot::EXEC).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(layout(&region), before);
    assert_eq!(&region.bytes(p, 3).unwrap()[..], b"abc", "the private memory kept its bytes");
}

#[test]
fn carve_map_maps_a_view_inside_a_placeholder_and_unmap_coalesce_gives_the_room_back() {
    let p = page();
    let mem = Mem::create(2 * p as u64).unwrap();
    let mut region = Region::reserve(5 * p).unwrap();
    // The object is written through a view elsewhere, and the carved view
    // shows the same bytes (and the other way round).
    let mut other = Region::reserve(2 * p).unwrap();
    other.map(0, 2 * p, &mem, 0, Prot::READ_WRITE).unwrap();
    other.bytes_mut(p, 5).unwrap().copy_from_slice(b"hello");

    region.carve_map(2 * p, p, &mem, p as u64, Prot::READ_WRITE).unwrap();
    assert_eq!(region.span_count(), 3);
    assert_eq!(
        layout(&region),
        [(0, 2 * p, Kind::Placeholder), (2 * p, p, Kind::View), (3 * p, 2 * p, Kind::Placeholder)]
    );
    assert_eq!(region.query(2 * p).unwrap().mem_offset, Some(p as u64));
    assert_eq!(&region.bytes(2 * p, 5).unwrap()[..], b"hello");
    region.bytes_mut(2 * p + 5, 1).unwrap()[0] = b'!';
    assert_eq!(&other.bytes(p, 6).unwrap()[..], b"hello!");
    drop(other);

    // The errors of map on a placeholder it carves, leaving the layout.
    let before = layout(&region);
    assert_eq!(region.carve_map(2 * p, p, &mem, 0, Prot::READ).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.carve_map(0, 3 * p, &mem, 0, Prot::READ).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.carve_map(4 * p, 2 * p, &mem, 0, Prot::READ).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(region.carve_map(0, p, &mem, 1, Prot::READ).unwrap_err().kind(), ErrorKind::Alignment);
    assert_eq!(region.carve_map(0, 2 * p, &mem, p as u64, Prot::READ).unwrap_err().kind(), ErrorKind::Bounds);
    assert_eq!(layout(&region), before);

    // unmap_coalesce: the view goes and the room is one placeholder again.
    region.unmap_coalesce(2 * p, p).unwrap();
    assert_eq!(layout(&region), [(0, 5 * p, Kind::Placeholder)]);
    // A plain unmap leaves the three spans that carve_map made.
    region.carve_map(2 * p, p, &mem, 0, Prot::READ).unwrap();
    region.unmap(2 * p, p).unwrap();
    assert_eq!(region.span_count(), 3);
    assert!(layout(&region).iter().all(|span| span.2 == Kind::Placeholder));
    // Here too unmap_coalesce merges the placeholders on both sides.
    region.carve_map(2 * p, p, &mem, 0, Prot::READ).unwrap();
    assert_eq!(region.span_count(), 3);
    region.unmap_coalesce(2 * p, p).unwrap();
    assert_eq!(layout(&region), [(0, 5 * p, Kind::Placeholder)]);
    // The view's record went with it: a view of another object in the same
    // place has its bytes borrowed against that object, not the old one.
    let second = Mem::create(p as u64).unwrap();
    let mut other = Region::reserve(p).unwrap();
    other.map(0, p, &second, 0, Prot::READ_WRITE).unwrap();
    other.bytes_mut(0, 2).unwrap().copy_from_slice(b"ok");
    region.carve_map(2 * p, p, &second, 0, Prot::READ_WRITE).unwrap();
    let held = region.bytes_mut(2 * p, 2).unwrap();
    assert_eq!(&held[..], b"ok");
    assert_eq!(other.bytes(0, 2).unwrap_err().kind(), ErrorKind::Borrowed);
    drop(held);
    assert_eq!(&other.bytes(0, 2).unwrap()[..], b"ok");
}

#[test]
fn unmap_coalesce_merges_only_the_placeholders_right_beside_it() {
    let p = page();
    let mut region = Region::reserve(8 * p).unwrap();
    region.carve(0, p).unwrap(); // split on purpose: stays so
    region.carve_commit(2 * p, p, Prot::READ_WRITE).unwrap();
    region.carve_commit(4 * p, 3 * p, Prot::READ_WRITE).unwrap();
    region.bytes_mut(4 * p, 3 * p).unwrap().fill(9);
    // [0,1) [1,2) placeholders, [2,3) private, [3,4) placeholder,
    // [4,7) private, [7,8) placeholder
    assert_eq!(region.span_count(), 6);
    region.unmap_coalesce(2 * p, p).unwrap();
    assert_eq!(
        layout(&region),
        [
            (0, p, Kind::Placeholder),
            (p, 3 * p, Kind::Placeholder),
            (4 * p, 3 * p, Kind::Private),
            (7 * p, p, Kind::Placeholder)
        ]
    );
    // Private memory cut from the middle of a span merges with nothing.
    region.unmap_coalesce(5 * p, p).unwrap();
    assert_eq!(
        layout(&region),
        [
            (0, p, Kind::Placeholder),
            (p, 3 * p, Kind::Placeholder),
            (4 * p, p, Kind::Private),
            (5 * p, p, Kind::Placeholder),
            (6 * p, p, Kind::Private),
            (7 * p, p, Kind::Placeholder)
        ]
    );
    assert!(region.bytes(4 * p, p).unwrap().iter().all(|&b| b == 9));
    region.unmap_coalesce(6 * p, p).unwrap();
    assert_eq!(
        layout(&region),
        [
            (0, p, Kind::Placeholder),
            (p, 3 * p, Kind::Placeholder),
            (4 * p, p, Kind::Private),
            (5 * p, 3 * p, Kind::Placeholder)
        ]
    );
    region.unmap_coalesce(4 * p, p).unwrap();
    assert_eq!(layout(&region), [(0, p, Kind::Placeholder), (p, 7 * p, Kind::Placeholder)]);

    // Refused as unmap refuses, changing nothing.
    let mem = Mem::create(2 * p as u64).unwrap();
    region.carve_map(2 * p, 2 * p, &mem, 0, Prot::READ).unwrap();
    let before = layout(&region);
    assert_eq!(region.unmap_coalesce(0, p).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.unmap_coalesce(2 * p, p).unwrap_err().kind(), ErrorKind::Extent, "a view goes only whole");
    assert_eq!(region.unmap_coalesce(2 * p, 7 * p).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(region.unmap_coalesce(2 * p, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.unmap_coalesce(2 * p + 1, p).unwrap_err().kind(), ErrorKind::Alignment);
    assert_eq!(layout(&region), before);
    region.unmap_coalesce(2 * p, 2 * p).unwrap();
    assert_eq!(layout(&region), [(0, p, Kind::Placeholder), (p, 7 * p, Kind::Placeholder)]);
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
