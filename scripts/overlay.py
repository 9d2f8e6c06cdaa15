#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Put kernel::sg into the kernel tree $KDIR: copy our files, make the few edits.

Idempotent. New files are copied only when their content differs (so Kbuild rebuilds only
what changed). Each edit to an existing kernel file is re-applied to a pristine copy of that
file kept under $CACHE, so changing a snippet here never stacks a second copy in the tree; a
tree that already carries an edit (e.g. one that applied our patch series) is left alone.
"""

import hashlib
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KDIR = Path(os.environ.get("KDIR", "/nonexistent"))
STATE = Path(os.environ.get("CACHE", "/nonexistent")) / "overlay" / hashlib.sha1(str(KDIR).encode()).hexdigest()[:12]

# Our new kernel files, mirrored at the same paths in the tree.
NEW_FILES = ["rust/kernel", "rust/helpers", "samples/rust", "Documentation/rust"]


# Upstream users converted to kernel::sg, mirrored at the same paths: each replaces the tree's
# file only if the tree holds the version it converts (SHA-1 of the pinned 7.3's), or our own
# earlier copy; a tree with another version keeps its file, with a note. nova-core's GSP
# firmware gains a lifetime (its tables are mapped for the binding), which five files spell;
# Tyr maps a GEM range through a DMA window (built in the arm64 kernel only); GEM shmem's
# KUnit tests gain sg_table()'s success path.
CONVERTED = {
    "samples/rust/rust_dma.rs": "63f6ec046c68a70b079e0fa7bf31fe1edb4a4ffa",
    "drivers/gpu/nova-core/firmware/gsp.rs": "6aa38ce8c8af07360147bb2b7adb7a529ba22cb0",
    "drivers/gpu/nova-core/fb.rs": "7b178fcbf61c860d34bdb532f83ad0fedca5ab7c",
    "drivers/gpu/nova-core/gsp/hal.rs": "b50e522ced62662a223dbdacafc17828bdd93c17",
    "drivers/gpu/nova-core/gsp/hal/gh100.rs": "2770b29443dcbe03c83b32480f66064ebd6ad86c",
    "drivers/gpu/nova-core/gsp/hal/tu102.rs": "6d6cbe609a7fdd6b529d8b6146e90c227a249f06",
    "drivers/gpu/nova-core/gsp/fw.rs": "6141e5723938f32fac4aa1d01da372ba707a02d0",
    "drivers/gpu/drm/tyr/vm.rs": "e6b0aa8fe2fa04831b33c8262cde5e0a11d1c3df",
    "rust/kernel/drm/gem/shmem.rs": "7e463b9c18bb01a9a54ac77abf4b9d08c865f842",
}


def snippet(tagged):
    """The text an edit inserts: edits/FILE, or edits/FILE.TAG for the edit "FILE#TAG"."""
    return (REPO / "edits" / tagged.replace("#", ".")).read_text()


# (file, where, anchor): insert the snippet (see `snippet`) before/after the line matching
# `anchor` ("last" picks the last such line), append it ("end"), or put it in place of the text
# `anchor` ("replace", the one edit that changes upstream's lines). "file#tag" names one of
# several edits of a file, for OVERLAY_ONLY and the series' Files: lines.
EDITS = [
    ("rust/kernel/scatterlist.rs", "replace",
     "    #[inline]\n    fn as_raw(&self) -> *mut bindings::sg_table {\n        self.inner.0.get()\n"),
    ("rust/kernel/lib.rs", "before", r"pub mod sizes;"),
    ("rust/bindings/bindings_helper.h", "before", r"#include <kunit/test.h>"),
    ("rust/bindings/bindings_helper.h#layout", "after", r"#include <kunit/device.h>"),
    ("rust/bindings/bindings_helper.h#dma", "after", r"#include <linux/dma-mapping.h>"),
    ("rust/helpers/dma.c", "end", None),
    ("rust/helpers/dma.c#sync", "end", None),
    ("rust/helpers/dma.c#tests", "end", None),
    ("rust/helpers/page.c", "end", None),
    ("rust/helpers/scatterlist.c", "end", None),
    ("rust/helpers/scatterlist.c#tests", "end", None),
    ("rust/helpers/task.c", "end", None),
    ("rust/helpers/kunit.c", "end", None),
    ("rust/kernel/kunit.rs", "before", r"#\[cfg\(CONFIG_RUST_KUNIT_SELFTEST\)\]"),
    ("rust/helpers/dma.c#shmem", "end", None),
    ("rust/kernel/Kconfig.test", "before-last", r"endif"),
    ("rust/kernel/Kconfig.test#bench", "before-last", r"endif"),
    ("rust/kernel/Kconfig.test#shmem", "before-last", r"endif"),
    ("rust/helpers/helpers.c#bench", "after", r'#include "scatterlist.c"'),
    ("rust/kernel/lib.rs#bench", "after", r"pub mod sg;"),
    ("samples/rust/Kconfig", "before", r"config SAMPLE_RUST_DEBUGFS"),
    ("samples/rust/Makefile", "after", r"obj-\$\(CONFIG_SAMPLE_RUST_DMA\).*"),
    ("Documentation/rust/index.rst", "after", r"    testing"),
    ("MAINTAINERS#docs", "before", r"F:\trust/helpers/dma.c"),
    ("MAINTAINERS#sg", "after", r"F:\trust/kernel/scatterlist.rs"),
    ("MAINTAINERS#sample", "after", r"F:\tsamples/rust/rust_dma.rs"),
]


def die(msg):
    sys.exit(f"error: overlay: {msg}")


def sha(text):
    return hashlib.sha1(text.encode()).hexdigest()


def write_if_changed(path, text):
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def apply(name, text, add, where, anchor):
    if add in text:
        return text
    if where == "end":
        return text + add
    if where == "replace":
        if anchor not in text:
            die(f"{name}: no text to replace; this kernel tree differs from what the overlay expects")
        return text.replace(anchor, add, 1)
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if re.fullmatch(anchor, line.rstrip("\n"))]
    if not hits:
        die(f"{name}: no line matches '{anchor}'; this kernel tree differs from what the overlay expects")
    i = hits[-1] if where.endswith("last") else hits[0]
    i += 1 if where == "after" else 0
    return "".join(lines[:i]) + add + "".join(lines[i:])


def edit(name, edits):
    path = KDIR / name
    if os.environ.get("OVERLAY_ONLY") is not None:
        # A subset, on top of earlier subsets (`make patches`): edit the file as it is.
        text = path.read_text()
        for add, where, anchor in edits:
            text = apply(name, text, add, where, anchor)
        return write_if_changed(path, text)
    if not path.exists():
        die(f"{name} is missing from {KDIR}: is KDIR a Linux 7.x tree?")
    current = path.read_text()
    pristine_file = STATE / (name + ".pristine")
    written_file = STATE / (name + ".written")
    pristine = pristine_file.read_text() if pristine_file.exists() else None
    written = written_file.read_text() if written_file.exists() else None
    # Trust the pristine copy only if the tree still holds it or what we last wrote.
    if pristine is None or sha(current) not in (sha(pristine), written):
        pristine = current
        write_if_changed(pristine_file, pristine)
    text = pristine
    for add, where, anchor in edits:
        text = apply(name, text, add, where, anchor)
    changed = write_if_changed(path, text)
    write_if_changed(written_file, sha(text))
    return changed


def convert(name, base):
    path = KDIR / name
    ours = (REPO / name).read_text()
    current = path.read_text()
    written_file = STATE / (name + ".written")
    written = written_file.read_text() if written_file.exists() else None
    if current == ours:
        return False
    if sha(current) not in (base, written):
        print(f"==> overlay: {name} is not the version kernel::sg converts; kept as it is",
              file=sys.stderr)
        return False
    write_if_changed(written_file, sha(ours))
    return write_if_changed(path, ours)


def wanted(name):
    """OVERLAY_ONLY (space-separated paths, or file#tag for one edit) limits the overlay to
    those: `make patches` builds its series one group at a time. OVERLAY_EXCLUDE leaves some
    out (what is ours but not for upstream, e.g. the benchmark)."""
    only = os.environ.get("OVERLAY_ONLY")
    excluded = os.environ.get("OVERLAY_EXCLUDE", "").split()
    return (only is None or name in only.split()) and name not in excluded


def ours(converted):
    """Our files in the repository: the new ones, or the converted upstream ones."""
    if converted:
        return sorted(CONVERTED)
    return [str(src.relative_to(REPO)) for top in NEW_FILES for src in sorted((REPO / top).rglob("*"))
            if src.is_file() and str(src.relative_to(REPO)) not in CONVERTED]


def main():
    # `overlay.py --list new|converted`: our files, for the gates (no KDIR needed).
    if sys.argv[1:2] == ["--list"]:
        print("\n".join(ours(sys.argv[2] == "converted")))
        return
    if not (KDIR / "Makefile").exists() or not (KDIR / "rust").is_dir():
        die(f"{KDIR} is not a kernel tree with Rust support (no Makefile or rust/)")
    copied = sum(write_if_changed(KDIR / rel, (REPO / rel).read_text())
                 for rel in ours(converted=False) if wanted(rel))
    by_file = {}
    for tagged, where, anchor in EDITS:
        name = tagged.partition("#")[0]
        if not (wanted(tagged) and (wanted(name) or "#" in tagged)):
            continue
        by_file.setdefault(name, []).append((snippet(tagged), where, anchor))
    edited = sum(edit(name, edits) for name, edits in by_file.items())
    edited += sum(convert(name, base) for name, base in CONVERTED.items() if wanted(name))
    print(f"==> overlay: {copied} file(s) copied, {edited} file(s) edited in {KDIR}", file=sys.stderr)


main()
