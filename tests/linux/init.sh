#!/bin/busybox sh
# init.sh - PID 1 of cowvm's Linux test guest (Debian's busybox-static sh),
# packed as /init into the initramfs by tools/linux_guest.sh.
#
# Reads its action from the kernel command line, `cowvm.test=ACTION`
# (a dotted word: the kernel keeps it in /proc/cmdline and passes it to no
# one), prints one marker line, then:
#   poweroff  poweroff -f      (ACPI S5: cowvm exits 0)
#   reboot    reboot -f        (reset: cowvm exits 205)
#   halt      halt -f          (every CPU halted: cowvm exits 206)
#   shell     an interactive sh on the console (controlling tty, so typed
#             input works; prompt "cowvm-sh# "); power-off when it exits
#   agent     a tmpfs on /tmp, then `cowvm-agent serve --warm-mib N` with
#             N from `cowvm.warm_mib=N` (default 16): under cowvm the agent
#             ends the VM itself (snapshot, clones); power-off if it returns
#   kcov      (the fuzzing kernel, tools/fuzz_kernel.sh) debugfs on
#             /sys/kernel/debug, then `COWVM-KCOV ok` if its kcov file is
#             there, else `COWVM-KCOV missing`; then `COWVM-DEVMEM T`, T the
#             transport `cowvm-agent info` found through /dev/mem (e.g.
#             mmap+doorbell; "none" without an agent or a window); reboot -f
#   bug       (the fuzzing kernel) fires its planted bug: "COW", then "!"
#             written to /proc/cowvm_bug oopses the kernel (with
#             `oops=panic panic=-1` it resets); if the kernel survives,
#             `COWVM-BUG-SURVIVED`, then reboot -f
#   fuzz      (the fuzzing kernel) debugfs on /sys/kernel/debug, a tmpfs on
#             /tmp, then `cowvm-agent fuzz` (it ends every run itself); if
#             it dies, `cowvm-agent exit 125` ends the run without a crash
# Marker (one line, the test's proof that this init ran):
#   COWVM-LINUX-UP cpus=N test=ACTION        (N = processors in /proc/cpuinfo)
# Unknown or missing action: a COWVM-ERROR line, then power-off.
# Every console byte is a VM exit (more so nested): print only what the
# tests need.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
# The archive holds /dev/console; if it did not, PID 1 would start without
# stdin/stdout/stderr, so reopen them on devtmpfs' console either way.
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

action=
warm_mib=16
for w in $(cat /proc/cmdline); do
	case "$w" in
	cowvm.test=*) action=${w#cowvm.test=} ;;
	cowvm.warm_mib=*) warm_mib=${w#cowvm.warm_mib=} ;;
	esac
done
cpus=$(grep -c '^processor' /proc/cpuinfo)
echo "COWVM-LINUX-UP cpus=$cpus test=$action"

case "$action" in
poweroff) poweroff -f ;;
reboot) reboot -f ;;
halt) halt -f ;;
shell)
	# setsid: a new session; cttyhack: opens the real console device
	# (ttyS0) as the session's controlling tty, then runs sh there.
	HOME=/ PS1='cowvm-sh# ' setsid cttyhack sh
	poweroff -f
	;;
agent)
	# The requests' commands may write files: /tmp is a tmpfs of its own.
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	HOME=/ cowvm-agent serve --warm-mib "$warm_mib"
	echo "COWVM-AGENT-RETURNED status=$?"
	poweroff -f
	;;
kcov)
	mount -t debugfs debugfs /sys/kernel/debug
	if [ -e /sys/kernel/debug/kcov ]; then echo "COWVM-KCOV ok"; else echo "COWVM-KCOV missing"; fi
	t=$(cowvm-agent info 2>/dev/null | sed -n 's/^transport *//p')
	echo "COWVM-DEVMEM ${t:-none}"
	reboot -f
	;;
bug)
	printf COW >/proc/cowvm_bug
	printf '!' >/proc/cowvm_bug
	echo "COWVM-BUG-SURVIVED"
	reboot -f
	;;
fuzz)
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	# Not exec: if the agent dies (the OOM killer picks it, a fault), PID 1
	# must live on, or the kernel panics ("Attempted to kill init") and
	# the input looks like a kernel crash. The run then ends with status
	# 125 (no verdict on the kernel) through a second agent process.
	HOME=/ cowvm-agent fuzz
	echo "COWVM-AGENT-RETURNED status=$?"
	cowvm-agent exit 125
	reboot -f
	;;
*)
	echo "COWVM-ERROR unknown cowvm.test='$action' (want poweroff, reboot, halt, shell, agent, kcov, bug or fuzz)"
	poweroff -f
	;;
esac
# PID 1 must not exit (the kernel would panic): wait for the power-off.
while :; do sleep 60; done
