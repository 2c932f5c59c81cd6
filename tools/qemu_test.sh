#!/usr/bin/env bash
# qemu_test.sh - run cowvm's KVM integration tests inside a QEMU guest
# (nested KVM), for machines where /dev/kvm is missing or not to be used.
#
# `make test` (tools/run_tests.sh) runs it for the Linux-guest suite
# (--suite linux); for the other suites it is manual / CI-optional.
# See docs/nested-qemu.md.
#
#   tools/qemu_test.sh [--accel auto|kvm|tcg] [--build DIR] [--suite S]...
#                      [--test NAME]... [--exclude NAME]... [--probe-only]
#                      [--no-probe]
#                      [--timeout SECS] [--boot-timeout SECS] [--test-timeout SECS]
#                      [--heartbeat SECS] [--mem MIB] [--smp N]
#                      [--tcg-cpu MODEL] [--kvm-cpu MODEL] [--cache DIR]
#                      [--guest-cmd CMD] [--keep] [--no-build]
#
#  --timeout       whole QEMU run (default 3600 s kvm, 7200 s tcg, 900 s probe)
#  --boot-timeout  the guest must reach its init by then (default 600 s)
#  --test-timeout  cap on one test binary (default: meson timeout x2 on kvm,
#                  x3 on tcg)
#  --heartbeat     guest prints uptime and running tests every N s (120; 0 off)
#  --stall-timeout no guest output (kernel messages aside) that long = hung:
#                  the vCPUs' registers are dumped from QEMU's monitor and
#                  QEMU is killed (default 4 x heartbeat; 0 off)
#  --smp N         guest CPUs (default 1 on tcg: with 2, the nested guest
#                  hung in 3 of 4 runs here; 2 on kvm)
#  --cache DIR     where the kernel .deb is kept between runs (default
#                  /var/cache/cowvm, shared with tools/linux_guest.sh; if it
#                  cannot be written, a folder removed on exit)
#  --no-probe      skip the guest's `cowvm run --workload hello` probe
#                  (not with --probe-only)
#  --keep          keep the work folder (initramfs, console logs)
#  --guest-cmd CMD run CMD (busybox sh) in the guest after the probe, e.g. to
#                  look up the kernel symbols of a hang's RIPs in /proc/kallsyms
#
# What it does (as root, Debian 12):
#  1. installs, only if missing: qemu-system-x86 busybox-static cpio
#     (apt-get --no-install-recommends);
#  2. fetches the Debian kernel package that linux-image-amd64 depends on with
#     `apt-get download` (NOT installed on the host: the bzImage and the kvm,
#     kvm-amd, kvm-intel modules are unpacked from the .deb with dpkg-deb);
#  3. builds the project (ninja -C BUILD) and an initramfs holding busybox,
#     the kvm modules, cowvm, the meson test binaries of the chosen suites
#     (default: integration) with their data files and shared libraries (ldd),
#     at the same absolute paths as on the host;
#  4. boots it with qemu-system-x86_64, either on this host's /dev/kvm
#     (-accel kvm -cpu host) or in pure emulation (-accel tcg with an AMD CPU
#     model that exposes SVM: TCG emulates SVM, not VMX); the guest loads
#     kvm + kvm_amd/kvm_intel with nested=1, prints the kvm kernel messages,
#     checks /dev/kvm, probes KVM_CREATE_VM + a vCPU run with
#     `cowvm run --workload hello`, then runs each test binary with the
#     environment meson gives it (COWVM_BIN, COM1_GUEST, ...);
#  5. relays the guest console, sums the Criterion results and exits:
#       0  every test ran and passed inside the guest
#       1  a test failed, or the guest did not finish in time
#       2  bad arguments or set-up failure (packages, build, kernel)
#      77  SKIP: nested KVM is impossible here (no /dev/kvm in the guest, or
#          QEMU cannot start) in every accelerator tried; the evidence
#          (QEMU errors, guest dmesg) is printed above the SKIP line.
# --accel auto (default) tries kvm first when /dev/kvm exists and falls back
# to tcg when nested KVM is impossible under kvm: QEMU's "-cpu host,+vmx,enforce"
# and "+svm,enforce" both refuse (the host's KVM gives its guests neither; then
# the kvm guest is not even booted), or the kvm guest gets no /dev/kvm.
# Everything lives in a temporary folder under build-qemu/ that is removed on
# exit (--keep keeps it); QEMU is killed on exit or interrupt.
set -u
set -o pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

