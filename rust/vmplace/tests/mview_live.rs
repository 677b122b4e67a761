//! Multi-file views of live logs: follow (refresh), retire, padding,
//! close-files and the fault-safe reads.

use std::io::Write;
use std::path::PathBuf;

mod common;
use common::native;

use vmplace::{ErrorKind, MView, MViewOptions, Segment};

/// The unit of a view's capacity: the page, or the granularity where the
/// system reserves nothing finer (Windows); the same on Linux.
fn page() -> usize {
    vmplace::granularity()
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("vmplace-rust-live-{}-{}", std::process::id(), name));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn append(&self, bytes: &[u8]) {
        std::fs::OpenOptions::new().append(true).open(&self.0).unwrap().write_all(bytes).unwrap();
    }

    /// Cuts the file to `len` bytes while it is mapped: `false` where the
    /// system refuses that (capability `mapped_files_shrink` 0), having
    /// checked that it was refused.
    fn truncate(&self, len: u64) -> bool {
        let cut = std::fs::OpenOptions::new().write(true).open(&self.0).unwrap().set_len(len);
        if vmplace::capabilities().mapped_files_shrink {
            cut.unwrap();
            true
        } else {
            assert!(cut.is_err(), "a mapped file was cut where the capabilities say it cannot be");
            false
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn refresh_follows_a_growing_file_in_place() {
    let p = page();
    let log = TempFile::new("follow", b"one\n");
    let mut view = unsafe { MView::open(&[Segment::path(&log.0)], 8 * p as u64) }.unwrap();
    let base = view.as_ptr();
    assert_eq!(view.refresh().unwrap(), 4, "nothing grew");
    // Across a page boundary and more.
    let more: Vec<u8> = (0..2 * p + 10).map(|i| (i % 251) as u8).collect();
    log.append(&more);
    assert_eq!(view.refresh().unwrap(), 4 + more.len());
    assert_eq!(view.len(), 4 + more.len());
    assert_eq!(view.as_ptr(), base);
    assert_eq!(&view[..4], b"one\n");
    assert_eq!(&view[4..], &more[..]);
    // Past the capacity: refused, nothing changed.
    log.append(&vec![0u8; 8 * p]);
    assert_eq!(view.refresh().unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(view.len(), 4 + more.len());
    // Truncated below the segment: EBOUNDS.
    if log.truncate(2) {
        assert_eq!(view.refresh().unwrap_err().kind(), ErrorKind::Bounds);
    }
}

#[test]
fn a_segment_with_an_explicit_length_does_not_follow() {
    let p = page();
    let log = TempFile::new("fixed", &vec![1u8; 2 * p]);
    let mut view = unsafe { MView::open(&[Segment::path(&log.0).range(0, p as u64)], 4 * p as u64) }.unwrap();
    log.append(b"more");
    assert_eq!(view.refresh().unwrap(), p);
}

#[test]
fn retire_takes_old_segments_away_and_keeps_every_offset() {
    let p = page();
    let files: Vec<TempFile> = (0..3).map(|i| TempFile::new(&format!("retire-{}", i), &vec![b'a' + i as u8; p])).collect();
    let segments: Vec<Segment<'_>> = files.iter().map(|f| Segment::path(&f.0)).collect();
    let mut view = unsafe { MView::open(&segments, 0) }.unwrap();
    assert_eq!((view.retired(), view.live_offset()), (0, 0));
    view.retire(1).unwrap();
    assert_eq!((view.retired(), view.live_offset(), view.segments()), (1, p as u64, 3));
    assert_eq!(view.len(), 3 * p, "the length is the view's, retired bytes included");
    assert_eq!(view.as_slice().len(), 2 * p);
    assert!(view[..p].iter().all(|&b| b == b'b') && view[p..].iter().all(|&b| b == b'c'));
    assert_eq!(view.locate(0).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(view.locate(p as u64).unwrap().segment, 1);
    assert!(view.describe(0).unwrap().fd.is_none());
    assert!(view.describe(1).unwrap().fd.is_some());
    let mut buf = [0u8; 8];
    assert_eq!(view.read_at(p as u64 - 4, &mut buf).unwrap_err().kind(), ErrorKind::State);
    view.read_at(p as u64, &mut buf).unwrap();
    assert_eq!(buf, [b'b'; 8]);
    assert_eq!(view.scan(0, 1, b'a').unwrap_err().kind(), ErrorKind::State);
    // Fewer than are retired: nothing; more than there are: ERANGE.
    view.retire(0).unwrap();
    assert_eq!(view.retired(), 1);
    assert_eq!(view.retire(4).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(view.retired(), 1);
    // All of them: the slice is empty, appends go on after them.
    view.retire(3).unwrap();
    assert_eq!((view.live_offset(), view.as_slice().len()), (3 * p as u64, 0));
}

#[test]
fn read_at_and_scan_report_a_truncated_file_as_gone() {
    let p = page();
    let mut contents = vec![b'x'; 3 * p];
    contents[2 * p + 7] = b'\n';
    let file = TempFile::new("gone", &contents);
    let view = unsafe { MView::open(&[Segment::path(&file.0)], 0) }.unwrap();
    let mut buf = vec![0u8; p];
    view.read_at(2 * p as u64, &mut buf).unwrap();
    assert_eq!(buf[7], b'\n');
    assert_eq!(view.scan(0, 3 * p as u64, b'\n').unwrap(), Some(2 * p as u64 + 7));
    assert_eq!(view.scan(0, 2 * p as u64, b'\n').unwrap(), None);
    assert_eq!(view.read_at(3 * p as u64 - 1, &mut [0u8; 2]).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(view.scan(3 * p as u64, 1, b'x').unwrap_err().kind(), ErrorKind::Range);
    view.read_at(3 * p as u64, &mut []).unwrap();

    if !file.truncate(p as u64) {
        return;
    }
    view.read_at(0, &mut buf).unwrap();
    assert_eq!(view.read_at(p as u64, &mut buf).unwrap_err().kind(), ErrorKind::Gone);
    assert_eq!(view.read_at(p as u64 - 1, &mut [0u8; 2]).unwrap_err().kind(), ErrorKind::Gone);
    assert_eq!(view.scan(0, 3 * p as u64, b'\n').unwrap_err().kind(), ErrorKind::Gone);
    assert_eq!(view.check().unwrap(), Some(0));
}

#[test]
fn padding_is_readable_after_the_end_and_counts_against_the_capacity() {
    let p = page();
    let file = TempFile::new("pad", &vec![9u8; p]);
    let mut view = unsafe { MView::open(&[Segment::path(&file.0)], 2 * p as u64) }.unwrap();
    view.set_padding(100).unwrap();
    assert_eq!(view.padding(), 100);
    // Safety: the padding, rounded up to the page, guarantees these bytes
    // are mapped and readable.
    let past = unsafe { std::slice::from_raw_parts(view.as_ptr().add(p), vmplace::page_size()) };
    assert!(past.iter().all(|&b| b == 0));
    assert_eq!(view.set_padding(2 * p).unwrap_err().kind(), ErrorKind::Range);
    assert_eq!(view.padding(), 100, "a refused padding keeps the one before");
    // The padding has the room an append would need.
    let err = unsafe { view.append(&Segment::path(&file.0)) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Range);
    view.set_padding(0).unwrap();
    unsafe { view.append(&Segment::path(&file.0)) }.unwrap();
    assert_eq!(view.len(), 2 * p);
}

#[test]
fn close_files_keeps_a_descriptor_only_for_the_last_segment() {
    let p = page();
    let a = TempFile::new("close-a", &vec![1u8; p]);
    let b = TempFile::new("close-b", &vec![2u8; p]);
    let options = MViewOptions::new().close_files(true);
    let view = unsafe { MView::open_with(&[Segment::path(&a.0), Segment::path(&b.0)], 4 * p as u64, options) }.unwrap();
    assert!(view.describe(0).unwrap().fd.is_none());
    assert!(view.describe(1).unwrap().fd.is_some());
    unsafe { view.append(&Segment::path(&a.0)) }.unwrap();
    assert!(view.describe(1).unwrap().fd.is_none());
    assert!(view.describe(2).unwrap().fd.is_some());
    assert_eq!(view[p], 2);
    let mut buf = [0u8; 4];
    view.read_at(2 * p as u64, &mut buf).unwrap();
    assert_eq!(buf, [1u8; 4]);
    // A descriptor could not be found again: refused.
    let file = std::fs::File::open(&a.0).unwrap();
    let err = unsafe { view.append(&Segment::fd(native(&file))) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = unsafe { MView::open_with(&[Segment::fd(native(&file))], 0, options) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // Without close-files every segment keeps its descriptor.
    let kept = unsafe { MView::open_with(&[Segment::path(&a.0), Segment::path(&b.0)], 0, MViewOptions::new()) }.unwrap();
    assert!(kept.describe(0).unwrap().fd.is_some());
}

#[test]
fn a_writable_view_through_options_writes_its_live_bytes() {
    let p = page();
    let a = TempFile::new("w-a", &vec![0u8; p]);
    let b = TempFile::new("w-b", &vec![0u8; p]);
    let options = MViewOptions::new().write(true);
    let mut view = unsafe { MView::open_with(&[Segment::path(&a.0), Segment::path(&b.0)], 0, options) }.unwrap();
    view.retire(1).unwrap();
    let live = view.as_mut_slice().unwrap();
    assert_eq!(live.len(), p);
    live[..4].copy_from_slice(b"live");
    drop(view);
    assert_eq!(&std::fs::read(&b.0).unwrap()[..4], b"live");
}
