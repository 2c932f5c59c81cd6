#!/usr/bin/env bash
# linux_guest.sh - the Linux test guest of cowvm: Debian's kernel and a
# busybox initramfs, for `cowvm run --kernel` and tests/linux/.
#
#   tools/linux_guest.sh [--cache DIR] [--agent PATH] OUTDIR
#
# Writes:
#   OUTDIR/vmlinuz            the bzImage of the Debian kernel package that
#                             linux-image-amd64 depends on
#   OUTDIR/initramfs.cpio.gz  /init = tests/linux/init.sh, /bin/busybox from
#                             Debian's busybox-static with its applet links,
#                             /bin/cowvm-agent (with --agent), /dev/console
#                             (newc cpio, gzip)
#   OUTDIR/initramfs.stamp    what the initramfs was built from
#
#  --cache DIR  where the kernel .deb and its unpacked vmlinuz are kept
#               (default /var/cache/cowvm, shared with tools/qemu_test.sh,
#               so the 70 MB package is fetched once and survives clean
#               clones and `make clean`)
#  --agent PATH the guest agent (BUILD/guest-agent/cowvm-agent, a static
#               executable) to put into the initramfs as /bin/cowvm-agent;
#               without it the initramfs has no agent
#
# Steps, each only when needed:
#  1. installs busybox-static and cpio if missing (apt-get
#     --no-install-recommends; needs root then);
#  2. resolves linux-image-amd64 to its kernel package (apt-cache depends)
#     and fetches it into the cache with `apt-get download` unless a .deb of
#     that package is there. The kernel is NOT installed on the host: only
#     boot/vmlinuz-VERSION is taken out of the .deb's data (dpkg-deb);
#  3. copies vmlinuz to OUTDIR unless the same bytes are there;
#  4. rebuilds the initramfs only when init.sh, busybox or the agent changed
#     (their SHA-256 are in OUTDIR/initramfs.stamp).
# Prints one line per step saying what it did. Exit status: 0 done, 2 bad
# arguments or a failed step (the reason on stderr).
set -u
set -o pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
init_src="$here/tests/linux/init.sh"
cache=/var/cache/cowvm
out=""
agent=""
# Bump when the archive's layout changes, so old initramfs are rebuilt.
layout=1

usage() { sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() { echo "linux_guest: error: $*" >&2; exit 2; }
log() { printf 'linux_guest: %s\n' "$*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--cache) [ $# -ge 2 ] || die "--cache needs a folder"; cache=$2; shift ;;
	--agent) [ $# -ge 2 ] || die "--agent needs a file"; agent=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) usage >&2; die "unknown option $1" ;;
	*) [ -z "$out" ] || die "one OUTDIR only (got '$out' and '$1')"; out=$1 ;;
	esac
	shift
done
[ -n "$out" ] || { usage >&2; die "OUTDIR missing"; }
[ -f "$init_src" ] || die "$init_src is missing"
if [ -n "$agent" ]; then
	[ -f "$agent" ] || die "the agent $agent is missing (build it first: ninja -C BUILD)"
	[ "$(LC_ALL=C od -An -c -N4 "$agent" 2>/dev/null | tr -d ' ')" = 177ELF ] \
		|| die "the agent $agent is not an ELF executable"
	# The initramfs has no libc: the agent must be static.
	if LC_ALL=C ldd "$agent" 2>&1 | grep -q '=>'; then
		die "the agent $agent is dynamically linked (it must be static)"
	fi
fi

# ---- 1. packages ------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=""
for p in busybox-static cpio; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
	log "installing Debian packages:$missing"
	[ "$(id -u)" = 0 ] || die "run as root to install$missing (or install them first)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } \
		|| die "apt-get install$missing failed"
fi
busybox=/bin/busybox
# busybox-static installs /bin/busybox; the dynamic `busybox` package would
# put one there too, which cannot run in the initramfs (no libc there).
file_type=$(LC_ALL=C od -An -c -N4 "$busybox" 2>/dev/null | tr -d ' ')
[ "$file_type" = 177ELF ] || die "$busybox is not an ELF executable (is busybox-static installed?)"
if LC_ALL=C ldd "$busybox" 2>&1 | grep -q '=>'; then
	die "$busybox is dynamically linked: install busybox-static (it replaces busybox)"
fi
for b in cpio gzip apt-get apt-cache dpkg-deb tar sha256sum; do
	command -v "$b" >/dev/null || die "$b not found"
done

# ---- 2. the kernel package (downloaded, never installed) --------------------------
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] \
	|| die "cannot write the cache folder $cache (run as root, or pass --cache DIR)"
