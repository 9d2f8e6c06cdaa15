#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench.py TIME-LOG ICOUNT-LOG [INLINE-TIME-LOG INLINE-ICOUNT-LOG] RESULTS: the "sg-bench:" lines
of two boots of the GCC benchmark kernel (and of the Clang 22 one with CONFIG_RUST_INLINE_HELPERS,
if given) as RESULTS/bench.md (a table per kernel; per row: kernel::sg and the other side, in ns
from the timed boot and in instructions from the boot under QEMU's -icount shift=0, where one
virtual ns is one instruction; ratios, targets, verdicts) and RESULTS/bench.svg (by gnuplot: the
GCC kernel's ratios and the Clang 22 kernel's instruction ratios)."""

import re
import subprocess
import sys
from pathlib import Path


def parse(log):
    """{(op, n): {implementation: (median, p10, p90)}}, the size_of line and the compiler (from
    "Linux version") of one boot."""
    runs, sizes, cc = {}, "", ""
    for line in Path(log).read_text(errors="replace").splitlines():
        if m := re.search(r"Linux version \S+ \(\S+\) \((.+)\) #\d", line):
            cc = m.group(1)
        if m := re.search(r"sg-bench: (\S+) (\d+) (\S+) (\d+) (\d+) (\d+)$", line):
            op, n, imp, med, p10, p90 = m.groups()
            runs.setdefault((op, int(n)), {})[imp] = (int(med), int(p10), int(p90))
        if m := re.search(r"sg-bench: size_of (.*)$", line):
            sizes = m.group(1)
    return runs, sizes, cc


def by_size(small, rest):
    """A target of `small` for one entry and `rest` for more."""
    return lambda n: small if n == 1 else rest


# operation -> [(what it is compared with, ratio wanted for n entries)], from issue #13.
TARGETS = {
    "dma_iter": [("C", by_size(1.10, 1.05)), ("scatterlist", lambda n: 1 / 1.5)],
    "dma_iter_devres": [("C", by_size(1.10, 1.05))],
    "cpu_iter": [("C", by_size(1.10, 1.05))],
    "map_bound_unmap": [("C", by_size(1.05, 1.02))],
    "map_unmap": [("C", lambda n: {1: 2.0, 64: 1.10}.get(n, 1.02))],
    "sync": [("C", by_size(1.10, 1.05))],
    "sync_devres": [("C", by_size(1.10, 1.05))],
    "dma_window": [("C", by_size(1.10, 1.05))],
    "sync_range": [("C", by_size(1.10, 1.05))],
    "vvec_map_drop": [("scatterlist", lambda n: 1.0)],
    "vvec_map_devres_drop": [("scatterlist", lambda n: 1.0)],
}


def cell(t):
    return f"{t[0]} ({t[1]}–{t[2]})" if t else "–"


def verdict(ratio, limit):
    return "met" if ratio <= limit else f"missed by {100 * (ratio / limit - 1):.0f}%"


def table(timed, counted):
    """The markdown rows of one kernel's two boots, and {row name: (time ratio, instruction
    ratio or 0, target)} for the plot."""
    rows, plot = [], {}
    for (op, n), imps in sorted(timed.items()):
        sg, insns = imps.get("kernel::sg"), counted.get((op, n), {})
        for other, target in TARGETS.get(op, []):
            o = imps.get(other)
            if not (sg and o and o[0]):
                continue
            limit, ratio = target(n), sg[0] / o[0]
            si, oi = insns.get("kernel::sg"), insns.get(other)
            iratio = si[0] / oi[0] if si and oi and oi[0] else None
            icells = f"{cell(si)} | {cell(oi)} | {iratio:.3f} | {verdict(iratio, limit)}" if iratio else "– | – | – | –"
            rows.append(f"| {op} | {n} | {other} | ≤ {limit:.2f} | {cell(sg)} | {cell(o)} | {ratio:.2f} | "
                        f"{verdict(ratio, limit)} | {icells} |")
            plot[f"{op} {n} vs {other}"] = (ratio, iratio or 0, limit)
    return ["| operation | entries | vs | target | kernel::sg ns, median (p10–p90) | other ns | ratio | verdict "
            "| kernel::sg instructions | other instructions | ratio | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows], plot


# (title, what it is) of each kernel, in the order of the log pairs on the command line.
KERNELS = [("GCC", "the test kernel's configuration without the checkers, built with GCC"),
           ("Clang 22, inline helpers", "the same built with Clang 22 (`LLVM=-22`, rustc's LLVM) and "
            "`configs/inline-helpers.config`: `CONFIG_RUST_INLINE_HELPERS=y`, the C helpers of "
            "`rust/helpers/` (the benchmark's C loops among them) inlined into the Rust code that calls them")]

*logs, results = sys.argv[1:]
if len(logs) not in (2, 4):
    sys.exit(__doc__)
results, kernels = Path(results), KERNELS[:len(logs) // 2]
md = ["# `make bench`", "",
      "kernel::sg against the C loops a driver writes and against `kernel::scatterlist`: medians "
      "(p10–p90) of 15 samples, in ns from a timed boot under QEMU TCG and in instructions from a "
      "boot under `-icount shift=0`. One table per kernel:", "",
      *(f"- **{title}**: {what}." for title, what in kernels)]
plots, sizes = [], ""
for (title, _), tlog, ilog in zip(kernels, logs[::2], logs[1::2]):
    timed, s, cc = parse(tlog)
    counted, _, _ = parse(ilog)
    rows, plot = table(timed, counted)
    md += ["", f"## {title}", "", f"Compiler (boot log): {cc}", ""] if cc else ["", f"## {title}", ""]
    md += rows
    plots.append(plot)
    sizes = sizes or s
md += ["", f"Sizes in bytes: {sizes}" if sizes else ""]
results.mkdir(parents=True, exist_ok=True)
(results / "bench.md").write_text("\n".join(md) + "\n")
data = results / "bench.dat"
# Per GCC row: its time and instruction ratios, the Clang 22 inline-helpers kernel's instruction
# ratio (0 if there is none) and the target.
inline = plots[1] if len(plots) > 1 else {}
data.write_text("".join(f'"{name}" {r:.3f} {i:.3f} {inline.get(name, (0, 0))[1]:.3f} {lim:.3f}\n'
                        for name, (r, i, lim) in plots[0].items()))
bars = ", '' using 4 title 'instruction ratio, Clang 22 inline helpers' lc rgb '#d5a13a'" if inline else ""
gp = f"""set terminal svg size 1200,{240 + 22 * len(plots[0])} dynamic noenhanced font 'sans,11'
set output '{results / "bench.svg"}'
set title 'kernel::sg / other (median, one boot each under QEMU TCG): time, and instructions under -icount; below the target is better'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set xtics rotate by -40
set yrange [0:*]
set grid ytics
plot '{data}' using 2:xtic(1) title 'time ratio, GCC' lc rgb '#3a7bd5', '' using 3 title 'instruction ratio, GCC' lc rgb '#7bd53a'{bars}, '' using 0:5 with points pt 7 lc rgb '#d53a3a' title 'target'
"""
subprocess.run(["gnuplot"], input=gp, text=True, check=True)
data.unlink()
print("\n".join(md))
print(f"==> bench: {results / 'bench.md'} and {results / 'bench.svg'}")
