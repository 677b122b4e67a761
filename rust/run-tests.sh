#!/bin/sh
# Runs the Rust binding's tests (unit, integration, doc and compile-fail
# tests of both crates) against the C library of one CMake build tree:
#   rust/run-tests.sh BUILD_DIR [SANITIZE [BACKEND]]
# BUILD_DIR holds libvmplace.a; SANITIZE is that tree's VMP_SANITIZE
# ("address;undefined" links the ASan and UBSan runtimes into the test
# programs), BACKEND its VMP_BACKEND. The plain default-backend tree runs
# everything; the others leave out the doc tests (examples of the API,
# each a program of its own: about a minute with Debian's rustc), keeping
# the unit, integration and compile-fail tests. Exits 77 (skipped) when no
# cargo is installed: `make test` installs Debian's when the machine has
# none.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
sanitize=${2:-}
backend=${3:-}

. "$here/find-cargo.sh"
if [ -z "$cargo" ]; then
  echo "rust: skipped (no cargo on PATH; 'make deps' installs Debian's cargo)"
  exit 77
fi

case "$sanitize" in
  "") ;;
  *address*)
    VMPLACE_SANITIZE=address; export VMPLACE_SANITIZE
    # The Rust standard library is not instrumented; the C library is, and
    # its runtime is the first library the test programs load.
    ASAN_OPTIONS="handle_segv=0:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"; export ASAN_OPTIONS
    ;;
  *)
    # ThreadSanitizer would need the Rust standard library instrumented
    # too (a nightly-only -Zbuild-std), or it reports its own atomics.
    echo "rust: skipped (VMP_SANITIZE=$sanitize: only plain and address builds are tested)"
    exit 77
    ;;
esac

VMPLACE_BUILD_DIR=$build; export VMPLACE_BUILD_DIR
CARGO_TARGET_DIR=$build/rust-target; export CARGO_TARGET_DIR
echo "rust: $("$cargo" --version), $(rustc --version), C library of $build"
cd "$here"
case "$sanitize:$backend" in
  :|:linux) targets= ;;
  *) targets=--tests; echo "rust: unit, integration and compile-fail tests (the doc tests run in the plain suite)" ;;
esac
exec "$cargo" test --offline -j"${JOBS:-2}" $targets