accel=auto
build=build
suites=()
tests=()
excludes=()
guest_cmd=""
probe_only=0
no_probe=0
timeout_total=""
boot_timeout=600
test_timeout=0
heartbeat=120
stall_timeout=""
mem=4096
smp=""
tcg_cpu="max,vendor=AuthenticAMD,+svm,+npt"
kvm_cpu="host"
cache=""
keep=0
do_build=1

usage() { sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() { echo "qemu_test: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--accel) accel=${2:?}; shift ;;
	--build) build=${2:?}; shift ;;
	--suite) suites+=("${2:?}"); shift ;;
	--test) tests+=("${2:?}"); shift ;;
	--exclude) excludes+=("${2:?}"); shift ;;
	--guest-cmd) guest_cmd=${2:?}; shift ;;
	--probe-only) probe_only=1 ;;
	--no-probe) no_probe=1 ;;
	--timeout) timeout_total=${2:?}; shift ;;
	--boot-timeout) boot_timeout=${2:?}; shift ;;
	--test-timeout) test_timeout=${2:?}; shift ;;
	--heartbeat) heartbeat=${2:?}; shift ;;
	--stall-timeout) stall_timeout=${2:?}; shift ;;
	--mem) mem=${2:?}; shift ;;
	--smp) smp=${2:?}; shift ;;
	--tcg-cpu) tcg_cpu=${2:?}; shift ;;
	--kvm-cpu) kvm_cpu=${2:?}; shift ;;
	--cache) cache=${2:?}; shift ;;
	--keep) keep=1 ;;
	--no-build) do_build=0 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case "$accel" in auto|kvm|tcg) ;; *) die "--accel must be auto, kvm or tcg" ;; esac
