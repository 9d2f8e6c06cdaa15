#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench.py LOG RESULTS: the "sg-bench:" lines of one boot as RESULTS/bench.md (a Markdown
table of medians, spreads, ratios and targets) and RESULTS/bench.svg (the ratios, by gnuplot)."""

import re
import subprocess
import sys
from pathlib import Path

log, results = Path(sys.argv[1]), Path(sys.argv[2])
runs, sizes = {}, ""
for line in log.read_text(errors="replace").splitlines():
    m = re.search(r"sg-bench: (\S+) (\d+) (\S+) (\d+) (\d+) (\d+)$", line)
    if m:
        op, n, imp, med, p10, p90 = m.groups()
        runs.setdefault((op, int(n)), {})[imp] = (int(med), int(p10), int(p90))
    m = re.search(r"sg-bench: size_of (.*)$", line)
    if m:
        sizes = m.group(1)

# (operation, what it is compared with, ratio wanted, how the ratio is read)
TARGETS = {
    "dma_iter": [("C", 1.05, "sg/C <= 1.05"), ("scatterlist", 1 / 1.5, "sg/scatterlist <= 0.67")],
    "cpu_iter": [("C", 1.05, "sg/C <= 1.05")],
    "map_unmap": [("C", 1.02, "sg/C <= 1.02")],
    "vvec_map_drop": [("scatterlist", 1.0, "sg/scatterlist <= 1.0")],
}


def cell(t):
    return f"{t[0]} ({t[1]}–{t[2]})" if t else "–"


rows, plot = [], []
for (op, n), imps in sorted(runs.items()):
    sg = imps.get("kernel::sg")
    for other, limit, text in TARGETS.get(op, []):
        o = imps.get(other)
        if not (sg and o and o[0]):
            continue
        ratio = sg[0] / o[0]
        verdict = "met" if ratio <= limit else f"missed by {100 * (ratio / limit - 1):.0f}%"
        rows.append(f"| {op} | {n} | {cell(sg)} | {other}: {cell(o)} | {ratio:.2f} | {text} | {verdict} |")
        plot.append((f"{op} {n} vs {other}", ratio, limit))

md = ["| operation | entries | kernel::sg ns, median (p10–p90) | other ns | ratio | target | verdict |",
      "|---|---|---|---|---|---|---|", *rows, "", f"Sizes in bytes: {sizes}" if sizes else ""]
results.mkdir(parents=True, exist_ok=True)
(results / "bench.md").write_text("\n".join(md) + "\n")
data = results / "bench.dat"
data.write_text("".join(f'"{name}" {r:.3f} {lim:.3f}\n' for name, r, lim in plot))
gp = f"""set terminal svg size 1000,{200 + 22 * len(plot)} dynamic noenhanced font 'sans,11'
set output '{results / "bench.svg"}'
set title 'kernel::sg time / other time (median, one boot under QEMU TCG): below the target is better'
set style data histograms
set style fill solid 0.8
set boxwidth 0.8
set xtics rotate by -40
set yrange [0:*]
set grid ytics
plot '{data}' using 2:xtic(1) title 'ratio' lc rgb '#3a7bd5', '' using 0:3 with points pt 7 lc rgb '#d53a3a' title 'target'
"""
subprocess.run(["gnuplot"], input=gp, text=True, check=True)
data.unlink()
print("\n".join(md))
print(f"==> bench: {results / 'bench.md'} and {results / 'bench.svg'}")
