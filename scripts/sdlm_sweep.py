"""Choose the sdlm defaults (eps = lr, mu) by a small sweep on mnist1989 - never on its test set.

The 7291 training digits are split: the first 6291 train, the last 1000 validate. Every (eps, mu)
pair runs the faithful 1989 net (scaled tanh, tanh head + MSE) for 23 passes over a few seeds on
the fast engine; the table gives mean validation error. The test split is not loaded.

    python scripts/sdlm_sweep.py [--seeds 2] [--passes 23] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from types import SimpleNamespace

from lecun1989 import train
from lecun1989.config import Config
from lecun1989.store import provenance

VALIDATION = 1000


def holdout(data):
    x, y = data.train.x, data.train.y
    n = x.shape[0] - VALIDATION
    return SimpleNamespace(train=SimpleNamespace(x=x[:n], y=y[:n]), test=SimpleNamespace(x=x[n:], y=y[n:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2, help="seeds per setting (default: %(default)s)")
    ap.add_argument("--passes", type=int, default=23, help="passes (default: %(default)s)")
    ap.add_argument("--eps", default="1e-4,3e-4,1e-3,3e-3,1e-2", help="eps values (default: %(default)s)")
    ap.add_argument("--mu", default="0.002,0.02,0.2", help="mu values (default: %(default)s)")
    ap.add_argument("--activation", default="scaled-tanh", help="(default: %(default)s)")
    ap.add_argument("--json", default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    data = holdout(train.load_data(Config()))
    rows = []
    t0 = time.perf_counter()
    for eps, mu in itertools.product([float(v) for v in args.eps.split(",")], [float(v) for v in args.mu.split(",")]):
        errs, tr_errs = [], []
        for seed in range(1337, 1337 + args.seeds):
            cfg = Config(optimizer="sdlm", activation=args.activation, lr=eps, sdlm_mu=mu,
                         passes=args.passes, seed=seed)
            r = train.run(cfg, engine="fast", data=data, progress=False)
            errs.append(100 * r.final("test")["error"] if r.diverged_at is None else float("nan"))
            tr_errs.append(100 * r.final("train")["error"] if r.diverged_at is None else float("nan"))
        row = {"eps": eps, "mu": mu, "seeds": args.seeds, "passes": args.passes,
               "train_error_mean": statistics.fmean(tr_errs), "val_error_mean": statistics.fmean(errs),
               "val_errors": errs}
        rows.append(row)
        print(f"eps {eps:<8g} mu {mu:<6g} train {row['train_error_mean']:6.2f}%  validation {row['val_error_mean']:6.2f}%  {errs}",
              flush=True)
    best = min((r for r in rows if r["val_error_mean"] == r["val_error_mean"]), key=lambda r: r["val_error_mean"])
    print(f"best: eps {best['eps']:g}, mu {best['mu']:g} (validation {best['val_error_mean']:.2f}%); "
          f"{time.perf_counter() - t0:.0f} s; {provenance()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "best": best, "provenance": provenance(),
                       "validation": f"last {VALIDATION} of the mnist1989 training digits"}, f, indent=2)


if __name__ == "__main__":
    main()
