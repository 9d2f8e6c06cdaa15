#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""results.py JSON LOG [SUITE...]: judge one boot from kunit.py's JSON and the console log.

Counts the test cases kunit.py parsed, checks that the named suites ran, and fails on any
kernel complaint in the log (a DMA-API error, WARNING:, BUG:, ...), showing the lines.
Prints one summary line and exits non-zero if anything failed.
"""

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
    json_file, log_file, *required = sys.argv[1:]
    with open(json_file) as f:
        counts, suites = {}, set()
        walk(json.load(f), counts, suites)
    with open(log_file, errors="replace") as f:
        complaints = [line.rstrip() for line in f if COMPLAINTS.search(line)]
    passed = counts.get("PASS", 0)
    failed = sum(v for k, v in counts.items() if k not in ("PASS", "SKIP", "failed_names"))
    skipped = counts.get("SKIP", 0)
    missing = [s for s in required if s not in suites]
    for name in counts.get("failed_names", []):
        print(f"FAILED: {name}")
    for s in missing:
        print(f"FAILED: suite {s} did not run (check .kunitconfig and the console log)")
    if complaints:
        print(f"FAILED: the kernel log has {len(complaints)} complaint line(s):")
        for line in complaints[:40]:
            print(f"    {line}")
    print(f"counts: {passed} {failed} {skipped} {len(complaints)} {len(missing)}")
    sys.exit(1 if failed or missing or complaints or passed == 0 else 0)


main()
