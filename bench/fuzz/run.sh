#!/usr/bin/env bash
# bench/fuzz/run.sh [-t SECONDS] [-j JOBS] [HARNESS...] - fuzz our own parsers
# with libFuzzer (clang -fsanitize=fuzzer,address,undefined), each for a
# bounded time. Not part of `make test` / CI: the regression tests
# (tests/security, suite unit) replay the stored inputs on every test run.
#
# Harnesses (tests/security/fuzz_*.c, default: all six):
#   snapshot_file  snapshot_load()            vmm/snapshot/snapshot_file.c
#   elf_loader     elf_load()                 vmm/boot/elf_loader.c
#   fdt            the guest's FDT reader     guest-stub/fdt.c (host build)
#   hypercall      vm_handle_mmio/io()        vmm/devices/devices.c
#   linux_kernel   the bzImage header parser, placement plan and zero page
#                                             vmm/boot/linux_boot.c
#   sysprog        system-call programs       guest-agent/sysprog*.c,
#                  (parse, run, print, compile) tools/sysprog/*.c
#
# Everything goes to build-fuzz/: objects, the fuzzers, a working corpus per
# harness (started from tests/security/corpus/NAME and kept between runs),
# crashes (build-fuzz/crashes/NAME/) and one log per harness. At the end a
# table: seconds, executions, corpus size, coverage, crashes.
#
# To keep a finding as a regression input: fix the bug, then
#   cp build-fuzz/crashes/NAME/crash-* tests/security/corpus/NAME/
# and to refresh the stored corpus with a minimized one (-m):
#   bench/fuzz/run.sh -t 0 -m NAME   (merges build-fuzz/corpus/NAME into
#                                     tests/security/corpus/NAME)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"

secs=300
jobs=1
merge=0
while getopts "t:j:mh" o; do
	case $o in
	t) secs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	m) merge=1 ;;
	*) sed -n '2,25p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
harnesses=${*:-snapshot_file elf_loader fdt hypercall linux_kernel sysprog}

# Fuzzing-only packages: clang and its runtime (libFuzzer); libfdt for the
# VMM code. Installed here, not by the Makefile: tests do not need them.
need=""
for p in clang libclang-rt-dev libfdt-dev; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
	echo "installing:$need"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
fuzzer_lib=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null || true)
if [ ! -f "$fuzzer_lib" ] && ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	echo "error: libFuzzer (libclang_rt.fuzzer-x86_64.a) not found; apt-get install libclang-rt-dev" >&2
	exit 1
fi

