"""Throughput of the lockstep engine (issue 18) against the single-run fast engine and the flop limit.

    PYTHONPATH=src python benchmarks/lockstep.py [--repeats R] [--k K] [--json PATH]

One invocation measures, single-threaded, all on one core:
  lockstep_k                 the lanes per group (the CPU's vector width unless --k)
  lockstep_group_23pass_s    one group of K seeds (1337 ..), the faithful 23-pass run as train.run
                             does it: per pass each seed's stream, the training pass, the
                             prediction of both splits and metrics.summarize per seed and split
                             (best of R)
  lockstep_train/eval/summarize_23pass_s   its parts
  lockstep_23pass_per_seed_s the group's time / K
  lockstep_seed_passes_per_s seeds x 23 faithful passes per second per core (K x 23 / group time)
  fast_23pass_s              the single-run fast engine, the same run (measure.fast_run, best of R)
  sgemm_gflops, flop_limit_23pass_s   as speed.py: 57.6e9 flops / the sgemm rate
  fma_peak_gflops, peak_limit_23pass_s  as speed.py: 57.6e9 flops / the core's FMA peak
  lockstep_x_fast            fast_23pass_s / lockstep_23pass_per_seed_s  (acceptance: >= 2)
  lockstep_x_flop_limit      lockstep_23pass_per_seed_s / flop_limit_23pass_s  (acceptance: <= 1.6)
  lockstep_x_peak_limit      the same against peak_limit_23pass_s; lockstep_train_x_* the
                             training passes alone against either limit
  *_best_pass*               from each engine's quickest single pass x 23 (all passes of all R runs)
  *_cpu_s, *_cpu             the same from CPU seconds of this process (time.process_time), the
                             fairer figure when other work shares the cores
  lockstep_parallel_*        one group per core at once, each in its own process (as a ladder's
                             workers run them), best of R rounds: lockstep_parallel_efficiency =
                             the group alone (lockstep_group_23pass_s) / the slowest group of the
                             round; lockstep_seed_passes_per_s_all_cores the machine's throughput
speed.py calls `measure` and adds these keys to its own results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

PASSES = 23


def lockstep_run(passes: int, data, k: int) -> dict:
    """Seconds of one lockstep group of k seeds over the faithful run (see the module docstring)."""
    from lecun1989 import lockstep, metrics
    from lecun1989.config import Config, lr_at
    from lecun1989.model import Net1989
    from lecun1989.train import net_config, pass_randomness
    torch.set_num_threads(1)
    xtr, ytr, xte, yte, _ = data
    cfg = Config()
    seeds = [cfg.seed + i for i in range(k)]
    cfgs = [cfg.with_overrides(seed=s) for s in seeds]
    eng = lockstep.LockstepEngine(cfg, [Net1989(net_config(c), seed=c.seed) for c in cfgs], k=k)
    t0, c0 = time.perf_counter(), time.process_time()
    Xtr, Xte = lockstep._images(xtr), lockstep._images(xte)
    train = evals = summ = 0.0
    per_pass = []
    n = xtr.shape[0]
    for p in range(passes):
        t = tp = time.perf_counter()
        rnd = [pass_randomness(c, p, n) for c in cfgs]
        eng.train_pass(xtr, ytr, lr_at(cfg, p), [r[0] for r in rnd], [r[1] for r in rnd])
        train += time.perf_counter() - t
        for X, y in ((Xtr, ytr), (Xte, yte)):
            t = time.perf_counter()
            out = eng.predict_numpy(X)
            t1 = time.perf_counter()
            for r in range(k):
                metrics.summarize(torch.from_numpy(out[r]), y, cfg.head, cfg.target)
            t2 = time.perf_counter()
            evals += t1 - t
            summ += t2 - t1
        per_pass.append(time.perf_counter() - tp)
    return {"total": time.perf_counter() - t0, "cpu": time.process_time() - c0, "train": train, "eval": evals,
            "summarize": summ, "passes": per_pass}


def _warm(data, k: int) -> None:
    """One pass over 16 digits: the kernels compiled or their cached machine code loaded."""
    lockstep_run(1, (data[0][:16], data[1][:16], data[2][:16], data[3][:16], None), k)


def _group_worker(k: int) -> float:
    """One group's 23-pass run in a fresh process (the parallel rounds)."""
    from measure import _data
    data = _data()
    _warm(data, k)
    return lockstep_run(PASSES, data, k)["total"]


def parallel_groups(k: int, repeats: int, cores: int | None = None) -> list[list[float]]:
    """R rounds of `cores` groups at once, one process each: each round's group seconds."""
    import multiprocessing as mp
    cores = cores or os.cpu_count() or 1
    rounds = []
    for _ in range(max(1, repeats)):
        with mp.get_context("spawn").Pool(cores) as pool:
            rounds.append(pool.map(_group_worker, [k] * cores))
    return rounds


def fast_passes(passes: int, data) -> list[float]:
    """Seconds of each pass (training, prediction of both splits, metrics.summarize) of the
    faithful run on the single-run fast engine, as measure.fast_run runs it."""
    from lecun1989 import metrics
    from lecun1989.config import Config, lr_at
    from lecun1989.fast import FastEngine
    from lecun1989.model import Net1989
    from lecun1989.train import net_config, pass_randomness
    torch.set_num_threads(1)
    xtr, ytr, xte, yte, _ = data
    cfg = Config()
    eng = FastEngine(cfg, Net1989(net_config(cfg), seed=cfg.seed))
    out = []
    for p in range(passes):
        t = time.perf_counter()
        s, m = pass_randomness(cfg, p, xtr.shape[0])
        eng.train_pass(xtr, ytr, lr_at(cfg, p), s, m)
        for x, y in ((xtr, ytr), (xte, yte)):
            metrics.summarize(eng.predict(x), y, cfg.head)
        out.append(time.perf_counter() - t)
    return out


