"""Time whole ladders from scratch: `lecun1989 ladder NAME --seeds N` into a fresh temporary folder.

    python benchmarks/ladder.py                       # the anchor ladder, 5 seeds (target <= 300 s here)
    python benchmarks/ladder.py --ladders anchor data --data-root /work/shared/data --json out.json

Each ladder runs as the user would run it (the `lecun1989` command, all cores) in a new folder,
so nothing is reused. Printed and written (--json) per ladder: wall seconds, summed seconds of
the runs, digits presented (training examples x passes, over every run), the throughput that
gives, and the load average before and after (other work on the machine slows every figure).
Issue 4's target: the anchor ladder (5 steps x 5 seeds = 1,160 passes of 7,291 digits) in at most
5 minutes on a 2-core machine; the anchor script's loop would need about 6 hours for the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANCHOR_TARGET_S = 300.0          # `ladder anchor --seeds 5` in 5 minutes: short enough to rerun after a change
ANCHOR_SCRIPT_PASS_S = 18.0      # the anchor's per-sample loop, ~16-20 s per pass here (docs/experiments.md)


def digits_presented(results: dict) -> int:
    """Training examples x passes over every distinct run of a ladder's results.json."""
    total, seen = 0, set()
    for row in results["steps"]:
        for r in row["runs"]:
            if r["dir"] in seen:
                continue
            seen.add(r["dir"])
            total += row["passes"] * (row["train_digits"] or 0)
    return total


def time_ladder(name: str, seeds: int, jobs: int | None, data_root: str | None, keep: str | None) -> dict:
    out = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"ladder-{name}-"))
    if keep and out.exists():
        shutil.rmtree(out)
    cmd = ["lecun1989", "ladder", name, "--seeds", str(seeds), "--out", str(out)]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    if data_root:
        cmd += ["--data-root", data_root]
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    if proc.returncode != 0:
        print(proc.stdout, file=sys.stderr)
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    res = json.loads((out / "results.json").read_text())
    digits = digits_presented(res)
    report = {
        "ladder": name, "seeds": seeds, "jobs": jobs or os.cpu_count(), "command": " ".join(cmd),
        "wall_s": round(wall, 1), "run_seconds_total": res["run_seconds_total"],
        "runs": sum(len(row["runs"]) for row in res["steps"] if row["report_pass"] == row["passes"]),
        "digits_presented": digits, "digits_per_s": round(digits / wall),
        "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in load1],
        "provenance": res["provenance"],
    }
    if name == "anchor":
        passes = digits / 7291
        report["target_s"] = ANCHOR_TARGET_S
        report["meets_target"] = wall <= ANCHOR_TARGET_S
        report["anchor_script_estimate_s"] = round(passes * ANCHOR_SCRIPT_PASS_S)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladders", nargs="+", default=["anchor"], choices=["anchor", "learner", "data"],
                    help="ladders to time, one after the other (default: anchor)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per step (default: %(default)s)")
    ap.add_argument("--data-seeds", type=int, default=None,
                    help="seeds for the data ladder, which takes far longer (default: --seeds)")
    ap.add_argument("--jobs", type=int, default=None, help="processes (default: the cores)")
    ap.add_argument("--data-root", default=None, help="folder holding mnist/ (for the data ladder)")
    ap.add_argument("--keep", metavar="DIR", default=None,
                    help="write the ladders to DIR/<name> (emptied first) instead of a temporary folder")
    ap.add_argument("--json", metavar="PATH", default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    reports = []
    for name in args.ladders:
        seeds = args.data_seeds if (name == "data" and args.data_seeds) else args.seeds
        keep = os.path.join(args.keep, name) if args.keep else None
        r = time_ladder(name, seeds, args.jobs, args.data_root, keep)
        reports.append(r)
        line = (f"{name:<8s} {r['runs']:>3d} runs  wall {r['wall_s']:8.1f} s  (runs summed {r['run_seconds_total']:8.1f} s)  "
                f"{r['digits_per_s']:>8,d} digits/s  load {r['loadavg_before'][0]:.1f} -> {r['loadavg_after'][0]:.1f}")
        if "target_s" in r:
            line += (f"  target <= {r['target_s']:.0f} s: {'met' if r['meets_target'] else 'MISSED'}"
                     f"; the anchor script's loop: ~{r['anchor_script_estimate_s'] / 3600:.1f} h")
        print(line, flush=True)
    if args.json:
        from lecun1989.store import write_json
        write_json(Path(args.json), reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
