#!/usr/bin/env python3
"""test_summary.py TESTLOG.json... - sum Criterion results over meson test logs.

Prints the per-suite counts and one closing line "N passed, N failed, N skipped".
Exits 1 if any test failed or crashed, or if a test executable printed no
Criterion synthesis (it died or ran nothing)."""
import json
import re
import sys

synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
skip = re.compile(r"^\[SKIP\] (.*)$", re.M)
passed = failed = skipped = 0
bad = False
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        print("test_summary: cannot read %s: %s" % (path, e))
        bad = True
        continue
    for line in lines:
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        m = synth.findall(out)
        skips = skip.findall(out)
        nskip = len(skips)
        for s in skips:
            print("  SKIPPED: %s" % s)
        if not m:
            print("test_summary: %s printed no Criterion synthesis (result %s)" % (t["name"], t["result"]))
            failed += 1
            bad = True
            continue
        tested, ok, fail, crash = map(int, m[-1])
        passed += ok
        failed += fail + crash
        skipped += nskip
        if fail or crash or t["result"] not in ("OK",):
            bad = True
        print("  %-28s %4d passed %3d failed %3d skipped" % (t["name"], ok, fail + crash, nskip))
if skipped:
    print("WARNING: %d test(s) were SKIPPED (see the reasons above); a skipped KVM test proves nothing" % skipped)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if bad else 0)
