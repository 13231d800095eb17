"""What the benchmarks share: the data they time on, the matrix multiply's rate, the fast
engine's faithful run, the CPU's name and the report (speed.py, lockstep.py, ab.py,
kernel_profile.py import it; none of them imports another's main)."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

PASSES, N_TRAIN, N_TEST = 23, 7291, 2007
FLOPS_23 = 57.6e9


def _data():
    try:
        from lecun1989.data import load_dataset
        d = load_dataset("mnist1989")
        return (torch.as_tensor(d.train.x, dtype=torch.float32), torch.as_tensor(d.train.y, dtype=torch.int64),
                torch.as_tensor(d.test.x, dtype=torch.float32), torch.as_tensor(d.test.y, dtype=torch.int64),
                "mnist1989")
    except Exception as exc:  # noqa: BLE001 - any failure falls back to random data
        g = torch.Generator().manual_seed(0)
        return (torch.rand((N_TRAIN, 1, 16, 16), generator=g) * 2 - 1, torch.randint(0, 10, (N_TRAIN,), generator=g),
                torch.rand((N_TEST, 1, 16, 16), generator=g) * 2 - 1, torch.randint(0, 10, (N_TEST,), generator=g),
                f"random (mnist1989 not loadable: {type(exc).__name__})")


_NUMPY_SGEMM = (
    "import time, numpy as np; n = 2048; a = np.random.rand(n, n).astype(np.float32);"
    "b = np.random.rand(n, n).astype(np.float32); best = float('inf')\n"
    "for _ in range({reps}):\n t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)\n"
    "print(2 * n ** 3 / best / 1e9)"
)


def sgemm_rates(reps: int = 5) -> dict:
    """One-thread float32 2048x2048 matmul rates (GFLOP/s, best of `reps`) of the two maintained
    BLAS this project has: torch's (MKL) and numpy's (OpenBLAS, in a child process so that its
    thread count can be fixed before it loads). Which is faster depends on the CPU: on the AMD
    EPYC of benchmarks/results/sgemm-epyc-2026-12-07.txt OpenBLAS 106.8 against MKL's 86.9."""
    import os
    import subprocess
    import sys
    torch.set_num_threads(1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    rates = {"torch": 2 * 2048 ** 3 / best / 1e9}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        r = subprocess.run([sys.executable, "-c", _NUMPY_SGEMM.format(reps=reps)], env=env, check=True,
                           capture_output=True, text=True, timeout=300)
        rates["numpy"] = float(r.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        pass
    return rates


def sgemm_gflops(reps: int = 5) -> float:
    """The flop limit's rate: the faster of the two libraries' one-thread sgemm (`sgemm_rates`)."""
    return max(sgemm_rates(reps).values())


def fma_peak_gflops(k: int | None = None, reps: int = 5) -> float:
    """The core's float32 multiply-add peak (GFLOP/s, best of `reps`): 12 independent chains of
    K-lane fused multiply-adds (lanevec, K = the lockstep engine's lanes), enough to cover the
    FMA latency of every x86 core this runs on. No maintained library reports this number (BLAS
    report their own rate, below the peak where their kernels are not tuned for the CPU), so the
    loop is written here. No engine's multiply-adds run faster than this, whatever a BLAS reaches."""
    import numpy as np
    from numba import njit

    from lecun1989.lanevec import ladd, lfma, lsplat, lstore, width_tag
    from lecun1989.lockstep import cpu_lanes

    @njit
    def chains(n, out, wt):
        m, c = lsplat(0.999999, wt), lsplat(1e-6, wt)
        a0, a1, a2, a3 = lsplat(1.0, wt), lsplat(1.1, wt), lsplat(1.2, wt), lsplat(1.3, wt)
        a4, a5, a6, a7 = lsplat(1.4, wt), lsplat(1.5, wt), lsplat(1.6, wt), lsplat(1.7, wt)
        a8, a9, a10, a11 = lsplat(1.8, wt), lsplat(1.9, wt), lsplat(2.0, wt), lsplat(2.1, wt)
        for _ in range(n):
            a0, a1, a2, a3 = lfma(a0, m, c), lfma(a1, m, c), lfma(a2, m, c), lfma(a3, m, c)
            a4, a5, a6, a7 = lfma(a4, m, c), lfma(a5, m, c), lfma(a6, m, c), lfma(a7, m, c)
            a8, a9, a10, a11 = lfma(a8, m, c), lfma(a9, m, c), lfma(a10, m, c), lfma(a11, m, c)
        s = ladd(ladd(ladd(a0, a1), ladd(a2, a3)), ladd(ladd(a4, a5), ladd(a6, a7)))
        lstore(out, 0, ladd(s, ladd(ladd(a8, a9), ladd(a10, a11))))   # keeps the chains alive

    k = int(k or cpu_lanes())
    wt, out, n = width_tag(k), np.zeros(k, np.float32), 20_000_000
    chains(10, out, wt)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        chains(n, out, wt)
        best = min(best, time.perf_counter() - t)
    return 12 * k * 2 * n / best / 1e9


def fast_run(passes: int, data=None) -> tuple[float, float]:
    """(total seconds, training seconds) of a faithful run with the fast engine, as train.run does it."""
    from lecun1989 import metrics
    from lecun1989.config import Config, lr_at
    from lecun1989.fast import FastEngine
    from lecun1989.model import Net1989
    from lecun1989.train import net_config, pass_randomness
    torch.set_num_threads(1)
    xtr, ytr, xte, yte, _ = data if data is not None else _data()
    cfg = Config()
    eng = FastEngine(cfg, Net1989(net_config(cfg), seed=cfg.seed))
    t0 = time.perf_counter()
    train = 0.0
    for p in range(passes):
        s, m = pass_randomness(cfg, p, xtr.shape[0])
        t = time.perf_counter()
        eng.train_pass(xtr, ytr, lr_at(cfg, p), s, m)
        train += time.perf_counter() - t
        for x, y in ((xtr, ytr), (xte, yte)):
            metrics.summarize(eng.predict(x), y, cfg.head)
    return time.perf_counter() - t0, train


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _report(res: dict, path: str | None) -> dict:
    """Print every figure, one per line, and write them to `path` (atomically) when given."""
    for k, v in res.items():
        print(f"{k:24s} {v:.4g}" if isinstance(v, float) else f"{k:24s} {v}")
    if path:
        from lecun1989.store import write_json
        write_json(Path(path), res)
    return res
