#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""results.py LOG --json JSON... [--suite S]... [--expect 'REGEX=N']...: judge one boot.

Counts the test cases kunit.py parsed (one JSON per KTAP run in the log: the boot's, and the
suites qemu/init ran again), checks that the named suites ran and that each
expected line occurs N times in the console log, and fails on any kernel complaint in the log
(a DMA-API error, WARNING:, BUG:, a KFENCE report, a kmemleak leak, ...), showing the lines.
Prints the failures and one "counts:" line, and exits non-zero if anything failed.
"""

import argparse
import json
import re
import sys

# Lines the kernel prints when something is wrong, whatever the test verdicts say.
COMPLAINTS = re.compile(
    r"WARNING:|BUG:|Oops|Kernel panic|DMA-API: (?!preallocated|debugging enabled)|kmemleak: .*new suspected memory leak|"
    r"BUG: KFENCE|general protection fault|UBSAN:|stack segment|"
    r"call trace:|unreferenced object"
)


def walk(group, counts, suites):
    suites.add(group.get("name", ""))
    for case in group.get("test_cases", []):
        counts[case["status"]] = counts.get(case["status"], 0) + 1
        if case["status"] not in ("PASS", "SKIP"):
            counts.setdefault("failed_names", []).append(f'{group.get("name")}.{case["name"]}')
    for sub in group.get("sub_groups", []):
        walk(sub, counts, suites)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--json", action="append", default=[])
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    args = ap.parse_args()
    counts, suites = {}, set()
    for name in args.json:
        with open(name) as f:
            walk(json.load(f), counts, suites)
    with open(args.log, errors="replace") as f:
        log = f.read().splitlines()
    # A test that provokes a kernel warning on purpose brackets it with these lines.
    complaints, expected = [], False
    for line in log:
        if "sg-test: expected warning" in line:
            expected = line.rstrip().endswith("begin")
        elif COMPLAINTS.search(line) and not expected:
            complaints.append(line)
    missing = [f"suite {s} did not run (check .kunitconfig and the console log)"
               for s in args.suite if s not in suites]
    for expect in args.expect:
        regex, n = expect.rsplit("=", 1)
        seen = sum(1 for line in log if re.search(regex, line))
        if seen != int(n):
            missing.append(f"expected {n} log line(s) matching '{regex}', found {seen}")
    passed = counts.get("PASS", 0)
    failed = sum(v for k, v in counts.items() if k not in ("PASS", "SKIP", "failed_names"))
    skipped = counts.get("SKIP", 0)
    for name in counts.get("failed_names", []):
        print(f"FAILED: {name}")
    for m in missing:
        print(f"FAILED: {m}")
    if complaints:
        print(f"FAILED: the kernel log has {len(complaints)} complaint line(s):")
        for line in complaints[:40]:
            print(f"    {line}")
    print(f"counts: {passed} {failed} {skipped} {len(complaints)} {len(missing)}")
    sys.exit(1 if failed or missing or complaints or passed == 0 else 0)


main()
