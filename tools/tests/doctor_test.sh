#!/bin/sh
# vmplace doctor: its judgement over assumed budgets (so every verdict is
# reached on any machine), and a real run that must report every field.
set -u
vmplace=$1
fails=0
check() { # expected-status pattern args...
  want=$1 pattern=$2
  shift 2
  out=$("$vmplace" doctor "$@" 2>&1)
  st=$?
  if [ "$st" -ne "$want" ]; then
    echo "FAIL: doctor $* exited $st, expected $want"; echo "$out"; fails=$((fails + 1))
  elif [ -n "$pattern" ] && ! printf '%s\n' "$out" | grep -q -e "$pattern"; then
    echo "FAIL: doctor $* does not say '$pattern'"; echo "$out"; fails=$((fails + 1))
  fi
}
healthy="--assume map_limit=1048576 --assume map_count=100 --assume as_limit=-1 --assume data_limit=-1 --assume memfd=1 --assume shm_size=1073741824 --assume shm_free=1073741824 --assume overcommit=0"
check 0 "nothing here would break" $healthy
check 1 "sysctl -w vm.max_map_count=" $healthy --assume map_limit=65530 --assume map_count=65000
check 1 "sysctl -w vm.max_map_count=" $healthy --assume map_limit=30000
check 0 "sysctl -w vm.max_map_count=" $healthy --assume map_limit=65530 --assume map_count=1000
check 1 "--shm-size" $healthy --assume memfd=0 --assume shm_size=67108864 --assume shm_free=1048576
check 0 "--shm-size=1g" $healthy --assume shm_size=67108864 --assume shm_free=67108864
check 1 "ulimit -v unlimited" $healthy --assume as_limit=1073741824
check 0 "commit only what is used" $healthy --assume overcommit=2
check 2 "usage" --assume no_such_field=1
check 2 "usage" --bogus
# The machine itself: any verdict, but every line is there.
out=$("$vmplace" doctor 2>&1)
st=$?
if [ "$st" -gt 1 ]; then echo "FAIL: doctor exited $st"; fails=$((fails + 1)); fi
for what in "mapping limit" RLIMIT_AS RLIMIT_DATA overcommit memfd_create /dev/shm "huge pages"; do
  printf '%s\n' "$out" | grep -q "$what" || { echo "FAIL: no '$what' line"; echo "$out"; fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] && echo "doctor: all checks passed"
exit "$fails"
