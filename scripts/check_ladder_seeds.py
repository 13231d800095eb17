"""Do re-trained seeds repeat the documented ladder? Compares a ladder's results.json with the
committed one (docs/data/ladder-NAME.json), seed by seed, step by step (matched by name, else by
config hash, so the size ladder's s1-s1a4 check against the anchor ladder's a0-a4): the run id (config hash), the test
misses, and the test error and loss to the last bit, for every seed the two have in common.

Run after a change that must keep training bit for bit the same (a refactor, a new engine
option at its default):

    lecun1989 ladder anchor --seeds 5 --out runs/check-anchor --data-root /work/shared/data
    PYTHONPATH=src python scripts/check_ladder_seeds.py runs/check-anchor/results.json docs/data/ladder-anchor.json

Prints one line per step and exits 1 when any seed differs.
"""

from __future__ import annotations

import argparse
import json
import sys


def runs_by_seed(step: dict) -> dict[int, dict]:
    return {int(r["seed"]): r for r in step.get("runs", []) if r.get("status") == "done"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("new", help="results.json of the re-trained ladder")
    ap.add_argument("documented", help="the committed results (docs/data/ladder-NAME.json)")
    args = ap.parse_args()
    new, old = (json.load(open(p)) for p in (args.new, args.documented))
    old_steps = {s["step"]: s for s in old["steps"]}
    # another ladder's step with the same config (size's s1a4 is anchor's a4) is the same runs
    old_configs = {s["config_hash"]: s for s in old["steps"]}
    bad = 0
    for s in new["steps"]:
        o = old_steps.get(s["step"]) or old_configs.get(s["config_hash"])
        if o is None:
            print(f"{s['step']:5s} not in the documented ladder")
            continue
        a, b = runs_by_seed(s), runs_by_seed(o)
        common = sorted(set(a) & set(b))
        diff = [seed for seed in common
                if (a[seed]["dir"], a[seed]["test_misses"], a[seed]["test_error"], a[seed]["test_loss"])
                != (b[seed]["dir"], b[seed]["test_misses"], b[seed]["test_error"], b[seed]["test_loss"])]
        bad += len(diff)
        misses = " ".join(str(a[seed]["test_misses"]) for seed in common)
        print(f"{s['step']:5s} {s['config_hash']} {len(common)} seeds in common, "
              f"{'all identical' if not diff else 'DIFFERENT: ' + ', '.join(map(str, diff))} (test misses {misses})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
