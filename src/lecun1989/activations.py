"""The activation functions: one entry each, carrying everything the package needs of it, so that
a new activation is one entry here (and its tests).

    name, help      the Config value (Config.activation, the CLI's --activation) and its one line
    torch(a)        f(a) on a tensor: model.forward's units (tensor methods: no torch import here)
    torch_grad(a)   f'(a) from the pre-activation, on a tensor: sdlm's Gauss-Newton pass
    fast(a)         the fast engine's elementwise code, (f(a), f'(a)) for a float32 a, inlined
                    into its loops (fast/layers.py `_activate` dispatches on the entry's index)
    head            the squashing of a tanh head over these hidden units: the paper uses its
                    scaled tanh everywhere (its +-1 targets sit at f(+-1) = +-1, inside the
                    quasilinear range); with other hidden units the head keeps the plain tanh
    top             sup f, the largest target a head of this function can reach (Config.target)

The order of REGISTRY is the index the compiled kernels receive; append new entries at the end.
This module imports numba but not torch (config.py imports it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from numba import njit

from .fast.common import F32, JIT
from .fast.tanh import tanh_rational32
from .geometry import SCALED_TANH_A, SCALED_TANH_S

SA = F32(SCALED_TANH_A)                     # 1.7159, as torch multiplies by it in float32
SS = F32(SCALED_TANH_S)                     # 2/3 in float32


@dataclass(frozen=True)
class Activation:
    name: str
    help: str
    torch: Callable
    torch_grad: Callable
    fast: Any                               # a numba function: float32 a -> (f(a), f'(a))
    head: str
    top: float


# -- tanh ----------------------------------------------------------------------------------------
def _tanh(a):
    return a.tanh()


def _tanh_grad(a):
    return 1 - a.tanh() ** 2


@njit(inline="always", **JIT)
def _tanh_fast(a):
    # autograd computes tanh's derivative from its output: 1 - t^2
    t = tanh_rational32(a)
    return t, F32(1.0) - t * t


# -- relu ----------------------------------------------------------------------------------------
def _relu(a):
    return a.relu()


def _relu_grad(a):
    return (a > 0).to(a.dtype)


@njit(inline="always", **JIT)
def _relu_fast(a):
    zero = F32(0.0)
    return (zero if a <= zero else a), (F32(1.0) if a > zero else zero)    # relu(NaN) = NaN, as torch.relu


# -- scaled tanh: LeCun's 1.7159 tanh(2a/3) ------------------------------------------------------
def _scaled_tanh(a):
    return SCALED_TANH_A * (SCALED_TANH_S * a).tanh()


def _scaled_tanh_grad(a):
    return SCALED_TANH_A * SCALED_TANH_S * (1 - (SCALED_TANH_S * a).tanh() ** 2)


@njit(inline="always", **JIT)
def _scaled_tanh_fast(a):
    # A S (1 - t^2) with t = tanh(S a), as autograd chains A * tanh(S * a)
    t = tanh_rational32(SS * a)
    return SA * t, (SA * SS) * (F32(1.0) - t * t)


# -- ELU (alpha 1; Clevert et al. 2016): a for a > 0, exp(a) - 1 below --------------------------
def _elu(a):
    import torch.nn.functional as F
    return F.elu(a)


def _elu_grad(a):
    return a.clamp(max=0).exp()             # 1 for a > 0, exp(a) below (and NaN stays NaN)


@njit(inline="always", **JIT)
def _elu_fast(a):
    # expm1 (libm's expm1f) keeps the relative precision of exp(a) - 1 near 0; the derivative is
    # exp(a) itself rather than (exp(a) - 1) + 1, which would lose it for very negative a
    if a > F32(0.0):
        return a, F32(1.0)
    return F32(math.expm1(a)), F32(math.exp(a))


REGISTRY: dict[str, Activation] = {e.name: e for e in (
    Activation("tanh", "tanh(a), the anchor's", _tanh, _tanh_grad, _tanh_fast, "tanh", 1.0),
    Activation("relu", "max(0, a)", _relu, _relu_grad, _relu_fast, "tanh", float("inf")),
    Activation("scaled-tanh", "1.7159 tanh(2a/3), the paper's", _scaled_tanh, _scaled_tanh_grad,
               _scaled_tanh_fast, "scaled-tanh", SCALED_TANH_A),
    Activation("elu", "a for a > 0, exp(a) - 1 below (ELU, alpha 1)", _elu, _elu_grad, _elu_fast, "tanh",
               float("inf")),
)}
NAMES = tuple(REGISTRY)
FAST_KERNELS = tuple(e.fast for e in REGISTRY.values())


def get(name: str) -> Activation:
    return REGISTRY[name]


def index(name: str) -> int:
    """The entry's code in the compiled kernels."""
    return NAMES.index(name)


def head_of(name: str) -> Activation:
    """The tanh head's squashing over hidden units `name`."""
    return REGISTRY[REGISTRY[name].head]


def help_text() -> str:
    """One line for the CLI: every name with its help."""
    return "; ".join(f"{e.name}: {e.help}" for e in REGISTRY.values())
