"""What subnormal AdamW moments cost, and what storing them as zero (adamw.TINY) buys.

    PYTHONPATH=src python benchmarks/subnormal.py [--json PATH] [--data-root DIR]

1. The AdamW step alone (adamw.adamw_update, compiled as the fast engine compiles it) over 16 x
   9,760 floats - a lockstep group's parameters - in three states: moments of normal size with a
   gradient; moments decaying from 1e-36 under a zero gradient (a dead ReLU unit's weights), with
   the moments flushed to zero as the engines do; and the same decay without the flush
   (adamw.adamw_update_unflushed, torch's behaviour). Microseconds per step, best of 5 x 200 steps.
   Beside them, `sweep_us`: a loop over the same four vectors with the same loads and stores but
   multiply-adds for the step's divisions and square root - what the memory traffic alone costs.
2. Whole training passes with the engines as they are: the size ladder's s4a4 (the modern
   recipe at 48/48/120) and the anchor's a4 on the fast engine (seconds per pass, 3 passes), and
   a4 as one lockstep group of 16 seeds (seconds per seed and pass, 2 passes).

Single-threaded; the machine and versions are in the JSON.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
from numba import njit

from lecun1989 import adamw
from lecun1989.fast.common import JIT

F32 = np.float32
N = 16 * 9760
STEPS = 200


@njit(**dict(JIT, cache=False))
def _flushed(theta, grad, m, v, lr, step0, steps):
    for s in range(steps):
        adamw.adamw_update(theta, grad, m, v, lr, step0 + s)


@njit(**dict(JIT, cache=False))
def _unflushed(theta, grad, m, v, lr, step0, steps):
    for s in range(steps):
        adamw.adamw_update_unflushed(theta, grad, m, v, lr, step0 + s)


@njit(**dict(JIT, cache=False))
def _sweep(theta, grad, m, v, lr, step0, steps):
    # the AdamW step's traffic (4 loads, 3 stores per element) without its divisions and sqrt
    for s in range(steps):
        a = F32(lr / (step0 + s))
        for i in range(theta.size):
            gi = grad[i]
            mt = m[i] + F32(0.1) * (gi - m[i])
            vt = v[i] * F32(0.999) + F32(0.001) * gi * gi
            m[i] = mt
            v[i] = vt
            theta[i] = theta[i] * F32(0.99) - a * (mt + vt)


def step_us(fn, m0: float, v0: float, zero_grad: bool, reps: int = 5) -> float:
    rng = np.random.default_rng(0)
    best = math.inf
    for _ in range(reps + 1):                      # the first call compiles
        theta = (rng.standard_normal(N) * 0.1).astype(F32)
        grad = np.zeros(N, F32) if zero_grad else (rng.standard_normal(N) * 1e-3).astype(F32)
        m, v = np.full(N, m0, F32), np.full(N, v0, F32)
        t = time.perf_counter()
        fn(theta, grad, m, v, 3e-4, 1000, STEPS)
        best = min(best, time.perf_counter() - t)
    return best / STEPS * 1e6


def pass_seconds(step: str, ladder: str, passes: int, data_root: str | None, engine: str = "fast") -> list[float]:
    from lecun1989.ladder import ladder_steps
    from lecun1989.train import run, run_group
    cfg = {p.name: p for p in ladder_steps(ladder)}[step].config.with_overrides(stop_after=passes)
    times, last = [], [time.perf_counter()]

    def on_pass(*_):
        t = time.perf_counter()
        times.append(t - last[0])
        last[0] = t
    if engine == "fast":
        run(cfg, engine="fast", data_root=data_root, on_pass=on_pass)
        return times
    t = time.perf_counter()
    run_group(cfg, range(1337, 1353), engine="lockstep", k=16, data_root=data_root)
    return [(time.perf_counter() - t) / 16 / passes]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--data-root", default=None, help="folder with mnist/ (default: the package's search)")
    ap.add_argument("--no-training", action="store_true", help="only the AdamW step (part 1)")
    args = ap.parse_args(argv)
    import numba
    import torch
    from lecun1989 import fast
    fast.warm_up()
    res: dict = {"adamw_step_us": {
        "normal moments": step_us(_flushed, 1e-4, 1e-8, False),
        "decaying from 1e-36, flushed (the engines)": step_us(_flushed, 1e-36, 1e-8, True),
        "decaying from 1e-36, not flushed (torch's arithmetic)": step_us(_unflushed, 1e-36, 1e-8, True),
    }, "sweep_us": step_us(_sweep, 1e-4, 1e-8, False), "params_per_step": N, "steps": STEPS}
    a = res["adamw_step_us"]
    res["unflushed_x_flushed"] = a["decaying from 1e-36, not flushed (torch's arithmetic)"] / a[
        "decaying from 1e-36, flushed (the engines)"]
    if not args.no_training:
        res["s4a4_fast_pass_s"] = pass_seconds("s4a4", "size", 3, args.data_root)
        res["a4_fast_pass_s"] = pass_seconds("a4", "anchor", 3, args.data_root)
        res["a4_lockstep16_per_seed_pass_s"] = pass_seconds("a4", "anchor", 2, args.data_root, "lockstep")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor())
    flags = next((ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")), "")
    res["machine"] = {"cpu": cpu, "avx512f": "avx512f" in flags.split(), "cores": os.cpu_count(),
                      "loadavg_1min": os.getloadavg()[0]}
    res["versions"] = {"python": platform.python_version(), "numba": numba.__version__,
                       "numpy": np.__version__, "torch": torch.__version__}
    for k, v in res.items():
        print(f"{k:32s} {v}")
    if args.json:
        from lecun1989.store import write_json
        write_json(args.json, res)
    return res


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    main()