[ "$probe_only" = 1 ] && [ "$no_probe" = 1 ] && die "--probe-only and --no-probe exclude each other"
[ ${#suites[@]} -gt 0 ] || suites=(integration)
# A guest whose console stays silent this long hangs (the heartbeat prints).
if [ -z "$stall_timeout" ]; then
	if [ "$heartbeat" -gt 0 ]; then stall_timeout=$((heartbeat * 4)); else stall_timeout=0; fi
fi
[ "$(uname -m)" = x86_64 ] || die "x86_64 host required"

log() { printf 'qemu_test: %s\n' "$*"; }

# ---- clean-up -------------------------------------------------------------------
work=""
qemu_pid=""
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null
		sleep 1
		kill -9 "$qemu_pid" 2>/dev/null
	fi
	if [ -n "$work" ] && [ -d "$work" ]; then
		if [ "$keep" = 1 ]; then
			log "kept work folder $work"
		else
			rm -rf "$work"
			rmdir "$here/build-qemu" 2>/dev/null
		fi
	fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ---- 1. packages ----------------------------------------------------------------
pkgs="qemu-system-x86 busybox-static cpio"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
	log "installing Debian packages:" $missing
	[ "$(id -u)" = 0 ] || die "run as root to install packages"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
		|| die "apt-get install failed"
fi
for b in qemu-system-x86_64 busybox cpio python3 meson; do
	command -v "$b" >/dev/null || die "$b not found"
done

mkdir -p "$here/build-qemu" || die "cannot create build-qemu/"
work=$(mktemp -d "$here/build-qemu/run.XXXXXX") || die "mktemp failed"

# ---- 2. Debian kernel (downloaded, not installed) --------------------------------
if [ -z "$cache" ]; then
	cache=/var/cache/cowvm
	if ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
		log "cannot write $cache: the kernel package goes to the work folder (removed on exit; see --cache)"
		cache="$work/cache"
	fi
fi
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || die "cannot write the cache folder $cache"
cache=$(cd "$cache" && pwd)
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then
	apt-get update -qq >/dev/null 2>&1
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
kver=${kpkg#linux-image-}
# One download at a time per cache (tools/linux_guest.sh takes the same lock).
exec 9>"$cache/.lock" && flock 9 || die "cannot lock $cache/.lock"
deb=$(ls "$cache"/"${kpkg}"_*.deb 2>/dev/null | head -n1)
if [ -z "$deb" ]; then
	log "downloading Debian kernel package $kpkg into $cache (apt-get download)"
	(cd "$cache" && apt-get download -q "$kpkg" 2>&1 | grep -v -e 'unsandboxed' -e '^Get:' -e '^Fetched') 
	deb=$(ls "$cache"/"${kpkg}"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "apt-get download $kpkg failed"
fi
kx="$work/kernel"
mkdir -p "$kx"
dpkg-deb -x "$deb" "$kx" || die "dpkg-deb -x $deb failed"
exec 9>&-
vmlinuz="$kx/boot/vmlinuz-$kver"
moddir="$kx/lib/modules/$kver"
[ -f "$vmlinuz" ] || die "no $vmlinuz in $deb"
log "kernel: $(basename "$deb")"

# ---- 3. build and stage the initramfs --------------------------------------------
if [ "$do_build" = 1 ]; then
	if [ ! -f "$build/build.ninja" ]; then
		make -s build BUILD="$build" || die "make build failed"
	else
		ninja -C "$build" >/dev/null || die "ninja -C $build failed"
	fi
fi
[ -x "$build/vmm/cowvm" ] || die "$build/vmm/cowvm is not built"
cowvm_bin=$(cd "$build/vmm" && pwd)/cowvm

root="$work/root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,run,etc,modules,qt,usr/bin,usr/sbin}
cp /bin/busybox "$root/bin/busybox" || die "busybox-static missing"

# kvm modules and their dependencies (depends= in .modinfo), in load order.
modorder=()
declare -A modseen=()
modfile() { find "$moddir" -name "$(echo "$1" | tr _ -).ko" -o -name "$(echo "$1" | tr - _).ko" | head -n1; }
addmod() {
	local m=$1 f deps d
	[ -n "${modseen[$m]:-}" ] && return 0
	modseen[$m]=1
	f=$(modfile "$m")
	[ -n "$f" ] || { log "warning: module $m not found in $kpkg"; return 0; }
	deps=$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
	for d in $deps; do addmod "$d"; done
	cp "$f" "$root/modules/"
	modorder+=("$(basename "$f")")
}
for m in kvm kvm-amd kvm-intel; do addmod "$m"; done
printf '%s\n' "${modorder[@]}" >"$root/qt/modules"

# Test list from meson: name, timeout, workdir, env, command.
meson introspect --tests "$build" >"$work/tests.json" || die "meson introspect --tests $build failed"
python3 - "$work/tests.json" "$root/qt/tests.sh" "$work/files" "$cowvm_bin" \
	"${suites[*]}" "${tests[*]:-}" "${excludes[*]:-}" <<'EOF' || die "cannot build the test list"
import json, os, shlex, sys
tests = json.load(open(sys.argv[1]))
out, files_out, cowvm = sys.argv[2], sys.argv[3], sys.argv[4]
suites = set(sys.argv[5].split())
only = set(sys.argv[6].split())
excluded = set(sys.argv[7].split())
files = {cowvm}
lines = []
for t in tests:
    tsuites = {s.split(":")[-1] for s in t["suite"]}
    if t["name"] in excluded:
        continue
    if only:
        if t["name"] not in only:
            continue
    elif not (tsuites & suites):
        continue
    files.add(t["cmd"][0])
    env = dict(t.get("env") or {})
    for v in env.values():
        if os.path.isabs(v) and os.path.isfile(v):
            files.add(v)
    wd = t.get("workdir") or os.path.dirname(t["cmd"][0])
    envs = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items()))
    lines.append("qt_run %s %d %s %s %s" % (shlex.quote(t["name"]), int(t.get("timeout") or 30),
                 shlex.quote(wd), shlex.quote(envs), " ".join(shlex.quote(c) for c in t["cmd"])))
if not lines:
    sys.exit("no meson test matches suites %s / tests %s" % (sorted(suites), sorted(only)))
open(out, "w").write("\n".join(lines) + "\n")
open(files_out, "w").write("\n".join(sorted(files)) + "\n")
EOF

# Copy the files at their host paths, then every shared library they need.
copy_at() {  # copy_at PATH: $root/PATH, following symlinks
	local src=$1
	mkdir -p "$root$(dirname "$src")"
	cp -L "$src" "$root$src"
}
while read -r f; do
	[ -n "$f" ] || continue
	[ -e "$f" ] || die "$f is missing (build first)"
	copy_at "$f"
done <"$work/files"
libs=$(while read -r f; do ldd "$f" 2>/dev/null; done <"$work/files" |
	awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}' | sort -u)
for l in $libs; do copy_at "$l"; done
nfiles=$(wc -l <"$work/files")
log "initramfs: $nfiles binaries/data files, $(echo "$libs" | wc -w) shared libraries, modules: ${modorder[*]}"

# The guest's init.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp holds the test files when the build lives under /tmp (a CI clone):
# the initramfs is already writable RAM, so only an empty /tmp gets a tmpfs.
[ -z "$(ls -A /tmp 2>/dev/null)" ] && mount -t tmpfs tmpfs /tmp
mount -t devpts devpts /dev/pts
ln -sf /proc/self/fd /dev/fd 2>/dev/null
hostname qemu-guest
arg() { for w in $(cat /proc/cmdline); do case "$w" in "qt_$1="*) echo "${w#*=}" ;; esac; done; }
finish() { echo "QT-END"; sync; poweroff -f; sleep 5; echo o >/proc/sysrq-trigger; }

echo "QT-BEGIN accel=$(arg accel)"
echo "QT-INFO uptime_s=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r) cpus=$(nproc) mem_kb=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "QT-INFO $(grep -m1 vendor_id /proc/cpuinfo | tr -s '\t ' ' ') / $(grep -m1 'model name' /proc/cpuinfo | tr -s '\t ' ' ')"
echo "QT-INFO kernel_text=$(grep -m1 ' _text$' /proc/kallsyms | cut -d' ' -f1)"
echo "QT-INFO cpu virtualization flags: svm=$(grep -c -w svm /proc/cpuinfo) vmx=$(grep -c -w vmx /proc/cpuinfo) npt=$(grep -c -w npt /proc/cpuinfo) ept=$(grep -c -w ept /proc/cpuinfo) (cpus with the flag)"

# Load kvm and the vendor module (nested=1); try the other vendor too so the
# kernel says why it refuses.
vendor=$(grep -m1 vendor_id /proc/cpuinfo | awk '{print $3}')
case "$vendor" in AuthenticAMD|HygonGenuine) want="kvm-amd.ko kvm-intel.ko" ;; *) want="kvm-intel.ko kvm-amd.ko" ;; esac
for m in $(cat /qt/modules); do
	case "$m" in kvm-amd.ko|kvm-intel.ko) continue ;; esac
	out=$(insmod /modules/$m 2>&1); echo "QT-MOD insmod $m: rc=$? $out"
