#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""results.py LOG --json JSON... [--suite S]... [--expect 'REGEX=N']...: judge one boot.

Counts the test cases kunit.py parsed (one JSON per KTAP run in the log: the boot's, and the
suites qemu/init ran again), checks that the named suites ran and that each
expected line occurs N times in the console log, and fails on any kernel complaint in the log
(a DMA-API error, a kmemleak leak, WARNING:, BUG:, a KFENCE report, ...), showing the lines.
Prints the failures and one line "counts: PASSED FAILED SKIPPED DMA-API-ERRORS LEAKS WARNINGS
MISSING-CHECKS", and exits non-zero if anything failed.
"""

import argparse
import json
import re
import sys

# Lines the kernel prints when something is wrong, whatever the test verdicts say, by kind.
COMPLAINTS = {
    "dma": re.compile(r"DMA-API: (?!preallocated|debugging enabled)"),
    "leaks": re.compile(r"kmemleak: .*new suspected memory leak|unreferenced object"),
    "warnings": re.compile(r"WARNING:|BUG:|Oops|Kernel panic|general protection fault|UBSAN:|"
                           r"stack segment"),
}


def judge(log):
    """The complaint lines of the log, and how many errors, leaks and warnings they report."""
    lines, n = [], dict.fromkeys(COMPLAINTS, 0)
    summaries = errors = 0
    expected = False
    for line in log:
        # DMA-API debug prints only its first error, but counts them all; qemu/init reports it.
        if m := re.search(r"kernel-sg: DMA-API error_count (\d+)", line):
            errors = int(m.group(1))
            continue
        # A test that provokes a kernel warning on purpose brackets it with these lines.
        if "sg-test: expected warning" in line:
            expected = line.rstrip().endswith("begin")
            continue
        kind = next((k for k, r in COMPLAINTS.items() if r.search(line)), None)
        if kind is None or expected:
            continue
        lines.append(line)
        if "DMA-API: Mapped at" in line or "WARNING: kernel/dma/debug.c" in line:
            continue  # part of the DMA-API error before it
        if m := re.search(r"kmemleak: (\d+) new suspected", line):
            summaries += int(m.group(1))
            continue  # counted by its objects, which qemu/init prints
        n[kind] += 1
    n["leaks"] = max(n["leaks"], summaries)
    n["dma"] = max(n["dma"], errors)
    return lines, n


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
    counts, suites, unread = {}, set(), []
    for name in args.json:
        with open(name) as f:
            run = json.load(f)
        walk(run, counts, suites)
        if run["misc"]["errors"]:
            unread.append(f"kunit.py found {run['misc']['errors']} error(s) in the KTAP of {name}")
    with open(args.log, errors="replace") as f:
        log = f.read().splitlines()
    complaints, kinds = judge(log)
    missing = unread + [f"suite {s} did not run (check .kunitconfig and the console log)"
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
    dma, leaks, warnings = kinds["dma"], kinds["leaks"], kinds["warnings"]
    print(f"counts: {passed} {failed} {skipped} {dma} {leaks} {warnings} {len(missing)}")
    sys.exit(1 if failed or missing or complaints or passed == 0 else 0)


main()
