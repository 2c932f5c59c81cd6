#!/usr/bin/env bash
# fuzz_bench.sh [SECONDS] - afl-fuzz execs/sec against `cowvm fuzz-target`
# for each target (parser, warm, syscall) and each reset mode (cow, fresh,
# copy), side by side in one run, SECONDS (default 60) each. Prints a table
# with each mode's ratio to `fresh` (a new KVM VM per input), and one JSON
# line per measurement. A benchmark, not a test: nothing is asserted.
# Needs afl++ (apt-get install afl++) and /dev/kvm.
set -u
secs=${1:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${COWVM_BIN:-$here/build/vmm/cowvm}
command -v afl-fuzz >/dev/null || { echo "fuzz_bench: afl-fuzz missing (apt-get install afl++)" >&2; exit 2; }
[ -x "$bin" ] || { echo "fuzz_bench: $bin not built (make build)" >&2; exit 2; }
work=$(mktemp -d /tmp/cowvm-fuzz-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_NO_CRASH_README=1
declare -A eps
for target in parser warm syscall; do
	mkdir -p "$work/seeds-$target"
	case $target in
	syscall) printf '\x02\x05\x00' > "$work/seeds-$target/a"; dict=$here/guest-stub/fuzz/syscall.dict ;;
	*) printf 'FUZZ' > "$work/seeds-$target/a"; dict=$here/guest-stub/fuzz/parser.dict ;;
	esac
	for mode in cow fresh copy; do
		out=$work/out-$target-$mode
		echo "fuzz_bench: $target --reset-mode $mode for ${secs}s ..." >&2
		timeout -k 10 $((secs + 120)) afl-fuzz -i "$work/seeds-$target" -o "$out" -t 5000 -x "$dict" -V "$secs" \
			-- "$bin" fuzz-target --target "$target" --reset-mode "$mode" --timeout 4000 @@ \
			> "$work/log-$target-$mode" 2>&1
		st=$out/default/fuzzer_stats
		if [ -f "$st" ]; then
			execs=$(awk -F: '/^execs_done/ {gsub(/ /,"",$2); print $2}' "$st")
			rt=$(awk -F: '/^run_time/ {gsub(/ /,"",$2); print $2}' "$st")
			crashes=$(awk -F: '/^saved_crashes/ {gsub(/ /,"",$2); print $2}' "$st")
			[ "${rt:-0}" -gt 0 ] || rt=1
			eps[$target-$mode]=$(awk -v e="$execs" -v t="$rt" 'BEGIN {printf "%.1f", e / t}')
			printf '{"suite":"fuzz","target":"%s","reset_mode":"%s","seconds":%s,"execs":%s,"execs_per_sec":%s,"crashes":%s}\n' \
				"$target" "$mode" "$rt" "$execs" "${eps[$target-$mode]}" "${crashes:-0}"
		else
			eps[$target-$mode]=0
			echo "fuzz_bench: $target/$mode: afl-fuzz produced no stats; log:" >&2
			tail -5 "$work/log-$target-$mode" >&2
		fi
	done
done
printf '\n%-8s %12s %12s %12s %10s %10s\n' target cow/s fresh/s copy/s cow/fresh copy/fresh
for target in parser warm syscall; do
	c=${eps[$target-cow]} f=${eps[$target-fresh]} p=${eps[$target-copy]}
	awk -v t="$target" -v c="$c" -v f="$f" -v p="$p" 'BEGIN {
		printf "%-8s %12.1f %12.1f %12.1f %10s %10s\n", t, c, f, p,
		       (f > 0) ? sprintf("%.1fx", c / f) : "-", (f > 0) ? sprintf("%.2fx", p / f) : "-" }'
done
