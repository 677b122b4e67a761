#!/bin/sh
# The Rust ring lines of `make bench` (rust/vmplace/examples/ring_bench.rs),
# against the C library of one CMake build tree (a Release one):
#   rust/bench.sh BUILD_DIR [--quick] [FILTER]
# Without cargo the lines are reported as skipped.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
shift
. "$here/find-cargo.sh"
if [ -z "$cargo" ]; then
  echo "# rust_ring_*: skipped (no cargo on PATH)"
  exit 0
fi
VMPLACE_BUILD_DIR=$build; export VMPLACE_BUILD_DIR
CARGO_TARGET_DIR=$build/rust-target; export CARGO_TARGET_DIR
cd "$here"
"$cargo" build -q --offline --release -j"${JOBS:-2}" --example ring_bench
exec "$CARGO_TARGET_DIR/release/examples/ring_bench" "$@"
