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


def sgemm_gflops(reps: int = 5) -> float:
    torch.set_num_threads(1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * 2048 ** 3 / best / 1e9


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