out=build-fuzz
mkdir -p "$out/obj" "$out/bin"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wno-unused-parameter -Wno-gnu-variable-sized-type-not-at-end -Wno-unused-function -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link
        -Iabi -Immu -Ivmm $(for d in vmm/*/; do printf -- '-I%s ' "${d%/}"; done)"

# The library code, instrumented, as an archive (only what a harness uses is
# linked). No guest is booted: the embedded guest image is an empty stub.
echo "== building the fuzzers (clang, libFuzzer + ASan + UBSan) in $out/"
printf '#include <stddef.h>\nconst unsigned char guest_stub_elf[1];\nconst size_t guest_stub_elf_len = 0;\n' \
	> "$out/obj/guest_blob_stub.c"
objs=()
for src in mmu/*.c vmm/*/*.c "$out/obj/guest_blob_stub.c"; do
	case $src in vmm/cli/* | vmm/api/*) continue ;; esac
	o="$out/obj/$(basename "$src" .c).o"
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find mmu vmm abi -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
		clang $CFLAGS -c "$src" -o "$o"
	fi
	objs+=("$o")
done
rm -f "$out/obj/libcowvm-fuzz.a"
ar rcs "$out/obj/libcowvm-fuzz.a" "${objs[@]}"
FDT_RENAME="-Dfdt_open=guest_fdt_open -Dfdt_prop=guest_fdt_prop -Dfdt_string=guest_fdt_string -Dfdt_u64_pair=guest_fdt_u64_pair"
for h in $harnesses; do
	extra=()
	[ "$h" = fdt ] && extra=($FDT_RENAME -Iguest-stub guest-stub/fdt.c)
	[ "$h" = sysprog ] && extra=(-Iguest-agent -Itools/sysprog guest-agent/sysprog.c guest-agent/sysprog_exec.c
		tools/sysprog/sysprog_names.c tools/sysprog/sysprog_compile.c tools/sysprog/sysprog_print.c)
	# shellcheck disable=SC2086
	clang $CFLAGS -fsanitize=fuzzer "${extra[@]}" "tests/security/fuzz_$h.c" "$out/obj/libcowvm-fuzz.a" \
		-lfdt -lpthread -o "$out/bin/fuzz-$h"
done

# Per-harness libFuzzer options: inputs must be able to hold what the
# harness needs (a snapshot file with a vCPU record is > 8 KiB).
opts_for() {
	case $1 in
	snapshot_file) echo "-max_len=131072 -rss_limit_mb=4096 -timeout=30" ;;
	elf_loader) echo "-max_len=65536 -timeout=10" ;;
	fdt) echo "-max_len=16384 -timeout=10" ;;
	hypercall) echo "-max_len=16384 -timeout=10" ;;
	linux_kernel) echo "-max_len=65536 -timeout=10" ;;
	sysprog) echo "-max_len=70000 -timeout=10 -dict=$here/tests/linux/fuzz-seeds/sysprog.dict" ;;
	esac
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
summary="$out/summary.txt"
: > "$summary"
for h in $harnesses; do
	corpus="$out/corpus/$h"
	crashes="$out/crashes/$h"
	mkdir -p "$corpus" "$crashes"
	if [ "$merge" = 1 ]; then
		echo "== $h: merging $corpus into tests/security/corpus/$h (minimized)"
		mkdir -p "$out/merge-$h"
		# shellcheck disable=SC2046
		"$out/bin/fuzz-$h" -merge=1 $(opts_for "$h") "$out/merge-$h" "tests/security/corpus/$h" "$corpus" \
			> "$out/merge-$h.log" 2>&1
		# libFuzzer names merged files by their SHA-1: add those not stored yet.
		have=$(sha1sum "tests/security/corpus/$h"/* | awk '{print $1}')
		for f in "$out/merge-$h"/*; do
			sum=$(basename "$f")
			grep -qx "$sum" <<< "$have" || cp "$f" "tests/security/corpus/$h/cov-${sum:0:16}"
		done
		rm -rf "$out/merge-$h"
		continue
	fi
	[ "$secs" -gt 0 ] || continue
	echo "== $h: fuzzing for ${secs}s (corpus $corpus, crashes $crashes/)"
	log="$out/fuzz-$h.log"
	start=$(date +%s)
	set +e
	# shellcheck disable=SC2046
	par=()
	# -jobs: that many fuzzing processes, each logging to fuzz-N.log in the
	# current directory (run from $out so they land there).
	[ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
	(cd "$out" && exec "bin/fuzz-$h" $(opts_for "$h") -max_total_time="$secs" -print_final_stats=1 \
		"${par[@]}" -artifact_prefix="crashes/$h/" "corpus/$h" "../tests/security/corpus/$h") > "$log" 2>&1
	rc=$?
	set -e
	if [ "$jobs" -gt 1 ]; then
		cat "$out"/fuzz-[0-9]*.log >> "$log" 2>/dev/null || true
		rm -f "$out"/fuzz-[0-9]*.log
	fi
	took=$(( $(date +%s) - start ))
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
	cov=$(grep -oE '#[0-9]+.*cov: [0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
	ncrash=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	printf '%-14s %6ss %12s execs %6s corpus %6s cov %3s crashes (exit %s)\n' "$h" "$took" "$execs" \
		"$(find "$corpus" -type f | wc -l)" "${cov:-?}" "$ncrash" "$rc" | tee -a "$summary"
	if [ "$rc" -ne 0 ]; then
		echo "   $h stopped on a finding: see $log and $crashes/"
		grep -m3 -E 'ERROR:|runtime error|fuzz property violated' "$log" | sed 's/^/   /' || true
	fi
done
[ -s "$summary" ] && { echo "== summary ($summary)"; cat "$summary"; }
exit 0
