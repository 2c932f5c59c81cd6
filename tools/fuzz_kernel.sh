#!/usr/bin/env bash
# fuzz_kernel.sh - cowvm's fuzzing kernel (issue 15): a small KCOV kernel
# with a planted bug, built from Debian's linux-source-6.1, for
# `cowvm run --kernel` and tests/linux/test_linux_fuzz_kernel.c.
#
#   tools/fuzz_kernel.sh [--cache DIR] [--jobs N] OUTDIR
#
# Writes:
#   OUTDIR/bzImage       the kernel (64-bit, not relocatable: no KASLR)
#   OUTDIR/System.map    its symbols (KCOV PCs are these addresses)
#   OUTDIR/kernel.stamp  the cache key the two were built under
#
#  --cache DIR  where built kernels are kept (default /var/cache/cowvm,
#               shared with tools/linux_guest.sh): DIR/fuzz-kernel/KEY/ holds
#               bzImage, System.map, config and build.log; DIR/fuzz-kernel/
#               tree-VERSION/ the unpacked source tree with its objects
#  --jobs N     make -jN (default: the number of CPUs)
#
# KEY = SHA-256 of (the linux-source-6.1 package version, the config
# fragment tests/linux/fuzz-kernel/fuzz.config, the bug source
# tests/linux/fuzz-kernel/cowvm_bug.c, this script's recipe version). A
# kernel cached under KEY is reused: no build, a few seconds.
#
# Steps, each only when needed:
#  1. installs linux-source-6.1 and the build tools (gcc make flex bison bc
#     libelf-dev xz-utils) if missing (apt-get --no-install-recommends;
#     needs root then);
#  2. computes KEY; if DIR/fuzz-kernel/KEY/ holds a kernel, goes to step 7;
#  3. unpacks /usr/src/linux-source-6.1.tar.xz into the cache (13 s,
#     1.5 GB). The tree is KEPT after a build (1.6 GB with its objects),
#     one per package version (a new version's tree replaces the others):
#     a kernel whose bug source or fragment changed is then kbuild's
#     incremental rebuild of what changed. Measured here with 2 jobs on a
#     shared machine: cold build 7 min (unpack, configure, 404 s of make);
#     after a change to cowvm_bug.c 14 s; cached kernel 0.1 s;
#  4. adds the bug: cowvm_bug.c as kernel/cowvm_bug.c, built in with PROC_FS;
#  5. configures: `make tinyconfig`, the fragment merged over it
#     (scripts/kconfig/merge_config.sh), `make olddefconfig`; then checks
#     every line of the fragment in .config and fails naming each option
#     that did not stick (a dependency missing, a typo);
#  6. `make bzImage` (its output in the cache's build.log), and stores
#     bzImage, System.map and .config under KEY;
#  7. hard-links (or copies) bzImage and System.map into OUTDIR.
# Prints one line per step saying what it did. Exit status: 0 done, 2 bad
# arguments or a failed step (the reason on stderr).
set -u
set -o pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
frag="$here/tests/linux/fuzz-kernel/fuzz.config"
bug_src="$here/tests/linux/fuzz-kernel/cowvm_bug.c"
srcpkg=linux-source-6.1
tarball=/usr/src/linux-source-6.1.tar.xz
cache=/var/cache/cowvm
jobs=$(nproc 2>/dev/null || echo 1)
out=""
# Bump whenever the build steps below change what gets built.
recipe=1

usage() { sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() { echo "fuzz_kernel: error: $*" >&2; exit 2; }
log() { printf 'fuzz_kernel: %s\n' "$*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--cache) [ $# -ge 2 ] || die "--cache needs a folder"; cache=$2; shift ;;
	--jobs) [ $# -ge 2 ] || die "--jobs needs a number"; jobs=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) usage >&2; die "unknown option $1" ;;
	*) [ -z "$out" ] || die "one OUTDIR only (got '$out' and '$1')"; out=$1 ;;
	esac
	shift
done
[ -n "$out" ] || { usage >&2; die "OUTDIR missing"; }
case "$jobs" in ''|*[!0-9]*|0) die "--jobs wants a positive number, not '$jobs'" ;; esac
[ -f "$frag" ] || die "$frag is missing"
[ -f "$bug_src" ] || die "$bug_src is missing"
t_start=$SECONDS

