//! Finds the vmplace C library and tells cargo how to link it.
//!
//! In this order:
//! 1. `VMPLACE_BUILD_DIR`: a CMake build tree of vmplace (the directory that
//!    holds `libvmplace.a`). The static library is linked, so test binaries
//!    run without `LD_LIBRARY_PATH`.
//! 2. The `pkg-config` program (`pkg-config --libs vmplace`, honouring
//!    `PKG_CONFIG_PATH`): an installed vmplace. Linked dynamically unless
//!    `VMPLACE_STATIC=1`.
//! 3. When this crate sits inside the vmplace source tree and `cmake` is on
//!    the PATH: the static library is built from that tree into `OUT_DIR`.
//!
//! `VMPLACE_SANITIZE=address` links the GCC AddressSanitizer and UBSan
//! runtimes, for a `VMPLACE_BUILD_DIR` built with
//! `-DVMP_SANITIZE="address;undefined"`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    for var in ["VMPLACE_BUILD_DIR", "VMPLACE_STATIC", "VMPLACE_SANITIZE", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    link_sanitizer_runtimes();

    if let Some(dir) = env::var_os("VMPLACE_BUILD_DIR") {
        let dir = PathBuf::from(dir);
        match find_static_library(&dir) {
            Some(lib) => link_static(&lib),
            None => fail(&format!(
                "VMPLACE_BUILD_DIR={} holds no libvmplace.a (build the target vmplace_static there first)",
                dir.display()
            )),
        }
        return;
    }
    if link_with_pkg_config() {
        return;
    }
    if let Some(lib) = build_from_source_tree() {
        link_static(&lib);
        return;
    }
    fail(
        "vmplace not found: set VMPLACE_BUILD_DIR to a CMake build tree of vmplace, \
         or install vmplace where pkg-config finds it (PKG_CONFIG_PATH)",
    );
}

fn fail(message: &str) -> ! {
    eprintln!("vmplace-sys: {}", message);
    std::process::exit(1);
}

/// The sanitizer runtimes come first so that they are the first shared
/// libraries the program loads, as AddressSanitizer requires.
fn link_sanitizer_runtimes() {
    match env::var("VMPLACE_SANITIZE").as_deref() {
        Ok("address") => {
            println!("cargo:rustc-link-lib=dylib=asan");
            println!("cargo:rustc-link-lib=dylib=ubsan");
        }
        Ok("") | Err(_) => {}
        Ok(other) => fail(&format!("VMPLACE_SANITIZE={} is not supported (only 'address')", other)),
    }
}

fn find_static_library(dir: &Path) -> Option<PathBuf> {
    ["libvmplace.a", "lib/libvmplace.a", "vmplace.lib"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

fn link_static(lib: &Path) {
    println!("cargo:rerun-if-changed={}", lib.display());
    let dir = lib.parent().expect("a library file has a parent directory");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=vmplace");
    link_system_libraries();
}

/// What the static library needs from the system (its pkg-config
/// Libs.private).
fn link_system_libraries() {
    if env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("unix") {
        println!("cargo:rustc-link-lib=dylib=pthread");
        if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("macos") {
            println!("cargo:rustc-link-lib=dylib=rt");
        }
    }
}

fn link_with_pkg_config() -> bool {
    let want_static = env::var("VMPLACE_STATIC").as_deref() == Ok("1");
    let mut command = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()));
    command.arg("--libs");
    if want_static {
        command.arg("--static");
    }
    command.arg("vmplace");
    let output = match command.output() {
        Ok(output) if output.status.success() => output,
        _ => return false,
    };
    let flags = String::from_utf8_lossy(&output.stdout);
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
        } else if let Some(name) = flag.strip_prefix("-l") {
            let kind = if want_static && name == "vmplace" { "static" } else { "dylib" };
            println!("cargo:rustc-link-lib={}={}", kind, name);
        }
    }
    true
}

/// Builds `vmplace_static` with CMake when the crate is still inside the
/// vmplace source tree (a checkout, not a published crate).
fn build_from_source_tree() -> Option<PathBuf> {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let tree = manifest.parent()?.parent()?;
    if !tree.join("include/vmplace.h").is_file() || !tree.join("CMakeLists.txt").is_file() {
        return None;
    }
    println!("cargo:rerun-if-changed={}", tree.join("src").display());
    println!("cargo:rerun-if-changed={}", tree.join("include").display());
    let build = PathBuf::from(env::var_os("OUT_DIR")?).join("vmplace-build");
    let configured = Command::new("cmake")
        .arg("-S")
        .arg(tree)
        .arg("-B")
        .arg(&build)
        .args([
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
            "-DBUILD_TESTING=OFF",
            "-DVMP_BUILD_TOOLS=OFF",
            "-DVMP_BUILD_BENCH=OFF",
            "-DVMP_BUILD_EXAMPLES=OFF",
        ])
        .status()
        .ok()?
        .success();
    if !configured {
        return None;
    }
    let built = Command::new("cmake")
        .arg("--build")
        .arg(&build)
        .args(["--target", "vmplace_static", "-j2"])
        .status()
        .ok()?
        .success();
    if !built {
        return None;
    }
    find_static_library(&build)
}
