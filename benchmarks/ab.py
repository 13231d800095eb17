"""A/B speed of the fast engine: this checkout against another git revision, in one process.

    PYTHONPATH=src python benchmarks/ab.py REV [--rounds 12] [--examples 3000] [--json PATH]

The machines this project runs on are shared VMs whose speed drifts by 10-30% over seconds, so
two versions timed in separate processes minutes apart cannot be told apart by a few percent.
Here REV's `src/lecun1989` is exported (`git archive`) into a temporary folder as the package
`lecun1989_ab`, both engines are built in this one process, and their training pass (over the
first `--examples` training digits) and evaluation (the test digits) are timed alternately,
`--rounds` times each. Prints the best and the median microseconds per example of each version
and the ratios this / REV (below 1: this checkout is faster). Both versions are compiled in this
process (no child processes), which changes nothing in their speed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ["LECUN1989_FAST_COMPILING"] = "1"       # compile in this process (see the docstring)


def export(rev: str, dest: str) -> None:
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    tar = subprocess.run(["git", "archive", rev, "src/lecun1989"], cwd=root, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=tar, check=True)
    os.rename(os.path.join(dest, "src", "lecun1989"), os.path.join(dest, "lecun1989_ab"))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="the git revision to compare against (e.g. HEAD~1)")
    ap.add_argument("--rounds", type=int, default=12, help="alternating timings per version (default 12)")
    ap.add_argument("--examples", type=int, default=3000, help="training digits per timed pass (default 3000)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from measure import _data
    from lecun1989.config import Config
    from lecun1989.model import Net1989
    from lecun1989.store import write_json
    from lecun1989.train import net_config
    xtr, ytr, xte, _, data_name = _data()
    x, y = xtr[:args.examples], ytr[:args.examples]
    with tempfile.TemporaryDirectory() as tmp:
        export(args.rev, tmp)
        sys.path.insert(0, tmp)
        versions = {"this": importlib.import_module("lecun1989.fast"),
                    args.rev: importlib.import_module("lecun1989_ab.fast")}
        cfg = Config()
        engines = {}
        for name, mod in versions.items():
            mod.warm_up()
            engines[name] = mod.FastEngine(cfg, Net1989(net_config(cfg), seed=cfg.seed))
        times = {name: {"train": [], "eval": []} for name in versions}
        for _ in range(args.rounds):
            for name, eng in engines.items():
                t = time.perf_counter()
                eng.train_pass(x, y, cfg.lr)
                times[name]["train"].append((time.perf_counter() - t) / len(x) * 1e6)
                t = time.perf_counter()
                eng.predict(xte)
                times[name]["eval"].append((time.perf_counter() - t) / len(xte) * 1e6)
    res = {"rev": args.rev, "data": data_name, "rounds": args.rounds, "examples": len(x), "us": times}
    for part in ("train", "eval"):
        a, b = times["this"][part], times[args.rev][part]
        res[f"{part}_ratio_best"] = min(a) / min(b)
        res[f"{part}_ratio_median"] = float(np.median(a) / np.median(b))
        print(f"{part:5s} us per example: this best {min(a):.2f} median {np.median(a):.2f} | "
              f"{args.rev} best {min(b):.2f} median {np.median(b):.2f} | this/{args.rev}: "
              f"best {res[f'{part}_ratio_best']:.3f}, median {res[f'{part}_ratio_median']:.3f}")
    if args.json:
        write_json(Path(args.json), res)
    return res


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    main()