done
for m in $want; do
	out=$(insmod /modules/$m nested=1 2>&1); rc=$?
	echo "QT-MOD insmod $m nested=1: rc=$rc $out"
	[ $rc = 0 ] && break
done
echo "QT-DMESG-BEGIN"
dmesg | grep -i -E 'kvm|svm|vmx|virtuali|nested' | sed 's/^/QT-DMESG /'
echo "QT-DMESG-END"
for p in /sys/module/kvm_amd/parameters/nested /sys/module/kvm_intel/parameters/nested /sys/module/kvm_amd/parameters/npt /sys/module/kvm_intel/parameters/ept; do
	[ -r $p ] && echo "QT-INFO $p=$(cat $p)"
done

if [ ! -c /dev/kvm ]; then
	echo "QT-KVM absent: /dev/kvm did not appear in the guest"
	finish
fi
echo "QT-KVM present: $(ls -l /dev/kvm)"

# Probe: KVM_CREATE_VM, vCPU set-up and a run of the built-in hello guest.
cowvm=$(arg cowvm)
if [ "$(arg no_probe)" != 1 ]; then
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout 300 "$cowvm" run --workload hello --timeout 120000 >/tmp/probe.out 2>&1
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	sed 's/^/QT-PROBE-OUT /' /tmp/probe.out
	echo "QT-PROBE rc=$rc start_s=$t0 end_s=$t1"
