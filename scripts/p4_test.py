"""p4's test figures over its seeds against the paper, from a `ladder paper` folder: a one-sample
t interval of the mean test error against the paper's 5.00% (published.PAPER), the band p4 aims at, and
the test / train MSE against both the run's own targets (+-1.48 for p4) and +-1.

    PYTHONPATH=src python scripts/p4_test.py runs/paper10 --data-root /work/shared/data > docs/data/hunt/p4_test.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from scipy import stats

from lecun1989 import metrics
from lecun1989.config import preset
from lecun1989.data import load_dataset
from lecun1989.published import PAPER
from lecun1989.store import load_checkpoint, provenance

PAPER_TEST_ERROR = PAPER.test_error     # percent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--steps", default="p1,p2,p4")
    ap.add_argument("--seeds", type=int, default=10, help="seeds 1337.. (the ladder's)")
    args = ap.parse_args()
    data = load_dataset("usps", args.data_root)
    out = {"provenance": provenance(), "steps": {}}
    for step in args.steps.split(","):
        rows = []
        for seed in range(1337, 1337 + args.seeds):
            d = Path(args.folder, "runs", preset(step).config.with_overrides(seed=seed).hash())
            model, cfg = load_checkpoint(d / "checkpoint.pt")
            row = {"seed": cfg.seed}
            with torch.no_grad():
                for split, s in (("train", data.train), ("test", data.test)):
                    o = model(s.x)
                    r = metrics.summarize(o, s.y, cfg.head, cfg.target)
                    row[f"{split}_misses"] = r["misses"]
                    row[f"{split}_error"] = 100 * r["error"]
                    row[f"{split}_mse_own_targets"] = r["loss"]
                    row[f"{split}_mse_pm1"] = metrics.loss_of(o, s.y, cfg.head, 1.0)
                    if split == "test":
                        row["test_reject_1pct"] = 100 * r["reject_1pct"]
            rows.append(row)
        err = [r["test_error"] for r in rows]
        n, m, sd = len(err), statistics.fmean(err), statistics.stdev(err)
        half = stats.t.ppf(0.975, n - 1) * sd / n ** 0.5
        mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0] if k != "seed"}
        out["steps"][step] = {
            "seeds": [r["seed"] for r in rows], "n": n, "mean": mean,
            "test_error_sd": sd, "test_error_95ci": [m - half, m + half],
            "vs_paper_5.00": {"difference": m - PAPER_TEST_ERROR, "95ci": [m - half - PAPER_TEST_ERROR, m + half - PAPER_TEST_ERROR],
                              "p_two_sided": float(stats.ttest_1samp(err, PAPER_TEST_ERROR).pvalue)},
            "band": {"mean_test_error<=5.5": m <= 5.5, "train_error<=0.5": mean["train_error"] <= 0.5,
                     "rejection_12+-3": 9.0 <= mean["test_reject_1pct"] <= 15.0},
            "runs": rows}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
