#!/bin/sh
# vmplace built from source the ways a user builds it:
# 1. included with add_subdirectory() by a project that has tests of its
#    own: the library builds and links, and the project sees none of
#    vmplace's tests (nor its tool, benchmarks or examples);
# 2. configured on its own where Criterion is missing: the configure
#    succeeds, says so, and leaves only the Criterion suites out, unless
#    VMP_REQUIRE_CRITERION=ON, which makes it fail.
set -eu
source_dir=$1
here=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "user_builds: $*" >&2; exit 1; }
# run LOG CMD...: CMD's output goes to LOG, shown when CMD fails.
run() {
  log=$1; shift
  if ! "$@" >"$log" 2>&1; then tail -n 50 "$log"; return 1; fi
}

run "$scratch/parent.log" cmake -S "$here" -B "$scratch/parent" -DVMPLACE_SOURCE_DIR="$source_dir" ||
  fail "configuring the parent project failed"
run "$scratch/parent-build.log" cmake --build "$scratch/parent" --target parent_consumer ||
  fail "building the parent project's consumer failed"
"$scratch/parent/parent_consumer" >/dev/null || fail "the parent project's consumer failed"
listed=$(cd "$scratch/parent" && ctest -N | sed -n 's/^Total Tests: //p')
[ "$listed" = 1 ] || { (cd "$scratch/parent" && ctest -N); fail "the parent project lists $listed tests, want only its own one"; }
for target in vmplace_cli vmplace_bench segmented_log; do
  if cmake --build "$scratch/parent" --target help | grep -q "\.\.\. $target\$"; then
    fail "the parent project got vmplace's target $target"
  fi
done
echo "user_builds: add_subdirectory(vmplace) builds the library and adds no test of vmplace's"

# No Criterion: the library search finds nothing under an empty root.
nocrit="-DCMAKE_FIND_ROOT_PATH=$scratch/empty -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY
  -DVMP_BUILD_TOOLS=OFF -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_EXAMPLES=OFF"
# shellcheck disable=SC2086
run "$scratch/nocrit.log" cmake -S "$source_dir" -B "$scratch/nocrit" $nocrit ||
  fail "configuring without Criterion failed"
grep -q "Criterion not found" "$scratch/nocrit.log" || { cat "$scratch/nocrit.log"; fail "no message about the missing Criterion"; }
# Fewer tests than with Criterion, but not none.
# shellcheck disable=SC2086
run "$scratch/crit.log" cmake -S "$source_dir" -B "$scratch/crit" \
  -DVMP_BUILD_TOOLS=OFF -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_EXAMPLES=OFF ||
  fail "configuring with Criterion failed"
without=$(cd "$scratch/nocrit" && ctest -N | sed -n 's/^Total Tests: //p')
with=$(cd "$scratch/crit" && ctest -N | sed -n 's/^Total Tests: //p')
[ "$without" -gt 0 ] || fail "without Criterion no test is left at all"
if grep -q "Criterion not found" "$scratch/crit.log"; then
  echo "user_builds: this machine has no Criterion either, nothing to compare with"
else
  [ "$without" -lt "$with" ] || fail "without Criterion $without tests, with it $with: nothing was left out"
fi
# shellcheck disable=SC2086
if cmake -S "$source_dir" -B "$scratch/nocrit-required" $nocrit -DVMP_REQUIRE_CRITERION=ON \
    >"$scratch/nocrit-required.log" 2>&1; then
  fail "VMP_REQUIRE_CRITERION=ON configured without Criterion"
fi
grep -q "Criterion not found" "$scratch/nocrit-required.log" || { cat "$scratch/nocrit-required.log"; fail "VMP_REQUIRE_CRITERION=ON failed without saying why"; }
echo "user_builds: without Criterion the configure succeeds and leaves out only the Criterion suites"
