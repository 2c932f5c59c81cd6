#!/usr/bin/env python3
"""test_summary.py TESTLOG.json... - sum test results over meson test logs.

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
from (build, build-asan, build-tsan)."""
import json
import os
import re
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


for path in sys.argv[1:]:
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
if skipped:
    print("WARNING: %d test(s) were SKIPPED (see the reasons above); a skipped KVM test proves nothing" % skipped)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if bad else 0)
