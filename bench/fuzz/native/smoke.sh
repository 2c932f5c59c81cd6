#!/bin/sh
# smoke.sh HARNESS - the native build of guest-stub/fuzz_targets.c (built
# by meson with the plain compiler, one input from stdin) fails on the
# planted bugs the way cowvm reports them for the guest (docs/fuzzing.md):
# #DE -> SIGFPE, the write past the guard page -> SIGSEGV, the target's
# abort -> SIGABRT; an ordinary input and the warm target exit 0.
# Output: TAP (a plan, then one line per case), which tools/test_summary.py
# counts like the Criterion tests' results.
h=$1
fail=0
n=0
echo "1..8"
check() {
	want=$1 what=$2
	shift 2
	n=$((n + 1))
	printf "$what" | "$h" "$@" 2>/dev/null
	got=$?
	if [ "$got" != "$want" ]; then
		echo "not ok $n - '$what' ($*): exit $got, want $want"
		fail=1
	else
		echo "ok $n - '$what' ($*): exit $got"
	fi
}
check 0 'FUZZ' target=parser
check 136 'FUZZDIV0' target=parser            # 128 + SIGFPE
check 139 'FUZZWRITE!\377\017' target=parser  # 128 + SIGSEGV
check 0 'FUZZWRITE!\001\000' target=parser    # 16 bytes: in bounds
check 134 'FUZZASSERTION' target=parser       # 128 + SIGABRT
check 0 'FUZZ' target=warm mib=4
check 136 'FUZZDIV0' target=warm mib=4 huge=1
check 3 'FUZZ' target=nosuch
exit $fail
