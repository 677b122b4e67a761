# Sourced by run-tests.sh and bench.sh: sets $cargo to the cargo to use
# (the PATH's, else rustup's in ~/.cargo/bin, whose directory then goes on
# the PATH for its rustc), or to "" when there is none.
cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
  PATH="${HOME:-/root}/.cargo/bin:$PATH"; export PATH
  cargo=$(command -v cargo)
fi
