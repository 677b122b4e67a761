//! Regions, memory objects, multi-file views and errors through the safe API.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

mod common;
use common::native;

use vmplace::{Access, ErrorKind, Kind, MView, Mem, Prot, Region, Segment};

fn page() -> usize {
    vmplace::page_size()
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("vmplace-rust-{}-{}", std::process::id(), name));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn reserve_checks_its_arguments_in_the_contract_order() {
    assert_eq!(Region::reserve(0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(Region::reserve(page() + 1).unwrap_err().kind(), ErrorKind::Alignment);
    assert_eq!(Region::reserve_aligned(page(), 3 * page()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(Region::reserve_aligned(usize::MAX - page() + 1, 1 << 30).unwrap_err().kind(), ErrorKind::Range);
}

#[test]
fn layout_calls_report_precise_errors_and_change_nothing() {
    let p = page();
    let mut region = Region::reserve(4 * p).unwrap();
    region.split(0, p).unwrap();
    region.commit(0, p, Prot::READ_WRITE).unwrap();
    region.bytes_mut(0, 4).unwrap().copy_from_slice(b"keep");
    let before = region.spans();

    assert_eq!(region.commit(0, p, Prot::READ).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.commit(p, p, Prot::READ).unwrap_err().kind(), ErrorKind::Extent);
    assert_eq!(region.commit(p, 3 * p + 1, Prot::READ).unwrap_err().kind(), ErrorKind::Alignment);
    assert_eq!(region.commit(p, 4 * p, Prot::READ).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(region.commit(p, 3 * p, Prot::from_bits(8)).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(region.unmap(p, p).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.coalesce(0, 4 * p).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.query(4 * p).unwrap_err().kind(), ErrorKind::Range);

    assert_eq!(region.spans(), before);
    assert_eq!(&region.bytes(0, 4).unwrap()[..], b"keep");
}

#[test]
fn borrows_check_every_page_they_cover() {
    let p = page();
    let mut region = Region::reserve(4 * p).unwrap();
    region.split(0, 3 * p).unwrap();
    region.commit(0, 3 * p, Prot::READ_WRITE).unwrap();
    region.protect(p, p, Prot::READ).unwrap();
    // The span stays one; its middle page is read-only.
    assert_eq!(region.span_count(), 2);
    assert!(region.bytes(0, 3 * p).is_ok());
    assert_eq!(region.bytes_mut(0, 3 * p).unwrap_err().kind(), ErrorKind::Access);
    assert_eq!(region.bytes_mut(p + 10, 1).unwrap_err().kind(), ErrorKind::Access);
    assert!(region.bytes_mut(2 * p, p).is_ok());
    region.protect(2 * p, p, Prot::NONE).unwrap();
    assert_eq!(region.bytes(2 * p - 1, 2).unwrap_err().kind(), ErrorKind::Access);
    // Past the committed span: a placeholder.
    assert_eq!(region.bytes(3 * p - 1, 2).unwrap_err().kind(), ErrorKind::Access);
    region.protect(2 * p, p, Prot::READ).unwrap();
    assert_eq!(region.bytes(3 * p - 1, 2).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(region.bytes(4 * p, 1).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(region.bytes(usize::MAX, 2).unwrap_err().kind(), ErrorKind::Range);
    assert!(region.bytes(4 * p, 0).unwrap().is_empty());
}

#[test]
fn a_view_outlives_its_mem_handle_and_shares_bytes_with_other_views() {
    let p = page();
    let mem = Mem::create(2 * p as u64).unwrap();
    let a = Region::reserve(p).unwrap();
    let mut b = Region::reserve(p).unwrap();
    a.map(0, p, &mem, p as u64, Prot::READ).unwrap();
    b.map(0, p, &mem, p as u64, Prot::READ_WRITE).unwrap();
    drop(mem);
    b.bytes_mut(0, 5).unwrap().copy_from_slice(b"share");
    assert_eq!(&a.bytes(0, 5).unwrap()[..], b"share");
    let info = a.query(0).unwrap();
    assert_eq!((info.kind, info.mem_offset), (Kind::View, Some(p as u64)));
}

#[test]
fn a_mutable_borrow_excludes_every_other_borrow_of_the_same_object_bytes() {
    let p = page();
    let mem = Mem::create(2 * p as u64).unwrap();
    let a = Region::reserve(2 * p).unwrap();
    let mut b = Region::reserve(p).unwrap();
    a.split(0, p).unwrap();
    a.map(0, p, &mem, 0, Prot::READ_WRITE).unwrap();
    a.map(p, p, &mem, p as u64, Prot::READ_WRITE).unwrap();
    b.map(0, p, &mem, p as u64, Prot::READ_WRITE).unwrap();

    let shared = a.bytes(p, 8).unwrap();
    assert_eq!(b.bytes_mut(0, 1).unwrap_err().kind(), ErrorKind::Borrowed);
    // Other bytes of the object are free to borrow, shared borrows too.
    assert!(b.bytes(0, 8).is_ok());
    assert!(b.bytes_mut(8, 8).is_ok());
    drop(shared);
    let mut exclusive = b.bytes_mut(0, 8).unwrap();
    assert_eq!(a.bytes(p + 7, 1).unwrap_err().kind(), ErrorKind::Borrowed);
    assert!(a.bytes(0, p).is_ok(), "object bytes [0, p) are not borrowed");
    exclusive[0] = 1;
    drop(exclusive);
    assert_eq!(a.bytes(p, 1).unwrap()[0], 1);
    assert!(a.bytes(0, 2 * p).is_ok(), "every borrow was given back");
}

#[test]
fn a_failed_unmap_keeps_the_view_and_its_bookkeeping() {
    let p = page();
    let mem = Mem::create(2 * p as u64).unwrap();
    let mut region = Region::reserve(2 * p).unwrap();
    region.map(0, 2 * p, &mem, 0, Prot::READ_WRITE).unwrap();
    // A view is unmapped only whole.
    assert_eq!(region.unmap(0, p).unwrap_err().kind(), ErrorKind::Extent);
    region.bytes_mut(p, 1).unwrap()[0] = 9;
    region.unmap(0, 2 * p).unwrap();
    assert_eq!(region.query(0).unwrap().kind, Kind::Placeholder);
    assert_eq!(region.bytes(0, 1).unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn threads_fill_placeholders_of_one_region_at_once() {
    let p = page();
    let n = 16;
    let region = Arc::new(Region::reserve(n * p).unwrap());
    for i in 0..n - 1 {
        region.split(i * p, p).unwrap();
    }
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let region = Arc::clone(&region);
            std::thread::spawn(move || {
                region.commit(i * p, p, Prot::READ).unwrap();
                region.bytes(i * p, p).unwrap().iter().all(|&b| b == 0)
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
    assert!(region.spans().iter().all(|s| s.kind == Kind::Private && s.size == p));
}

#[test]
fn file_objects_map_and_refuse_writes_when_read_only() {
    let p = page();
    let file = TempFile::new("mem", &vec![b'f'; p]);
    let mem = unsafe { Mem::open(&file.0, Access::ReadOnly) }.unwrap();
    let region = Region::reserve(p).unwrap();
    assert_eq!(region.map(0, p, &mem, 0, Prot::READ_WRITE).unwrap_err().kind(), ErrorKind::Access);
    region.map(0, p, &mem, 0, Prot::READ).unwrap();
    assert_eq!(region.bytes(p - 1, 1).unwrap()[0], b'f');
    assert_eq!(mem.grow(2 * p as u64).unwrap_err().kind(), ErrorKind::Access);

    let missing = std::env::temp_dir().join("vmplace-rust-no-such-file");
    let err = unsafe { Mem::open(&missing, Access::ReadOnly) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os);
    assert_eq!(err.raw_os_error(), Some(2));
    // The native code's name: errno on Unix, the Win32 error on Windows.
    assert_eq!(err.name(), if cfg!(windows) { "OS:ERROR_FILE_NOT_FOUND" } else { "OS:ENOENT" });
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
    let dir = std::env::temp_dir();
    assert_eq!(unsafe { Mem::open(&dir, Access::ReadOnly) }.unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn errors_carry_code_name_message_and_os_error() {
    let err = Region::reserve(0).unwrap_err();
    assert_eq!(err.code(), vmplace::sys::VMP_EINVAL);
    assert_eq!(err.name(), "EINVAL");
    assert_eq!(err.message(), "invalid argument");
    assert_eq!(err.raw_os_error(), None);
    assert_eq!(err.to_string(), "invalid argument (EINVAL)");
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert!(boxed.to_string().contains("EINVAL"));

    // Access denied: errno EACCES on Unix, ERROR_ACCESS_DENIED on Windows.
    let (native, name) = if cfg!(windows) { (5, "OS:ERROR_ACCESS_DENIED") } else { (13, "OS:EACCES") };
    let os = vmplace::Error::from_code(-native);
    assert_eq!(os.kind(), ErrorKind::Os);
    assert_eq!(os.raw_os_error(), Some(native));
    assert_eq!(os.name(), name);
    // The library's own EACCES is a different error from the system's.
    assert_ne!(vmplace::Error::from_code(vmplace::sys::VMP_EACCES).name(), os.name());
    assert_eq!(io::Error::from(os).raw_os_error(), Some(native));
    assert_eq!(vmplace::Error::from_code(-4000).name(), "OS:4000");
    assert_eq!(vmplace::Error::from_code(5).kind(), ErrorKind::Unknown);
}

#[test]
fn mview_joins_files_and_names_the_segment_at_fault() {
    let p = page();
    let a = TempFile::new("mv-a", &vec![b'a'; p]);
    let b = TempFile::new("mv-b", &vec![b'b'; 2 * p]);
    let short = TempFile::new("mv-short", b"xyz");

    let view = unsafe { MView::open(&[Segment::path(&a.0), Segment::path(&b.0).range(p as u64, 0)], 0) }.unwrap();
    assert_eq!(view.len(), 2 * p);
    assert_eq!(view.segments(), 2);
    assert!(view[..p].iter().all(|&c| c == b'a') && view[p..].iter().all(|&c| c == b'b'));
    let loc = view.locate(p as u64 + 5).unwrap();
    assert_eq!((loc.segment, loc.file_offset), (1, p as u64 + 5));
    assert_eq!(view.locate(2 * p as u64).unwrap_err().kind(), ErrorKind::Range);
    let info = view.describe(1).unwrap();
    assert_eq!((info.file_offset, info.length, info.view_offset), (p as u64, p as u64, p as u64));
    assert_eq!(view.describe(2).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(view.check().unwrap(), None);

    // A short segment that is not the last breaks the page rule.
    let err = unsafe { MView::open(&[Segment::path(&a.0), Segment::path(&short.0), Segment::path(&a.0)], 0) }
        .unwrap_err();
    assert_eq!((err.kind(), err.segment()), (ErrorKind::Alignment, Some(1)));
    let missing = std::env::temp_dir().join("vmplace-rust-no-such-segment");
    let err = unsafe { MView::open(&[Segment::path(&a.0), Segment::path(&missing)], 0) }.unwrap_err();
    assert_eq!((err.raw_os_error(), err.segment()), (Some(2), Some(1)));
    assert!(err.to_string().contains("segment 1"), "{}", err);
}

#[test]
fn mview_appends_in_place_and_sees_a_file_shrink() {
    let p = page();
    let a = TempFile::new("mv-grow", &vec![1u8; p]);
    let view = unsafe { MView::open(&[Segment::path(&a.0)], 3 * p as u64) }.unwrap();
    let base = view.as_ptr();
    let fd = std::fs::File::open(&a.0).unwrap();
    unsafe { view.append(&Segment::fd(native(&fd))) }.unwrap();
    assert_eq!(view.len(), 2 * p);
    assert_eq!(view.as_ptr(), base);
    let err = unsafe { view.append(&Segment::path(&a.0).range(0, 2 * p as u64)) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Bounds);
    let cut = std::fs::OpenOptions::new().write(true).open(&a.0).unwrap().set_len(0);
    if vmplace::capabilities().mapped_files_shrink {
        cut.unwrap();
        assert_eq!(view.check().unwrap(), Some(0));
    } else {
        // The system refuses to cut a mapped file: the view stays whole.
        assert!(cut.is_err());
        assert_eq!(view.check().unwrap(), None);
    }
}

#[test]
fn a_writable_mview_writes_through_to_the_file() {
    let p = page();
    let file = TempFile::new("mv-write", &vec![0u8; p]);
    let mut ro = unsafe { MView::open(&[Segment::path(&file.0)], 0) }.unwrap();
    assert_eq!(ro.as_mut_slice().unwrap_err().kind(), ErrorKind::Access);
    drop(ro);
    let mut rw = unsafe { MView::open_writable(&[Segment::path(&file.0)], 0) }.unwrap();
    rw.as_mut_slice().unwrap()[..4].copy_from_slice(b"disk");
    drop(rw);
    assert_eq!(&std::fs::read(&file.0).unwrap()[..4], b"disk");
}
