#!/bin/sh
# `vmplace pipe`: what goes in comes out byte for byte (a few hundred MB from
# a deterministic generator through a small ring that wraps thousands of
# times; small, odd-sized and empty inputs), a slow consumer and a bursty
# producer, the exit statuses (usage, read error, write error, closed
# output, also while the input is idle) and the progress line.
#
# Usage: pipe_test.sh path/to/vmplace SCRATCH_DIR   (SCRATCH_DIR is recreated)
set -u

VMPLACE=$1
DIR=$2
rm -rf "$DIR" && mkdir -p "$DIR" || exit 1
cd "$DIR" || exit 1
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# same CASE FILE [OPTIONS...]: the file through vmplace pipe comes out equal.
same() {
  name=$1 file=$2
  shift 2
  "$VMPLACE" pipe "$@" <"$file" >got.out 2>got.err
  status=$?
  if [ $status -ne 0 ]; then
    fail "$name: exit status $status: $(cat got.err)"
  elif ! cmp -s "$file" got.out; then
    fail "$name: output differs ($(wc -c <got.out) bytes out, $(wc -c <"$file") in)"
  elif [ -s got.err ]; then
    fail "$name: unexpected stderr: $(cat got.err)"
  fi
}

now_ms() {
  echo $(($(date +%s%N) / 1000000))
}

# ---- a large stream, byte-exact ------------------------------------------------
# seq's lines are all different, so a lost, repeated or reordered block
# changes the checksum, not only the length. 25 million lines are 214 MB.
LINES=25000000
want=$(seq 1 $LINES | cksum)
got=$(seq 1 $LINES | "$VMPLACE" pipe -q -m 1M 2>big.err | cksum)
[ "$got" = "$want" ] || fail "large stream through a 1 MiB ring: cksum '$got', expected '$want': $(cat big.err)"
got=$(seq 1 $LINES | "$VMPLACE" pipe 2>big.err | cksum)
[ "$got" = "$want" ] || fail "large stream through the default ring: cksum '$got', expected '$want': $(cat big.err)"

# ---- small and odd sizes -------------------------------------------------------
: >empty
same "empty input" empty
for n in 1 7 4095 4096 4097 65535 65536 65537 1000003; do
  head -c $n /dev/urandom >in.$n || exit 1
  same "$n bytes" in.$n
  same "$n bytes, 64k ring" in.$n -m 64k
done
head -c 3000000 /dev/urandom >in.3M || exit 1
same "3 MB through a 64 KiB ring (-m64K)" in.3M -m64K
same "3 MB, quiet" in.3M -q -m 1m

# ---- a slow consumer: the ring fills, the reader sleeps until space frees --------
# The consumer takes 64 KiB every 20 ms (dd with one full block per call).
"$VMPLACE" pipe -m 64k <in.3M 2>slow.err | {
  : >slow.out
  i=0
  while [ $i -lt 20 ]; do
    dd bs=65536 count=1 iflag=fullblock 2>/dev/null >>slow.out
    sleep 0.02
    i=$((i + 1))
  done
  cat >>slow.out
}
cmp -s in.3M slow.out || fail "slow consumer: output differs: $(cat slow.err)"

# ---- a stalled consumer: the ring grows to -m and takes the whole input ----------
# The ring starts at 1 MiB and grows while it is full, up to -m. The
# producer must finish long before the consumer wakes: 12 MB can only wait
# in a ring that grew past 1 MiB, and every byte must come out in order.
head -c 12000000 /dev/urandom >in.12M || exit 1
{ cat in.12M; date +%s%N >grow.produced; } | "$VMPLACE" pipe -q -m 16M 2>grow.err |
  { sleep 1; date +%s%N >grow.consumed; cat >grow.out; }
cmp -s in.12M grow.out || fail "growing ring: output differs: $(cat grow.err)"
[ "$(cat grow.produced)" -lt "$(cat grow.consumed)" ] ||
  fail "growing ring: the producer waited for the consumer (the ring did not grow)"

# ---- a bursty producer: bursts of odd sizes with pauses, in small blocks ---------
{
  for part in 0 1 2 3 4 5 6 7 8 9; do
    dd if=in.1000003 bs=100000 skip=$part count=1 2>/dev/null
    sleep 0.03
  done
  dd if=in.1000003 bs=100000 skip=10 2>/dev/null
} | dd bs=777 2>/dev/null | "$VMPLACE" pipe -m 64k 2>burst.err >burst.out
status=$?
[ $status -eq 0 ] || fail "bursty producer: exit status $status"
cmp -s in.1000003 burst.out || fail "bursty producer: output differs: $(cat burst.err)"
# The output side in odd small pieces as well.
dd if=in.1000003 bs=333 2>/dev/null | "$VMPLACE" pipe -m 64k 2>burst.err | dd bs=1111 2>/dev/null >burst.out
cmp -s in.1000003 burst.out || fail "small blocks on both sides: output differs: $(cat burst.err)"

# ---- exit statuses ------------------------------------------------------------------
# usage: exit 2, a message, nothing on stdout
for args in "-m" "-m 0" "-m 12X" "-m 1MB" "-m -5" "-x" "extra"; do
  # shellcheck disable=SC2086 # split on purpose
  "$VMPLACE" pipe $args <in.7 >got.out 2>got.err
  status=$?
  [ $status -eq 2 ] || fail "usage '$args': exit status $status, expected 2"
  grep -q "usage: vmplace pipe" got.err || fail "usage '$args': no usage text: $(cat got.err)"
  [ -s got.out ] && fail "usage '$args': wrote to stdout"
