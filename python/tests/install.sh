#!/bin/sh
# `cmake --install` puts a package that the interpreter imports from the
# prefix, and it works from there (not from the build tree). Only the
# component "python" (what `make install` adds for it): the package needs
# nothing else installed.
# Usage: install.sh CMAKE BUILD_DIR PYTHON PACKAGE_DIR_UNDER_PREFIX
set -eu
cmake=$1 build=$2 python=$3 pkgdir=$4
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
"$cmake" --install "$build" --prefix "$prefix" --component python >/dev/null
cd /
PYTHONPATH="$prefix/$pkgdir" PYTHONDONTWRITEBYTECODE=1 "$python" -c '
import sys, vmplace
prefix = sys.argv[1]
assert vmplace.__file__.startswith(prefix + "/"), vmplace.__file__
assert vmplace._vmplace.__file__.startswith(prefix + "/"), vmplace._vmplace.__file__
with vmplace.Ring(1) as ring:
    ring.write(b"installed")
    assert ring.read() == b"installed"
print("installed package works:", vmplace.__file__)
' "$prefix"
test -f "$prefix/$pkgdir/vmplace/__init__.pyi"
test -f "$prefix/$pkgdir/vmplace/py.typed"