# ---- 1. packages ------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=""
for p in $srcpkg gcc make flex bison bc libelf-dev xz-utils; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
	log "installing Debian packages:$missing"
	[ "$(id -u)" = 0 ] || die "run as root to install$missing (or install them first)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; } \
		|| die "apt-get install$missing failed"
else
	log "packages present ($srcpkg, gcc, make, flex, bison, bc, libelf-dev, xz-utils)"
fi
[ -f "$tarball" ] || die "$tarball is missing (is $srcpkg installed?)"
srcver=$(dpkg-query -W -f='${Version}' $srcpkg 2>/dev/null)
[ -n "$srcver" ] || die "cannot read the version of $srcpkg"
for b in sha256sum tar make gcc flock; do command -v "$b" >/dev/null || die "$b not found"; done

# ---- 2. the cache key ----------------------------------------------------------------
key=$(printf 'source=%s %s\nrecipe=%s\nfragment=%s\nbug=%s\n' "$srcpkg" "$srcver" "$recipe" \
	"$(sha256sum <"$frag" | cut -d' ' -f1)" "$(sha256sum <"$bug_src" | cut -d' ' -f1)" \
	| sha256sum | cut -c1-24)
mkdir -p "$cache/fuzz-kernel" 2>/dev/null && [ -w "$cache/fuzz-kernel" ] \
	|| die "cannot write the cache folder $cache/fuzz-kernel (run as root, or pass --cache DIR)"
cache=$(cd "$cache" && pwd)
kdir="$cache/fuzz-kernel/$key"
# One build at a time per cache.
exec 9>"$cache/fuzz-kernel/.lock" && flock 9 || die "cannot lock $cache/fuzz-kernel/.lock"

if [ -s "$kdir/bzImage" ] && [ -s "$kdir/System.map" ]; then
	log "kernel cached: $kdir (key $key: $srcpkg $srcver, recipe $recipe)"
