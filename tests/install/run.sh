#!/bin/sh
# Installs the built tree into a scratch prefix, then builds and runs a
# consumer with find_package(vmplace) and with pkg-config.
set -eu
build_dir=$1
source_dir=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
# No LD_LIBRARY_PATH from here on: what the README tells a user of a
# custom prefix must be enough.
unset LD_LIBRARY_PATH
"$scratch/consumer/consumer_cmake"
"$scratch/consumer/consumer_cmake_static"
pcdir=$(dirname "$(find "$scratch/prefix" -name vmplace.pc | head -n 1)")
# The .pc file was written for the configured prefix: point it at the scratch one.
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$scratch/prefix" --cflags --libs vmplace)
libdir=$(PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$scratch/prefix" --variable=libdir vmplace)
cc -std=c11 "$source_dir/consumer.c" $flags -Wl,-rpath,"$libdir" -o "$scratch/consumer_pc"
"$scratch/consumer_pc"
# The installed tool finds the installed library through its own rpath.
"$scratch/prefix/bin/vmplace" --version >/dev/null
echo "install: find_package and pkg-config consumers ran"