cache=$(cd "$cache" && pwd)
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
kpkg=$(resolve)
if [ -z "$kpkg" ]; then
	log "linux-image-amd64 unknown to apt: apt-get update"
	apt-get update -qq >/dev/null 2>&1
	kpkg=$(resolve)
fi
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (apt-get update? sources.list?)"
kver=${kpkg#linux-image-}
# One download at a time per cache (tools/qemu_test.sh takes the same lock).
exec 9>"$cache/.lock" && flock 9 || die "cannot lock $cache/.lock"
deb=$(ls "$cache"/"${kpkg}"_*.deb 2>/dev/null | head -n1)
if [ -z "$deb" ]; then
	t0=$SECONDS
	log "downloading $kpkg into $cache (apt-get download)"
	(cd "$cache" && apt-get download -q "$kpkg" 2>&1 | grep -v -e 'unsandboxed' -e '^Get:' -e '^Fetched' >&2)
	deb=$(ls "$cache"/"${kpkg}"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "apt-get download $kpkg failed"
	log "downloaded $(basename "$deb") ($(du -h "$deb" | cut -f1), $((SECONDS - t0)) s)"
	# Kernel packages that linux-image-amd64 no longer names: 70 MB each.
	for old in "$cache"/linux-image-*_*.deb; do
		[ "$old" = "$deb" ] || [ ! -f "$old" ] || { rm -f "$old" "$old.vmlinuz"; log "removed the outdated $(basename "$old")"; }
	done
else
	log "kernel package cached: $deb"
fi
# The unpacked bzImage is cached beside its .deb (one tar pass, ~2 s).
kcached="$deb.vmlinuz"
if [ ! -s "$kcached" ]; then
	member="./boot/vmlinuz-$kver"
	dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -xO --occurrence=1 "$member" >"$kcached.tmp" 2>/dev/null
	if [ ! -s "$kcached.tmp" ]; then
		rm -f "$kcached.tmp"
		die "no $member in $deb (a damaged download? delete it and re-run)"
	fi
	mv "$kcached.tmp" "$kcached"
	log "unpacked $member from the package"
fi
exec 9>&-

# ---- 3. OUTDIR/vmlinuz ----------------------------------------------------------------
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
if cmp -s "$kcached" "$out/vmlinuz"; then
	log "$out/vmlinuz up to date ($kpkg)"
else
	cp "$kcached" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz" || die "cannot write $out/vmlinuz"
	log "$out/vmlinuz: $kpkg ($(du -h "$out/vmlinuz" | cut -f1))"
fi

# ---- 4. OUTDIR/initramfs.cpio.gz --------------------------------------------------
agent_sum=none
[ -z "$agent" ] || agent_sum=$(sha256sum <"$agent" | cut -d' ' -f1)
stamp="layout=$layout init=$(sha256sum <"$init_src" | cut -d' ' -f1) busybox=$(sha256sum <"$busybox" | cut -d' ' -f1) agent=$agent_sum"
initrd="$out/initramfs.cpio.gz"
if [ -s "$initrd" ] && [ "$(cat "$out/initramfs.stamp" 2>/dev/null)" = "$stamp" ]; then
	log "$initrd up to date (init.sh, busybox and the agent unchanged)"
	exit 0
fi
stage=$(mktemp -d "$out/stage.XXXXXX") || die "mktemp in $out failed"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root}
cp "$busybox" "$root/bin/busybox" || die "cannot copy $busybox"
# Applet links as busybox lists them (bin/sh, sbin/poweroff, usr/bin/setsid...).
for a in $("$busybox" --list-full); do
	[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
[ -e "$root/bin/sh" ] || ln -s busybox "$root/bin/sh"
install -m 0755 "$init_src" "$root/init" || die "cannot copy $init_src"
if [ -n "$agent" ]; then
	install -m 0755 "$agent" "$root/bin/cowvm-agent" || die "cannot copy $agent"
fi
# The kernel opens /dev/console for PID 1 before /init runs. mknod needs
# root; without it init.sh reopens the console on devtmpfs.
mknod -m 0600 "$root/dev/console" c 5 1 2>/dev/null || log "warning: no /dev/console in the archive (mknod needs root); init.sh reopens it"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible -R 0:0) \
	| gzip -9 -n >"$stage/initramfs.cpio.gz" || die "cpio | gzip failed"
mv "$stage/initramfs.cpio.gz" "$initrd" || die "cannot write $initrd"
printf '%s\n' "$stamp" >"$out/initramfs.stamp"
log "$initrd built ($(du -h "$initrd" | cut -f1); init: tests/linux/init.sh, busybox $("$busybox" 2>&1 | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p'), agent: ${agent:-none})"