else
	log "no kernel cached for key $key ($srcpkg $srcver, recipe $recipe): building"
	# ---- 3. the source tree (kept: see the header) -----------------------------------
	tree="$cache/fuzz-kernel/tree-$srcver"
	if [ ! -f "$tree/.cowvm-unpacked" ]; then
		t0=$SECONDS
		rm -rf "$tree" "$tree.tmp"
		mkdir -p "$tree.tmp" || die "cannot create $tree.tmp"
		tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1 \
			|| { rm -rf "$tree.tmp"; die "cannot unpack $tarball"; }
		[ -f "$tree.tmp/Makefile" ] && [ -f "$tree.tmp/scripts/kconfig/merge_config.sh" ] \
			|| { rm -rf "$tree.tmp"; die "$tarball does not hold a kernel tree"; }
		touch "$tree.tmp/.cowvm-unpacked"
		mv "$tree.tmp" "$tree" || die "cannot rename $tree.tmp"
		# Trees of older package versions: 1.6 GB each, never used again.
		for old in "$cache"/fuzz-kernel/tree-*; do
			[ "$old" = "$tree" ] || [ ! -d "$old" ] || { rm -rf "$old"; log "removed the outdated tree $old"; }
		done
		log "unpacked $tarball into $tree ($((SECONDS - t0)) s, $(du -sh "$tree" | cut -f1))"
	else
		log "source tree kept from an earlier build: $tree"
	fi

	# ---- 4. the planted bug ------------------------------------------------------------
	cmp -s "$bug_src" "$tree/kernel/cowvm_bug.c" || cp "$bug_src" "$tree/kernel/cowvm_bug.c" \
		|| die "cannot copy $bug_src into $tree/kernel"
	rule='obj-$(CONFIG_PROC_FS) += cowvm_bug.o'
	grep -qxF "$rule" "$tree/kernel/Makefile" || printf '\n# cowvm: the planted bug (tools/fuzz_kernel.sh)\n%s\n' "$rule" >>"$tree/kernel/Makefile" \
		|| die "cannot add cowvm_bug.o to $tree/kernel/Makefile"
	log "planted bug: kernel/cowvm_bug.c ($rule)"

	# ---- 5. configuration ------------------------------------------------------------
	blog="$tree/cowvm-build.log"
	: >"$blog"
	( cd "$tree" && make -s tinyconfig && ./scripts/kconfig/merge_config.sh -m -O . .config "$frag" \
		&& make -s olddefconfig ) >>"$blog" 2>&1 \
		|| { tail -20 "$blog" >&2; die "configuring the kernel failed (log: $blog)"; }
	# value SYM: SYM's value in .config, or "unset"
	value() { local v; v=$(grep -m1 "^$1=" "$tree/.config" | cut -d= -f2-); echo "${v:-unset}"; }
	bad=""
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF "$line" "$tree/.config" || bad="$bad ${line%%=*} (want ${line#*=}, got $(value "${line%%=*}"))" ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }; sym=${sym%% *}
			! grep -q "^$sym=" "$tree/.config" || bad="$bad $sym (want unset, got $(value "$sym"))" ;;
		esac
	done <"$frag"
	[ -z "$bad" ] || die "options of $frag not as asked in the final .config:$bad"
	nopts=$(grep -c -e '^CONFIG_' -e '^# CONFIG_.* is not set$' "$frag")
	log "configured: tinyconfig + $(basename "$frag") + olddefconfig; all $nopts options of the fragment hold"

	# ---- 6. build -----------------------------------------------------------------------
	t0=$SECONDS
	log "make -j$jobs bzImage (log: $blog)"
	( cd "$tree" && make -j"$jobs" bzImage ) >>"$blog" 2>&1 \
		|| { tail -30 "$blog" >&2; die "make bzImage failed (log: $blog)"; }
	grep -q ' T cowvm_bug_trigger$' "$tree/System.map" \
		|| grep -q ' t cowvm_bug_trigger$' "$tree/System.map" \
		|| die "the built kernel has no cowvm_bug_trigger (is PROC_FS on? $tree/System.map)"
	log "built in $((SECONDS - t0)) s: bzImage $(du -h "$tree/arch/x86/boot/bzImage" | cut -f1)"

	# ---- 6b. store under the key ---------------------------------------------------------
	rm -rf "$kdir.tmp"
	mkdir -p "$kdir.tmp" || die "cannot create $kdir.tmp"
	cp "$tree/arch/x86/boot/bzImage" "$tree/System.map" "$kdir.tmp/" && cp "$tree/.config" "$kdir.tmp/config" \
		&& cp "$blog" "$kdir.tmp/build.log" || die "cannot copy the kernel into $kdir.tmp"
	rm -rf "$kdir"
	mv "$kdir.tmp" "$kdir" || die "cannot rename $kdir.tmp"
	log "cached as $kdir"
fi
exec 9>&-

# ---- 7. OUTDIR --------------------------------------------------------------------------
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
for f in bzImage System.map; do
	if cmp -s "$kdir/$f" "$out/$f"; then continue; fi
	rm -f "$out/$f.tmp"
	{ ln "$kdir/$f" "$out/$f.tmp" 2>/dev/null || cp "$kdir/$f" "$out/$f.tmp"; } && mv -f "$out/$f.tmp" "$out/$f" \
		|| die "cannot write $out/$f"
done
printf '%s\n' "$key" >"$out/kernel.stamp" || die "cannot write $out/kernel.stamp"
log "$out/bzImage, System.map, kernel.stamp (key $key) ready in $((SECONDS - t_start)) s"
