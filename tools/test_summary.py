#!/usr/bin/env python3
"""test_summary.py [TESTLOG.json...] [--qemu-log LOG] - sum test results over
meson test logs and a tools/qemu_test.sh run.

Each test executable must report its cases either as Criterion (the
"Synthesis:" line, "[SKIP]" lines) or as TAP ("1..N" plan, "ok"/"not ok"
lines, "# SKIP" directives; used where Criterion cannot run, e.g. under
ThreadSanitizer). Prints the per-test counts and one closing line
"N passed, N failed, N skipped".
Exits 1 if any test failed or crashed, or if a test executable reported no
results (it died or ran nothing). An executable whose process failed (exit
status, sanitizer report, timeout) although every TAP case said "ok" has
all its cases counted as failed: its "ok"s cannot be trusted.
A sanitizer report anywhere in an executable's output (AddressSanitizer,
LeakSanitizer, UndefinedBehaviorSanitizer, ThreadSanitizer) fails it too,
even if every case passed: Criterion does not look at a worker's exit
status after a passing test, so a leak found at the worker's exit would
otherwise go unnoticed. Each line names the build directory its log came
from (build, build-asan, build-tsan).

--qemu-log LOG: the output of tools/qemu_test.sh (the Linux-guest suite run
inside QEMU by tools/run_tests.sh); its exit status is read from LOG's
sibling qemu-linux.rc (BUILD/meson-logs/). Its per-binary lines
("qemu_test: accel=A: NAME: N passed, N failed, N skipped, rc=R") and the
Criterion "[SKIP]" lines are listed, its closing "qemu: N passed, N failed,
N skipped" line is added to the total. Exit 77 (nested KVM impossible
here) is a visible skip: "SKIPPED n Linux-guest tests: <reason>" with n
the Criterion cases of suite 'linux' (`--list` of each test binary,
from `meson introspect --tests BUILD`), counted as skipped, not a failure.
Any other non-zero status fails; without a "qemu:" line those n cases
count as failed."""
import json
import os
import re
import subprocess
import sys

synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
skip = re.compile(r"^\[SKIP\] (.*)$", re.M)
tap_plan = re.compile(r"^1\.\.(\d+)\s*(?:#.*)?$", re.M)
tap_result = re.compile(r"^(not ok|ok)\b[^#\n]*(?:#\s*(SKIP|TODO)\b\s*(.*))?$", re.M | re.I)
sanitizer = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)\b.*|: runtime error: .*|"
                       r"WARNING: ThreadSanitizer: .*")
passed = failed = skipped = 0
bad = False


def tap_counts(out, name):
    """(ok, fail, skip) of a TAP stream, or None if out is not TAP."""
    plan = tap_plan.search(out)
    if not plan:
        return None
    ok = fail = nskip = 0
    for status, directive, reason in tap_result.findall(out):
        if directive.upper() == "SKIP":
            nskip += 1
            print("  SKIPPED: %s: %s" % (name, reason or "(no reason given)"))
        elif status.lower() == "ok":
            ok += 1
        else:
            fail += 1
    missing = int(plan.group(1)) - (ok + fail + nskip)
    if missing > 0:
        print("test_summary: %s planned %s TAP cases, ran %d" % (name, plan.group(1), ok + fail + nskip))
        fail += missing
    return ok, fail, nskip


args = sys.argv[1:]
qemu_log = None
if "--qemu-log" in args:
    i = args.index("--qemu-log")
    if i + 1 >= len(args):
        sys.exit("test_summary: --qemu-log needs a file")
    qemu_log = args[i + 1]
    del args[i:i + 2]


