# Thin wrapper over CMake. `make` builds, `make demo` runs the demo,
# `make check` runs the plain suite (quick), `make test` installs the test
# dependencies if missing and runs every suite (plain, ASan+UBSan, TSan, the
# generic POSIX backend as strict POSIX, a fuzz smoke run, Windows under
# Wine), each ending with one line per suite and a total; `make bench`
# runs the benchmarks.

CMAKE ?= cmake
JOBS ?= 2
BUILD ?= build
CMAKE_FLAGS ?=

# Scenario scripts from outside the repository, run as one more test of
# each suite (.ci/run sets it to ../shared/scenarios when that exists).
VMP_EXTRA_SCENARIOS ?=
# Package and test logs of the whole run (each suite logs in its build dir).
LOGS = build-logs
SUITE = JOBS=$(JOBS) tools/test-suite
# The suites of `make test`, each a target test-NAME. A new suite: add its
# name here and give its target `$(SUITE) cmake NAME DIR FLAGS...` (a ctest
# run) or `$(SUITE) command NAME LOG CMD...` (anything else).
TEST_SUITES = format plain asan tsan posix fuzz windows

.PHONY: all demo check test test-plain test-asan test-tsan test-posix test-windows deps build-deps bench bench-deps install clean

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
# The Windows suite cross-builds the Rust binding's tests on this host with
# Debian's cargo and rustc, whose Windows standard library is this package
# (rust/wine-tests.sh), linking with MinGW-w64.
WINDOWS_RUST_PACKAGES = cargo libstd-rust-dev-windows gcc-mingw-w64-x86-64
TEST_PACKAGES = $(BUILD_PACKAGES) libcriterion-dev python3-dev python3-pytest python3-numpy $(RUST_PACKAGES) clang libclang-rt-14-dev clang-format $(WINDOWS_RUST_PACKAGES)

define install_missing
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  mkdir -p $(LOGS); log=$(LOGS)/apt.log; \
	  echo "installing:$$missing (log: $$log)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; } >>$$log 2>&1 || \
	    { tail -n 100 $$log; echo "installing$$missing failed (log: $$log)"; exit 1; }; \
	fi
endef

build-deps:
	$(call install_missing,$(BUILD_PACKAGES))

deps:
	$(call install_missing,$(TEST_PACKAGES))

# Test builds turn warnings into errors and insist on Criterion (a suite
# that silently lost its Criterion programs would still pass).
TEST_CMAKE_FLAGS = -DVMP_WERROR=ON -DVMP_REQUIRE_CRITERION=ON -DVMP_BUILD_BENCH=OFF \
  -DVMP_EXTRA_SCENARIOS=$(if $(VMP_EXTRA_SCENARIOS),$(abspath $(VMP_EXTRA_SCENARIOS)))

# suite NAME, build dir, build type, extra CMake flags.
define run_suite
	@$(SUITE) cmake $(1) $(2) -DCMAKE_BUILD_TYPE=$(3) $(TEST_CMAKE_FLAGS) $(4) $(CMAKE_FLAGS)
endef

# The plain suite also compiles the benchmarks (and runs only
# vmplace_wake_bench --quick, as a smoke test), so that their warnings are
# errors too; the posix suite (and tools/wine-test's Windows suite)
# compile vmplace_wake_bench, the benchmark that builds there.
PLAIN_FLAGS = -DVMP_BUILD_BENCH=ON -DVMP_BUILD_PYTHON=ON

# The plain suite alone, without the bindings' tests (cargo and the Python
# build take most of its time; make test-rust and make test-python run
# them, make test runs everything): the quick check while working.
check: deps
	@VMP_CTEST_EXCLUDE='^(rust|python_)' $(SUITE) cmake plain build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  $(TEST_CMAKE_FLAGS) $(PLAIN_FLAGS) $(CMAKE_FLAGS)

# Every suite, even after one failed, then the summary (whose exit status
# says whether anything failed). A suite target that does not record its
# own result through tools/test-suite is recorded from its exit status.
test: deps
	@results=$(abspath $(LOGS))/test-results; export VMP_TEST_RESULTS=$$results; \
	$(SUITE) begin; \
	for s in $(TEST_SUITES); do \
	  st=0; $(MAKE) --no-print-directory test-$$s || st=$$?; \
	  $(SUITE) ensure $$s $$st; \
	done; \
	$(SUITE) summary

