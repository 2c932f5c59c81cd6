#!/usr/bin/env bash
# run_tests.sh [--linux-only] BUILD - run every test suite and print one
# closing line "N passed, N failed, N skipped" summed over all Criterion
# test cases.
# Exit status is non-zero if any test failed or any suite could not run.
#
# Native runs (meson test) in BUILD, build-tsan and build-asan: suites unit,
# integration (and stress), never 'linux'. Then the Linux-guest suite
# ('linux': cowvm boots Debian's kernel) runs inside QEMU with nested KVM,
# because this machine's KVM cannot run a stock kernel: tools/linux_guest.sh
# writes the guest (BUILD/linux-guest/), tools/fuzz_kernel.sh the fuzzing
# kernel (BUILD/linux-fuzz/), tools/qemu_test.sh boots an L1 that runs the
# suite. Its counts join the closing line; if nested KVM is
# impossible here (qemu_test.sh exit 77) the Linux tests are counted as
# skipped, with a "SKIPPED n Linux-guest tests: <reason>" line.
#  --linux-only  only the Linux-guest part (guest files, QEMU run, summary)
# Environment: COWVM_LINUX_QEMU_ARGS - more tools/qemu_test.sh options,
# after ours (a later option wins), e.g. "--accel auto" on a host whose KVM
# can nest, or "--timeout 2400".
set -u
linux_only=0
if [ "${1:-}" = --linux-only ]; then linux_only=1; shift; fi
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
status=0
# The Debian kernel package is kept here between runs (and clean clones).
cache=/var/cache/cowvm
# Criterion prints each test (and each [SKIP] with its reason) at level 1;
# test_summary.py counts the skips from that.
export CRITERION_VERBOSITY_LEVEL=1

# linux_guest OUTDIR: the Linux guest's files for the tests of one build
# (OUTDIR = BUILD/linux-guest; the initramfs gets BUILD's guest agent).
linux_guest() {
	if ! bash tools/linux_guest.sh --cache "$cache" --agent "$(dirname "$1")/guest-agent/cowvm-agent" "$1"; then
		echo "run_tests: tools/linux_guest.sh $1 failed: the Linux-guest tests cannot pass"
		status=1
	fi
}

# fuzz_kernel OUTDIR: the fuzzing kernel (BUILD/linux-fuzz/bzImage, KCOV and
# the planted bug) for the linux-fuzz-kernel test; built once (~5 min with
# 2 jobs), then taken from the cache in seconds.
fuzz_kernel() {
	if ! bash tools/fuzz_kernel.sh --cache "$cache" "$1"; then
		echo "run_tests: tools/fuzz_kernel.sh $1 failed: the Linux fuzzing-kernel tests cannot pass"
		status=1
	fi
}

# The Linux-guest suite inside QEMU (nested KVM). Writes BUILD/meson-logs/
# qemu-linux.log and qemu-linux.rc for test_summary.py.
linux_in_qemu() {
	local log="$build/meson-logs/qemu-linux.log" rc
	mkdir -p "$build/meson-logs"
	echo "run_tests: the Linux-guest tests (suite linux) in QEMU with nested KVM: tools/qemu_test.sh"
	# L1: one CPU under TCG (docs/nested-qemu.md), 1 GiB (each L2 has 256 MiB);
	# a test boots one L2 kernel (17-30 s); the whole QEMU run is bounded.
	# linux-fuzz (kernel fuzzing: 5 kernel boots, 90 s of afl-fuzz) is the
	# longest test binary, about 4 minutes.
	# shellcheck disable=SC2086
	timeout --kill-after=60 3300 bash tools/qemu_test.sh --accel tcg --build "$build" --suite linux \
		--cache "$cache" --mem 1024 --timeout 3000 --test-timeout 2400 --no-probe \
		${COWVM_LINUX_QEMU_ARGS:-} 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	echo "$rc" >"$build/meson-logs/qemu-linux.rc"
	# 77: nested KVM impossible here: a visible skip, not a failure.
	case "$rc" in 0|77) ;; *) status=1 ;; esac
	linux_logs="--qemu-log $log"
}

linux_logs=""
if [ "$linux_only" = 1 ]; then
	linux_guest "$build/linux-guest"
	fuzz_kernel "$build/linux-fuzz"
	linux_in_qemu
	python3 tools/test_summary.py $linux_logs || status=1
	exit $status
fi

if [ ! -e /dev/kvm ]; then
	echo "NOTE: /dev/kvm is missing: the KVM integration tests will be SKIPPED (counted below)"
fi

# The native Linux CLI tests (suite linux-native) cut their bad kernels from
# the real one.
linux_guest "$build/linux-guest"
meson test -C "$build" --print-errorlogs --no-rebuild --suite unit --suite integration --no-suite linux || status=1

# The concurrency (stress) tests also run under ThreadSanitizer.
if grep -q "suite : \['stress'" tests/mmu/meson.build 2>/dev/null || grep -q "'stress'" tests/mmu/meson.build 2>/dev/null; then
	[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Dbuildtype=debugoptimized >/dev/null || status=1
	ninja -C build-tsan >/dev/null || status=1
	# gcc 12's tsan needs a non-randomized address space on some kernels.
	setarch "$(uname -m)" -R meson test -C build-tsan --print-errorlogs --no-rebuild --suite stress --no-suite linux || status=1
	logs="$build/meson-logs/testlog.json build-tsan/meson-logs/testlog.json"
else
	logs="$build/meson-logs/testlog.json"
fi

# The whole suite again (unit + integration, KVM tests included) in an
# AddressSanitizer + UndefinedBehaviorSanitizer build. UBSan halts on the
# first error (-fno-sanitize-recover=all and halt_on_error=1); LeakSanitizer
# checks every test process at exit, Criterion's workers included (a worker's
# leak report does not change its exit status, so test_summary.py fails any
# test whose output holds a sanitizer report). Slow unwinding on malloc gives
# full allocation stacks, which tools/lsan.supp needs to recognise the one
# leak of Criterion's own runner. The guest-stub and the test guests are
# custom targets built with their own flags: no sanitizer reaches them.
asan=build-asan
if [ ! -f "$asan/build.ninja" ]; then
	meson setup "$asan" -Db_sanitize=address,undefined -Dbuildtype=debugoptimized \
		-Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all >/dev/null || status=1
fi
if ! ninja -C "$asan" > "$asan/meson-logs/ninja.log" 2>&1; then
	tail -30 "$asan/meson-logs/ninja.log"
	echo "run_tests: the ASan build failed (full log: $asan/meson-logs/ninja.log)"
	status=1
fi
linux_guest "$asan/linux-guest"
# tools/asan-path/afl-fuzz: the fuzzing test's afl-fuzz gets AFL's own
# sanitizer options (it refuses ours: they keep symbols).
PATH="$here/tools/asan-path:$PATH" \
ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
LSAN_OPTIONS=suppressions="$here/tools/lsan.supp":print_suppressions=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$asan" --print-errorlogs --no-rebuild --suite unit --suite integration --no-suite linux || status=1
logs="$logs $asan/meson-logs/testlog.json"

fuzz_kernel "$build/linux-fuzz"
linux_in_qemu

python3 tools/test_summary.py $logs $linux_logs || status=1
exit $status
