#!/usr/bin/env bash
# run_tests.sh BUILD - run every test suite and print one closing line
# "N passed, N failed, N skipped" summed over all Criterion test cases.
# Exit status is non-zero if any test failed or any suite could not run.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
status=0
# Criterion prints each test (and each [SKIP] with its reason) at level 1;
# test_summary.py counts the skips from that.
export CRITERION_VERBOSITY_LEVEL=1

if [ ! -e /dev/kvm ]; then
	echo "NOTE: /dev/kvm is missing: the KVM integration tests will be SKIPPED (counted below)"
fi

meson test -C "$build" --print-errorlogs --no-rebuild --suite unit --suite integration || status=1

# The concurrency (stress) tests also run under ThreadSanitizer.
if grep -q "suite : \['stress'" tests/mmu/meson.build 2>/dev/null || grep -q "'stress'" tests/mmu/meson.build 2>/dev/null; then
	[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Dbuildtype=debugoptimized >/dev/null || status=1
	ninja -C build-tsan >/dev/null || status=1
	# gcc 12's tsan needs a non-randomized address space on some kernels.
	setarch "$(uname -m)" -R meson test -C build-tsan --print-errorlogs --no-rebuild --suite stress || status=1
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
# tools/asan-path/afl-fuzz: the fuzzing test's afl-fuzz gets AFL's own
# sanitizer options (it refuses ours: they keep symbols).
PATH="$here/tools/asan-path:$PATH" \
ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
LSAN_OPTIONS=suppressions="$here/tools/lsan.supp":print_suppressions=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$asan" --print-errorlogs --no-rebuild --suite unit --suite integration || status=1
logs="$logs $asan/meson-logs/testlog.json"

python3 tools/test_summary.py $logs || status=1
exit $status
