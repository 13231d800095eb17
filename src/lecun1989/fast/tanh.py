"""tanh as a rational function, for the fast engine.

libm's tanhf does not vectorize and costs ~14 ns, which would be most of an example's budget
(about 1000 tanh per example). tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= TANH_CLAMP (beyond it tanh
rounds to +-1 in float32): 2.4e-8 maximum relative error in exact arithmetic. The engine evaluates
it in float32 (`tanh_rational32`: 8 lanes per vector, 0.23 against 0.75 us for the 768 H1 units
with the float64 version): within 5.1 float32 ulp of the exact tanh, 0.6 on average - about the
size of the rounding differences the engines' different summation orders make anyway (torch's
vectorized tanhf is within 1 ulp; the same rational in float64, `tanh_rational`, within 0.9).
tests/test_fast.py::test_tanh_rational_accuracy checks both.

How the coefficients were fitted (numpy, to refit for another clamp): minimise the relative error
of x (1 + u P'(u)) / (1 + u Q'(u)), u = x^2, P' and Q' of degree 3, against tanh on 30000 points
of [1e-4, 9.1] plus 200 geometric points of [1e-6, 1e-4], by linearised least squares - the rows
x u^i (i = 1..4) and -tanh(x) u^i, each weighted by sqrt(w) / (tanh(x) Q(u)) with Q from the last
round, against the right-hand side tanh(x) - x - reweighted each round by w <- w sqrt(|err| /
max |err|) (Lawson's iteration towards the minimax fit), 300 rounds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .common import F32, JIT

TANH_CLAMP = 9.1
TP = (1.0, 0.1337750897819316, 0.0034913013746062324, 2.0534272382124143e-05,
      1.3243109461043984e-08)
TQ = (1.0, 0.4671082925188708, 0.0258609559634211, 0.00032784388855960846,
      7.73256611501065e-07)
_P1, _P2, _P3, _P4 = TP[1], TP[2], TP[3], TP[4]
_Q1, _Q2, _Q3, _Q4 = TQ[1], TQ[2], TQ[3], TQ[4]
_CL = TANH_CLAMP


@njit(inline="always", **JIT)
def tanh_rational(a):
    """tanh(a) in float64 (the reference the float32 version is measured against)."""
    x = np.float64(a)
    # clamp, written so that NaN passes through (a NaN pre-activation must give NaN, as torch's does)
    x = _CL if x > _CL else x
    x = -_CL if x < -_CL else x
    u = x * x
    num = (((_P4 * u + _P3) * u + _P2) * u + _P1) * u + 1.0
    den = (((_Q4 * u + _Q3) * u + _Q2) * u + _Q1) * u + 1.0
    return x * num / den


_CL32 = F32(TANH_CLAMP)
_P1f, _P2f, _P3f, _P4f = (F32(c) for c in TP[1:])
_Q1f, _Q2f, _Q3f, _Q4f = (F32(c) for c in TQ[1:])


@njit(inline="always", **JIT)
def tanh_rational32(x):
    """tanh(x) for a float32 x, the engine's: the rational in float32 arithmetic; NaN stays NaN,
    the result stays within +-1."""
    one = F32(1.0)
    x = _CL32 if x > _CL32 else x
    x = -_CL32 if x < -_CL32 else x
    u = x * x
    num = (((_P4f * u + _P3f) * u + _P2f) * u + _P1f) * u + one
    den = (((_Q4f * u + _Q3f) * u + _Q2f) * u + _Q1f) * u + one
    t = x * num / den
    t = one if t > one else t               # float32 rounding can step past +-1 near saturation
    return -one if t < -one else t


TANH_KINDS = {"float32": 0, "float64": 1, "libm": 2}


@njit(**JIT)
def tanh_array(a, out, kind):
    """out = tanh(a) elementwise, kind 0: tanh_rational32 (the engine's), 1: tanh_rational,
    2: libm; for tests and benchmarks."""
    for i in range(a.size):
        if kind == 0:
            out[i] = tanh_rational32(a[i])
        elif kind == 1:
            out[i] = tanh_rational(a[i])
        else:
            out[i] = math.tanh(a[i])
