"""Is p4 held back by the edges of the hunt's ranges? p4's eps (5.22e-5) sits at the bottom of the
searched range (5e-5 .. 3e-3), its mu (3.65e-3) near the bottom of 2e-3 .. 0.5 and its target
(1.48) near the top of 0.6 .. 1.6. This moves one of them at a time past the edge and re-trains
on the hunt's validation split (the last 1000 USPS training digits; zip.test is never read) on
the confirm seeds, paired with p4's own reading on the same seeds.

    PYTHONPATH=src python scripts/p4_edges.py --data-root /work/shared/data --jobs 1 \
        > docs/data/hunt/edges.log   # writes docs/data/hunt/edges.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scipy import stats

from lecun1989 import hunt
from lecun1989.store import write_text

P4 = {"h2": "lenet5", "target": 1.48, "eps": 5.22e-5, "schedule": "constant", "mu": 3.65e-3,
      "sample": 500, "running": 0.001, "init": "fanin"}          # config.HUNT_P4 in the hunt's terms
GRID = {"eps": (1.5e-5, 2.5e-5, 3.7e-5, 7.5e-5), "mu": (1e-3, 2e-3, 7e-3), "target": (1.3, 1.6, 1.7)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None, help="folder holding usps/ (default: lecun1989's data root)")
    ap.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    ap.add_argument("--seeds", type=int, default=10, help="confirm seeds 2001.. (default 10)")
    ap.add_argument("--out", default="docs/data/hunt/edges.json", help="results file (default %(default)s)")
    args = ap.parse_args()
    seeds = hunt.CONFIRM_SEEDS[:args.seeds]
    points = {"p4": P4}
    for k, values in GRID.items():
        for v in values:
            points[f"{k} {v:g}"] = {**P4, k: v}
    jobs = [(name, hunt.config_of(p, seed=s).to_dict(), args.data_root, hunt.VALIDATION)
            for name, p in points.items() for s in seeds]
    rows = hunt._retrain("edges ", jobs, args.jobs, lambda line: print(line, flush=True), 14)
    by = {name: {r["seed"]: r for r in rows if r["name"] == name} for name in points}
    base = [by["p4"][s]["val_misses"] for s in seeds]
    res = {}
    for name, p in points.items():
        misses = [by[name][s]["val_misses"] for s in seeds]
        d = [a - b for a, b in zip(misses, base)]
        entry = {"params": p, "val_misses": misses, "val_error_mean": statistics.fmean(misses) / 10,
                 "train_error_mean": statistics.fmean(100 * by[name][s]["train_error"] for s in seeds),
                 "delta_val_misses_mean": statistics.fmean(d)}
        if name != "p4":
            t = stats.ttest_rel(misses, base) if any(d) else None
            entry["delta_val_misses_95ci"] = (list(t.confidence_interval()) if t is not None else [0.0, 0.0])
            entry["p_paired_t"] = float(t.pvalue) if t is not None else 1.0
        res[name] = entry
        ci = entry.get("delta_val_misses_95ci")
        print(f"{name:<14s} validation {entry['val_error_mean']:5.2f}%  delta misses "
              f"{entry['delta_val_misses_mean']:+5.1f}" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")
              + f"  train {entry['train_error_mean']:.2f}%", flush=True)
    out = {"what": "p4's reading with one unknown moved past the hunt's range; validation digits only "
                   "(last 1000 of zip.train); delta = paired difference of validation misses against p4",
           "seeds": list(seeds), "passes": 23, "points": res, "provenance": hunt._provenance()}
    write_text(Path(args.out), json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
