"""Speed of the fast engine against the reference engine and against the machine's flop rate.

    PYTHONPATH=src python benchmarks/speed.py [--quick] [--repeats R] [--json PATH]

Measures (single-threaded runs throughout). The machines this runs on are shared VMs whose speed
drifts by 10-30% over seconds, so each timing is the best of R runs (default 3; the reference
pass, ~20 s a run, the best of 2), and every run is kept in the JSON (`*_runs`).
  ref_pass_s           TorchEngine, one full pass of the faithful config (7291 examples)
  fast_23pass_s        FastEngine, the full 23-pass faithful run after compilation: training
                       passes plus per-pass evaluation of both splits, as train.run does it
  fast_train_23pass_s  the training passes alone
  sgemm_gflops         float32 2048x2048 matmul, one thread, best of several: the faster of torch's
                       (MKL, sgemm_torch_gflops) and numpy's (OpenBLAS, sgemm_numpy_gflops)
  flop_limit_23pass_s  57.6e9 / sgemm rate: 23 x 7291 x 171,780 multiply-adds x 2 flops
  fma_peak_gflops      the core's float32 FMA peak (measure.fma_peak_gflops: independent K-lane
                       FMA chains), and peak_limit_23pass_s = 57.6e9 / that peak: no engine does the
                       training's multiply-adds faster, whatever a BLAS reaches on this CPU
  speedup_vs_ref       ref_pass_s / (fast_23pass_s / 23)
  x_flop_limit         fast_23pass_s / flop_limit_23pass_s
  parallel_efficiency  per-run throughput with os.cpu_count() runs at once / single-run throughput
  compile_uncached_s   import torch and lecun1989.fast + fast.ensure_compiled() + fast.warm_up() in a
                       fresh process with an empty numba cache: what the first use of the CLI costs
  compile_step_s       of which fast.ensure_compiled(): the compilation (two child processes, see
                       fast.ensure_compiled), the figure the CLI reports as "compiled ... in X s"
  compile_cached_s     the same in a second process that loads the cached machine code
                       (both also as *_cpu_s: CPU seconds of the process and its children, less
                       sensitive to a busy machine)
  loadavg_1min_start/end  the machine's load around the measurements (other work inflates times)
  lockstep_*           the lockstep engine (issue 18; benchmarks/lockstep.py, in the same invocation):
                       lockstep_k lanes, lockstep_seed_passes_per_s (seeds x 23 faithful passes per
                       second per core), lockstep_x_fast (>= 2 wanted) and lockstep_x_flop_limit
                       (<= 1.6 wanted) against the fast_23pass_s and flop_limit_23pass_s above;
                       lockstep_x_peak_limit against peak_limit_23pass_s, lockstep_train_* the
                       training passes alone; lockstep_parallel_efficiency and
                       lockstep_seed_passes_per_s_all_cores with one group per core at once
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time

import numpy as np
import torch

from measure import FLOPS_23, N_TRAIN, PASSES, _data, _report, cpu_model, fast_run, fma_peak_gflops, sgemm_rates

def ref_pass(n: int, data) -> float:
    from lecun1989.config import Config
    from lecun1989.model import Net1989
    from lecun1989.train import TorchEngine, net_config
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    xtr, ytr = data[0][:n], data[1][:n]
    cfg = Config()
    eng = TorchEngine(cfg, Net1989(net_config(cfg), seed=cfg.seed))
    t = time.perf_counter()
    eng.train_pass(xtr, ytr, cfg.lr)
    return (time.perf_counter() - t) * N_TRAIN / n


def _worker(passes: int) -> float:
    from lecun1989.fast import warm_up
    warm_up()
    data = _data()
    t = time.perf_counter()
    fast_run(passes, data)
    return time.perf_counter() - t


_COMPILE_PROBE = (
    "import json, time, resource; t = time.perf_counter();"
    "cpu = lambda: sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF,"
    " resource.RUSAGE_CHILDREN) for f in ('ru_utime', 'ru_stime')); c = cpu();"
    "import torch; from lecun1989 import fast; t1 = time.perf_counter(); fast.ensure_compiled();"
    "t2 = time.perf_counter(); fast.warm_up();"
    "print(json.dumps({'wall_s': time.perf_counter() - t, 'cpu_s': cpu() - c, 'compile_s': t2 - t1}))"
)


def compile_times() -> dict:
    """First-use cost of the fast engine in fresh processes: with an empty numba cache (a new
    NUMBA_CACHE_DIR: everything compiled), then again with that cache (machine code loaded).
    Wall and CPU seconds of import + fast.warm_up(); CPU time is the fairer figure on a busy machine."""
    import subprocess
    import tempfile
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        for key in ("uncached", "cached"):
            r = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True,
                               capture_output=True, text=True)
            out[key] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reference on 1000 examples, parallel runs of 3 passes")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--no-compile", action="store_true", help="skip the fresh-process compile timing")
    ap.add_argument("--compile-only", action="store_true", help="only the fresh-process compile timing")
    ap.add_argument("--no-lockstep", action="store_true", help="skip the lockstep engine's throughput")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per timing, the best is reported (default 3; the reference: min(R, 2))")
    args = ap.parse_args(argv)
    import numba
    from lecun1989 import fast

    t = time.perf_counter()
    load_start = os.getloadavg()[0]
    compile_s = fast.warm_up()
    data = _data()
    res: dict = {"data": data[4]}
    res["compile_or_load_s"] = compile_s
    if not args.no_compile:
        ct = compile_times()
        res["compile_uncached_s"] = ct["uncached"]["wall_s"]
        res["compile_uncached_cpu_s"] = ct["uncached"]["cpu_s"]
        res["compile_step_s"] = ct["uncached"]["compile_s"]
        res["compile_cached_s"] = ct["cached"]["wall_s"]
        res["compile_cached_cpu_s"] = ct["cached"]["cpu_s"]
    if args.compile_only:
        return _report(res, args.json)
    rates = sgemm_rates()
    res["sgemm_torch_gflops"] = rates["torch"]
    res["sgemm_numpy_gflops"] = rates.get("numpy")
    res["sgemm_gflops"] = max(rates.values())
    res["flop_limit_23pass_s"] = FLOPS_23 / (res["sgemm_gflops"] * 1e9)
    res["fma_peak_gflops"] = fma_peak_gflops()
    res["peak_limit_23pass_s"] = FLOPS_23 / (res["fma_peak_gflops"] * 1e9)
    reps = max(1, args.repeats)
    ref_runs = [ref_pass(1000 if args.quick else N_TRAIN, data) for _ in range(min(reps, 2))]
    res["ref_pass_s"] = min(ref_runs)
    res["ref_pass_runs"] = ref_runs
    res["ref_pass_extrapolated"] = bool(args.quick)
    fast_runs = [fast_run(PASSES, data) for _ in range(reps)]
    total, train = min(fast_runs)
    res["fast_23pass_s"] = total
    res["fast_train_23pass_s"] = train
    res["fast_eval_23pass_s"] = total - train
    res["fast_23pass_runs"] = [r[0] for r in fast_runs]
    res["us_per_example_train"] = train / (PASSES * N_TRAIN) * 1e6
    res["speedup_vs_ref"] = res["ref_pass_s"] / (total / PASSES)
    res["x_flop_limit"] = total / res["flop_limit_23pass_s"]
    if not args.no_lockstep:
        import lockstep as lockstep_bench       # benchmarks/lockstep.py
        res.update(lockstep_bench.measure(data, reps, fast_total=total, flop_limit=res["flop_limit_23pass_s"],
                                          peak_limit=res["peak_limit_23pass_s"]))
    cores = os.cpu_count() or 1
    ppasses = 3 if args.quick else PASSES
    # one run alone, then one run per core at once (each its own process), R times each, best of each
    singles, rounds = [], []
    for _ in range(reps):
        singles.append(_worker(ppasses))
        with mp.get_context("spawn").Pool(cores) as pool:
            rounds.append(pool.map(_worker, [ppasses] * cores))
    single, times = min(singles), min(rounds, key=max)
    res["parallel_efficiency"] = single / max(times)
    res["parallel_runs"] = {"cores": cores, "passes": ppasses, "single_s": single, "each_s": times,
                            "single_runs": singles, "parallel_rounds": rounds}
    res["machine"] = {"platform": platform.platform(), "cpu": cpu_model(), "cores": cores,
                      "loadavg_1min_start": load_start, "loadavg_1min_end": os.getloadavg()[0]}
    res["versions"] = {"python": platform.python_version(), "torch": torch.__version__,
                       "numpy": np.__version__, "numba": numba.__version__}
    res["wall_s"] = time.perf_counter() - t
    return _report(res, args.json)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    main()