fi

if [ -s /qt/guest-cmd ]; then
	echo "QT-GUEST-CMD $(cat /qt/guest-cmd)"
	sh /qt/guest-cmd 2>&1 | sed 's/^/QT-GUEST-OUT /'
fi

if [ "$(arg probe_only)" = 1 ]; then
	finish
fi

# Heartbeat: under TCG a test can run for many minutes without printing.
hb=$(arg heartbeat)
bdir=$(dirname "$(dirname "$cowvm")")
if [ "${hb:-0}" -gt 0 ]; then
	( while sleep "$hb"; do
		echo "QT-HEARTBEAT uptime_s=$(cut -d' ' -f1 /proc/uptime) load=$(cut -d' ' -f1-3 /proc/loadavg) running: $(ps w 2>/dev/null | grep "$bdir" | grep -v grep | awk '{printf "%s ", $3}')"
	done ) &
fi

qt_run() {  # qt_run NAME TIMEOUT WORKDIR ENV CMD...
	name=$1 tmo=$2 wd=$3 envs=$4
	shift 4
	tmo=$((tmo * $(arg mult)))
	cap=$(arg test_timeout)
	[ "${cap:-0}" -gt 0 ] && [ "$tmo" -gt "$cap" ] && tmo=$cap
	t0=$(cut -d. -f1 /proc/uptime)
	echo "QT-TEST-BEGIN $name timeout=${tmo}s uptime_s=$(cut -d' ' -f1 /proc/uptime)"
	(cd "$wd" && eval "env $envs CRITERION_VERBOSITY_LEVEL=1 TERM=dumb timeout $tmo \"\$@\"") </dev/null 2>&1
	rc=$?
	t1=$(cut -d. -f1 /proc/uptime)
	[ $((t1 - t0)) -ge "$tmo" ] && rc=124
	echo "QT-RESULT $name rc=$rc uptime_s=$(cut -d' ' -f1 /proc/uptime) elapsed_s=$((t1 - t0))"
}
. /qt/tests.sh
finish
EOF
chmod +x "$root/init"
[ -n "$guest_cmd" ] && printf '%s\n' "$guest_cmd" >"$root/qt/guest-cmd"

initrd="$work/initramfs.cpio"
(cd "$root" && find . | cpio -o -H newc --quiet >"$initrd") || die "cpio failed"
log "initramfs $(du -h "$initrd" | cut -f1)"

