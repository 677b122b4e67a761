#!/bin/sh
# `vmplace cat` against coreutils cat, on random files made here, then every
# refusal: each must exit non-zero, name the file on stderr and write
# nothing at all to stdout. Also: a closed pipe ends it without a hang, and
# the progress line appears only on a terminal and is erased.
#
# Usage: cat_test.sh path/to/vmplace SCRATCH_DIR   (SCRATCH_DIR is recreated)
set -u

VMPLACE=$1
DIR=$2
rm -rf "$DIR" && mkdir -p "$DIR" || exit 1
cd "$DIR" || exit 1
PAGE=$(getconf PAGESIZE)
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# random_file NAME BYTES
random_file() {
  head -c "$2" /dev/urandom >"$1" || exit 1
}

# same CASE FILE...: vmplace cat and cat give identical bytes, exit 0.
same() {
  name=$1
  shift
  cat "$@" >expected.out
  "$VMPLACE" cat "$@" >got.out 2>got.err
  status=$?
  if [ $status -ne 0 ]; then
    fail "$name: exit status $status: $(cat got.err)"
  elif ! cmp -s expected.out got.out; then
    fail "$name: output differs from cat ($(wc -c <got.out) vs $(wc -c <expected.out) bytes)"
  elif [ -s got.err ]; then
    fail "$name: unexpected stderr: $(cat got.err)"
  fi
}

# refused CASE STATUS NAMED FILE...: exit STATUS, stderr names NAMED,
# stdout empty.
refused() {
  name=$1 want=$2 named=$3
  shift 3
  "$VMPLACE" cat "$@" >got.out 2>got.err
  status=$?
  if [ $status -ne "$want" ]; then
    fail "$name: exit status $status, expected $want"
  fi
  if [ -s got.out ]; then
    fail "$name: wrote $(wc -c <got.out) bytes to stdout"
  fi
  if ! grep -qF -- "$named" got.err; then
    fail "$name: stderr does not name '$named': $(cat got.err)"
  fi
}

: >empty
random_file odd 12345
random_file p3 $((3 * PAGE))
random_file p5 $((5 * PAGE))
random_file tail 7777
random_file big1 $((3 * 1024 * 1024))
random_file big2 $((3 * 1024 * 1024))
random_file bigtail $((1024 * 1024 + 17))
i=0
many=""
while [ $i -lt 49 ]; do
  random_file "m$i" $(((i % 3 + 1) * PAGE))
  many="$many m$i"
  i=$((i + 1))
done
random_file mlast 999

same "single odd file" odd
same "single page-multiple file" p3
same "single empty file" empty
same "only empty files" empty empty empty
same "empty files anywhere, odd last" empty p3 empty p5 empty tail
same "empty last file" p3 p5 empty
same "same file twice" p3 p3 odd
# shellcheck disable=SC2086 # the names are word-split on purpose
same "50 files" $many mlast
same "several MiB" big1 big2 bigtail
same "file named like an option, after --" -- p3 odd

refused "missing file" 1 no-such-file p3 no-such-file odd
refused "missing last file" 1 gone-too p3 gone-too
mkdir adir
refused "directory named" 1 "adir: is a directory" p3 adir odd
refused "non-last odd size" 1 "odd: size 12345" p3 odd tail
refused "non-last odd size, reported with the page" 1 "multiple of the page" odd p3
refused "not a regular file" 1 "/dev/null" p3 /dev/null
refused "character device, said so" 1 "/dev/null: is a character device" /dev/null
# A FIFO is refused from stat() alone: opening it would wait for a writer
# that never comes. timeout(1) turns a hang into a failure.
if command -v mkfifo >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
  mkfifo afifo
  timeout 10 "$VMPLACE" cat p3 afifo >got.out 2>got.err
  status=$?
  [ $status -eq 124 ] && fail "FIFO: vmplace cat hung"
  [ $status -eq 1 ] || fail "FIFO: exit status $status, expected 1"
  grep -qF "afifo: is a FIFO" got.err || fail "FIFO: unclear message: $(cat got.err)"
  [ -s got.out ] && fail "FIFO: wrote to stdout"
  rm -f afifo
fi
if [ "$(id -u)" != 0 ]; then
  random_file secret "$PAGE"
  chmod 000 secret
  refused "unreadable file" 1 secret p3 secret odd
else
  echo "note: running as root, the unreadable-file case is skipped"
fi
refused "no file at all" 2 "usage: vmplace cat"
refused "unknown option" 2 "unknown option '-x'" -x p3