def _fast_cpu(data) -> tuple[float, float]:
    """(wall, CPU seconds) of measure.fast_run over the 23 passes."""
    from measure import fast_run
    c = time.process_time()
    wall = fast_run(PASSES, data)[0]
    return wall, time.process_time() - c


def measure(data, repeats: int = 3, k: int | None = None, fast_total: float | None = None,
            flop_limit: float | None = None, peak_limit: float | None = None) -> dict:
    """The lockstep keys (module docstring); fast_total / flop_limit: taken from the caller's
    measurements in the same invocation, else measured here."""
    from measure import FLOPS_23, fma_peak_gflops, sgemm_gflops

    from lecun1989 import lockstep
    k = int(k or lockstep.cpu_lanes())
    _warm(data, k)
    runs = [lockstep_run(PASSES, data, k) for _ in range(max(1, repeats))]
    best = min(runs, key=lambda r: r["total"])
    res: dict = {"lockstep_k": k}
    if flop_limit is None:
        res["sgemm_gflops"] = sgemm_gflops()
        flop_limit = FLOPS_23 / (res["sgemm_gflops"] * 1e9)
        res["flop_limit_23pass_s"] = flop_limit
    if peak_limit is None:
        res["fma_peak_gflops"] = fma_peak_gflops(k)
        peak_limit = FLOPS_23 / (res["fma_peak_gflops"] * 1e9)
        res["peak_limit_23pass_s"] = peak_limit
    fast_runs = [_fast_cpu(data) for _ in range(max(1, repeats))]
    fast_cpu = min(r[1] for r in fast_runs)
    if fast_total is None:
        fast_total = min(r[0] for r in fast_runs)
        res["fast_23pass_s"] = fast_total
    res["fast_23pass_cpu_s"] = fast_cpu
    per_seed = best["total"] / k
    res.update({
        "lockstep_group_23pass_s": best["total"],
        "lockstep_group_23pass_runs": [r["total"] for r in runs],
        "lockstep_train_23pass_s": best["train"],
        "lockstep_eval_23pass_s": best["eval"],
        "lockstep_summarize_23pass_s": best["summarize"],
        "lockstep_23pass_per_seed_s": per_seed,
        "lockstep_seed_passes_per_s": k * PASSES / best["total"],
        "lockstep_us_per_seed_example_train": best["train"] / (k * PASSES * data[0].shape[0]) * 1e6,
        "lockstep_x_fast": fast_total / per_seed,
        "lockstep_x_flop_limit": per_seed / flop_limit,
        "lockstep_x_peak_limit": per_seed / peak_limit,
        "lockstep_train_x_flop_limit": best["train"] / k / flop_limit,
        "lockstep_train_x_peak_limit": best["train"] / k / peak_limit,
        # CPU seconds (time.process_time, best of R): less sensitive to other work on a shared machine
        "lockstep_group_23pass_cpu_s": min(r["cpu"] for r in runs),
        "lockstep_x_fast_cpu": fast_cpu / (min(r["cpu"] for r in runs) / k),
        "lockstep_x_flop_limit_cpu": min(r["cpu"] for r in runs) / k / flop_limit,
    })
    # the quietest pass of each engine (x 23): how the engines compare when nothing else runs
    fast_pp = [t for _ in range(max(1, repeats)) for t in fast_passes(PASSES, data)]
    lock_pp = [t for r in runs for t in r["passes"]]
    res["fast_best_pass_x23_s"] = PASSES * min(fast_pp)
    res["lockstep_best_pass_x23_per_seed_s"] = PASSES * min(lock_pp) / k
    res["lockstep_x_fast_best_pass"] = min(fast_pp) / (min(lock_pp) / k)
    res["lockstep_x_flop_limit_best_pass"] = PASSES * min(lock_pp) / k / flop_limit
    rounds = parallel_groups(k, repeats)
    slowest = min(max(r) for r in rounds)
    res["lockstep_parallel_rounds"] = rounds
    res["lockstep_parallel_efficiency"] = best["total"] / slowest
    res["lockstep_seed_passes_per_s_all_cores"] = len(rounds[0]) * k * PASSES / slowest
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing, the best is reported")
    ap.add_argument("--k", type=int, default=None, help="lanes per group (default: the CPU's vector width)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    import platform

    import numba
    from measure import _data, _report, cpu_model

    from lecun1989 import fast
    load_start = os.getloadavg()[0]
    fast.warm_up()
    data = _data()
    res = {"data": data[4], **measure(data, args.repeats, args.k)}
    res["machine"] = {"platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
                      "loadavg_1min_start": load_start, "loadavg_1min_end": os.getloadavg()[0]}
    res["versions"] = {"python": platform.python_version(), "torch": torch.__version__,
                       "numpy": np.__version__, "numba": numba.__version__}
    return _report(res, args.json)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "src"))
    sys.path.insert(0, here)
    main()
