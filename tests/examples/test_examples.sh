#!/bin/bash
# test_examples.sh BUILD_DIR SOURCE_DIR - the install proven from outside:
# `meson install --destdir` the build into a temporary folder, then build
# examples/ against it with nothing but pkg-config (PKG_CONFIG_PATH pointing
# into the install) and the build lines of examples/README.md, and run them:
# the guest function (examples/guest/primes.c, guest SDK) snapshotted by the
# host program (examples/host/serve.c, libcowvm: shared, then static), its
# clones answering requests with exact responses; the same snapshot served
# by the installed `cowvm clone --request --json`; the example of
# docs/guest-sdk.md, extracted from the page, built and run with the
# commands and outputs shown there. Reports TAP (one case per step, what
# tools/test_summary.py counts); without a usable /dev/kvm the steps that
# run guests are skipped, visibly.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/cowvm-examples-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
NSTEPS=9
n=0 cur=
echo "1..$NSTEPS"
# step DESC: the next case; pass: it passed; fail WHY: it failed (the rest
# are not run, so they count as failed too).
step() { n=$((n + 1)); cur=$*; }
pass() { echo "ok $n - $cur"; }
trap 'echo "not ok $n - $cur"; echo "# a command failed at line $LINENO"' ERR
fail() {
	echo "not ok $n - $cur"
	printf '%s\n' "$*" | sed 's/^/# /'
	exit 1
}

step "meson install --destdir $tmp"
meson install -C "$build" --destdir "$tmp" --no-rebuild --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp" -name cowvm.pc -print -quit)")
[ -f "$pcdir/cowguest.pc" ] || fail "cowguest.pc not installed beside cowvm.pc ($pcdir)"
export PKG_CONFIG_PATH=$pcdir
unset PKG_CONFIG_LIBDIR
# Nothing from the source or build tree: the include and library paths
# pkg-config gives must all lie in the install.
for f in $(pkg-config --cflags --libs cowguest cowvm); do
	case $f in
	-I*|-L*) p=$(realpath -m "${f:2}"); case $p in "$tmp"/*) ;; *) fail "pkg-config path outside the install: $f" ;; esac ;;
	esac
done
libdir=$(pkg-config --variable=libdir cowvm)
[ "$(pkg-config --modversion cowvm)" = "$(pkg-config --modversion cowguest)" ] || fail "versions differ"

# An ASan build's libcowvm.so needs its programs built with ASan too.
san=()
if grep -q 'libasan' <<<"$(readelf -d "$libdir/libcowvm.so")"; then
	san=(-fsanitize=address,undefined)
fi

pass
step "build the guest function with the guest SDK"
gcc -O2 -Wall -Wextra -Werror -o "$tmp/primes.elf" "$src/examples/guest/primes.c" $(pkg-config --cflags --libs cowguest)
pass
step "build the host program against libcowvm.so and libcowvm.a"
cc -O2 -Wall -Wextra -Werror "${san[@]}" -o "$tmp/serve" "$src/examples/host/serve.c" $(pkg-config --cflags --libs cowvm)
cc -O2 -Wall -Wextra -Werror "${san[@]}" -o "$tmp/serve-static" "$src/examples/host/serve.c" \
	$(pkg-config --cflags cowvm) "$libdir/libcowvm.a" $(pkg-config --static --libs-only-l cowvm | sed 's/-lcowvm//') -pthread
deps=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/serve")
grep -q "$libdir/libcowvm.so.0" <<<"$deps" || fail "serve does not use the installed libcowvm.so: $deps"
deps=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/serve-static")
grep -q libcowvm <<<"$deps" && fail "serve-static links libcowvm.so: $deps"

pass

if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	while [ "$n" -lt "$NSTEPS" ]; do
		n=$((n + 1))
		echo "ok $n # SKIP /dev/kvm is missing or not usable"
	done
	exit 0
fi
export LD_LIBRARY_PATH=$libdir

step "snapshot the warm guest"
out=$("$tmp/serve" snapshot "$tmp/primes.elf" "$tmp/primes.snap" limit=2000000)
want="snapshot of primes.elf saved to $tmp/primes.snap (64 MiB guest)
primes: 148933 primes up to 2000000, snapshot taken"
[ "$out" = "$want" ] || fail "serve snapshot printed:
$out
expected:
$want"

pass
requests='prime 1
prime 10
count 100
isprime 7919
\prime 100\ncount 2000000\nbogus 3\nisprime 2000001
prime 148933'
want='prime 1 = 2
prime 10 = 29
count 100 = 25
isprime 7919 = yes
prime 100 = 541
count 2000000 = 148933
? bogus 3
? isprime 2000001
prime 148933 = 1999993'
for prog in serve serve-static; do
	step "serve requests from clones ($prog)"
	out=$(printf '%s\n' "$requests" | "$tmp/$prog" requests "$tmp/primes.snap" 2>"$tmp/err") || \
		fail "$prog requests failed: $(cat "$tmp/err")"
	[ "$out" = "$want" ] || fail "$prog requests answered:
$out
expected:
$want"
	grep -q "^serve: 6 request(s) served by clones of primes.elf" "$tmp/err" || fail "$prog stderr: $(cat "$tmp/err")"
	pass
done

step "a bad argument and a guest that ends before its snapshot"
if "$tmp/serve" snapshot "$tmp/primes.elf" "$tmp/x.snap" limit=1 >"$tmp/out" 2>"$tmp/err"; then
	fail "limit=1 was accepted"
fi
grep -q "the guest ended before its snapshot: .*(status 3)" "$tmp/err" || fail "limit=1: $(cat "$tmp/err")"
grep -q "^primes: limit must be 2..100000000$" "$tmp/out" || fail "limit=1 console: $(cat "$tmp/out")"

pass
step "the example of docs/guest-sdk.md, as the page shows it"
awk '/^```c$/{f=1;next} /^```$/{if(f){exit}} f' "$src/docs/guest-sdk.md" > "$tmp/greet.c"
grep -q '^int main(void)$' "$tmp/greet.c" || fail "no C example found in docs/guest-sdk.md"
(cd "$tmp" && gcc -O2 -Wall -Werror -o greet.elf greet.c $(pkg-config --cflags --libs cowguest))
cowvm=$(find "$tmp" -path '*/bin/cowvm' -print -quit)
out=$(cd "$tmp" && "$cowvm" run --guest greet.elf --arg who=world)
[ "$out" = "greet.elf: 1 argument(s), 64 MiB of RAM" ] || fail "greet run: $out"
(cd "$tmp" && "$cowvm" run --guest greet.elf --arg who=world --snapshot-out greet.snap >/dev/null 2>&1) || fail "greet snapshot"
printf 'how are you?' > "$tmp/req.txt"
out=$(cd "$tmp" && "$cowvm" clone --from greet.snap -n 2 --request req.txt --reports)
out=$(sed -n 1,6p <<<"$out")
want='clone 1: exit 0
  report greet.bytes=12 (0xc)
  response "hello, world (clone 1): how are you?"
