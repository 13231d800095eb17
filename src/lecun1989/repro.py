"""The `repro`, `train` and `data` commands: what they print, around `train.run`.

Library code elsewhere returns records; this module turns them into the lines a user reads.
"""

from __future__ import annotations

import os
import platform
import sys
import time

from . import metrics
from .config import Config
from .model import counts

# Published figures (REFERENCE.md): (train error %, train misses, test error %, test misses).
PAPER = ("paper (LeCun et al. 1989, USPS, 23 passes)", 0.14, 10, 5.00, 102)
ANCHOR = ("anchor reproduction (2022, M1 CPU)", 0.62, 45, 4.09, 82)
ANCHOR_HERE = ("anchor script on this project's machine", 0.88, 63, 3.79, 76)   # reference/anchor-repro-train-first.log


def provenance() -> dict:
    """Machine and library versions, written next to every figure."""
    import numpy
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"machine": f"{platform.machine()}, {cpu}, {os.cpu_count()} cores",
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def header_lines(cfg: Config, engine: str) -> list[str]:
    c = counts()
    prov = provenance()
    opts = " ".join(f"{k}={v}" for k, v in cfg.to_dict().items())
    return [
        f"net: {c['parameters']:,} parameters, {c['units']:,} units (incl. 256 inputs), "
        f"{c['connections']:,} connections (incl. biases), {c['macs']:,} multiply-accumulates",
        f"data: {cfg.data}",
        f"config: {opts} (hash {cfg.hash()})",
        f"engine: {engine}; " + ", ".join(f"{k} {v}" for k, v in prov.items() if k != "machine"),
        f"machine: {prov['machine']}",
    ]


def print_pass(p: int, train: dict, test: dict) -> None:
    print(p)
    print(metrics.eval_line("train", train))
    print(metrics.eval_line("test", test), flush=True)


def _row(label: str, tr_err: float, tr_miss: int, te_err: float, te_miss: int) -> str:
    return f"| {label:<44s} | {tr_err:6.2f}% ({tr_miss:>3d}) | {te_err:6.2f}% ({te_miss:>3d}) |"


def closing_table(train: dict, test: dict, cfg: Config, engine: str) -> list[str]:
    lines = [f"| {'':<44s} | {'train error':>13s} | {'test error':>13s} |",
             f"|{'-' * 46}|{'-' * 15}|{'-' * 15}|"]
    for label, a, b, c, d in (PAPER, ANCHOR, ANCHOR_HERE):
        lines.append(_row(label, a, b, c, d))
    lines.append(_row(f"this run (seed {cfg.seed}, {cfg.passes} passes, {engine})",
                      100 * train["error"], train["misses"], 100 * test["error"], test["misses"]))
    lines.append(f"train/test digits: {train['n']}/{test['n']}; data {cfg.data}. The paper used the real "
                 "USPS digits; the anchor and this run use the MNIST simulation.")
    return lines


def _run(cfg: Config, engine: str, data_root, out) -> int:
    from .train import run
    for line in header_lines(cfg, engine):
        print(line)
    t0 = time.perf_counter()
    result = run(cfg, engine=engine, data_root=data_root, out=out, on_pass=print_pass)
    wall = time.perf_counter() - t0
    if result.diverged_at is not None:
        print(f"lecun1989: run diverged (non-finite loss) at pass {result.diverged_at}", file=sys.stderr)
        return 1
    return result, wall


def repro(cfg: Config, *, engine: str = "fast", data_root=None, out=None) -> int:
    print("lecun1989 repro: LeCun et al. 1989, the faithful 1989 net on the simulated 1989 data")
    res = _run(cfg, engine, data_root, out)
    if isinstance(res, int):
        return res
    result, wall = res
    print()
    for line in closing_table(result.final("train"), result.final("test"), cfg, engine):
        print(line)
    print(f"wall time {wall:.1f} s" + (f"; run folder {out}" if out else ""))
    return 0


def train_one(cfg: Config, *, engine: str = "fast", data_root=None, out=None) -> int:
    print("lecun1989 train")
    res = _run(cfg, engine, data_root, out)
    if isinstance(res, int):
        return res
    result, wall = res
    tr, te = result.final("train"), result.final("test")
    print(f"final (pass {cfg.passes}): train {100 * tr['error']:.2f}% ({tr['misses']}/{tr['n']}), "
          f"test {100 * te['error']:.2f}% ({te['misses']}/{te['n']}); wall time {wall:.1f} s; run folder {out}")
    return 0


def data_command(action: str, name: str | None, root) -> int:
    from . import data
    if action == "fetch":
        paths = data.fetch(name, root)
        for p in paths:
            print(f"ok  {p}")
        if not paths:
            print(f"{name}: embedded in the package, nothing to fetch")
        return 0
    rows = data.status(root, verify=(action == "verify"))
    print(f"data root: {data.data_root(root)}")
    bad = 0
    for r in rows:
        state = ("missing" if not r["present"] else "ok" if r["verified"] else
                 "BAD" if r["verified"] is False else "present")
        bad += state == "BAD"
        print(f"{r['name']:<22s} {r['file']:<28s} {state:<8s} {r['note']}")
    if action == "verify":
        print(f"{bad} bad file(s)" if bad else "every present file checks out")
    return 1 if bad else 0