# ---- 4. boot ----------------------------------------------------------------------
# run_qemu ACCEL: boots, relays the console to stdout and $work/console.ACCEL.
# Returns QEMU's exit status (124: time limit; 125: the guest did not reach
# its init within the boot limit).
run_qemu() {
	local a=$1 limit boot_limit mult cpu accel_opt
	if [ "$a" = kvm ]; then
		accel_opt="kvm"; cpu=$kvm_cpu; mult=2; limit=${timeout_total:-3600}
	else
		accel_opt="tcg,thread=multi"; cpu=$tcg_cpu; mult=3; limit=${timeout_total:-7200}
	fi
	[ "$probe_only" = 1 ] && [ -z "$timeout_total" ] && limit=900
	boot_limit=$boot_timeout
	[ "$boot_limit" -gt "$limit" ] && boot_limit=$limit
	local n=$smp
	[ -n "$n" ] || { [ "$a" = kvm ] && n=2 || n=1; }
	# Under TCG the L1 kernel keeps a periodic tick (highres=off nohz=off):
	# twice, with kernel fuzzing in L2, an L1 sat halted (QEMU's monitor:
	# HLT=1, CPL 0) with no heartbeat for 480 s, its one-shot timer
	# interrupt lost in TCG's nested SVM, and nothing left to re-arm it. A
	# periodic tick survives a lost interrupt.
	local tick=""
	[ "$a" = kvm ] || tick="highres=off nohz=off "
	local cmd=(qemu-system-x86_64 -nodefaults -no-user-config -machine pc -accel "$accel_opt"
		-cpu "$cpu" -smp "$n" -m "$mem" -kernel "$vmlinuz" -initrd "$initrd"
		-append "${tick}console=ttyS0 loglevel=5 panic=-1 rdinit=/init qt_accel=$a qt_cowvm=$cowvm_bin qt_mult=$mult qt_probe_only=$probe_only qt_no_probe=$no_probe qt_test_timeout=$test_timeout qt_heartbeat=$heartbeat"
		-display none -monitor "unix:$work/monitor.$a,server,nowait" -serial stdio -no-reboot)
	log "accel=$a: ${cmd[*]}"
	log "accel=$a: limits: guest init within ${boot_limit}s, whole run ${limit}s; per-test meson timeout x$mult"
	local start=$SECONDS
	: >"$work/console.$a"
	"${cmd[@]}" </dev/null >"$work/console.$a" 2>"$work/qemu-stderr.$a" &
	qemu_pid=$!
	local tailpid
	tail -n +1 -f "$work/console.$a" --pid="$qemu_pid" 2>/dev/null | sed -u 's/\r//g' &
	tailpid=$!
	local rc=0 why="" booted=0 size=0 last_size=-1 last_change=$SECONDS
	while kill -0 "$qemu_pid" 2>/dev/null; do
		# progress = console lines other than kernel messages (a hung guest
		# can go on printing soft-lockup and RCU-stall reports)
		size=$(grep -a -c -v '^\[ *[0-9]*\.[0-9]*\] ' "$work/console.$a" 2>/dev/null)
		if [ "$size" != "$last_size" ]; then last_size=$size; last_change=$SECONDS; fi
		if [ "$booted" = 0 ] && grep -a -q '^QT-BEGIN' "$work/console.$a"; then
			booted=1
			log "accel=$a: guest init reached after $((SECONDS - start))s"
		fi
		if [ "$booted" = 0 ] && [ $((SECONDS - start)) -ge "$boot_limit" ]; then
			why=125
		elif [ $((SECONDS - start)) -ge "$limit" ]; then
			why=124
		elif [ "$booted" = 1 ] && [ "$stall_timeout" -gt 0 ] && [ $((SECONDS - last_change)) -ge "$stall_timeout" ]; then
			why=126
		fi
		if [ -n "$why" ]; then
			case "$why" in
			125) log "accel=$a: guest did not reach its init within ${boot_limit}s, killing QEMU" ;;
			124) log "accel=$a: time limit ${limit}s reached, killing QEMU" ;;
			126) log "accel=$a: no guest output but kernel messages for ${stall_timeout}s (heartbeat every ${heartbeat}s): the guest hangs; killing QEMU"
			     grep -a -E 'soft lockup|rcu: INFO|hung_task|BUG:|RIP: ' "$work/console.$a" | tail -n 8 | sed "s/^/qemu_test: accel=$a: guest kernel: /" ;;
			esac
			monitor_dump "$a"
			kill "$qemu_pid" 2>/dev/null; sleep 2; kill -9 "$qemu_pid" 2>/dev/null
			break
		fi
		sleep 1
	done
	wait "$qemu_pid"; rc=$?
	[ -n "$why" ] && rc=$why
	qemu_pid=""
	wait "$tailpid" 2>/dev/null
	if [ -s "$work/qemu-stderr.$a" ]; then
		sed "s/^/qemu_test: accel=$a: QEMU stderr: /" "$work/qemu-stderr.$a"
	fi
	log "accel=$a: QEMU exited rc=$rc after $((SECONDS - start))s"
	return $rc
}

