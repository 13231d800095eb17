"""What a net costs at inference: multiply-adds per digit (geometry.Geometry.counts) and measured
microseconds per digit, on both engines, batched and one digit at a time.

    fast batched      FastEngine.predict_numpy: the compiled kernel, 8 digits per vector
    fast one at a time  the same with per_example=True: the training forward, one digit per step
                      of a compiled loop (no Python between digits)
    torch batched     model(x) in eval mode, no grad, all digits in one call
    torch one at a time  model(x[i:i+1]) in a Python loop: what serving one digit per request costs

Each figure is the best of `repeats` timings (the project's machines are shared VMs whose speed
drifts by 10-30%), single-threaded (torch.set_num_threads(1), as the ladders train), on random
digits in [-1, 1] and the net's initial weights (the arithmetic does not depend on the values).
The machine (CPU model) is recorded beside the figures (store.provenance). The size ladder's
summary calls `measure_steps` (ladder.run_steps), so its results.json carries the figures.
"""

from __future__ import annotations

import time

import numpy as np

BATCH_DIGITS = 2007          # the test split's size
SINGLE_DIGITS = {"fast": 2007, "torch": 300}     # torch's Python loop: fewer digits suffice


def _best(fn, repeats: int) -> float:
    fn()                                            # warm (first call: caches, allocations)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(cfg, repeats: int = 5, seed: int = 0) -> dict:
    """Inference cost of the net of Config `cfg` (its widths, activation and head): multiply-adds
    and parameters per digit, and microseconds per digit for the four ways above."""
    import torch

    from . import fast
    from .model import Net1989
    from .store import net_config
    g = cfg.geometry
    c = g.counts()
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (BATCH_DIGITS, 16, 16)).astype(np.float32)
    model = Net1989(net_config(cfg), seed=seed).eval()
    eng = fast.FastEngine(cfg, model)
    xt = torch.from_numpy(X).reshape(BATCH_DIGITS, 1, 16, 16)
    n1f, n1t = SINGLE_DIGITS["fast"], SINGLE_DIGITS["torch"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            us = {
                "fast_batched": _best(lambda: eng.predict_numpy(X), repeats) / BATCH_DIGITS,
                "fast_one_at_a_time": _best(lambda: eng.predict_numpy(X[:n1f], per_example=True), repeats) / n1f,
                "torch_batched": _best(lambda: model(xt), repeats) / BATCH_DIGITS,
                "torch_one_at_a_time": _best(lambda: [model(xt[i:i + 1]) for i in range(n1t)], repeats) / n1t,
            }
    finally:
        torch.set_num_threads(threads)
    return {"widths": g.label, "h1_maps": g.h1_maps, "h2_maps": g.h2_maps, "h3_units": g.h3_units,
            "activation": cfg.activation, "head": cfg.head, "parameters": c["parameters"], "macs": c["macs"],
            "us_per_digit": {k: round(v * 1e6, 3) for k, v in us.items()}, "repeats": repeats}


def measure_steps(steps, repeats: int = 5) -> dict:
    """{step name: measure(step's config)} and the machine it ran on."""
    from .store import provenance
    return {"machine": provenance()["machine"], "threads": 1,
            "method": "best of %d timings; fast batched: 8 digits per vector; fast one at a time: the "
                      "per-example compiled forward; torch batched: one call on %d digits; torch one "
                      "at a time: a Python loop of model(x[i:i+1])" % (repeats, BATCH_DIGITS),
            "steps": {p.name: measure(p.config, repeats) for p in steps}}


def table_lines(inf: dict) -> list[str]:
    """A markdown table of measure_steps' figures."""
    head = ["step", "widths H1/H2/H3", "parameters", "multiply-adds per digit", "fast batched us",
            "fast one at a time us", "torch batched us", "torch one at a time us"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, m in inf["steps"].items():
        u = m["us_per_digit"]
        lines.append(f"| {name} | {m['widths']} | {m['parameters']:,} | {m['macs']:,} | "
                     f"{u['fast_batched']:.2f} | {u['fast_one_at_a_time']:.2f} | {u['torch_batched']:.2f} | "
                     f"{u['torch_one_at_a_time']:.1f} |")
    return lines
