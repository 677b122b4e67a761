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
LD_LIBRARY_PATH="$scratch/prefix/lib:${LD_LIBRARY_PATH:-}" "$scratch/consumer/consumer_cmake"
"$scratch/consumer/consumer_cmake_static"
pcdir=$(dirname "$(find "$scratch/prefix" -name vmplace.pc | head -n 1)")
# The .pc file was written for the configured prefix: point it at the scratch one.
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$scratch/prefix" --cflags --libs vmplace)
cc -std=c11 "$source_dir/consumer.c" $flags -o "$scratch/consumer_pc"
LD_LIBRARY_PATH="$scratch/prefix/lib:${LD_LIBRARY_PATH:-}" "$scratch/consumer_pc"
echo "install: find_package and pkg-config consumers ran"