# monitor_dump ACCEL: where the guest's vCPUs are (QEMU human monitor), sampled
# twice, before QEMU is killed.
monitor_dump() {
	local text
	text=$(grep -a -m1 -o 'kernel_text=[0-9a-f]*' "$work/console.$1" | cut -d= -f2)
	python3 - "$work/monitor.$1" "$1" "${text:-0}" <<'EOF' 2>&1 | sed "s/^/qemu_test: accel=$1: monitor: /"
import socket, sys, time, re
text = int(sys.argv[3], 16)
def cmd(s, c):
    s.sendall((c + "\n").encode())
    time.sleep(1.5)
    out = b""
    s.settimeout(0.5)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    t = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode(errors="replace")).replace("\r", "")
    return "\n".join(l for l in t.splitlines() if l.strip() and not l.startswith("(qemu)") and c not in l)
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    cmd(s, "")
    for i in range(2):
        print("--- sample %d: info cpus" % (i + 1))
        print(cmd(s, "info cpus"))
        regs = cmd(s, "info registers -a")
        for l in regs.splitlines():
            if re.match(r"(CPU#|RAX|RIP|CS |CR0|EFER)", l):
                m = re.match(r"RIP=([0-9a-f]+)", l)
                rip = int(m.group(1), 16) if m else 0
                if text and rip >= text and rip - text < 0x40000000:
                    l += "   (_text+%#x)" % (rip - text)
                print(l)
        time.sleep(2)
except OSError as e:
    print("no monitor: %s" % e)
EOF
}

# kvm_can_nest: can this host's KVM give a QEMU guest SVM or VMX? QEMU asks
# KVM_GET_SUPPORTED_CPUID; "enforce" makes it refuse to start without them.
kvm_can_nest() {
	local f out ok=1
	for f in vmx svm; do
		out=$(timeout 5 qemu-system-x86_64 -nodefaults -no-user-config -machine pc -accel kvm \
			-cpu "$kvm_cpu,+$f,enforce" -display none -monitor none -S 2>&1 </dev/null)
		out=$(echo "$out" | grep -v 'terminating on signal')
		if [ -z "$out" ]; then
			log "kvm pre-check: -accel kvm -cpu $kvm_cpu,+$f,enforce starts: the host's KVM offers $f to a guest"
			ok=0
		else
			echo "$out" | sed "s/^/qemu_test: kvm pre-check: -cpu $kvm_cpu,+$f,enforce: /"
		fi
	done
	return $ok
}

