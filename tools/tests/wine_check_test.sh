#!/bin/sh
# `tools/wine-test check` names the real reason when unshare fails, and what
# to do about the chroot case: an unshare that fails as it does inside a
# chroot is put first on PATH. Only meaningful as root (the check stops at
# "not root" before unshare otherwise): skipped (77) then.
set -u
WINE_TEST=$1
[ "$(id -u)" = 0 ] || { echo "not root: skipped"; exit 77; }
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat >"$fake/unshare" <<'EOS'
#!/bin/sh
echo "unshare: cannot change root filesystem propagation: Invalid argument" >&2
exit 1
EOS
chmod +x "$fake/unshare"
why=$(PATH="$fake:$PATH" "$WINE_TEST" check)
status=$?
fail=0
[ $status -eq 77 ] || { echo "FAIL: exit status $status, expected 77"; fail=1; }
case $why in
  *"cannot change root filesystem propagation: Invalid argument"*) ;;
  *) echo "FAIL: the real error is not shown: $why"; fail=1 ;;
esac
case $why in
  *"mount --bind / /"*) ;;
  *) echo "FAIL: no remedy given: $why"; fail=1 ;;
esac
[ $fail -eq 0 ] && echo "wine-test check: the real cause and the remedy are shown"
exit $fail
