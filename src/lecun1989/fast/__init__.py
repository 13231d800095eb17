"""The fast engine: the reference loop of train.py (one example at a time, constant order) written
by hand in numba, with the same interface as `train.TorchEngine`.

What it achieves: the faithful 23-pass run of the 1989 net in about 2 s on one core of an Intel
Xeon (AVX-512), some 145 times the reference engine, with the reference's arithmetic up to float
rounding - every option combination agrees with train.py to 1e-5 of the largest weight after 100
examples, and a full pass to 0.1% error (tests/test_fast.py); speed measured by
benchmarks/speed.py (docs/engine.md has the numbers, the machine and the method).

Every block names the computation of `model.Net1989.forward` (or of autograd / the torch
optimizer) that it mirrors. Sums are taken in a different order from torch's, and tanh is a
rational approximation evaluated in float32 (tanh.py), so the engines agree closely, not bit for
bit. Speed comes from doing a whole pass inside one compiled call, with every buffer allocated
once in one memory block (buffers.py), from layouts that make the inner loops run over contiguous
float32 rows, and from register-tiled multiply-add kernels written with explicit 8-lane vectors
(simd.py).

    tanh.py         the rational tanh (float32 and float64)
    common.py       the geometry in the engine's padded layouts, kernel codes, compile flags
    buffers.py      every array, named once: the NamedTuples the kernels take, the arena
    layers.py       the layers of one example, forward and backward
    kernel.py       `_kernel`: a training pass, the per-example forward, the sdlm diagonal
    predict.py      `_predict_kernel`: prediction 8 examples at a time, bit for bit `_kernel`'s
    engine.py       `FastEngine` (train.TorchEngine's interface) and the H2 tables
    compilation.py  `ensure_compiled`: every process runs numba's cached machine code
    warmup.py       `warm_up`, and what the compiling children compile (`leaf_calls`)

The modules that import the configuration load on first use of their names here: config.py
imports the activation registry, which imports tanh.py, so importing them eagerly would make an
import cycle.
"""

from __future__ import annotations

import importlib

from .tanh import TANH_KINDS, tanh_array, tanh_rational, tanh_rational32  # noqa: F401

_LAZY = {
    "FastEngine": "engine", "h2_blocks": "engine", "h2_tables": "engine",
    "ensure_compiled": "compilation", "warm_up": "warmup", "first_compile_seconds": "warmup",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
