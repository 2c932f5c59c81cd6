# Thin wrapper over meson: `make demo` and `make test` do all set-up on a
# fresh Debian 12 machine (as root): install missing Debian packages,
# configure, build, then run.

BUILD ?= build
PKGS := gcc make meson ninja-build pkg-config python3 libfdt-dev libcriterion-dev valgrind afl++ gnuplot-nox
# The Linux-guest tests: QEMU (the nested-KVM L1), busybox and cpio (the
# initramfs of tools/linux_guest.sh), iasl (acpica-tools: the ACPI tables
# are also checked by its disassembler); without recommends (no GUI, no ROMs).
# linux-source-6.1 and its build tools: tools/fuzz_kernel.sh builds the
# fuzzing kernel (KCOV, the planted bug) from it, once, into /var/cache/cowvm.
PKGS_LINUX := qemu-system-x86 busybox-static cpio acpica-tools linux-source-6.1 flex bison bc libelf-dev xz-utils

.PHONY: all deps build demo test test-tsan clean

all: build

deps:
	@missing=$$(for p in $(PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	missing_linux=$$(for p in $(PKGS_LINUX); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing$$missing_linux" ]; then \
		echo "installing Debian packages:" $$missing $$missing_linux; \
		if [ "$$(id -u)" != 0 ]; then echo "error: run as root to install packages" >&2; exit 1; fi; \
		apt-get update -qq || exit 1; \
		if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing || exit 1; fi; \
		if [ -n "$$missing_linux" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing_linux || exit 1; fi; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main demo: boot the guest-stub, print its greeting, touch 512 MiB of a
# 1 GiB guest; then warm a guest up, snapshot it to a file, run 200 clones of
# it (each answers a request) and show one clone's memory.
demo: build
	./$(BUILD)/vmm/cowvm run --workload hello
	./$(BUILD)/vmm/cowvm run --mem 1G --workload memtouch:mode=seq,op=write,mib=512 --reports
	./$(BUILD)/vmm/cowvm run --mem 256M --workload warm:mib=64 --snapshot-out $(BUILD)/warm.snap
	python3 tools/warm_request.py 0 1 2 3 4 5 6 7 > $(BUILD)/request.bin
	./$(BUILD)/vmm/cowvm clone --from $(BUILD)/warm.snap -n 200 --jobs 2 --input $(BUILD)/request.bin
	./$(BUILD)/vmm/cowvm stats --from $(BUILD)/warm.snap

# The whole test suite: unit tests, KVM integration tests (skipped visibly,
# with a count, where /dev/kvm is missing), the ThreadSanitizer build of
# the concurrency tests, the AddressSanitizer+UBSan build of the whole
# suite (build-asan), then the Linux-guest tests (cowvm boots Debian's
# kernel) inside QEMU with nested KVM (tools/qemu_test.sh; skipped visibly
# where nested KVM is impossible). Prints "N passed, N failed, N skipped"
# at the end.
test: build
	bash tools/run_tests.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-tsan build-asan build-fuzz
