"""Do two families of runs of the same ladder give the same distribution of test misses?

Written for our random streams against the anchor's (one folder trained with `--rng ours`, the
default, one with `--rng anchor`); `--names` labels other pairs, e.g. the fast engine against the
lockstep engine (`--names fast lockstep`). For each row present in both ladder folders, over the
seeds both hold or each one's own: the two families' mean test misses,
Welch's 95% interval of the difference and a Mann-Whitney U test (stats.two_sample), and where
the published runs and the anchor's scripts run on this kind of machine fall among each family.

    python scripts/compare_streams.py OURS_DIR ANCHOR_DIR [OURS_DIR ANCHOR_DIR ...] --json out.json
    python scripts/compare_streams.py FAST_DIR LOCKSTEP_DIR --names fast lockstep

Prints a markdown table; --json writes every figure with the provenance of both ladders.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lecun1989.stats import StepStats, holm, place, two_sample
from lecun1989.store import write_json


def rows_of(folder: Path) -> tuple[dict, dict[str, StepStats]]:
    """A ladder folder's results.json, or such a file itself (docs/data/ladder-*.json)."""
    res = json.loads((folder if folder.is_file() else folder / "results.json").read_text())
    return res, {r["step"]: StepStats.from_json(r) for r in res["steps"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", metavar="DIR",
                    help="pairs of ladder folders (or their results.json): ours, then anchor streams")
    ap.add_argument("--json", metavar="FILE", default=None, help="write the comparison here (default: none)")
    ap.add_argument("--names", nargs=2, metavar=("FIRST", "SECOND"), default=("ours", "anchor streams"),
                    help="what the first and the second folder of each pair hold (default: ours, anchor streams)")
    args = ap.parse_args(argv)
    if len(args.dirs) % 2:
        ap.error("give ladder folders in pairs: OURS_DIR ANCHOR_DIR")
    out_rows, sources = [], []
    for ours_dir, anchor_dir in zip(args.dirs[::2], args.dirs[1::2]):
        res_o, ours = rows_of(Path(ours_dir))
        res_a, anch = rows_of(Path(anchor_dir))
        sources.append({"ours": str(ours_dir), "anchor": str(anchor_dir), "seeds_ours": res_o["seeds"],
                        "seeds_anchor": res_a["seeds"], "provenance": res_o["provenance"],
                        "provenance_second": res_a["provenance"]})
        for step, a in anch.items():
            o = ours.get(step)
            if o is None or len(o.misses) < 2 or len(a.misses) < 2:
                continue
            t = two_sample(list(o.misses.values()), list(a.misses.values()), step)
            places = [{"source": p.source, "misses": p.misses,
                       "among_ours": place(list(o.misses.values()), p.misses, p.source).percentile,
                       "among_anchor": place(list(a.misses.values()), p.misses, p.source).percentile}
                      for p in o.placements]
            out_rows.append({**t.to_json(), "placements": places})
    for r, p in zip(out_rows, holm([r["p_mannwhitney"] for r in out_rows])):
        r["p_mannwhitney_holm"] = p
    a_name, b_name = args.names
    print(f"| step | n {a_name} / {b_name} | mean misses {a_name} | mean misses {b_name} | {b_name} - {a_name} "
          f"[95% CI] | Mann-Whitney p (Holm) | single runs: percentile among {a_name} / {b_name} |")
    print("|---|---|---|---|---|---|---|")
    for r in out_rows:
        pl = "; ".join(f"{p['source']} {p['misses']}: {p['among_ours']:.0f} / {p['among_anchor']:.0f}"
                       for p in r["placements"]) or "-"
        print(f"| {r['label']} | {r['n_a']} / {r['n_b']} | {r['mean_a']:.1f} | {r['mean_b']:.1f} | "
              f"{r['diff']:+.1f} [{r['low']:+.1f}, {r['high']:+.1f}] | {r['p_mannwhitney']:.2g} "
              f"({r['p_mannwhitney_holm']:.2g}) | {pl} |")
    if args.json:
        write_json(Path(args.json), {"rows": out_rows, "sources": sources, "names": list(args.names),
                                     "test": "Welch 95% interval of the mean difference; two-sided Mann-Whitney U, "
                                             "Holm-corrected over the rows"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
