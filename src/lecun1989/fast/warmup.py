"""What needs an engine to compile: the functions `_kernel` calls with the argument types it calls
them with (`leaf_calls`, split into the two groups that compilation.ensure_compiled's child
processes compile in parallel, `compile_group`), and the warm-up that loads every kernel
(`warm_up`). (Kept apart from compilation.py, which the engine itself calls, so that the two
do not import each other.)"""

from __future__ import annotations

import time

import numpy as np

from ..config import Config
from ..geometry import IMAGE
from .engine import FastEngine

_COMPILE_SECONDS: float | None = None


def leaf_calls(eng: FastEngine) -> dict[str, list]:
    """Every function `_kernel` calls, with arguments of the types `_kernel` calls it with,
    in two groups of about equal compile time: {"forward": [(dispatcher, args)], "backward": [...]}."""
    from .kernel import _adamw, _forward, _gn_backward, _softmax
    from .layers import _h1_backward, _h2_backward, _h2_backward_maps
    b, p, g, t, v = eng.buf, eng.p, eng.g, eng.tables, eng.flat
    img = np.zeros((1, IMAGE, IMAGE), eng.dtype)[0]         # X[e] of the (N, 16, 16) images
    return {
        "forward": [(_forward, (img, 0, 0, eng.no_masks[0], False, 0, 0, True, p, t, b)),
                    (_adamw, (v.theta, v.grad, v.adam_m, v.adam_v, 0.0, 1)),
                    (_softmax, (b.z, b.dz, 0))],
        "backward": [(_gn_backward, (0, 0.2, p, eng.gn, b)),
                     (_h2_backward, (b.da2, p.H2w, b.X2T, g.H2w, b.dX2T, t.blocks, t.block_runs)),
                     (_h2_backward_maps, (b.da2, p.H2w, b.X2T, g.H2w, b.dX2T, t.map_runs)),
                     (_h1_backward, (b.dX2T, b.dact1, b.da1, b.X1, g.H1w, g.H1b))],
    }


def compile_group(group: str) -> None:
    """In a compiling child: compile (and cache) one group of `leaf_calls` without running it.
    The "backward" child then prints a line and compiles `_predict_kernel`; the "forward" child
    waits for a line on stdin (sent when the "backward" child's line came) and compiles
    `_kernel`, which loads the backward group from the cache."""
    import sys
    from numba import typeof
    eng = FastEngine(Config(), None)
    for disp, args in leaf_calls(eng)[group]:
        disp.compile(tuple(typeof(a) for a in args))
    if group == "forward":
        sys.stdin.readline()
        _warm_kernel(eng)
    else:
        print("done", flush=True)
        _warm_predict(eng)


def warm_up() -> float:
    """Compile (or load from the on-disk cache) every kernel for float32; returns the seconds.
    (numpy in, no torch: the compile workers do not import it.)"""
    global _COMPILE_SECONDS
    t0 = time.perf_counter()
    eng = FastEngine(Config(), None)
    _warm_kernel(eng)
    _warm_predict(eng)
    dt = time.perf_counter() - t0
    if _COMPILE_SECONDS is None:
        _COMPILE_SECONDS = dt
    return dt


def _warm_kernel(eng) -> None:
    x = np.zeros((2, IMAGE, IMAGE), np.float32)
    eng.train_pass(x, np.zeros(2, np.int64), 0.0)
    eng.estimate_hessian(x)
    eng.predict_numpy(x, per_example=True)


def _warm_predict(eng) -> None:
    eng.predict_numpy(np.zeros((2, IMAGE, IMAGE), np.float32))


def first_compile_seconds() -> float:
    """Seconds the first use in this process took to compile or load the kernels."""
    return _COMPILE_SECONDS if _COMPILE_SECONDS is not None else warm_up()
