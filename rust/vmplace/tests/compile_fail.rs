//! The `compile_fail` doc tests pass whatever the reason the code does not
//! compile (a stable rustdoc does not check the error code). Here the same
//! misuses are compiled against the built crate, and each must fail with
//! the borrow or trait error that the safe API relies on, while the same
//! steps in the right order compile.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The rustc of the cargo running the tests (its sibling), so that the
/// crate's metadata is readable; else the one on the PATH.
fn rustc() -> PathBuf {
    if let Some(cargo) = std::env::var_os("CARGO") {
        let sibling = Path::new(&cargo).with_file_name("rustc");
        if sibling.is_file() {
            return sibling;
        }
    }
    PathBuf::from("rustc")
}

/// The directory of this test program: the `deps` directory that holds
/// the `vmplace` library it was linked with.
fn deps_dir() -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().to_path_buf()
}

/// The newest `libvmplace-*.rlib` there (older builds may have left others).
fn vmplace_rlib(deps: &Path) -> PathBuf {
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("libvmplace-") && name.ends_with(".rlib")
        })
        .max_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).unwrap())
        .expect("the vmplace rlib next to the test program")
}

/// Type- and borrow-checks `body` as a program using `vmplace`; the
/// compiler's error output, or None when it compiles.
fn check(name: &str, body: &str) -> Option<String> {
    let deps = deps_dir();
    let dir = std::env::temp_dir().join(format!("vmplace-compile-fail-{}-{}", std::process::id(), name));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("main.rs");
    std::fs::write(&source, format!("#![allow(unused)]\nfn main() {{\n{}\n}}\n", body)).unwrap();
    let output = Command::new(rustc())
        .args(["--edition", "2021", "--crate-type", "bin", "--emit", "metadata", "--crate-name", "probe"])
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--extern")
        .arg(format!("vmplace={}", vmplace_rlib(&deps).display()))
        .arg("--out-dir")
        .arg(&dir)
        .arg(&source)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    if output.status.success() {
        None
    } else {
        Some(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn assert_fails_with(name: &str, code: &str, body: &str) {
    match check(name, body) {
        None => panic!("{} compiled, but must not", name),
        Some(errors) => assert!(
            errors.contains(&format!("error[{}]", code)) && errors.matches("error[").count() == 1,
            "{} must fail with exactly one error, {}; the compiler said:\n{}",
            name,
            code,
            errors
        ),
    }
}

fn assert_compiles(name: &str, body: &str) {
    if let Some(errors) = check(name, body) {
        panic!("{} must compile; the compiler said:\n{}", name, errors);
    }
}

const REGION: &str = "
    let page = vmplace::page_size();
    let mut region = vmplace::Region::reserve(page).unwrap();
    region.commit(0, page, vmplace::Prot::READ_WRITE).unwrap();";

#[test]
fn region_borrows() {
    assert_compiles(
        "region_ok",
        &format!(
            "{}\n let b = region.bytes(0, 16).unwrap(); let x = b[0]; drop(b); region.unmap(0, page).unwrap(); drop(region);",
            REGION
        ),
    );
    assert_fails_with(
        "release_while_borrowed",
        "E0505",
        &format!("{}\n let b = region.bytes(0, 16).unwrap(); drop(region); let x = b[0];", REGION),
    );
    assert_fails_with(
        "unmap_while_borrowed",
        "E0502",
        &format!("{}\n let b = region.bytes(0, 16).unwrap(); region.unmap(0, page).unwrap(); let x = b[0];", REGION),
    );
    assert_fails_with(
        "unmap_coalesce_while_borrowed",
        "E0502",
        &format!(
            "{}\n let b = region.bytes(0, 16).unwrap(); region.unmap_coalesce(0, page).unwrap(); let x = b[0];",
            REGION
        ),
    );
    assert_fails_with(
        "unmap_coalesce_while_borrowed_mut",
        "E0499",
        &format!(
            "{}\n let mut b = region.bytes_mut(0, 16).unwrap(); region.unmap_coalesce(0, page).unwrap(); b[0] = 1;",
            REGION
        ),
    );
    assert_fails_with(
        "discard_while_borrowed_mut",
        "E0499",
        &format!("{}\n let mut b = region.bytes_mut(0, 16).unwrap(); region.discard(0, page).unwrap(); b[0] = 1;", REGION),
    );
    assert_fails_with(
        "protect_while_borrowed",
        "E0502",
        &format!(
            "{}\n let b = region.bytes(0, 16).unwrap(); region.protect(0, page, vmplace::Prot::NONE).unwrap(); let x = b[0];",
            REGION
        ),
    );
    // Growing, carving (and committing or mapping what is carved) and
    // labelling never move or take away bytes: they run while a borrow
    // lives.
    assert_compiles(
        "extend_while_borrowed",
        &format!(
            "{}\n let b = region.bytes(0, 16).unwrap(); region.extend(4 * page).unwrap(); region.carve(page, page).unwrap(); \
             region.carve_commit(page, page, vmplace::Prot::READ).unwrap(); \
             let mem = vmplace::Mem::create(page as u64).unwrap(); \
             region.carve_map(3 * page, page, &mem, 0, vmplace::Prot::READ).unwrap(); \
             region.label(0, page, \"x\").unwrap(); let n = region.mapping_count(); let x = b[0];",
            REGION
        ),
    );
    assert_compiles(
        "unmap_coalesce_after_borrow",
        &format!(
            "{}\n let b = region.bytes(0, 16).unwrap(); let x = b[0]; drop(b); region.unmap_coalesce(0, page).unwrap();",
            REGION
        ),
    );
    assert_fails_with(
        "bytes_outlive_region",
        "E0597",
        "let b = { let r = vmplace::Region::reserve(vmplace::page_size()).unwrap(); r.bytes(0, 0).unwrap() }; let x = b.len();",
    );
}

#[test]
fn ring_halves() {
    let split = "let (mut tx, mut rx) = vmplace::Ring::new(4096).unwrap().split();";
    assert_compiles(
        "ring_ok",
        &format!(
            "{} let s = tx.grant(1).unwrap(); s[0] = 1; tx.commit(1).unwrap(); \
             let d = rx.peek(1).unwrap(); let n = d.len(); rx.release(n).unwrap(); \
             fn send<T: Send>(_: T) {{}} send(tx); send(rx);",
            split
        ),
    );
    assert_fails_with(
        "commit_while_granted",
        "E0499",
        &format!("{} let s = tx.grant(1).unwrap(); tx.commit(1).unwrap(); s[0] = 1;", split),
    );
    assert_fails_with(
        "release_while_peeked",
        "E0499",
        &format!("{} let d = rx.peek(1).unwrap(); rx.release(1).unwrap(); let x = d.len();", split),
    );
    assert_fails_with(
        "attach_is_unsafe",
        "E0133",
        "let r = vmplace::Ring::new(4096).unwrap(); let o = vmplace::Ring::attach(&r);",
    );
    assert_compiles(
        "records_ok",
        &format!(
            "{} let mut r = tx.reserve(1, None).unwrap(); r[0] = 1; r.submit().unwrap(); \
             let a = tx.reserve(1, None).unwrap(); a.submit().unwrap(); \
             let g = rx.next_record(None).unwrap(); let x = g[0]; g.consume().unwrap(); \
             let m = vmplace::Ring::new(4096).unwrap().into_multi_producer(); \
             if let Ok(m) = m {{ let a = m.reserve(1, None).unwrap(); let b = m.reserve(1, None).unwrap(); }}",
            split
        ),
    );
    assert_fails_with(
        "second_reservation_while_one_lives",
        "E0499",
        &format!("{} let a = tx.reserve(1, None).unwrap(); let b = tx.reserve(1, None).unwrap(); a.submit().unwrap();", split),
    );
    assert_fails_with(
        "next_record_while_one_is_borrowed",
        "E0499",
        &format!("{} let a = rx.next_record(None).unwrap(); let b = rx.next_record(None).unwrap(); let x = a.len();", split),
    );
    assert_fails_with(
        "record_bytes_outlive_consume",
        "E0505",
        &format!("{} let a = rx.next_record(None).unwrap(); let s: &[u8] = &a; a.consume().unwrap(); let x = s.len();", split),
    );
    assert_fails_with("producer_not_sync", "E0277", &format!("{} fn sync<T: Sync>(_: &T) {{}} sync(&tx);", split));
    assert_fails_with("consumer_not_sync", "E0277", &format!("{} fn sync<T: Sync>(_: &T) {{}} sync(&rx);", split));
}

#[test]
fn deque_and_mview_borrows() {
    assert_fails_with(
        "deque_grow_while_borrowed",
        "E0502",
        "let mut d = vmplace::MirroredDeque::new(); d.push_back(1); let s: &[u8] = &d; d.push_back(2); let x = s[0];",
    );
    assert_fails_with(
        "mview_drop_while_borrowed",
        "E0505",
        "let v = unsafe { vmplace::MView::open(&[], 0).unwrap() }; let s: &[u8] = &v; drop(v); let x = s.len();",
    );
    let mview = "let mut v = unsafe { vmplace::MView::open(&[], 0).unwrap() };";
    assert_compiles(
        "mview_live_ok",
        &format!(
            "{} let s: &[u8] = &v; let mut buf = [0u8; 1]; let r = v.read_at(0, &mut buf); \
             let f = v.scan(0, 0, 0); let n = s.len(); v.retire(0).unwrap(); let n = v.refresh().unwrap(); \
             v.set_padding(0).unwrap();",
            mview
        ),
    );
    assert_fails_with(
        "mview_retire_while_borrowed",
        "E0502",
        &format!("{} let s: &[u8] = &v; v.retire(1).unwrap(); let x = s.len();", mview),
    );
    assert_fails_with(
        "mview_refresh_while_borrowed",
        "E0502",
        &format!("{} let s: &[u8] = &v; v.refresh().unwrap(); let x = s.len();", mview),
    );
    assert_fails_with(
        "mview_padding_while_borrowed",
        "E0502",
        &format!("{} let s = v.as_slice(); v.set_padding(0).unwrap(); let x = s.len();", mview),
    );
    assert_fails_with(
        "mview_open_with_is_unsafe",
        "E0133",
        "let v = vmplace::MView::open_with(&[], 0, vmplace::MViewOptions::new()).unwrap();",
    );
    assert_fails_with(
        "mview_open_is_unsafe",
        "E0133",
        "let v = vmplace::MView::open(&[], 0).unwrap();",
    );
}