def linux_cases(build_dir, suite="linux"):
    """Criterion cases in the meson tests of `suite` (their --list)."""
    try:
        tests = json.loads(subprocess.run(["meson", "introspect", "--tests", build_dir], capture_output=True,
                                          text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        print("test_summary: cannot list the %s tests of %s: %s" % (suite, build_dir, e))
        return 0
    n = 0
    for t in tests:
        if suite not in {x.split(":")[-1] for x in t["suite"]}:
            continue
        try:
            out = subprocess.run(t["cmd"] + ["--list"], capture_output=True, text=True, timeout=30).stdout
            counts = [int(c) for c in re.findall(r"^\S+: (\d+) tests?$", out, re.M)]
        except (OSError, subprocess.SubprocessError):
            counts = []
        n += sum(counts) if counts else 1
    return n


def qemu_results(log):
    """Adds one tools/qemu_test.sh run (see the docstring)."""
    global passed, failed, skipped, bad
    meson_logs = os.path.dirname(os.path.abspath(log))
    build_dir = os.path.dirname(meson_logs)
    build = os.path.basename(build_dir)
    try:
        text = open(log, errors="replace").read()
    except OSError as e:
        print("test_summary: cannot read %s: %s" % (log, e))
        bad = True
        return
    try:
        rc = int(open(os.path.join(meson_logs, "qemu-linux.rc")).read().strip())
    except (OSError, ValueError):
        rc = -1
    for m in re.finditer(r"^qemu_test: accel=(\S+): (\S+): (\d+) passed, (\d+) failed, (\d+) skipped", text, re.M):
        print("  %-40s %4s passed %3s failed %3s skipped" % ("qemu-%s:%s/%s" % (m.group(1), build, m.group(2)),
                                                          m.group(3), m.group(4), m.group(5)))
    for m in re.finditer(r"^\[SKIP\] (.*)$", text, re.M):
        print("  SKIPPED (in QEMU): %s" % m.group(1))
    total = re.findall(r"^qemu: (\d+) passed, (\d+) failed, (\d+) skipped$", text, re.M)
    if rc == 77:
        why = re.findall(r"^SKIP: (.*)$", text, re.M)
        n = linux_cases(build_dir)
        skipped += n
        print("SKIPPED %d Linux-guest tests: %s" % (n, why[-1] if why else "tools/qemu_test.sh exited 77"))
        return
    if total:
        p, f, s = map(int, total[-1])
        passed += p
        failed += f
        skipped += s
    if rc != 0:
        bad = True
        if not total or int(total[-1][1]) == 0:
            n = linux_cases(build_dir)
            failed += max(n, 1)
            print("test_summary: tools/qemu_test.sh exited %s%s: the Linux-guest tests did not all run; "
                  "%d counted as failed (log: %s)" % (rc, " (killed at its time limit)" if rc == 124 else "",
                                                      max(n, 1), log))


for path in args:
    # BUILD/meson-logs/testlog.json -> "BUILD"
    build = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(path))))
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        print("test_summary: cannot read %s: %s" % (path, e))
        bad = True
        continue
    for line in lines:
        t = json.loads(line)
        t["name"] = "%s/%s" % (build, t["name"])
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        m = synth.findall(out)
        process_ok = t["result"] in ("OK",)
        if m:
            skips = skip.findall(out)
            nskip = len(skips)
            for s in skips:
                print("  SKIPPED: %s" % s)
            tested, ok, fail, crash = map(int, m[-1])
            fail += crash
        else:
            tap = tap_counts(out, t["name"])
            if tap is None:
                print("test_summary: %s printed no Criterion synthesis and no TAP plan (result %s)"
                      % (t["name"], t["result"]))
                failed += 1
                bad = True
                continue
            ok, fail, nskip = tap
            if not process_ok and fail == 0:
                print("test_summary: %s: process result %s although its TAP cases passed; counted as failed"
                      % (t["name"], t["result"]))
                fail, ok = max(ok, 1), 0
        san = sanitizer.search(out)
        if san:
            print("test_summary: %s: sanitizer report in its output: %s" % (t["name"], san.group(0)[:160]))
            if not fail:
                fail, ok = 1, max(ok - 1, 0)
        passed += ok
        failed += fail
        skipped += nskip
        if fail or not process_ok:
            bad = True
        print("  %-40s %4d passed %3d failed %3d skipped" % (t["name"], ok, fail, nskip))
if qemu_log:
    qemu_results(qemu_log)
if skipped:
    print("WARNING: %d test(s) were SKIPPED (see the reasons above); a skipped KVM test proves nothing" % skipped)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if bad else 0)