# A write error: exit 3 and a message.
if [ -w /dev/full ]; then
  "$VMPLACE" cat p3 odd >/dev/full 2>got.err
  status=$?
  [ $status -eq 3 ] || fail "write error: exit status $status, expected 3"
  grep -q "write error" got.err || fail "write error: no message: $(cat got.err)"
fi

# Into a regular file the room for the output is allocated before the
# first byte (not when appending, where other writers may share the end):
# appending, and writing over a file's bytes through a descriptor opened
# read-write (no truncation) and on past its end, still give exactly cat's
# bytes, and nothing is left allocated past the end.
printf 'head' >appended
cp appended appended.expected
cat p3 odd >>appended.expected
"$VMPLACE" cat p3 odd >>appended 2>got.err || fail "append: exit status $?: $(cat got.err)"
cmp -s appended appended.expected || fail "append: output differs from cat"
cp big1 overwritten
cp big1 overwritten.expected
dd if=p3 of=overwritten.expected conv=notrunc status=none
"$VMPLACE" cat p3 1<>overwritten 2>got.err || fail "overwrite: exit status $?: $(cat got.err)"
cmp -s overwritten overwritten.expected || fail "overwrite: output differs from cat"
cp p3 grown
"$VMPLACE" cat big1 1<>grown 2>got.err || fail "over and past the end: exit status $?: $(cat got.err)"
cmp -s grown big1 || fail "over and past the end: output differs from cat"
# The blocks a file holds: none past the end of what was written.
allocated_kib() { du -k "$1" | cut -f1; }
for f in appended overwritten grown; do
  [ "$(allocated_kib $f)" -le $(($(wc -c <$f) / 1024 + 64)) ] ||
    fail "$f: $(allocated_kib $f) KiB allocated for $(wc -c <$f) bytes"
done
# No room for the output: said before the first byte, exit 3, the output
# file empty and holding no block. Needs a small file system: a tmpfs of
# 1 MiB in a mount namespace of its own (root, and a system that allows it).
if command -v unshare >/dev/null 2>&1 && mkdir -p small &&
  unshare -m sh -c "mount -t tmpfs -o size=1m vmplace-test small" 2>/dev/null; then
  unshare -m sh -c "mount -t tmpfs -o size=1m vmplace-test small &&
    \"$VMPLACE\" cat big1 big2 >small/out 2>got.err; echo \$? >small.status;
    du -k small/out | cut -f1 >small.kib; wc -c <small/out >small.bytes"
  [ "$(cat small.status)" = 3 ] || fail "no room: exit status $(cat small.status), expected 3"
  grep -q "no room for the output.*nothing written" got.err ||
    fail "no room: unclear message: $(cat got.err)"
  [ "$(cat small.bytes)" = 0 ] || fail "no room: $(cat small.bytes) bytes written"
  [ "$(cat small.kib)" = 0 ] || fail "no room: $(cat small.kib) KiB left allocated"
else
  echo "note: no tmpfs of our own could be mounted, the no-room case is skipped"
fi

# A reader that goes away: the default SIGPIPE ends the process (141 in a
# shell); with SIGPIPE ignored, write's EPIPE gives 141 and no message.
for mode in default ignored; do
  rm -f pipe.status pipe.err
  if [ $mode = ignored ]; then
    (trap '' PIPE; "$VMPLACE" cat big1 big2 bigtail 2>pipe.err; echo $? >pipe.status) | head -c 1 >/dev/null
  else
    ("$VMPLACE" cat big1 big2 bigtail 2>pipe.err; echo $? >pipe.status) | head -c 1 >/dev/null
  fi
  status=$(cat pipe.status 2>/dev/null)
  if [ "$status" != 141 ]; then
    fail "closed pipe ($mode SIGPIPE): exit status '$status', expected 141"
  fi
  if [ -s pipe.err ]; then
    fail "closed pipe ($mode SIGPIPE): unexpected message: $(cat pipe.err)"
  fi
done

# The progress line needs stderr on a terminal: script(1) gives one. A
# sparse 64 MiB file costs neither disk nor much time.
if command -v script >/dev/null 2>&1 && command -v truncate >/dev/null 2>&1; then
  truncate -s 64M sparse
  script -qec "'$VMPLACE' cat sparse odd >tty.out" /dev/null </dev/null >tty.screen 2>&1
  status=$?
  if [ $status -ne 0 ]; then
    fail "progress: exit status $status: $(cat tty.screen)"
  else
    cat sparse odd | cmp -s - tty.out || fail "progress: output differs from cat"
    grep -q "/ 64.0 MiB" tty.screen || fail "progress: no progress line on the terminal: $(cat tty.screen)"
    # Erased: the screen ends with a carriage return after blanks.
    tail -c 1 tty.screen | od -An -c | grep -q '\\r' || fail "progress: line not erased at the end"
  fi
  # Not on a pipe, even for a large input.
  "$VMPLACE" cat sparse 2>quiet.err | cmp -s - sparse || fail "large file through a pipe differs"
  [ -s quiet.err ] && fail "progress shown although stderr is not a terminal: $(cat quiet.err)"
  rm -f sparse
