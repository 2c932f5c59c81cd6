#!/usr/bin/env bash
# fuzz_native.sh [-s SECONDS] [-r REPEATS] [-z "0 16 256"] [-o DIR] [-n]
#
# The seed's fuzzing table against native AFL++ (docs/fuzzing.md): afl-fuzz
# for SECONDS (default 30) on each of
#   native-fork      guest-stub/fuzz_targets.c built with afl-cc (LLVM mode),
#                    deferred forkserver (__AFL_INIT after the warm-up), 4 KiB pages
#   native-fork-thp  the same binary, heap madvise(MADV_HUGEPAGE)
#   native-persist   the same code in persistent mode (__AFL_LOOP), 4 KiB pages
#   cowvm            cowvm fuzz-target (cow reset)
#   cowvm-old        cowvm fuzz-target, COWVM_FUZZ_OLD_PATH=1 (the per-input
#                    path before issue 13; -n leaves it out)
# at warm-state sizes 0 (the `parser` target) and N MiB (the `warm` target,
# --mib N: N MiB filled before the fork/snapshot, 2 MiB of it read per
# input), interleaved (every repeat runs every variant at every size, in an
# order rotated per repeat), REPEATS times (default 3). Prints the median
# execs/s per variant and size with cowvm's ratio to each, one JSON line per
# run, and writes DIR (default build/fuzz-native) /fuzz_native.{dat,gp,png}:
# execs/s against warm-state size. Seeds "FUZZ", no dictionary, -t 1000,
# AFL's default CPU binding. A benchmark: nothing is asserted.
# Needs afl++ (afl-fuzz, afl-cc with clang), /dev/kvm, gnuplot for the plot.
set -u
secs=30 reps=3 sizes="0 16 256" old=1
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/build/fuzz-native
while getopts "s:r:z:o:nh" o; do
	case $o in
	s) secs=$OPTARG ;;
	r) reps=$OPTARG ;;
	z) sizes=$OPTARG ;;
	o) out=$OPTARG ;;
	n) old=0 ;;
	*) sed -n '2,22p' "$0"; exit 2 ;;
	esac
done
bin=${COWVM_BIN:-$here/build/vmm/cowvm}
for t in afl-fuzz afl-cc; do
	command -v $t >/dev/null || { echo "fuzz_native: $t missing (apt-get install afl++)" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "fuzz_native: $bin not built (make build)" >&2; exit 2; }
mkdir -p "$out/bin"
work=$(mktemp -d /tmp/cowvm-fuzz-native-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The native targets: a copy of the guest's fuzz_targets.c (so that the
# native guest.h shim is the one its #include "guest.h" finds), afl-cc in
# LLVM mode (AFL_CC_COMPILER: Debian 12's afl-gcc-fast is broken).
cp "$here/guest-stub/fuzz_targets.c" "$work/fuzz_targets.c"
cflags=(-O2 -g -I"$here/bench/fuzz/native" -I"$here/abi" "$work/fuzz_targets.c" "$here/bench/fuzz/native/harness.c")
export AFL_CC_COMPILER=LLVM AFL_QUIET=1
afl-cc "${cflags[@]}" -o "$out/bin/native-fork" || { echo "fuzz_native: afl-cc failed" >&2; exit 1; }
afl-cc -DNATIVE_PERSISTENT "${cflags[@]}" -o "$out/bin/native-persist" || { echo "fuzz_native: afl-cc failed" >&2; exit 1; }
unset AFL_CC_COMPILER AFL_QUIET

variants=(native-fork native-fork-thp native-persist cowvm)
[ "$old" = 1 ] && variants+=(cowvm-old)
# The target command line of a variant at a size.
cmd_for() {
	local v=$1 mib=$2 t=parser args=()
	[ "$mib" -gt 0 ] && t=warm
	case $v in
	native-fork) echo "$out/bin/native-fork target=$t mib=$mib" ;;
	native-fork-thp) echo "$out/bin/native-fork target=$t mib=$mib huge=1" ;;
	native-persist) echo "$out/bin/native-persist target=$t mib=$mib" ;;
	cowvm | cowvm-old)
		[ "$mib" -gt 0 ] && args=(--mib "$mib")
		echo "$bin fuzz-target --target $t ${args[*]} @@" ;;
	esac
}

