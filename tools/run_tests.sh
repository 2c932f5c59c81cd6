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

python3 tools/test_summary.py $logs || status=1
exit $status
