#!/bin/sh
# Runs every fuzz target (or the ones named) for a bounded time each and
# prints executions, operations per second and coverage, then the totals.
#
#   fuzz/run.sh [--smoke] BUILD_DIR SECONDS [TARGET...]
#
# BUILD_DIR is the CMake build with -DVMP_BUILD_FUZZ=ON. A normal run keeps
# its corpus in BUILD_DIR/fuzz-corpus/TARGET, so each run goes on from the
# last, and adds a line per target to BUILD_DIR/fuzz-history.tsv (the
# totals over all runs come from there). --smoke starts from the seeds in
# a fresh directory and records nothing. A crash fails the run and names
# the reproducer and how to replay it.
set -u

smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
if [ $# -lt 2 ]; then
  echo "usage: fuzz/run.sh [--smoke] BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=${*:-api spans script ring mview}

crashes=$build/fuzz-crashes
logs=$build/fuzz-logs
mkdir -p "$crashes" "$logs"
history=$build/fuzz-history.tsv
[ -f "$history" ] || printf 'date\ttarget\tseconds\texecs\texecs_per_s\toperations\tcov\tft\n' >"$history"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM
# Scratch files the targets make go here, not into the system's /tmp.
export TMPDIR="$scratch"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

status=0
summary=$scratch/summary
: >"$summary"
for t in $targets; do
  bin=$build/fuzz/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (build with -DVMP_BUILD_FUZZ=ON)" >&2
    status=1
    continue
  fi
  if [ $smoke -eq 1 ]; then work=$scratch/corpus-$t; else work=$build/fuzz-corpus/$t; fi
  mkdir -p "$work"
  set -- -max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
    -max_len=4096 -artifact_prefix="$crashes/$t-" "$work"
  [ -d "$here/corpus/$t" ] && set -- "$@" "$here/corpus/$t"
  # The API model's inputs are operation lists: long ones from the start.
  [ "$t" = api ] && set -- -len_control=0 "$@"
  if [ "$t" = script ]; then
    set -- -dict="$here/script.dict" "$@" "$here/../tests/scenarios"
  fi
  log=$logs/$t.log
  echo "fuzz: $t for ${seconds}s (log $log)"
  # The wall-clock bound: libFuzzer's own stops it at SECONDS, this one in
  # case an input hangs past its -timeout handling.
  timeout -k 10 $((seconds + 120)) "$bin" "$@" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  ops=$(sed -n 's/^vmp-fuzz: [a-z]*: \([0-9]*\) operations$/\1/p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  execs=${execs:-0} rate=${rate:-0} ops=${ops:-0} cov=${cov:-0} ft=${ft:-0}
  ops_rate=$((ops / (seconds > 0 ? seconds : 1)))
  if [ $rc -ne 0 ]; then
    status=1
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz: $t FAILED (exit $rc); what it found:"
    grep -E 'vmp-fuzz FINDING|ERROR: |SUMMARY: ' "$log" | head -n 5 | sed 's/^/  /'
    if [ -n "$unit" ]; then
      echo "  reproducer: $unit"
      echo "  replay:     $bin $unit"
    else
      echo "  no reproducer written; see $log"
    fi
  fi
  printf '%-7s %8ss %10s execs %8s execs/s %12s ops %9s ops/s  cov %5s  ft %6s%s\n' "$t" \
    "$seconds" "$execs" "$rate" "$ops" "$ops_rate" "$cov" "$ft" \
    "$([ $rc -ne 0 ] && echo '  FAILED')" >>"$summary"
  if [ $smoke -eq 0 ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "$seconds" \
      "$execs" "$rate" "$ops" "$cov" "$ft" >>"$history"
  fi
done

echo "fuzz: this run"
cat "$summary"
if [ $smoke -eq 0 ]; then
  echo "fuzz: totals over every run recorded in $history"
  awk -F'\t' 'NR > 1 { runs[$2]++; secs[$2] += $3; execs[$2] += $4; ops[$2] += $6 }
    END { for (t in runs)
            printf "%-7s %3d runs %7ds %12d execs %14d ops %9d ops/s\n", t, runs[t], secs[t],
                   execs[t], ops[t], secs[t] ? ops[t] / secs[t] : 0 }' "$history" | sort
fi
exit $status
