#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Takes the series back from its git branch into the repository, after it was edited there.

`make patches` leaves the series as branch `kernel-sg` of $CACHE/series/linux-$KERNEL, one commit
per series/NN-*.txt. Edit it as a kernel developer would (`git rebase -i base`, fixups), then
`make series-import`: each commit's message, and its diff to files of earlier patches, go back
into its series/NN-*.txt (whose `Files:` line stays); the files of the branch's tip go back into
the repository. The commits must still be one per series/NN-*.txt, in order (to split a patch,
add its file to series/ first). Changes to kernel files (the overlay's edits, edits/) are not
taken back: change edits/ by hand.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERIES = Path(os.environ["CACHE"]) / "series" / f"linux-{os.environ['KERNEL']}"


def git(*args):
    return subprocess.run(["git", "-C", str(SERIES), *args], check=True, capture_output=True,
                          text=True).stdout


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def ours(path):
    """A file of ours: one the Debian base does not have."""
    return subprocess.run(["git", "-C", str(SERIES), "cat-file", "-e", f"base:{path}"],
                          capture_output=True).returncode != 0


def listed(kind):
    return subprocess.run([str(REPO / "scripts" / "overlay.py"), "--list", kind], check=True,
                          capture_output=True, text=True).stdout.split()


def main():
    converted = set(listed("converted"))
    commits = git("rev-list", "--reverse", "base..kernel-sg").split()
    texts = sorted(p for p in (REPO / "series").glob("[0-9][0-9]-*.txt") if p.name != "00-cover.txt")
    if len(commits) != len(texts):
        die(f"branch kernel-sg has {len(commits)} commits, series/ {len(texts)} patches: "
            "add or remove series/NN-*.txt to match, in order")
    for commit, text in zip(commits, texts):
        files_line = text.read_text().split("\n", 1)[0]
        whole = set(files_line.removeprefix("Files:").split())
        changed = git("diff", "--name-status", f"{commit}^", commit).splitlines()
        grown = []
        for status, path in (line.split("\t", 1) for line in changed):
            if path in converted:
                continue
            if not ours(path):
                continue
            if status == "A" and path not in whole:
                die(f"{text.name}: add {path} to its Files: line")
            elif status != "A":
                grown.append(path)
        message = git("log", "-1", "--format=%B", commit).strip()
        diff = git("diff", f"{commit}^", commit, "--", *grown) if grown else ""
        diff = "".join(line for line in diff.splitlines(keepends=True)
                       if not line.startswith("index "))
        text.write_text(f"{files_line}\n\n{message}\n" + (f"---\n{diff}" if diff else ""))
    for path in listed("new") + sorted(converted):
        tip = subprocess.run(["git", "-C", str(SERIES), "show", f"kernel-sg:{path}"],
                             capture_output=True, text=True)
        if tip.returncode == 0:
            (REPO / path).write_text(tip.stdout)
    print(f"==> series-import: {len(texts)} patches and the tip's files taken back; "
          "check with FAST=1 make patches")


main()