done

# a ring too large for the address space: exit 4 and a message
"$VMPLACE" pipe -m 1000000000G <in.7 >got.out 2>got.err
status=$?
[ $status -eq 4 ] || fail "huge ring: exit status $status, expected 4"
grep -q "cannot create a ring" got.err || fail "huge ring: no message: $(cat got.err)"

# a read error (stdin is a directory): exit 1 and a message
"$VMPLACE" pipe <. >got.out 2>got.err
status=$?
[ $status -eq 1 ] || fail "read error: exit status $status, expected 1"
grep -q "read error" got.err || fail "read error: no message: $(cat got.err)"

# a write error: exit 3 and a message
if [ -w /dev/full ]; then
  "$VMPLACE" pipe <in.3M >/dev/full 2>got.err
  status=$?
  [ $status -eq 3 ] || fail "write error: exit status $status, expected 3"
  grep -q "write error" got.err || fail "write error: no message: $(cat got.err)"
fi

# A closed output with an endless input ends promptly: killed by SIGPIPE
# by default, status 141 without a message when SIGPIPE is ignored.
for mode in default ignored; do
  rm -f pipe.status pipe.err
  start=$(now_ms)
  if [ $mode = ignored ]; then
    yes "a line of text" | (trap '' PIPE; "$VMPLACE" pipe 2>pipe.err; echo $? >pipe.status) | head -c 100 >head.out
  else
    yes "a line of text" | ("$VMPLACE" pipe 2>pipe.err; echo $? >pipe.status) | head -c 100 >head.out
  fi
  took=$(($(now_ms) - start))
  status=$(cat pipe.status 2>/dev/null)
  [ "$status" = 141 ] || fail "closed output ($mode SIGPIPE): exit status '$status', expected 141"
  [ -s pipe.err ] && fail "closed output ($mode SIGPIPE): unexpected message: $(cat pipe.err)"
  [ "$(wc -c <head.out)" -eq 100 ] || fail "closed output ($mode SIGPIPE): head got $(wc -c <head.out) bytes"
  [ $took -lt 3000 ] || fail "closed output ($mode SIGPIPE): took $took ms"
done

# The same while the reader is blocked on an input that stays open and
# silent: the failed write must stop the reader, not wait for the input.
# The producer writes a little, pauses, writes again (that write meets the
# closed output), then stays silent for 8 s; the tool must be done long before.
if command -v mkfifo >/dev/null 2>&1; then
  mkfifo idle.fifo
  (printf 'abc'; sleep 0.3; printf 'def'; exec sleep 8) >idle.fifo 2>/dev/null &
  producer=$!
  start=$(now_ms)
  (trap '' PIPE; "$VMPLACE" pipe <idle.fifo 2>pipe.err; echo $? >pipe.status) | head -c 1 >head.out
  took=$(($(now_ms) - start))
  kill $producer 2>/dev/null
  status=$(cat pipe.status 2>/dev/null)
  [ "$status" = 141 ] || fail "closed output, idle input: exit status '$status', expected 141"
  [ $took -lt 4000 ] || fail "closed output, idle input: took $took ms (the reader was not stopped)"
  [ "$(cat head.out)" = a ] || fail "closed output, idle input: head got '$(cat head.out)'"
fi

# ---- the progress line: only with stderr on a terminal, erased at the end -------
if command -v script >/dev/null 2>&1; then
  script -qec "{ cat in.3M; sleep 0.6; cat in.3M; } | '$VMPLACE' pipe -m 1M >tty.out" \
    /dev/null </dev/null >tty.screen 2>&1
  status=$?
  cat in.3M in.3M >tty.want
  if [ $status -ne 0 ]; then
    fail "progress: exit status $status: $(cat tty.screen)"
  else
    cmp -s tty.want tty.out || fail "progress: output differs"
    grep -q "MiB/s  buffer" tty.screen || fail "progress: no progress line: $(cat tty.screen)"
    tail -c 1 tty.screen | od -An -c | grep -q '\\r' || fail "progress: line not erased at the end"
  fi
  script -qec "'$VMPLACE' pipe -q <in.3M >tty.out" /dev/null </dev/null >tty.screen 2>&1
  [ -s tty.screen ] && fail "progress: shown despite -q: $(cat tty.screen)"
  cmp -s in.3M tty.out || fail "progress -q: output differs"
  "$VMPLACE" pipe <in.3M 2>quiet.err | cmp -s - in.3M || fail "through a pipe: output differs"
  [ -s quiet.err ] && fail "progress shown although stderr is not a terminal: $(cat quiet.err)"
else
  echo "note: script(1) missing, the progress case is skipped"
fi

"$VMPLACE" pipe --help >help.out 2>help.err || fail "pipe --help: exit status $?"
grep -q "usage: vmplace pipe" help.out || fail "pipe --help: no usage on stdout"
"$VMPLACE" pipe --bogus >help.out 2>help.err </dev/null
[ $? -eq 2 ] || fail "pipe --bogus: expected exit status 2"

if [ $failures -ne 0 ]; then
  echo "$failures case(s) failed (files kept in $DIR)"
  exit 1
fi
cd .. && rm -rf "$DIR"
echo "vmplace pipe: all cases passed"