# classify ACCEL -> prints one of: nokvm (77), pass, fail
classify() {
	python3 - "$work/console.$1" "$1" "$probe_only" "${2:-0}" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read().replace("\r", "")
qrc = int(sys.argv[4])
ended_why = {124: "time limit reached", 125: "no boot in time", 126: "guest hung (no output but kernel messages)"}.get(qrc, "")
text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # Criterion colours
accel, probe_only = sys.argv[2], sys.argv[3] == "1"
synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
p = f = s = 0
bad = []
if "QT-BEGIN" not in text:
    print("nokvm", "the guest never reached its init (QEMU did not start, or the kernel did not boot in time)"); sys.exit()
if "QT-KVM absent" in text:
    print("nokvm", "no /dev/kvm in the guest"); sys.exit()
if "QT-KVM present" not in text:
    print("fail", "the guest stopped before checking /dev/kvm"); sys.exit()
m = re.search(r"QT-PROBE rc=(\d+)", text)
probe = m.group(1) if m else None
if probe_only:
    if probe == "0":
        print("pass", "probe: cowvm run --workload hello exited 0 in the guest")
    else:
        print("fail", "probe: cowvm run --workload hello rc=%s in the guest" % probe)
    sys.exit()
for mm in re.finditer(r"^QT-TEST-BEGIN (\S+).*?$(.*?)^QT-RESULT \1 rc=(\d+)", text, re.M | re.S):
    name, out, rc = mm.group(1), mm.group(2), int(mm.group(3))
    sy = synth.findall(out)
    skips = re.findall(r"^\[SKIP\] (.*)$", out, re.M)
    plan = re.search(r"^1\.\.(\d+)\s*(?:#.*)?$", out, re.M)
    if not sy and plan:  # TAP (tests that cannot use Criterion)
        res = re.findall(r"^(not ok|ok)\b[^#\n]*(?:#\s*(SKIP|TODO)\b.*)?$", out, re.M | re.I)
        ok = sum(1 for st, d in res if st == "ok" and d.upper() != "SKIP")
        sk = sum(1 for st, d in res if d.upper() == "SKIP")
        bad_n = sum(1 for st, d in res if st != "ok" and d.upper() != "SKIP")
        bad_n += max(0, int(plan.group(1)) - len(res))
        if rc != 0 and bad_n == 0:
            bad_n, ok = max(ok, 1), 0
        p += ok; f += bad_n; s += sk
        print("detail", "%s: %d passed, %d failed, %d skipped (TAP), rc=%d" % (name, ok, bad_n, sk, rc))
        if rc != 0 or bad_n:
            bad.append(name)
        continue
    if sy:
        tested, ok, fail, crash = map(int, sy[-1])
        p += ok; f += fail + crash; s += len(skips)
        line = "%s: %d passed, %d failed, %d skipped, rc=%d" % (name, ok, fail + crash, len(skips), rc)
        if rc != 0 and fail + crash == 0:
            f += 1; line += " (process failed)"
    else:
        f += 1
        line = "%s: no Criterion synthesis, rc=%d%s" % (name, rc, " (killed at its time limit)" if rc == 124 else "")
    if rc != 0:
        bad.append(name)
    print("detail", line)
begun = re.findall(r"^QT-TEST-BEGIN (\S+)", text, re.M)
ended = re.findall(r"^QT-RESULT (\S+)", text, re.M)
for n in begun:
    if n not in ended:
        f += 1; bad.append(n); print("detail", "%s: did not finish (guest time limit?)" % n)
if "QT-END" not in text:
    bad.append("(guest did not finish: %s)" % (ended_why or "QEMU rc=%d" % qrc))
print("total", "%d passed, %d failed, %d skipped" % (p, f, s))
print("fail" if bad or f else "pass", "%s; failed: %s" % ("probe rc=%s" % probe if probe is not None else "no probe",
                                                       " ".join(bad) or "none"))
EOF
}

order=()
case "$accel" in
auto) [ -e /dev/kvm ] && order=(kvm tcg) || order=(tcg) ;;
*) order=("$accel") ;;
esac
[ "$accel" = kvm ] && [ ! -e /dev/kvm ] && { echo "SKIP: --accel kvm but /dev/kvm is missing on the host"; exit 77; }

final=77
reasons=()
for a in "${order[@]}"; do
	t0=$SECONDS
	if [ "$a" = kvm ] && ! kvm_can_nest; then
		if [ "$accel" = auto ]; then
			# Booting would only show kvm-amd/kvm-intel refusing to load
			# (--accel kvm does boot, to record the guest's own messages).
			reasons+=("accel=kvm: the host's KVM exposes neither VMX nor SVM to its guests")
			log "accel=kvm: nested KVM impossible (no VMX/SVM for guests); not booting, trying tcg"
			continue
		fi
		log "accel=kvm: the host's KVM exposes neither VMX nor SVM; booting anyway to record the guest's messages"
		reasons+=("accel=kvm: the host's KVM exposes neither VMX nor SVM;")
	fi
	run_qemu "$a"
	res=$(classify "$a" $?)
	echo "$res" | sed -n 's/^detail /qemu_test: accel='"$a"': /p'
	verdict=$(echo "$res" | awk '$1=="nokvm"||$1=="pass"||$1=="fail" {print $1}' | tail -n1)
	why=$(echo "$res" | awk '$1=="nokvm"||$1=="pass"||$1=="fail" {$1=""; print}' | tail -n1)
	log "accel=$a: verdict $verdict:$why ($((SECONDS - t0))s)"
	case "$verdict" in
	nokvm) reasons+=("accel=$a:$why"); continue ;;
	pass) final=0 ;;
	*) final=1 ;;
	esac
	total=$(echo "$res" | sed -n 's/^total //p')
	[ -n "$total" ] && echo "qemu: $total"
	break
done
if [ "$final" = 77 ]; then
	echo "SKIP: nested KVM is impossible here: ${reasons[*]}"
fi
exit $final
