#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench.py TIME-LOG ICOUNT-LOG RESULTS: the "sg-bench:" lines of two boots of the benchmark as
RESULTS/bench.md (per row: kernel::sg and the other side, in ns from the timed boot and in
instructions from the boot under QEMU's -icount shift=0, where one virtual ns is one
instruction; ratios, targets, verdicts) and RESULTS/bench.svg (the ratios, by gnuplot)."""

import re
import subprocess
import sys
from pathlib import Path


def parse(log):
    """{(op, n): {implementation: (median, p10, p90)}} and the size_of line of one boot."""
    runs, sizes = {}, ""
    for line in Path(log).read_text(errors="replace").splitlines():
        if m := re.search(r"sg-bench: (\S+) (\d+) (\S+) (\d+) (\d+) (\d+)$", line):
            op, n, imp, med, p10, p90 = m.groups()
            runs.setdefault((op, int(n)), {})[imp] = (int(med), int(p10), int(p90))
        if m := re.search(r"sg-bench: size_of (.*)$", line):
            sizes = m.group(1)
    return runs, sizes


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


timed, sizes = parse(sys.argv[1])
counted, _ = parse(sys.argv[2])
results = Path(sys.argv[3])
rows, plot = [], []
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
        plot.append((f"{op} {n} vs {other}", ratio, iratio or 0, limit))

md = ["| operation | entries | vs | target | kernel::sg ns, median (p10–p90) | other ns | ratio | verdict "
      "| kernel::sg instructions | other instructions | ratio | verdict |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows, "",
      f"Sizes in bytes: {sizes}" if sizes else ""]
results.mkdir(parents=True, exist_ok=True)
(results / "bench.md").write_text("\n".join(md) + "\n")
data = results / "bench.dat"
data.write_text("".join(f'"{name}" {r:.3f} {i:.3f} {lim:.3f}\n' for name, r, i, lim in plot))
gp = f"""set terminal svg size 1200,{240 + 22 * len(plot)} dynamic noenhanced font 'sans,11'
set output '{results / "bench.svg"}'
set title 'kernel::sg / other (median, one boot each under QEMU TCG): time, and instructions under -icount; below the target is better'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set xtics rotate by -40
set yrange [0:*]
set grid ytics
plot '{data}' using 2:xtic(1) title 'time ratio' lc rgb '#3a7bd5', '' using 3 title 'instruction ratio' lc rgb '#7bd53a', '' using 0:4 with points pt 7 lc rgb '#d53a3a' title 'target'
"""
subprocess.run(["gnuplot"], input=gp, text=True, check=True)
data.unlink()
print("\n".join(md))
print(f"==> bench: {results / 'bench.md'} and {results / 'bench.svg'}")