mkdir -p "$work/seeds"
printf 'FUZZ' > "$work/seeds/a"
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_CRASH_README=1
declare -A runs # "variant size" -> execs/s values
nv=${#variants[@]}
for ((r = 0; r < reps; r++)); do
	for mib in $sizes; do
		for ((k = 0; k < nv; k++)); do
			v=${variants[(k + r) % nv]}
			o=$work/out
			rm -rf "$o"
			env=()
			[ "$v" = cowvm-old ] && env=(COWVM_FUZZ_OLD_PATH=1)
			echo "fuzz_native: repeat $((r + 1))/$reps, ${mib} MiB, $v for ${secs}s ..." >&2
			# shellcheck disable=SC2046
			env "${env[@]}" timeout -k 10 $((secs + 180)) afl-fuzz -i "$work/seeds" -o "$o" -t 1000 -V "$secs" \
				-- $(cmd_for "$v" "$mib") > "$work/log" 2>&1
			# execs/s between the first and the last line of plot_data
			# (leaves out the start-up: the warm-up, AFL's calibration);
			# execs_done / run_time if there are fewer than two lines.
			eps=$(awk -F, '!/^#/ { n++; t = $1 + 0; e = $12 + 0; if (n == 1) { t0 = t; e0 = e } }
				END { if (n >= 2 && t > t0) printf "%.1f", (e - e0) / (t - t0) }' "$o/default/plot_data" 2>/dev/null)
			if [ -z "$eps" ] && [ -f "$o/default/fuzzer_stats" ]; then
				eps=$(awk -F: '/^execs_done/ { e = $2 } /^run_time/ { t = $2 } END { if (t > 0) printf "%.1f", e / t }' \
					"$o/default/fuzzer_stats")
			fi
			if [ -z "$eps" ]; then
				echo "fuzz_native: $v at $mib MiB produced no stats; log:" >&2
				tail -5 "$work/log" >&2
				eps=0
			fi
			runs["$v $mib"]+="$eps "
			printf '{"bench":"fuzz-native","variant":"%s","warm_mib":%s,"repeat":%d,"seconds":%s,"execs_per_sec":%s}\n' \
				"$v" "$mib" "$r" "$secs" "$eps"
		done
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[n++] = $1 } END { if (!n) print 0; else print (n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2) }'; }
printf '\nexecs/s, median of %d runs of %ss each (interleaved)\n' "$reps" "$secs"
printf '%-10s' "warm MiB"
for v in "${variants[@]}"; do printf ' %15s' "$v"; done
printf ' %13s %13s %13s' "cowvm/fork" "cowvm/thp" "cowvm/persist"
[ "$old" = 1 ] && printf ' %13s' "cowvm/old"
printf '\n'
dat=$out/fuzz_native.dat
{
	printf '# warm_mib'
	for v in "${variants[@]}"; do printf ' %s' "$v"; done
	printf '\n'
} > "$dat"
for mib in $sizes; do
	declare -A med=()
	for v in "${variants[@]}"; do med[$v]=$(echo "${runs["$v $mib"]}" | median); done
	printf '%-10s' "$mib"
	for v in "${variants[@]}"; do printf ' %15.0f' "${med[$v]}"; done
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }
	printf ' %13s %13s %13s' "$(ratio "${med[cowvm]}" "${med[native-fork]}")" \
		"$(ratio "${med[cowvm]}" "${med[native-fork-thp]}")" "$(ratio "${med[cowvm]}" "${med[native-persist]}")"
	[ "$old" = 1 ] && printf ' %13s' "$(ratio "${med[cowvm]}" "${med[cowvm-old]}")"
	printf '\n'
	{
		printf '%s' "$mib"
		for v in "${variants[@]}"; do printf ' %s' "${med[$v]}"; done
		printf '\n'
	} >> "$dat"
done

if command -v gnuplot >/dev/null; then
	gp=$out/fuzz_native.gp
	{
		echo "# made by bench/fuzz_native.sh; run: gnuplot $gp"
		echo "set terminal pngcairo size 900,560 font ',11'"
		echo "set output '$out/fuzz_native.png'"
		echo "set title 'afl-fuzz execs/s against the warm state (${secs} s runs, median of ${reps})'"
		echo "set xlabel 'warm state (MiB, filled before the fork / snapshot)'"
		echo "set ylabel 'execs/s (log scale)'"
		echo "set logscale y"
		echo "set grid"
		echo "set key outside right"
		printf "plot "
		col=2
		for v in "${variants[@]}"; do
			style="lw 2"
			[ "$v" = cowvm-old ] && style="lw 2 dt 2"
			printf "'%s' using 0:%d:xtic(1) with linespoints %s title '%s', " "$dat" "$col" "$style" "$v"
			col=$((col + 1))
		done | sed 's/, $//'
		echo
	} > "$gp"
	gnuplot "$gp" && echo "plot: $out/fuzz_native.png (data $dat)" >&2
fi
