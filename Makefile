# Thin wrapper over CMake. `make` builds, `make demo` runs the demo,
# `make test` installs the test dependencies if missing and runs every test
# (plain, ASan+UBSan, TSan and the generic POSIX backend, each with the
# scenarios), `make bench` runs the benchmarks.

CMAKE ?= cmake
JOBS ?= 2
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all demo test test-plain test-asan test-tsan test-posix deps build-deps bench bench-deps install clean

all:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF $(CMAKE_FLAGS)
	$(CMAKE) --build $(BUILD) -j$(JOBS)

demo: build-deps
	$(MAKE) all
	./$(BUILD)/tools/vmplace demo

# Debian packages a build needs, and the tests on top; installed only when
# missing, so that `make demo` and `make test` work on a bare machine.
BUILD_PACKAGES = cmake gcc make pkg-config
# Debian's cargo (and rustc) only where no Rust toolchain is there already.
RUST_PACKAGES = $(if $(shell command -v cargo || ls $$HOME/.cargo/bin/cargo 2>/dev/null),,cargo)
TEST_PACKAGES = $(BUILD_PACKAGES) libcriterion-dev python3-dev python3-numpy $(RUST_PACKAGES) clang libclang-rt-14-dev

define install_missing
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

build-deps:
	$(call install_missing,$(BUILD_PACKAGES))

deps:
	$(call install_missing,$(TEST_PACKAGES))

define run_suite
	$(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) -DVMP_BUILD_BENCH=OFF $(3) $(CMAKE_FLAGS)
	$(CMAKE) --build $(1) -j$(JOBS)
	cd $(1) && ctest --output-on-failure -j$(JOBS)
endef

test: deps
	$(MAKE) test-plain test-asan test-tsan test-posix test-fuzz
	@st=0; why=$$(tools/wine-test check) || st=$$?; \
	if [ $$st -eq 77 ]; then echo "test-windows: skipped ($$why)"; exit 0; fi; \
	[ $$st -eq 0 ] || exit $$st; \
	skip=$$(mktemp); st=0; VMP_WINE_SKIP_FILE=$$skip tools/wine-test run || st=$$?; \
	if [ $$st -eq 77 ]; then echo "test-windows: skipped ($$(cat $$skip))"; st=0; fi; \
	rm -f $$skip; exit $$st

test-plain:
	$(call run_suite,build-test,RelWithDebInfo,-DVMP_BUILD_PYTHON=ON)

# The Python binding's tests alone, in the plain build (Debian's python3).
.PHONY: test-python
test-python: deps
	$(CMAKE) -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_PYTHON=ON $(CMAKE_FLAGS)
	$(CMAKE) --build build-test -j$(JOBS) --target vmplace_python
	cd build-test && ctest --output-on-failure -R '^python_'

test-asan:
	$(call run_suite,build-asan,Debug,-DVMP_SANITIZE="address;undefined" -DVMP_BUILD_PYTHON=ON)

test-tsan:
	$(call run_suite,build-tsan,RelWithDebInfo,-DVMP_SANITIZE=thread)

# The Rust binding alone (make test also runs it in the plain, ASan and
# POSIX suites).
.PHONY: test-rust
test-rust:
	$(CMAKE) -S . -B build-rust -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DVMP_BUILD_TOOLS=OFF -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	$(CMAKE) --build build-rust -j$(JOBS) --target vmplace_static
	@st=0; JOBS=$(JOBS) sh rust/run-tests.sh build-rust || st=$$?; [ $$st -eq 77 ] && st=0; exit $$st

# The generic POSIX backend, built and tested on this system too.
test-posix:
	$(call run_suite,build-posix,RelWithDebInfo,-DVMP_BACKEND=posix -DVMP_BUILD_PYTHON=ON)

# The libFuzzer targets of fuzz/ (clang, ASan+UBSan). `make fuzz` runs each
# for FUZZ_SECONDS and prints the totals over every run so far; `make
# test-fuzz` is the smoke run that `make test` makes (a crash fails it).
.PHONY: fuzz fuzz-build test-fuzz
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 40
FUZZ_SMOKE_SECONDS ?= 12
fuzz-build:
	$(CMAKE) -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DVMP_SANITIZE="address;undefined" -DVMP_BUILD_FUZZ=ON -DBUILD_TESTING=OFF \
	  -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_EXAMPLES=OFF -DVMP_BUILD_TOOLS=OFF $(CMAKE_FLAGS)
	$(CMAKE) --build $(FUZZ_BUILD) -j$(JOBS)

fuzz: deps fuzz-build
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test-fuzz: fuzz-build
	fuzz/run.sh --smoke $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

# The Windows backend, cross-built with MinGW-w64 and tested under Wine 10
# in a Debian 13 chroot (created once in /var/cache/vmplace; needs root).
.PHONY: test-windows
test-windows:
	tools/wine-test run

# mbuffer is the baseline of pipe_vs_mbuffer, g++ and libboost-dev that of
# ring_vs_boost_*; without them those lines are skipped.
BENCH_PACKAGES = mbuffer libboost-dev g++ python3-dev python3-numpy
bench-deps:
	@missing=""; \
	for p in $(BENCH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; } || \
	    echo "bench-deps: could not install$$missing (pipe_vs_mbuffer or ring_vs_boost_* will be skipped)"; \
	fi

bench: bench-deps
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DVMP_BUILD_BENCH=ON -DVMP_BUILD_PYTHON=ON $(CMAKE_FLAGS)
	$(CMAKE) --build build-bench -j$(JOBS) --target vmplace_bench vmplace_python
	./build-bench/bench/vmplace_bench $(BENCH_ARGS)
	PYTHONPATH=build-bench/python /usr/bin/python3 python/bench/bench.py $(BENCH_ARGS)
	JOBS=$(JOBS) sh rust/bench.sh build-bench $(BENCH_ARGS)

install: all
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf $(BUILD) build-test build-asan build-tsan build-posix build-bench build-rust rust/target $(FUZZ_BUILD)