else
  echo "note: script(1) or truncate missing, the progress case is skipped"
fi

# A file truncated while it is written out: a clear message naming it and
# exit 1, never a signal. The output pipe holds at most 1 MiB, so with the
# reader paused cat is blocked well before the end of 16 MiB; the file is
# cut then, and the rest of the pipe drained. Into a file (copy_file_range
# or write from the view) the cut is made by a reader of the output as it
# grows. Both ways the system's copy meets pages past the new end.
if command -v truncate >/dev/null 2>&1; then
  random_file shrinking $((16 * 1024 * 1024))
  rm -f trunc.status
  ("$VMPLACE" cat p3 shrinking 2>trunc.err; echo $? >trunc.status) |
    { head -c 65536 >/dev/null; truncate -s $((2 * PAGE)) shrinking; cat >/dev/null; }
  status=$(cat trunc.status 2>/dev/null)
  [ "$status" = 1 ] || fail "truncated while read (pipe): exit status '$status', expected 1: $(cat trunc.err)"
  grep -q "shrinking: truncated while being read" trunc.err ||
    fail "truncated while read (pipe): unclear message: $(cat trunc.err)"
  # Into a file, cut while it runs: finishing first is allowed (a fast
  # machine), anything else must be exit 1 with the message.
  head -c $((128 * 1024 * 1024)) /dev/zero >zeros || exit 1
  rm -f trunc.status trunc.out
  # The cut waits for the first output, so it falls after the view is
  # open: cutting between cat's size check and its mapping is a different
  # case (refused as "shorter than when it was checked"), and a slow start
  # (a sanitizer build) made a fixed delay land there.
  ("$VMPLACE" cat p3 zeros >trunc.out 2>trunc.err; echo $? >trunc.status) &
  cat_pid=$!
  tries=0
  while [ ! -s trunc.out ] && [ ! -e trunc.status ] && [ $tries -lt 2000 ]; do
    sleep 0.005
    tries=$((tries + 1))
  done
  truncate -s "$PAGE" zeros
  wait $cat_pid
  status=$(cat trunc.status 2>/dev/null)
  if [ "$status" != 0 ]; then
    [ "$status" = 1 ] || fail "truncated while read (file): exit status '$status', expected 1"
    grep -q "zeros: truncated while being read" trunc.err ||
      fail "truncated while read (file): unclear message: $(cat trunc.err)"
    # The room allocated for the rest of the 128 MiB is given back.
    [ "$(allocated_kib trunc.out)" -le $(($(wc -c <trunc.out) / 1024 + 64)) ] ||
      fail "truncated while read (file): $(allocated_kib trunc.out) KiB allocated for $(wc -c <trunc.out) bytes"
  fi
  rm -f shrinking zeros trunc.out
fi

# --help is an answer: usage on stdout, status 0.
"$VMPLACE" cat --help >help.out 2>help.err || fail "cat --help: exit status $?"
grep -q "usage: vmplace cat" help.out || fail "cat --help: no usage on stdout"
# '-' is refused by name, not reported as a missing file.
"$VMPLACE" cat - >dash.out 2>dash.err && fail "cat -: exit status 0"
grep -q "standard input cannot be mapped" dash.err || fail "cat -: unclear message: $(cat dash.err)"
grep -q "No such file" dash.err && fail "cat -: says no such file"
[ -s dash.out ] && fail "cat -: wrote to stdout"
# A /proc file reports size 0 but has content: refused up front.
if [ -r /proc/self/status ]; then
  "$VMPLACE" cat /proc/self/status >proc.out 2>proc.err && fail "cat /proc/self/status: exit status 0"
  grep -q "size 0 but has content" proc.err || fail "cat /proc file: unclear message: $(cat proc.err)"
  [ -s proc.out ] && fail "cat /proc file: wrote to stdout"
fi

if [ $failures -ne 0 ]; then
  echo "$failures case(s) failed (files kept in $DIR)"
  exit 1
fi
cd .. && rm -rf "$DIR"
echo "vmplace cat: all cases passed"
