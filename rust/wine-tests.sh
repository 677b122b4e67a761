#!/bin/sh
# The Rust binding's tests for Windows, run under Wine by the Windows suite.
#
#   rust/wine-tests.sh build OUT   on the Linux host (tools/wine-test build):
#       cross-builds the C library with MinGW-w64 into OUT/lib and the test
#       programs of both crates (unit, integration) for
#       x86_64-pc-windows-gnu with Debian's cargo and rustc and its
#       libstd-rust-dev-windows; writes their list to OUT/tests.list, or
#       the reason there are none to OUT/skip-reason (no such toolchain)
#       or OUT/failed (the build failed; its log is OUT/build.log).
#   rust/wine-tests.sh run OUT     in the Wine chroot (the ctest test
#       rust_wine): runs each listed program under wine; exit 77 with the
#       reason when build left one.
#
# Left out under Wine: the doc tests (rustdoc cross-compiles them only with
# a nightly -Zdoctest-xcompile) and tests/compile_fail.rs (it runs rustc,
# which is not in the chroot); both run on Linux. The cross build uses
# Debian's rustc because the Windows standard library package is built for
# exactly that version: a rustup toolchain on the PATH would not match it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
out=${2:-}
[ -n "$out" ] || { echo "usage: rust/wine-tests.sh build|run OUT" >&2; exit 2; }
TARGET=x86_64-pc-windows-gnu

build() {
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  rm -f "$out/tests.list" "$out/skip-reason" "$out/failed"
  why=
  if [ ! -x /usr/bin/cargo ] || [ ! -x /usr/bin/rustc ]; then
    why="no Debian cargo and rustc in /usr/bin (make deps installs them)"
  elif [ ! -d /usr/lib/rustlib/$TARGET/lib ]; then
    why="no Rust standard library for $TARGET (make deps installs libstd-rust-dev-windows)"
  elif ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
    why="no x86_64-w64-mingw32-gcc on the host (make deps installs gcc-mingw-w64-x86-64)"
  fi
  if [ -n "$why" ]; then
    echo "$why" >"$out/skip-reason"
    echo "rust (Windows): skipped: $why"
    return 0
  fi
  if ! (
    set -e
    cmake -S "$here/.." -B "$out/lib" -DCMAKE_TOOLCHAIN_FILE="$here/../cmake/mingw-w64-x86_64.cmake" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DVMP_BUILD_TOOLS=OFF \
      -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_EXAMPLES=OFF
    cmake --build "$out/lib" -j"${JOBS:-2}" --target vmplace_static
    cd "$here"
    # Only Debian's toolchain (see above), whatever else is on the PATH.
    PATH=/usr/bin:/bin VMPLACE_BUILD_DIR="$out/lib" CARGO_TARGET_DIR="$out/target" \
      /usr/bin/cargo test --offline -j"${JOBS:-2}" --target $TARGET --tests --no-run \
      --message-format=json-render-diagnostics >"$out/cargo.json"
    # Each test program, as a path below OUT (the chroot sees OUT elsewhere).
    grep -o '"executable":"[^"]*\.exe"' "$out/cargo.json" | sed -e 's/^"executable":"//' -e 's/"$//' \
      -e "s#^$out/##" | grep -v '/compile_fail-' | sort -u >"$out/tests.list.new"
    [ -s "$out/tests.list.new" ]
    mv "$out/tests.list.new" "$out/tests.list"
  ) >"$out/build.log" 2>&1; then
    : >"$out/failed"
    tail -n 30 "$out/build.log" >&2
    echo "rust (Windows): the cross build failed (log: $out/build.log)" >&2
    return 1
  fi
  echo "rust (Windows): $(wc -l <"$out/tests.list") test programs built"
}

run() {
  if [ -f "$out/skip-reason" ]; then
    echo "skipped: $(cat "$out/skip-reason")"
    exit 77
  fi
  if [ -f "$out/failed" ]; then
    echo "the cross build of the Rust tests failed (log: $out/build.log)"
    exit 1
  fi
  if [ ! -s "$out/tests.list" ]; then
    echo "no Rust test programs in $out (tools/wine-test build builds them)"
    exit 1
  fi
  status=0
  log="$out/program.log"
  while read -r exe; do
    echo "== $exe"
    # The two-process ring tests run this program again as their child.
    # Its output goes to a file, never a pipe, while wine runs (see
    # docs/wine-facts.md).
    if run_program "$exe"; then cat "$log"; continue; fi
    cat "$log"
    # Wine 10 itself sometimes aborts in its own view bookkeeping
    # (docs/wine-facts.md): that program runs once more, and fails only if
    # it fails again, for whatever reason.
    if grep -q "dlls/ntdll/unix/virtual.c:.*Assertion" "$log"; then
      echo "== $exe again: Wine aborted in its own ntdll/unix/virtual.c (a Wine defect, not a test result)"
      if run_program "$exe"; then cat "$log"; continue; fi
      cat "$log"
    fi
    echo "FAILED: $exe (status $program_status)"
    status=1
  done <"$out/tests.list"
  exit "$status"
}

run_program() {
  program_status=0
  wine "$out/$1" --test-threads=2 </dev/null >"$log" 2>&1 || program_status=$?
  return "$program_status"
}

case $mode in
  build) build ;;
  run) run ;;
  *) echo "usage: rust/wine-tests.sh build|run OUT" >&2; exit 2 ;;
esac
