"""Where the fast engine's time goes: each kernel of one training example and of prediction
(8 examples at a time), timed in isolation (a compiled loop calling it many times on real buffers), in one process.

    PYTHONPATH=src python benchmarks/kernel_profile.py [--reps N] [--json PATH]

Prints microseconds per call, the share of the summed training step, the multiply-adds each
kernel does and its rate, beside the whole training step and the whole evaluated example measured
on real digits (mnist1989 when it loads, else random digits). The pieces are timed warm and alone,
so their sum is a little below the whole step: the gap is what they cost each other (caches).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from numba import njit

from lecun1989 import fast
from lecun1989.fast import common, layers as F, predict as FP
from lecun1989.config import Config
from lecun1989.model import Net1989
from lecun1989.store import write_json
from lecun1989.train import net_config

JIT = dict(common.JIT, cache=False)


def _images(n: int) -> np.ndarray:
    """The first n training digits of measure.py's data (mnist1989, else random digits)."""
    from measure import _data
    return np.ascontiguousarray(_data()[0][:n].numpy().reshape(-1, 16, 16))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20000, help="calls per timing (default 20000)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    fast.ensure_compiled()
    cfg = Config()
    eng = fast.FastEngine(cfg, Net1989(net_config(cfg), seed=cfg.seed))
    X = _images(2048)
    b, p, g, t = eng.buf, eng.p, eng.g, eng.tables
    xpad, X1, a1, h1, d1, h1pad, X2T, a2 = b.xpad, b.X1, b.a1, b.h1, b.dact1, b.h1pad, b.X2T, b.a2
    h2d, a3, z, da2, dX2T, da1 = b.h2_masked, b.a3, b.z, b.da2, b.dX2T, b.da1
    W1, B1, W2, B2, W3T, B3 = p.H1w, p.H1b, p.H2w, p.H2b, p.H3wT, p.H3b
    G1, GB1, G2 = g.H1w, g.H1b, g.H2w
    blocks, bruns = t.blocks, t.block_runs
    img = X[0]
    da2[:] = np.random.default_rng(1).standard_normal(da2.shape).astype(np.float32) * 1e-2
    act = eng.settings.act

    # one compiled loop per kernel (kernel, arguments)
    @njit(**JIT)
    def t_input(n, img, xpad, X1):
        for i in range(n):
            F._input(img, i % 3 - 1, 0, xpad, X1)

    @njit(**JIT)
    def t_h1f(n, W1, B1, X1, a1):
        for i in range(n):
            F._h1_forward(W1, B1, X1, a1)

    @njit(**JIT)
    def t_act(n, a, h, d, act):
        for i in range(n):
            F._activate(a, h, d, act, True)

    @njit(**JIT)
    def t_im2col(n, h1, h1pad, X2T):
        for i in range(n):
            F._h2_im2col(h1, h1pad, X2T)

    @njit(**JIT)
    def t_h2f(n, W2, B2, X2T, a2, blocks, bruns):
        for i in range(n):
            F._h2_forward(W2, B2, X2T, a2, blocks, bruns)

    @njit(**JIT)
    def t_h3f(n, W3T, B3, h2d, a3):
        for i in range(n):
            F._h3_forward(W3T, B3, h2d, a3)

    @njit(**JIT)
    def t_h2b(n, da2, W2, X2T, G2, dX2T, blocks, bruns):
        for i in range(n):
            F._h2_backward(da2, W2, X2T, G2, dX2T, blocks, bruns)

    @njit(**JIT)
    def t_h1b(n, dX2T, d1, da1, X1, G1, GB1):
        for i in range(n):
            F._h1_backward(dX2T, d1, da1, X1, G1, GB1)

    @njit(**JIT)
    def t_sgd(n, theta, grad):
        for i in range(n):
            for t in range(theta.size):
                theta[t] -= np.float32(1e-9) * grad[t]

    # prediction, 8 examples at a time (fast._predict_kernel's pieces; times per example below)
    pb = eng.predict_buf
    W2s, xb, a1b, h1b, dscr, h1p = pb.H2w_slots, pb.x, pb.a1, pb.h1, pb.dact_scratch, pb.h1pad
    S, bt, T, a2b, h2b, a3b = pb.slots, pb.bias_tile, pb.tile_sums, pb.a2, pb.h2, pb.a3
    soffs, scnt = t.slot_input_offset, t.slot_count

    @njit(**JIT)
    def t_binput(n, X, xb):
        for i in range(n):
            FP._batch_input(X, 0, xb)

    @njit(**JIT)
    def t_bh1(n, W1, B1, xb, a1b):
        for i in range(n):
            FP._batch_h1(W1, B1, xb, a1b)

    @njit(**JIT)
    def t_bh2(n, W2s, B2, blocks, soffs, scnt, h1p, S, bt, T, a2b):
        for i in range(n):
            FP._batch_h2(W2s, B2, blocks, soffs, scnt, h1p, S, bt, T, a2b)

    @njit(**JIT)
    def t_bh3(n, W3T, B3, h2b, S, bt, T, a3b):
        for i in range(n):
            FP._batch_h3(W3T, B3, h2b, S, bt, T, a3b)

    def timed(fn, *a, reps=args.reps):
        fn(1, *a)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            fn(reps, *a)
            best = min(best, (time.perf_counter() - t) / reps)
        return best * 1e6

    h1f, a1f, d1f = h1.reshape(-1), a1.reshape(-1), d1.reshape(-1)
    F._input(img, 0, 0, xpad, X1)
    a1[:] = np.random.default_rng(2).standard_normal(a1.shape).astype(np.float32)
    h1[:] = np.tanh(a1)
    rows = [  # (name, us, multiply-adds, part of: "both" forward/eval, "train" only)
        ("input roll + pad + H1 im2col (_input)", timed(t_input, img, xpad, X1), 0, "both"),
        ("H1 forward (_h1_forward)", timed(t_h1f, W1, B1, X1, a1), 19200, "both"),
        ("H1 activation, 768 units", timed(t_act, a1f, h1f.copy(), d1f, act), 0, "both"),
        ("H2 pad + im2col (_h2_im2col)", timed(t_im2col, h1, h1pad, X2T), 0, "both"),
        ("H2 forward (_h2_forward)", timed(t_h2f, W2, B2, X2T, a2, blocks, bruns), 38400, "both"),
        ("H2 + H3 + out activations, 232 units", timed(t_act, np.concatenate([a2.ravel(), a3, z]),
                                                        np.zeros(232, np.float32), np.zeros(232, np.float32), act), 0, "both"),
        ("H3 forward (_h3_forward)", timed(t_h3f, W3T, B3, h2d, a3), 5760, "both"),
        ("H2 backward, weight + input gradients (_h2_backward)",
         timed(t_h2b, da2, W2, X2T, G2, dX2T, blocks, bruns), 76800, "train"),
        ("H1 backward, col2im + H1w gradient (_h1_backward)",
         timed(t_h1b, dX2T, d1, da1, X1, G1, GB1), 19200, "train"),
        ("SGD step over 9,760 weights", timed(t_sgd, eng.flat.theta.copy(), eng.flat.grad), 0, "train"),
    ]
    eng.predict_numpy(X[:16])                   # fills the H2 weights in slot order (W2s)
    nh1 = a1b.size
    brows = [  # per example: the time of a call over 8 examples / 8
        ("input, transposed and padded (_batch_input)", timed(t_binput, X, xb) / 8, 0),
        ("H1 forward (_batch_h1)", timed(t_bh1, W1, B1, xb, a1b) / 8, 19200),
        ("H1 activation, 768 units x 8", timed(t_act, a1b, h1b, dscr[:nh1], act) / 8, 0),
        ("H2 forward (_batch_h2)", timed(t_bh2, W2s, B2, blocks, soffs, scnt, h1p, S, bt, T, a2b) / 8, 38400),
        ("H3 forward (_batch_h3)", timed(t_bh3, W3T, B3, h2b, S, bt, T, a3b) / 8, 5760),
    ]
    # the whole thing on real digits, through the engine's own entry point
    xt = torch.from_numpy(X).reshape(-1, 1, 16, 16)
    y = torch.zeros(X.shape[0], dtype=torch.int64)
    eng.train_pass(xt[:16], y[:16], 1e-9)
    eng.predict(xt[:16])
    best_train = best_eval = best_eval1 = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        eng.train_pass(xt, y, 1e-9)
        best_train = min(best_train, (time.perf_counter() - t) / X.shape[0] * 1e6)
        t = time.perf_counter()
        eng.predict(xt)
        best_eval = min(best_eval, (time.perf_counter() - t) / X.shape[0] * 1e6)
        t = time.perf_counter()
        eng.predict_numpy(X, per_example=True)
        best_eval1 = min(best_eval1, (time.perf_counter() - t) / X.shape[0] * 1e6)
    total = sum(r[1] for r in rows)
    fwd = sum(r[1] for r in rows if r[3] == "both")
    print(f"{'kernel':56s} {'us':>6s} {'share':>6s} {'MACs':>7s} {'GMAC/s':>7s}")
    for name, us, macs, _ in rows:
        rate = f"{macs / us / 1e3:7.1f}" if macs else "      -"
        print(f"{name:56s} {us:6.2f} {us / total:6.1%} {macs:7d} {rate}")
    print(f"{'sum of the pieces (the output layer, loss and H3 backward are not listed)':56s} {total:6.2f}")
    print(f"whole training step, measured: {best_train:.2f} us per example "
          f"({171780 / best_train / 1e3:.1f} GMAC/s over 171,780 multiply-adds)")
    print(f"one example at a time (MODE_PREDICT), measured: {best_eval1:.2f} us per example "
          f"(forward pieces above sum to {fwd:.2f} us)")
    print()
    print(f"{'prediction, 8 examples at a time (per example)':56s} {'us':>6s} {'share':>6s} {'MACs':>7s} {'GMAC/s':>7s}")
    btotal = sum(r[1] for r in brows)
    for name, us, macs in brows:
        rate = f"{macs / us / 1e3:7.1f}" if macs else "      -"
        print(f"{name:56s} {us:6.2f} {us / btotal:6.1%} {macs:7d} {rate}")
    print(f"{'sum of the pieces (pad copy, H2/H3/out activations, output layer not listed)':56s} {btotal:6.2f}")
    print(f"whole evaluated example (FastEngine.predict), measured: {best_eval:.2f} us "
          f"({63660 / best_eval / 1e3:.1f} GMAC/s over 63,660 multiply-adds)")
    import numba
    res = {"rows": [{"kernel": n, "us": u, "macs": m, "part": p} for n, u, m, p in rows],
           "predict_rows": [{"kernel": n, "us": u, "macs": m} for n, u, m in brows],
           "train_step_us": best_train, "eval_example_us": best_eval,
           "eval_example_one_at_a_time_us": best_eval1,
           "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                       "loadavg_1min": os.getloadavg()[0]},
           "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                        "numpy": np.__version__, "numba": numba.__version__}}
    print(f"load average {os.getloadavg()[0]:.2f}; python {res['versions']['python']}, numba {numba.__version__}")
    if args.json:
        write_json(Path(args.json), res)
    return res


if __name__ == "__main__":
    main()
