# SPDX-License-Identifier: GPL-2.0-or-later
#
# COLO-proxy for QEMU 10.0: build, test and export the patch series.
#
#   make            install build dependencies (as root, once), fetch the
#                   base QEMU source, assemble our tree onto it and build
#                   build/qemu-system-x86_64 and the tests
#   make check      build, then run every test; last line "N passed, N failed"
#   make demo       build, then run the COLO demonstration
#   make series     write the git-am-able patch series to build/series
#   make fuzz FUZZ_TARGET=packet [FUZZ_RUNS=N]   libFuzzer run (clang)
#   make bench      run the benchmarks
#   make clean      remove build/ (the download cache in ~/.cache stays)
#
# QEMU_SRC=/path/to/qemu-10.0 uses that checkout as the base instead of
# Debian's qemu source package.

SCRIPTS := scripts/colo
export QEMU_SRC

.PHONY: all build deps assemble check demo series fuzz bench clean

all: build

deps:
	@$(SCRIPTS)/deps.sh

assemble: deps
	@$(SCRIPTS)/assemble.sh

build: assemble
	@$(SCRIPTS)/build.sh

check: build
	@$(SCRIPTS)/run-tests.sh $(SUITES)

demo: build
	@$(SCRIPTS)/demo.sh

series: assemble
	@$(SCRIPTS)/series.sh $(SERIES_OUT)

fuzz: build
	@$(SCRIPTS)/fuzz.sh run $(FUZZ_TARGET) $(FUZZ_RUNS)

bench: build
	@$(SCRIPTS)/bench.sh

clean:
	rm -rf build