test-plain:
	$(call run_suite,plain,build-test,RelWithDebInfo,$(PLAIN_FLAGS))

# The Python binding's tests alone, in the plain build (Debian's python3).
.PHONY: test-python
test-python: deps
	$(CMAKE) -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_PYTHON=ON $(CMAKE_FLAGS)
	$(CMAKE) --build build-test -j$(JOBS) --target vmplace_python
	cd build-test && ctest --output-on-failure -R '^python_'

test-asan:
	$(call run_suite,asan,build-asan,Debug,-DVMP_SANITIZE="address;undefined" -DVMP_BUILD_PYTHON=ON)

test-tsan:
	$(call run_suite,tsan,build-tsan,RelWithDebInfo,-DVMP_SANITIZE=thread)

# The Rust binding alone (make test also runs it in the plain, ASan and
# POSIX suites).
.PHONY: test-rust
test-rust:
	$(CMAKE) -S . -B build-rust -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DVMP_BUILD_TOOLS=OFF -DVMP_BUILD_BENCH=OFF -DVMP_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	$(CMAKE) --build build-rust -j$(JOBS) --target vmplace_static
	@st=0; JOBS=$(JOBS) sh rust/run-tests.sh build-rust || st=$$?; [ $$st -eq 77 ] && st=0; exit $$st

# The generic POSIX backend, built as strict POSIX.1-2008 (no _GNU_SOURCE)
# and tested on this system too.
test-posix:
	$(call run_suite,posix,build-posix,RelWithDebInfo,-DVMP_BACKEND=posix -DVMP_BUILD_PYTHON=ON -DVMP_BUILD_BENCH=ON)

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

# The tree matches .clang-format (tools/format rewrites what does not).
.PHONY: test-format
test-format:
	@mkdir -p $(abspath build-logs)
	@$(SUITE) command format $(abspath build-logs)/format.log tools/format --check

# Its build and run output goes to $(FUZZ_BUILD)/logs/smoke.log.
test-fuzz:
	@$(SUITE) command fuzz $(abspath $(FUZZ_BUILD))/logs/smoke.log $(MAKE) --no-print-directory fuzz-smoke

.PHONY: fuzz-smoke
fuzz-smoke: fuzz-build
	fuzz/run.sh --smoke $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

# The Windows backend, cross-built with MinGW-w64 and tested under Wine 10
# in a Debian 13 chroot (created once in /var/cache/vmplace; needs root).
# Skipped, with the reason, on a machine that cannot run it.
test-windows:
	@VMP_EXTRA_SCENARIOS='$(if $(VMP_EXTRA_SCENARIOS),$(abspath $(VMP_EXTRA_SCENARIOS)))' $(SUITE) windows

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

# vmplace_wake_bench gives the wake-up latency lines of each backend: this
# build's (Linux), a generic POSIX build's, and the Windows build's under
# Wine where test-windows's chroot is there (a `# skipped` line otherwise).
bench: bench-deps
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DVMP_BUILD_BENCH=ON -DVMP_BUILD_PYTHON=ON $(CMAKE_FLAGS)
	$(CMAKE) --build build-bench -j$(JOBS) --target vmplace_bench vmplace_wake_bench vmplace_python
	./build-bench/bench/vmplace_bench $(BENCH_ARGS)
	./build-bench/bench/vmplace_wake_bench $(BENCH_ARGS)
	$(CMAKE) -S . -B build-bench-posix -DCMAKE_BUILD_TYPE=Release -DVMP_BACKEND=posix -DBUILD_TESTING=OFF \
	  -DVMP_BUILD_BENCH=ON -DVMP_BUILD_TOOLS=OFF -DVMP_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	$(CMAKE) --build build-bench-posix -j$(JOBS) --target vmplace_wake_bench
	./build-bench-posix/bench/vmplace_wake_bench $(BENCH_ARGS)
	VMP_WINE_JOBS=$(JOBS) tools/wine-test bench $(BENCH_ARGS)
	PYTHONPATH=build-bench/python /usr/bin/python3 python/bench/bench.py $(BENCH_ARGS)
	JOBS=$(JOBS) sh rust/bench.sh build-bench $(BENCH_ARGS)

install: all
	$(CMAKE) --install $(BUILD)

clean:
	rm -rf $(BUILD) build-test build-asan build-tsan build-posix build-bench build-rust rust/target \
	  $(FUZZ_BUILD) build-windows build-bench-posix build-windows-bench $(LOGS)