clone 2: exit 0
  report greet.bytes=12 (0xc)
  response "hello, world (clone 2): how are you?"'
[ "$out" = "$want" ] || fail "greet clone --reports:
$out"
out=$(cd "$tmp" && "$cowvm" clone --from greet.snap -n 1 --request req.txt --json - 2>/dev/null)
case $out in
'{"clone":1,"end":"exit","status":0,"reports":{"greet.bytes":12},"clone_us":'*',"response":"hello, world (clone 1): how are you?"}') ;;
*) fail "greet clone --json: $out" ;;
esac
out=$(cd "$tmp" && "$cowvm" stats --from greet.snap)
out=$(sed -n 1,2p <<<"$out")
[ "$out" = "snapshot greet.snap
  guest memory      64 MiB, 1 vCPU(s), workload greet.elf" ] || fail "greet stats: $out"

pass
step "the same snapshot through the installed cowvm"
printf 'prime 7\nisprime 9' > "$tmp/req"
out=$("$cowvm" clone --from "$tmp/primes.snap" -n 2 --jobs 1 --request "$tmp/req" --json - 2>"$tmp/err") || \
	fail "cowvm clone failed: $(cat "$tmp/err")"
for k in 1 2; do
	line=$(sed -n "${k}p" <<<"$out")
	case $line in
	"{\"clone\":$k,\"end\":\"exit\",\"status\":0,\"reports\":{\"primes.clone\":$k},\"clone_us\":"*",\"response\":\"prime 7 = 17\\nisprime 9 = no\\n\"}") ;;
	*) fail "cowvm clone --json line $k: $line" ;;
	esac
done
[ "$(wc -l <<<"$out")" = 2 ] || fail "cowvm clone --json printed more than 2 lines: $out"
out=$("$cowvm" stats --from "$tmp/primes.snap")
grep -q "workload primes.elf$" <<<"$out" || fail "stats does not name primes.elf: $out"
pass
