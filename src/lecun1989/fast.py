"""The fast engine: the reference loop of train.py (one example at a time, constant order) written
by hand in numba, with the same interface as `train.TorchEngine`.

Every block below names the computation of `model.Net1989.forward` (or of autograd / the torch
optimizer) that it mirrors. The arithmetic is the same as the reference engine's up to float
rounding (sums are taken in a different order, and tanh is a rational approximation evaluated in
float32, within 5.1 float32 ulp, 0.6 on average - `tanh_rational32`), so runs agree closely but
not bit for bit; see
tests/test_fast.py for the agreement that is checked.

Speed comes from doing a whole pass inside one compiled call, with every buffer allocated once
(one memory block per engine: `_Arena`), from layouts that make the inner loops run over
contiguous float32 rows, and from register-tiled multiply-add kernels written with explicit
8-lane vectors (simd.py: a GEMM-like tile of accumulators stays in registers for a whole
reduction, which numba's autovectorizer does not do by itself):

    xpad (2, 20, 16)  the rolled, padded input split by column parity, so that the stride-2
                      H1 im2col is 8-float copies
    X1   (25, 64)     H1 im2col: one row per kernel tap, one column per H1 position
    X2T  (16, 304)    H2 im2col, transposed: one row per H2 position, 12 maps x 25 taps per row
                      (+4 padding), so that each H2 map's 8 input maps are one or two contiguous runs
    W3T  (30, 192)    H3 weights transposed, so that both forward and backward run over 192 floats

The parameters live in one flat float32 vector (`theta`, in PARAM_SHAPES order, H3w stored
transposed, each parameter starting on a cache line) with one flat gradient vector beside it, so
an optimizer step is one loop. The sdlm
optimizer keeps its Hessian diagonal in a third vector of the same layout (`hdiag`); the diagonal
is computed by the training backward pass run on squared weights, squared inputs and squared
derivatives (`_gn_backward`, mirroring sdlm.gn_diagonal).

Training, per-example prediction and the sdlm diagonal share one compiled entry point (`_kernel`),
so the kernels below it are optimized and cached once (see the note above `_kernel`). Prediction
(`FastEngine.predict`) has its own entry point, `_predict_kernel`, which runs 8 examples at a time,
one per vector lane, with every sum in the per-example order: its outputs are bit for bit those
of `_kernel`'s MODE_PREDICT (see the note above `_predict_kernel`). Compiled code is
cached on disk (numba `cache=True`): the first process pays the compile time
(`first_compile_seconds`), later ones load the machine code. docs/engine.md has the design,
the tests and the measured speed.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Callable

import numpy as np
from numba import njit

from .config import MSE_FACTOR, Config
from .simd import LANES, vadd, vband, vfma, vget, vhead, vload, vmerge, vmul, vsplat, vstore, vsum8, vzero

log = logging.getLogger(__name__)
# (torch is imported where tensors are made, so that the compile workers start without it)
if TYPE_CHECKING:
    import torch

    from .model import Net1989
from .geometry import (BACKGROUND, H1_MAPS, H1_SIDE, H2_BLOCKS, H2_FAN_MAPS, H2_MAPS, H2_SIDE,
                       H2_UNITS, H3_UNITS, IMAGE, KERNEL, OUTPUTS, PAD, PARAM_SHAPES,
                       SCALED_TANH_A, SCALED_TANH_S, STRIDE)

# -- geometry, derived from model.py -----------------------------------------------------------
TAPS = KERNEL * KERNEL                      # 25 kernel taps
P1 = H1_SIDE * H1_SIDE                      # 64 positions per H1 map
P2 = H2_SIDE * H2_SIDE                      # 16 positions per H2 map
XPAD = IMAGE + 2 * PAD                      # 20: padded input side
H1PAD = H1_SIDE + 2 * PAD                   # 12: padded H1 side
X2_ROW = H1_MAPS * TAPS                     # 300: one X2T row = every H1 map's 25 taps
# Row widths padded for 8-lane vectors (simd.py): an im2col copy moves 8 floats for a kernel row of
# 5 (the next copy overwrites the extra 3), and a run's last partial chunk of 8 is read whole.
X2_W = X2_ROW + LANES // 2                  # 304 >= 11*25 + 4*5 + 8
H1PAD_W = 16                                # >= STRIDE*(H2_SIDE-1) + LANES = 14
XPAD_W = 16                                 # the padded image split by column parity: 10 + 6
assert IMAGE & (IMAGE - 1) == 0 and STRIDE == 2 and XPAD_W >= (KERNEL - 1) // 2 + LANES
assert H1_SIDE == LANES and P1 % (2 * LANES) == 0 and H1_MAPS % 4 == 0 and P2 % 2 == 0
assert H2_UNITS % LANES == 0 and H3_UNITS % 6 == 0
assert X2_W >= (H1_MAPS - 1) * TAPS + (KERNEL - 1) * KERNEL + LANES
assert H1PAD_W >= STRIDE * (H2_SIDE - 1) + LANES and H1PAD_W >= H1PAD

# activation / head / optimizer codes passed to the compiled kernels
ACT = {"tanh": 0, "relu": 1, "scaled-tanh": 2}
HEAD_SQUASH, HEAD_LINEAR = 0, 1
OPT = {"sgd": 0, "adamw": 1, "sdlm": 2}
MSE_D2 = 2.0 / OUTPUTS                      # sdlm.MSE_D2: d2/dyhat2 of the mean over 10 outputs
# torch.optim.AdamW defaults (lr is given per pass)
ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_WD = 0.9, 0.999, 1e-8, 1e-2
ALIGN = 64                                  # bytes: a cache line (arrays and parameters start on one)

# fastmath without nnan/ninf: a diverging run must still produce NaN/inf, as the reference does.
# reassoc lets LLVM vectorize reductions; contract lets it fuse multiply-adds. Both are decided at
# compile time, so a given machine code gives the same result for the same inputs every time.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
# error_model="numpy": float division without Python's zero check (which blocks vectorization).
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False, nogil=True)
# Sums whose order must be kept exactly are compiled without fastmath; fastmath=False must be
# given explicitly, else numba compiles a function called from a fastmath one with its flags.
NOFASTMATH = dict(JIT, fastmath=False)

F32 = np.float32
SA = F32(SCALED_TANH_A)                     # 1.7159, as torch multiplies by it in float32
SS = F32(SCALED_TANH_S)                     # 2/3 in float32
BG = F32(BACKGROUND)

# -- tanh ----------------------------------------------------------------------------------------
# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= TANH_CLAMP (beyond it tanh rounds to +-1 in float32):
# max error 2.4e-8 relative (fit). libm's tanhf does not vectorize and costs ~14 ns, which would
# be most of an example's budget (1000 tanh per example). The engine evaluates the rational in
# float32 (`tanh_rational32`: 8 lanes per vector, 0.23 against 0.75 us for the 768 H1 units):
# within 5.1 float32 ulp of the exact tanh, 0.6 on average, about the size of the rounding
# differences the engines' different summation orders make anyway; torch's vectorized tanhf is
# within 1 ulp, and the same rational in float64 (`tanh_rational`, the engine's tanh until
# 2026-11-27) within 0.9. The coefficients come from `fit_tanh_rational()` below (a weighted
# least-squares fit iterated towards minimax).
TANH_CLAMP = 9.1
TP = (1.0, 0.1337750897819316, 0.0034913013746062324, 2.0534272382124143e-05,
      1.3243109461043984e-08)
TQ = (1.0, 0.4671082925188708, 0.0258609559634211, 0.00032784388855960846,
      7.73256611501065e-07)
_P1, _P2, _P3, _P4 = TP[1], TP[2], TP[3], TP[4]
_Q1, _Q2, _Q3, _Q4 = TQ[1], TQ[2], TQ[3], TQ[4]
_CL = TANH_CLAMP


def fit_tanh_rational(clamp: float = TANH_CLAMP, iters: int = 300):
    """Refit (P, Q) of `tanh_rational` (numpy only): minimise the relative error of
    x (1 + x^2 P'(x^2)) / Q(x^2) against tanh on [0, clamp] by linearised least squares,
    reweighted each round by the error (Lawson's iteration towards the minimax fit)."""
    x = np.concatenate([np.linspace(1e-4, clamp, 30000), np.geomspace(1e-6, 1e-4, 200)])
    x.sort()
    t, u = np.tanh(x), x * x
    w, q = np.ones_like(x), np.ones_like(x)
    for _ in range(iters):
        a = np.concatenate([np.stack([x * u ** i for i in range(1, 5)], 1),
                            -np.stack([t * u ** i for i in range(1, 5)], 1)], 1)
        s = np.sqrt(w) / (t * q)
        sol = np.linalg.lstsq(a * s[:, None], (t - x) * s, rcond=None)[0]
        p = np.concatenate([[1.0], sol[:4]])
        qq = np.concatenate([[1.0], sol[4:]])
        q = sum(qq[i] * u ** i for i in range(5))
        err = (x * sum(p[i] * u ** i for i in range(5)) / q - t) / t
        w = w * (np.abs(err) / np.abs(err).max()) ** 0.5 + 1e-12
        w /= w.mean()
    return tuple(p), tuple(qq), float(np.abs(err).max())


@njit(inline="always", **JIT)
def tanh_rational(a):
    """tanh(a) in float64 (see the comment above TANH_CLAMP)."""
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
    """tanh(x) for a float32 x: the rational in float32 arithmetic (see the comment above
    TANH_CLAMP); NaN stays NaN, the result stays within +-1."""
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


# -- activations: h = act(a) and h' = act'(a), as torch's autograd computes it from the output ----
@njit(**JIT)
def _activate(a, h, dh, act, deriv):
    """model.Net1989.forward: `act(...)` for tanh | relu | scaled-tanh, elementwise on flat arrays;
    with deriv also stores the derivative the backward pass needs (tanh: 1 - h^2; relu: h > 0;
    scaled-tanh: A S (1 - t^2) with t = tanh(S a), as autograd chains A * tanh(S * a))."""
    one = F32(1.0)
    if act == 0:
        if deriv:
            for i in range(a.size):
                t = tanh_rational32(a[i])
                h[i] = t
                dh[i] = one - t * t
        else:
            for i in range(a.size):
                h[i] = tanh_rational32(a[i])
    elif act == 1:
        zero = F32(0.0)
        for i in range(a.size):
            v = a[i]
            h[i] = zero if v <= zero else v     # relu(NaN) = NaN, as torch.relu
            dh[i] = one if v > zero else zero
    else:
        sas = SA * SS
        if deriv:
            for i in range(a.size):
                t = tanh_rational32(SS * a[i])
                h[i] = SA * t
                dh[i] = sas * (one - t * t)
        else:
            for i in range(a.size):
                h[i] = SA * tanh_rational32(SS * a[i])


# -- blocks of one example ---------------------------------------------------------------------------
# Index arithmetic inside a loop defeats LLVM's vectorizer (numba adds a negative-index check
# to every computed index), so the H2 loops take slices first and index them by the loop counter.

@njit(**JIT)
def _input(img, sr, sc, xpad, X1):
    """train_pass: torch.roll(xi, (sr, sc), (2, 3)), i.e. out[r, c] = in[r - sr, c - sc] with
    wrap-around; model.forward: F.pad(x, 2, value=-1); then the H1 im2col
    X1[ki*5+kj, i*8+j] = padded[2i+ki, 2j+kj]. The padded image is kept split by column parity,
    xpad[c % 2, r, c // 2] = padded[r, c] (border preset to -1), so that the stride-2 im2col
    becomes 8-float copies: X1[ki*5+kj, i*8:(i+1)*8] = xpad[kj % 2, 2i+ki, kj//2 : kj//2+8]."""
    for r in range(IMAGE):
        row = img[(r - sr) & (IMAGE - 1)]
        for c in range(IMAGE):
            cp = c + PAD
            xpad[cp & 1, PAD + r, cp >> 1] = row[(c - sc) & (IMAGE - 1)]
    for ki in range(KERNEL):
        for kj in range(KERNEL):
            dst = X1[ki * KERNEL + kj]
            for i in range(H1_SIDE):
                vstore(dst, i * H1_SIDE, vload(xpad[kj & 1, STRIDE * i + ki], kj >> 1))


@njit(**JIT)
def _h1_forward(W1, B1, X1, a1):
    """model.forward: F.conv2d(x, H1w, stride=2) + H1b -> a1 (12, 64). Register tile: 4 maps x 16
    positions (8 vectors), summed over the 25 taps in order, starting from the bias."""
    for m in range(0, H1_MAPS, 4):
        w0 = W1[m]
        w1 = W1[m + 1]
        w2 = W1[m + 2]
        w3 = W1[m + 3]
        for pc in range(0, P1, 2 * LANES):
            s0a = vload(B1[m], pc)
            s0b = vload(B1[m], pc + LANES)
            s1a = vload(B1[m + 1], pc)
            s1b = vload(B1[m + 1], pc + LANES)
            s2a = vload(B1[m + 2], pc)
            s2b = vload(B1[m + 2], pc + LANES)
            s3a = vload(B1[m + 3], pc)
            s3b = vload(B1[m + 3], pc + LANES)
            for k in range(TAPS):
                xr = X1[k]
                xa = vload(xr, pc)
                xb = vload(xr, pc + LANES)
                c = vsplat(w0[k], xr)
                s0a = vfma(c, xa, s0a)
                s0b = vfma(c, xb, s0b)
                c = vsplat(w1[k], xr)
                s1a = vfma(c, xa, s1a)
                s1b = vfma(c, xb, s1b)
                c = vsplat(w2[k], xr)
                s2a = vfma(c, xa, s2a)
                s2b = vfma(c, xb, s2b)
                c = vsplat(w3[k], xr)
                s3a = vfma(c, xa, s3a)
                s3b = vfma(c, xb, s3b)
            vstore(a1[m], pc, s0a)
            vstore(a1[m], pc + LANES, s0b)
            vstore(a1[m + 1], pc, s1a)
            vstore(a1[m + 1], pc + LANES, s1b)
            vstore(a1[m + 2], pc, s2a)
            vstore(a1[m + 2], pc + LANES, s2b)
            vstore(a1[m + 3], pc, s3a)
            vstore(a1[m + 3], pc + LANES, s3b)


@njit(**JIT)
def _h2_im2col(h1, h1pad, X2T):
    """model.forward: F.pad(h1, 2, value=-1) -> h1pad (12, 12, 12 of 16) (border preset to -1),
    then the H2 im2col, transposed: X2T[i*4+j, m*25 + ki*5+kj] = h1pad[m, 2i+ki, 2j+kj]. Each
    kernel row of 5 is an 8-float copy, in increasing column order, so that the next copy overwrites
    the 3 extra floats (the last lands in X2T's padding columns 300..302)."""
    for m in range(H1_MAPS):
        hm = h1[m]
        for r in range(H1_SIDE):
            vstore(h1pad[m, PAD + r], PAD, vload(hm, r * H1_SIDE))
    for i in range(H2_SIDE):
        for j in range(H2_SIDE):
            row = X2T[i * H2_SIDE + j]
            for m in range(H1_MAPS):
                for ki in range(KERNEL):
                    vstore(row, m * TAPS + ki * KERNEL, vload(h1pad[m, STRIDE * i + ki], STRIDE * j))


@njit(**JIT)
def _h2_forward(W2, B2, X2T, a2, blocks, bruns):
    """model.forward: the block convolutions of H2_BLOCKS, concatenated, + H2b -> a2 (12, 16).
    blocks[b] = (first map, end map: 4 maps); bruns[b] = the block's contiguous runs of input
    columns as (first column in a map's 200 weights, first column in an X2T row, length).
    Register tile: the block's 4 maps x 2 positions (8 vectors of partial dot products along the
    run, 8 columns at a time; a run's last partial chunk is masked), then each vector's lane sum
    plus the bias."""
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        wa = W2[lo]
        wb = W2[lo + 1]
        wc = W2[lo + 2]
        wd = W2[lo + 3]
        for p in range(0, P2, 2):
            xa = X2T[p]
            xb = X2T[p + 1]
            s0a = vzero(xa)
            s0b = s0a
            s1a = s0a
            s1b = s0a
            s2a = s0a
            s2b = s0a
            s3a = s0a
            s3b = s0a
            for q in range(bruns.shape[1]):
                w0 = bruns[b, q, 0]
                x0 = bruns[b, q, 1]
                n = bruns[b, q, 2]
                for r in range(0, n, LANES):
                    va = vload(xa, x0 + r)
                    vb = vload(xb, x0 + r)
                    if n - r < LANES:
                        va = vhead(va, n - r)
                        vb = vhead(vb, n - r)
                    c = vload(wa, w0 + r)
                    s0a = vfma(c, va, s0a)
                    s0b = vfma(c, vb, s0b)
                    c = vload(wb, w0 + r)
                    s1a = vfma(c, va, s1a)
                    s1b = vfma(c, vb, s1b)
                    c = vload(wc, w0 + r)
                    s2a = vfma(c, va, s2a)
                    s2b = vfma(c, vb, s2b)
                    c = vload(wd, w0 + r)
                    s3a = vfma(c, va, s3a)
                    s3b = vfma(c, vb, s3b)
            t = vsum8(s0a, s0b, s1a, s1b, s2a, s2b, s3a, s3b)
            a2[lo, p] = B2[lo, p] + vget(t, 0)
            a2[lo, p + 1] = B2[lo, p + 1] + vget(t, 1)
            a2[lo + 1, p] = B2[lo + 1, p] + vget(t, 2)
            a2[lo + 1, p + 1] = B2[lo + 1, p + 1] + vget(t, 3)
            a2[lo + 2, p] = B2[lo + 2, p] + vget(t, 4)
            a2[lo + 2, p + 1] = B2[lo + 2, p + 1] + vget(t, 5)
            a2[lo + 3, p] = B2[lo + 3, p] + vget(t, 6)
            a2[lo + 3, p + 1] = B2[lo + 3, p + 1] + vget(t, 7)


@njit(**JIT)
def _h2_forward_maps(W2, B2, X2T, a2, mruns):
    """model.forward for an H2 table that is not in blocks of 4 maps (Config.h2_scheme lenet5,
    random): one map at a time, a2[o, p] = H2b[o, p] + the dot product of the map's 200 weights
    with its input columns, mruns[o] = the map's runs (first column in its 200 weights, first
    column in an X2T row, length), in order. Plain loops (autovectorized), not register tiles."""
    for o in range(H2_MAPS):
        w = W2[o]
        for p in range(P2):
            x = X2T[p]
            s = F32(0.0)
            for q in range(mruns.shape[1]):
                w0 = mruns[o, q, 0]
                x0 = mruns[o, q, 1]
                n = mruns[o, q, 2]
                ws = w[w0:w0 + n]
                xs = x[x0:x0 + n]
                for r in range(n):
                    s += ws[r] * xs[r]
            a2[o, p] = B2[o, p] + s


@njit(**JIT)
def _h2_backward_maps(da2, W2, X2T, G2, dX2T, mruns):
    """Autograd of `_h2_forward_maps`: dX2T[p, x] = sum_o da2[o, p] W2[o, w] (zeroed first, maps
    in order) and G2[o, w] = sum_p da2[o, p] X2T[p, x], over each map's runs (w <-> x)."""
    zero = F32(0.0)
    for p in range(P2):
        d = dX2T[p]
        for c in range(X2_W):
            d[c] = zero
    for o in range(H2_MAPS):
        w = W2[o]
        g = G2[o]
        d = da2[o]
        for q in range(mruns.shape[1]):
            w0 = mruns[o, q, 0]
            x0 = mruns[o, q, 1]
            n = mruns[o, q, 2]
            ws = w[w0:w0 + n]
            gs = g[w0:w0 + n]
            for r in range(n):
                gs[r] = zero
            for p in range(P2):
                dp = d[p]
                xs = X2T[p, x0:x0 + n]
                es = dX2T[p, x0:x0 + n]
                for r in range(n):
                    es[r] += dp * ws[r]
                    gs[r] += dp * xs[r]


@njit(**JIT)
def _h2_backward(da2, W2, X2T, G2, dX2T, blocks, bruns):
    """Autograd of the H2 block convolutions: input gradient dX2T[p, x] = sum_o da2[o, p] W2[o, w]
    and weight gradient G2[o, w] = sum_p da2[o, p] X2T[p, x] (over the columns w <-> x of the
    block's runs). Register tiles of 4 maps x 16 columns: the input gradient adds the block's 4
    maps to dX2T (zeroed first; blocks in order), the weight gradient sums the 16 positions in
    order. A run's last partial chunk of 8 keeps what lies beyond the run: masked (zero) weights
    in the input gradient, and the stored gradient chunk merged with the old values.
    (Taking the SGD step inside this kernel, instead of storing G2, was measured slower: 12.5-14
    against 10.8-11.2 us per training example, alternating processes.)"""
    for p in range(P2):
        d = dX2T[p]
        z = vzero(d)
        for c in range(0, X2_W, LANES):
            vstore(d, c, z)
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        ga = G2[lo]
        gb = G2[lo + 1]
        gc = G2[lo + 2]
        gd = G2[lo + 3]
        wa = W2[lo]
        wb = W2[lo + 1]
        wc = W2[lo + 2]
        wd = W2[lo + 3]
        da = da2[lo]
        db = da2[lo + 1]
        dc = da2[lo + 2]
        dd = da2[lo + 3]
        for q in range(bruns.shape[1]):
            w0 = bruns[b, q, 0]
            x0 = bruns[b, q, 1]
            n = bruns[b, q, 2]
            r = 0
            while r < n:
                left = n - r
                if left >= 2 * LANES:
                    # -- input gradient, 16 columns: the 4 maps' weights stay in registers
                    c0a = vload(wa, w0 + r)
                    c0b = vload(wa, w0 + r + LANES)
                    c1a = vload(wb, w0 + r)
                    c1b = vload(wb, w0 + r + LANES)
                    c2a = vload(wc, w0 + r)
                    c2b = vload(wc, w0 + r + LANES)
                    c3a = vload(wd, w0 + r)
                    c3b = vload(wd, w0 + r + LANES)
                    for p in range(P2):
                        dr = dX2T[p]
                        ea = vload(dr, x0 + r)
                        eb = vload(dr, x0 + r + LANES)
                        c = vsplat(da[p], dr)
                        ea = vfma(c, c0a, ea)
                        eb = vfma(c, c0b, eb)
                        c = vsplat(db[p], dr)
                        ea = vfma(c, c1a, ea)
                        eb = vfma(c, c1b, eb)
                        c = vsplat(dc[p], dr)
                        ea = vfma(c, c2a, ea)
                        eb = vfma(c, c2b, eb)
                        c = vsplat(dd[p], dr)
                        ea = vfma(c, c3a, ea)
                        eb = vfma(c, c3b, eb)
                        vstore(dr, x0 + r, ea)
                        vstore(dr, x0 + r + LANES, eb)
                    # -- weight gradient, 4 maps x 16 columns
                    s0a = vzero(ga)
                    s0b = s0a
                    s1a = s0a
                    s1b = s0a
                    s2a = s0a
                    s2b = s0a
                    s3a = s0a
                    s3b = s0a
                    for p in range(P2):
                        xr = X2T[p]
                        xa = vload(xr, x0 + r)
                        xb = vload(xr, x0 + r + LANES)
                        c = vsplat(da[p], xr)
                        s0a = vfma(c, xa, s0a)
                        s0b = vfma(c, xb, s0b)
                        c = vsplat(db[p], xr)
                        s1a = vfma(c, xa, s1a)
                        s1b = vfma(c, xb, s1b)
                        c = vsplat(dc[p], xr)
                        s2a = vfma(c, xa, s2a)
                        s2b = vfma(c, xb, s2b)
                        c = vsplat(dd[p], xr)
                        s3a = vfma(c, xa, s3a)
                        s3b = vfma(c, xb, s3b)
                    vstore(ga, w0 + r, s0a)
                    vstore(ga, w0 + r + LANES, s0b)
                    vstore(gb, w0 + r, s1a)
                    vstore(gb, w0 + r + LANES, s1b)
                    vstore(gc, w0 + r, s2a)
                    vstore(gc, w0 + r + LANES, s2b)
                    vstore(gd, w0 + r, s3a)
                    vstore(gd, w0 + r + LANES, s3b)
                    r += 2 * LANES
                else:
                    # -- the same with 8 columns (the last, possibly partial, chunk of the run)
                    m0 = vload(wa, w0 + r)
                    m1 = vload(wb, w0 + r)
                    m2 = vload(wc, w0 + r)
                    m3 = vload(wd, w0 + r)
                    if left < LANES:
                        m0 = vhead(m0, left)
                        m1 = vhead(m1, left)
                        m2 = vhead(m2, left)
                        m3 = vhead(m3, left)
                    for p in range(P2):
                        dr = dX2T[p]
                        ea = vload(dr, x0 + r)
                        ea = vfma(vsplat(da[p], dr), m0, ea)
                        ea = vfma(vsplat(db[p], dr), m1, ea)
                        ea = vfma(vsplat(dc[p], dr), m2, ea)
                        ea = vfma(vsplat(dd[p], dr), m3, ea)
                        vstore(dr, x0 + r, ea)
                    s0a = vzero(ga)
                    s1a = s0a
                    s2a = s0a
                    s3a = s0a
                    for p in range(P2):
                        xr = X2T[p]
                        xa = vload(xr, x0 + r)
                        s0a = vfma(vsplat(da[p], xr), xa, s0a)
                        s1a = vfma(vsplat(db[p], xr), xa, s1a)
                        s2a = vfma(vsplat(dc[p], xr), xa, s2a)
                        s3a = vfma(vsplat(dd[p], xr), xa, s3a)
                    if left < LANES:
                        s0a = vmerge(s0a, vload(ga, w0 + r), left)
                        s1a = vmerge(s1a, vload(gb, w0 + r), left)
                        s2a = vmerge(s2a, vload(gc, w0 + r), left)
                        s3a = vmerge(s3a, vload(gd, w0 + r), left)
                    vstore(ga, w0 + r, s0a)
                    vstore(gb, w0 + r, s1a)
                    vstore(gc, w0 + r, s2a)
                    vstore(gd, w0 + r, s3a)
                    r += LANES


@njit(**NOFASTMATH)
def _col2im(dX2T, d1, da1, GB1):
    """Autograd of F.pad + the H2 im2col, times act'(a1): da1[m, r*8 + c] = d1[m, r*8 + c] *
    sum of dX2T[i*4+j, m*25 + ki*5 + kj] over the positions (i, j) whose kernel covers H1 cell
    (r, c) (2i+ki = r+2, 2j+kj = c+2; the padding border is a constant: its gradient is dropped),
    summed from 0 in position order (i, then j). One H1 row (8 cells) is one vector: for each
    (i, j), the kernel row's 5 taps are loaded shifted into the lanes of their cells (lanes
    outside them zeroed: adding 0 changes nothing) and added in a register. Compiled without
    fastmath (set explicitly: numba otherwise inherits the caller's flags), so that LLVM keeps
    the order of the adds. The shifted loads read up to 4 floats before an X2T row (inside the
    engine's arena, masked out) and never past its padded end. Measured: 0.33 against 1.0 us
    when the rows were summed in memory (a padded 12 x 12 buffer, each row rewritten 3 times)."""
    for m in range(H1_MAPS):
        dm = da1[m]
        for r in range(H1_SIDE):
            cell = r + PAD                              # the row in the padded H1 map
            acc = vzero(dm)
            for i in range(H2_SIDE):
                ki = cell - STRIDE * i
                if 0 <= ki < KERNEL:
                    for j in range(H2_SIDE):
                        # lane L <-> cell (r, L): column L + 2 <-> tap kj = L + 2 - 2j
                        v = vload(dX2T[i * H2_SIDE + j], m * TAPS + ki * KERNEL + PAD - STRIDE * j)
                        acc = vadd(acc, vband(v, STRIDE * j - PAD, STRIDE * j - PAD + KERNEL))
            g = vmul(acc, vload(d1[m], r * H1_SIDE))
            vstore(dm, r * H1_SIDE, g)
            vstore(GB1[m], r * H1_SIDE, g)


@njit(**JIT)
def _h1_backward(dX2T, d1, da1, X1, G1, GB1):
    """Autograd of the H1 conv: da1 = col2im(dX2T) * act'(a1) (`_col2im`); H1b's gradient da1,
    H1w's gradient G1[m, k] = sum_p da1[m, p] X1[k, p] (register tile: 2 maps x 4 taps, lane sums
    at the end (vsum8))."""
    _col2im(dX2T, d1, da1, GB1)
    for m in range(0, H1_MAPS, 2):
        d0 = da1[m]
        d1_ = da1[m + 1]
        k = 0
        while k < TAPS:
            if k + 4 <= TAPS:
                xa = X1[k]
                xb = X1[k + 1]
                xc = X1[k + 2]
                xd = X1[k + 3]
                s0a = vzero(d0)
                s0b = s0a
                s0c = s0a
                s0d = s0a
                s1a = s0a
                s1b = s0a
                s1c = s0a
                s1d = s0a
                for pc in range(0, P1, LANES):
                    e0 = vload(d0, pc)
                    e1 = vload(d1_, pc)
                    v = vload(xa, pc)
                    s0a = vfma(e0, v, s0a)
                    s1a = vfma(e1, v, s1a)
                    v = vload(xb, pc)
                    s0b = vfma(e0, v, s0b)
                    s1b = vfma(e1, v, s1b)
                    v = vload(xc, pc)
                    s0c = vfma(e0, v, s0c)
                    s1c = vfma(e1, v, s1c)
                    v = vload(xd, pc)
                    s0d = vfma(e0, v, s0d)
                    s1d = vfma(e1, v, s1d)
                t = vsum8(s0a, s0b, s0c, s0d, s1a, s1b, s1c, s1d)
                G1[m, k] = vget(t, 0)
                G1[m, k + 1] = vget(t, 1)
                G1[m, k + 2] = vget(t, 2)
                G1[m, k + 3] = vget(t, 3)
                G1[m + 1, k] = vget(t, 4)
                G1[m + 1, k + 1] = vget(t, 5)
                G1[m + 1, k + 2] = vget(t, 6)
                G1[m + 1, k + 3] = vget(t, 7)
                k += 4
            else:
                xa = X1[k]
                s0a = vzero(d0)
                s1a = s0a
                for pc in range(0, P1, LANES):
                    v = vload(xa, pc)
                    s0a = vfma(vload(d0, pc), v, s0a)
                    s1a = vfma(vload(d1_, pc), v, s1a)
                t = vsum8(s0a, s1a, s0a, s0a, s0a, s0a, s0a, s0a)
                G1[m, k] = vget(t, 0)
                G1[m + 1, k] = vget(t, 1)
                k += 1


@njit(**JIT)
def _h3_forward(W3T, B3, h2d, a3):
    """model.forward: x @ H3w + H3b -> a3 (30), with W3T = H3w.T: one dot over 192 per unit,
    6 units at a time (partial sums in 8 lanes, then the lane sum plus the bias)."""
    for u in range(0, H3_UNITS, 6):
        w0 = W3T[u]
        w1 = W3T[u + 1]
        w2 = W3T[u + 2]
        w3 = W3T[u + 3]
        w4 = W3T[u + 4]
        w5 = W3T[u + 5]
        s0 = vzero(h2d)
        s1 = s0
        s2 = s0
        s3 = s0
        s4 = s0
        s5 = s0
        for qc in range(0, H2_UNITS, LANES):
            x = vload(h2d, qc)
            s0 = vfma(vload(w0, qc), x, s0)
            s1 = vfma(vload(w1, qc), x, s1)
            s2 = vfma(vload(w2, qc), x, s2)
            s3 = vfma(vload(w3, qc), x, s3)
            s4 = vfma(vload(w4, qc), x, s4)
            s5 = vfma(vload(w5, qc), x, s5)
        t = vsum8(s0, s1, s2, s3, s4, s5, s5, s5)
        a3[u] = vget(t, 0) + B3[u]
        a3[u + 1] = vget(t, 1) + B3[u + 1]
        a3[u + 2] = vget(t, 2) + B3[u + 2]
        a3[u + 3] = vget(t, 3) + B3[u + 3]
        a3[u + 4] = vget(t, 4) + B3[u + 4]
        a3[u + 5] = vget(t, 5) + B3[u + 5]


@njit(**JIT)
def _forward(img, sr, sc, mask, use_mask, act, out_act, deriv,
             W1, B1, W2, B2, W3T, B3, W4, B4, blocks, bruns, general, mruns,
             xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout):
    """model.Net1989.forward for one example, keeping what the backward pass needs (the
    activations' derivatives only with deriv). general: the H2 table is not in blocks of 4
    maps (`_h2_forward_maps` with mruns instead of the block kernel)."""
    _input(img, sr, sc, xpad, X1)
    _h1_forward(W1, B1, X1, a1)
    # model.forward: act(...) -> h1 (12, 64), and act'
    _activate(a1.reshape(H1_MAPS * P1), h1.reshape(H1_MAPS * P1), d1.reshape(H1_MAPS * P1), act, deriv)
    _h2_im2col(h1, h1pad, X2T)
    if general:
        _h2_forward_maps(W2, B2, X2T, a2, mruns)
    else:
        _h2_forward(W2, B2, X2T, a2, blocks, bruns)
    # model.forward: act(...), flatten -> h2 (192)
    _activate(a2.reshape(H2_UNITS), h2, d2, act, deriv)
    # model.forward: x * dropout_mask (training only)
    if use_mask:
        for q in range(H2_UNITS):
            h2d[q] = h2[q] * mask[q]
    else:
        for q in range(H2_UNITS):
            h2d[q] = h2[q]
    _h3_forward(W3T, B3, h2d, a3)
    _activate(a3, h3, d3, act, deriv)
    # model.forward: x @ outw + outb -> z (10); then the head's squashing (model.head_fn)
    for j in range(OUTPUTS):
        z[j] = B4[j]
    for u in range(H3_UNITS):
        hu = h3[u]
        for j in range(OUTPUTS):
            z[j] += hu * W4[u, j]
    if out_act >= 0:
        _activate(z, out, dout, out_act, deriv)
    else:
        for j in range(OUTPUTS):
            out[j] = z[j]


@njit(**JIT)
def _softmax(z, p):
    """p = softmax(z) over the 10 outputs (shifted by the largest, as torch does)."""
    zmax = z[0]
    for j in range(1, OUTPUTS):
        zmax = max(zmax, z[j])
    tot = F32(0.0)
    for j in range(OUTPUTS):
        p[j] = np.float32(math.exp(z[j] - zmax))
        tot += p[j]
    for j in range(OUTPUTS):
        p[j] = p[j] / tot


# -- sdlm: the Gauss-Newton diagonal of one example ---------------------------------------------
@njit(**JIT)
def _gn_backward(head, d2mse, W2, W3T, W4, blocks, bruns,
                 H1, HB1, H2, HB2, H3T, HB3, H4, HB4, W2sq, X1sq, X2Tsq,
                 X1, d1, X2T, d2, h2d, h3, d3, z, dout, dz, dh3, dh2, da2, dX2T, da1):
    """sdlm.gn_diagonal for one example, after `_forward` without dropout (sdlm.forward_parts
    has none), written into H1 ... HB4 (the parameters' internal layout): the backward pass of
    training with squared weights, squared inputs and squared derivatives, so the same H2/H1
    kernels serve both. Overwrites d1 with its square."""
    one = F32(1.0)
    zero = F32(0.0)
    # sdlm.output_d2: tanh head f'(a4)^2 * d2mse (2/10 for the mean over the 10 outputs;
    # config.MSE_FACTOR); linear head p (1 - p) of softmax(a4)
    if head == HEAD_SQUASH:
        for j in range(OUTPUTS):
            dz[j] = dout[j] * dout[j] * F32(d2mse)
    else:
        _softmax(z, dz)
        for j in range(OUTPUTS):
            dz[j] = dz[j] * (one - dz[j])
    # outw: x4^2 d4; H3: d3 = f'(a3)^2 * (d4 @ (outw^2)^T)
    for j in range(OUTPUTS):
        HB4[j] = dz[j]
    for u in range(H3_UNITS):
        x2 = h3[u] * h3[u]
        s = zero
        for j in range(OUTPUTS):
            H4[u, j] = x2 * dz[j]
            w = W4[u, j]
            s += w * w * dz[j]
        dh3[u] = d3[u] * d3[u] * s
    # H3w: x3^2 d3; H2: d2 = f'(a2)^2 * (d3 @ (H3w^2)^T)
    for q in range(H2_UNITS):
        dh2[q] = zero
    for u in range(H3_UNITS):
        g = dh3[u]
        HB3[u] = g
        w = W3T[u]
        hw = H3T[u]
        for q in range(H2_UNITS):
            x = h2d[q]
            hw[q] = g * (x * x)
            dh2[q] += g * (w[q] * w[q])
    for o in range(H2_MAPS):
        for p in range(P2):
            f = d2[o * P2 + p]
            g = dh2[o * P2 + p] * (f * f)
            da2[o, p] = g
            HB2[o, p] = g
    # H2w and the padded H1 maps: the H2 backward kernel on squared weights and inputs
    for o in range(H2_MAPS):
        for w0 in range(W2.shape[1]):
            W2sq[o, w0] = W2[o, w0] * W2[o, w0]
    for p in range(P2):
        for x0 in range(X2_ROW):
            X2Tsq[p, x0] = X2T[p, x0] * X2T[p, x0]
    # (then `_kernel` runs _h2_backward on W2sq, X2Tsq into H2, and _h1_backward on X1sq and the
    # squared d1 into H1, HB1: the padding is a constant, not a unit: its cells are dropped by
    # the col2im)
    for k in range(TAPS):
        for p in range(P1):
            X1sq[k, p] = X1[k, p] * X1[k, p]
    for m in range(H1_MAPS):
        for p in range(P1):
            d1[m, p] = d1[m, p] * d1[m, p]


# -- the per-example entry point: a training pass, prediction, or the sdlm diagonal -------------------
# Compile time: numba optimizes each @njit function's code on its own and again inside every
# caller that links it, so each entry point re-optimizes all the kernels below it. One entry
# point for the three jobs (rather than one function each) builds and caches them once. (The
# batched prediction, `_predict_kernel`, shares only the activations with it and is compiled in
# parallel with it: see ensure_compiled.)
MODE_TRAIN, MODE_PREDICT, MODE_HESSIAN = 0, 1, 2


@njit(**JIT)
def _kernel(mode, X, labels, shifts, use_shift, masks, use_mask, lr, act, head, out_act, opt,
            step0, h3lo, h3hi, theta, grad, madam, vadam, hdiag, coef, hx, hacc, mu, running, result,
            tgt, cmse, d2mse, blocks, bruns, general, mruns, W1, B1, W2, B2, W3T, B3, W4, B4,
            G1, GB1, G2, GB2, G3T, GB3, G4, GB4,
            H1, HB1, H2, HB2, H3T, HB3, H4, HB4, W2sq, X1sq, X2Tsq,
            xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout,
            dz, dh3, dh2, da2, dX2T, da1):
    """mode MODE_TRAIN: train.TorchEngine.train_pass over examples 0..N-1 in order: per example
    forward, loss, backward (every gradient from the old weights), then one optimizer step; returns
    the step count. sdlm (opt 2): hdiag is the Hessian diagonal (theta's layout); with running > 0
    it is updated after each step from the example's own diagonal (hx, views H1 ... HB4), as
    TorchEngine._sdlm_step does.
    MODE_PREDICT: model.forward in eval mode (no dropout, no shift) for every example -> result (N, 10)
    (FastEngine.predict runs `_predict_kernel` instead: the same outputs bit for bit, faster).
    MODE_HESSIAN: sdlm.gn_diagonal(model, X): the per-example diagonals summed in float64 into
    hacc, then hdiag = hacc / N.
    tgt: the tanh head's target value (Config.target); cmse, d2mse: the first and second
    derivative factors of the MSE normalisation (Config.mse_norm; 2/10 and 2/10 for the mean).
    general, mruns: an H2 table not in blocks of 4 maps (see `_forward`)."""
    n = X.shape[0]
    one = F32(1.0)
    zero = F32(0.0)
    lr32 = F32(lr)
    mu32 = F32(mu)
    g32 = F32(running)
    g1 = F32(1.0 - running)
    tgt32 = F32(tgt)
    cm32 = F32(cmse)
    step = step0
    if mode == MODE_HESSIAN:
        for t in range(hacc.size):
            hacc[t] = 0.0
    if mode == MODE_TRAIN and opt == 2 and running == 0.0:
        # TorchEngine._sdlm_step: lr / (mu + h), which torch computes as (mu + h).reciprocal() * lr
        for t in range(theta.size):
            coef[t] = (one / (mu32 + hdiag[t])) * lr32
    # Each example takes one or two rounds; every round is one forward pass, so that `_forward`
    # and `_gn_backward` each have a single call site (inlined once: see the compile-time note).
    # Round 0: prediction, the training step, or (MODE_HESSIAN) the example's diagonal; round 1
    # (sdlm with a running average only): the example's diagonal with the weights after the step.
    rounds = 2 if (mode == MODE_TRAIN and opt == 2 and running > 0.0) else 1
    sgd_h3 = mode == MODE_TRAIN and opt == 0
    deriv = mode != MODE_PREDICT
    for it in range(n * rounds):
        e = it // rounds
        gn = mode == MODE_HESSIAN or it % rounds == 1
        sr = shifts[e, 0] if use_shift else 0
        sc = shifts[e, 1] if use_shift else 0
        me = e if use_mask else 0
        mrow = masks[me]
        drop = use_mask and not gn          # (a plain variable: numba rejects inline control flow in long calls)
        _forward(X[e], sr, sc, mrow, drop, act, out_act, deriv,
                 W1, B1, W2, B2, W3T, B3, W4, B4, blocks, bruns, general, mruns,
                 xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout)
        if mode == MODE_PREDICT:
            for j in range(OUTPUTS):
                result[e, j] = out[j]
            continue
        if gn:
            _gn_backward(head, d2mse, W2, W3T, W4, blocks, bruns,
                         H1, HB1, H2, HB2, H3T, HB3, H4, HB4, W2sq, X1sq, X2Tsq,
                         X1, d1, X2T, d2, h2d, h3, d3, z, dout, dz, dh3, dh2, da2, dX2T, da1)
        else:
            lab = labels[e]
            # -- loss gradient at the output pre-activation z ---------------------------------------
            if head == HEAD_SQUASH:
                # train_pass: loss = mean((y - out)^2) over 10 outputs, y = +1 at the label, -1 else;
                # d loss / d out = 2 (out - y) / 10, then through the head's squashing (dout).
                # Config.target: y = +-tgt; Config.mse_norm: the factor cmse instead of 2/10
                for j in range(OUTPUTS):
                    y = tgt32 if j == lab else -tgt32
                    dz[j] = (cm32 * (out[j] - y)) * dout[j]
            else:
                # train_pass: F.cross_entropy(z, label) -> softmax(z) - onehot(label)
                _softmax(z, dz)
                for j in range(OUTPUTS):
                    dz[j] = dz[j] - (one if j == lab else zero)
            # -- autograd of z = h3 @ outw + outb, then of H3's act --------------------------------
            for j in range(OUTPUTS):
                GB4[j] = dz[j]
            for u in range(H3_UNITS):
                s = zero
                for j in range(OUTPUTS):
                    G4[u, j] = h3[u] * dz[j]
                    s += W4[u, j] * dz[j]
                dh3[u] = s * d3[u]
            # -- autograd of a3 = h2d @ H3w + H3b: dh2 = sum_u dh3[u] H3w[:, u] (u in order), H3w's
            # gradient dh3[u] h2d; 8 H2 units at a time over all 30 H3 units. With SGD, H3w's step
            # p - lr g is taken here, right after p's last use (H3w is 59% of the weights: its
            # gradient is then neither stored nor read back); the optimizer step below skips it.
            nlr = vsplat(-lr32, h2d)
            for qc in range(0, H2_UNITS, LANES):
                hq = vload(h2d, qc)
                acc = vzero(h2d)
                for u in range(H3_UNITS):
                    gs = vsplat(dh3[u], h2d)
                    w = vload(W3T[u], qc)
                    acc = vfma(gs, w, acc)
                    g = vmul(gs, hq)
                    if sgd_h3:
                        vstore(W3T[u], qc, vfma(nlr, g, w))
                    else:
                        vstore(G3T[u], qc, g)
                vstore(dh2, qc, acc)
            for u in range(H3_UNITS):
                GB3[u] = dh3[u]
            # -- autograd of the dropout mask and H2's act: da2 = dh2 * mask * act'(a2) ---------------
            if use_mask:
                for q in range(H2_UNITS):
                    dh2[q] *= mrow[q]
            for o in range(H2_MAPS):
                for p in range(P2):
                    g = dh2[o * P2 + p] * d2[o * P2 + p]
                    da2[o, p] = g
                    GB2[o, p] = g
        # -- H2 and H1 backward: one call site for training and the sdlm diagonal (which runs them
        # on squared weights and inputs), so that the compiler inlines and optimizes them once
        w2s = W2sq if gn else W2
        x2s = X2Tsq if gn else X2T
        g2s = H2 if gn else G2
        x1s = X1sq if gn else X1
        g1s = H1 if gn else G1
        gb1s = HB1 if gn else GB1
        if general:
            _h2_backward_maps(da2, w2s, x2s, g2s, dX2T, mruns)
        else:
            _h2_backward(da2, w2s, x2s, g2s, dX2T, blocks, bruns)
        _h1_backward(dX2T, d1, da1, x1s, g1s, gb1s)
        if gn:
            if mode == MODE_HESSIAN:
                for t in range(hacc.size):
                    hacc[t] += hx[t]
            else:
                # h <- (1 - g) h + g h_example (TorchEngine._sdlm_step)
                for t in range(theta.size):
                    hdiag[t] = g1 * hdiag[t] + g32 * hx[t]
            continue
        # -- optimizer step over the flat parameter vector -----------------------------------------
        step += 1
        if opt == 0:
            # torch.optim.SGD (no momentum, no weight decay): p -= lr * g (H3w: done above)
            for t in range(h3lo):
                theta[t] -= lr32 * grad[t]
            for t in range(h3hi, theta.size):
                theta[t] -= lr32 * grad[t]
        elif opt == 1:
            _adamw(theta, grad, madam, vadam, lr, step)
        elif running == 0.0:
            # TorchEngine._sdlm_step: p -= lr / (mu + h) * grad
            for t in range(theta.size):
                theta[t] -= coef[t] * grad[t]
        else:
            # the diagonal is then updated in round 1 of this example
            for t in range(theta.size):
                theta[t] -= ((one / (mu32 + hdiag[t])) * lr32) * grad[t]
    if mode == MODE_HESSIAN:
        for t in range(hacc.size):
            hdiag[t] = hacc[t] / n
    return step


@njit(**JIT)
def _adamw(theta, grad, madam, vadam, lr, step):
    """torch.optim.AdamW, single-tensor path, amsgrad False: decoupled decay p *= 1 - lr wd, then
    Adam with bias correction; the scalars in float64 as torch computes them in Python."""
    bc1 = 1.0 - ADAM_BETA1 ** step
    bc2s = math.sqrt(1.0 - ADAM_BETA2 ** step)
    decay = F32(1.0 - lr * ADAM_WD)
    b1c = F32(1.0 - ADAM_BETA1)
    b2 = F32(ADAM_BETA2)
    b2c = F32(1.0 - ADAM_BETA2)
    ssize = F32(lr / bc1)
    bc2 = F32(bc2s)
    eps = F32(ADAM_EPS)
    for t in range(theta.size):
        g = grad[t]
        mt = madam[t] + b1c * (g - madam[t])      # exp_avg.lerp_(grad, 1 - beta1)
        vt = vadam[t] * b2 + b2c * g * g         # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
        madam[t] = mt
        vadam[t] = vt
        denom = np.sqrt(vt) / bc2 + eps          # (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
        theta[t] = theta[t] * decay - ssize * (mt / denom)


# -- prediction, 8 examples at a time ----------------------------------------------------------------
# Training must take the examples one at a time (each step changes the weights); prediction need
# not. `_predict_kernel` runs model.forward for 8 examples at once, one example per vector lane,
# so that every weight is loaded once per 8 multiply-adds and every loop runs over whole vectors
# (about twice the speed of the per-example forward; the flop count is the same). Every sum is
# taken in the order `_forward` takes it, so the outputs are bit for bit those of the per-example
# kernel (tests/test_fast.py):
# - H1: from the bias, the 25 taps in order, fused multiply-adds (as `_h1_forward`);
# - H2 and H3: `_forward` sums each dot product in 8 lanes (lane l takes the run's columns l,
#   l+8, ...) and then adds the lanes in vsum8's order. Here each output keeps those 8 partial
#   sums ("lane slots", each a vector over the 8 examples) and `_slot_sums` adds them in the
#   same order;
# - the output layer: from the bias, the 30 H3 units in order, fused (as LLVM compiles the
#   per-example loop).
# Layouts: a vector of 8 examples per pixel / unit: xb (20*20, 8) padded input, a1b (12*64, 8),
# h1p (12*12*12, 8) padded H1, a2b/h2b (192, 8), a3b/h3b (30, 8), zb/outb (10, 8).
BATCH = LANES                               # examples per vector
SLOTS = LANES                               # lane slots of one dot product (see above)
SLOT_TILE = 8                               # outputs per tile whose slots are kept (4 maps x 2 positions)


@njit(**NOFASTMATH)
def _slot_sums(S, bias, nout, T):
    """T[k] = bias[k] + ((S0 + S4) + (S2 + S6)) + ((S1 + S5) + (S3 + S7)) for the slots Sl =
    S[l, k] (vectors of 8 examples): vsum8's order. Compiled without fastmath (set explicitly:
    numba otherwise inherits the caller's flags), so that LLVM cannot reassociate the sums."""
    so = SLOT_TILE * BATCH
    for k in range(nout):
        i = k * BATCH
        t = vadd(vadd(vadd(vload(S, i), vload(S, 4 * so + i)), vadd(vload(S, 2 * so + i), vload(S, 6 * so + i))),
                 vadd(vadd(vload(S, so + i), vload(S, 5 * so + i)), vadd(vload(S, 3 * so + i), vload(S, 7 * so + i))))
        vstore(T, i, vadd(vsplat(bias[k], T), t))


@njit(**JIT)
def _batch_input(X, g0, xb):
    """Examples g0 .. g0+7 (the last one repeated past the end) into xb[(r*20 + c)*8 + e]; the
    padding border is preset to -1 (model.forward: F.pad(x, 2, value=-1))."""
    n = X.shape[0]
    for e in range(BATCH):
        img = X[min(g0 + e, n - 1)]
        for r in range(IMAGE):
            row = img[r]
            o = ((r + PAD) * XPAD + PAD) * BATCH + e
            for c in range(IMAGE):
                xb[o + c * BATCH] = row[c]


@njit(**JIT)
def _batch_h1(W1, B1, xb, a1b):
    """model.forward: F.conv2d(x, H1w, stride=2) + H1b for 8 examples -> a1b[(m*64 + p)*8 + e].
    Register tile: 6 maps x 2 positions."""
    for mh in range(0, H1_MAPS, 6):
        w0 = W1[mh]
        w1 = W1[mh + 1]
        w2 = W1[mh + 2]
        w3 = W1[mh + 3]
        w4 = W1[mh + 4]
        w5 = W1[mh + 5]
        for i in range(H1_SIDE):
            for j in range(0, H1_SIDE, 2):
                p = i * H1_SIDE + j
                s0a = vsplat(B1[mh, p], xb)
                s0b = vsplat(B1[mh, p + 1], xb)
                s1a = vsplat(B1[mh + 1, p], xb)
                s1b = vsplat(B1[mh + 1, p + 1], xb)
                s2a = vsplat(B1[mh + 2, p], xb)
                s2b = vsplat(B1[mh + 2, p + 1], xb)
                s3a = vsplat(B1[mh + 3, p], xb)
                s3b = vsplat(B1[mh + 3, p + 1], xb)
                s4a = vsplat(B1[mh + 4, p], xb)
                s4b = vsplat(B1[mh + 4, p + 1], xb)
                s5a = vsplat(B1[mh + 5, p], xb)
                s5b = vsplat(B1[mh + 5, p + 1], xb)
                base = (STRIDE * i * XPAD + STRIDE * j) * BATCH
                for ki in range(KERNEL):
                    for kj in range(KERNEL):
                        k = ki * KERNEL + kj
                        o = base + (ki * XPAD + kj) * BATCH
                        xa = vload(xb, o)
                        xc = vload(xb, o + STRIDE * BATCH)
                        c = vsplat(w0[k], xb)
                        s0a = vfma(c, xa, s0a)
                        s0b = vfma(c, xc, s0b)
                        c = vsplat(w1[k], xb)
                        s1a = vfma(c, xa, s1a)
                        s1b = vfma(c, xc, s1b)
                        c = vsplat(w2[k], xb)
                        s2a = vfma(c, xa, s2a)
                        s2b = vfma(c, xc, s2b)
                        c = vsplat(w3[k], xb)
                        s3a = vfma(c, xa, s3a)
                        s3b = vfma(c, xc, s3b)
                        c = vsplat(w4[k], xb)
                        s4a = vfma(c, xa, s4a)
                        s4b = vfma(c, xc, s4b)
                        c = vsplat(w5[k], xb)
                        s5a = vfma(c, xa, s5a)
                        s5b = vfma(c, xc, s5b)
                o = (mh * P1 + p) * BATCH
                step = P1 * BATCH
                vstore(a1b, o, s0a)
                vstore(a1b, o + BATCH, s0b)
                vstore(a1b, o + step, s1a)
                vstore(a1b, o + step + BATCH, s1b)
                vstore(a1b, o + 2 * step, s2a)
                vstore(a1b, o + 2 * step + BATCH, s2b)
                vstore(a1b, o + 3 * step, s3a)
                vstore(a1b, o + 3 * step + BATCH, s3b)
                vstore(a1b, o + 4 * step, s4a)
                vstore(a1b, o + 4 * step + BATCH, s4b)
                vstore(a1b, o + 5 * step, s5a)
                vstore(a1b, o + 5 * step + BATCH, s5b)


@njit(**JIT)
def _batch_h2(W2s, B2, blocks, soffs, scnt, h1p, S, bt, T, a2b):
    """model.forward: the H2 block convolutions + H2b for 8 examples -> a2b[(o*16 + p)*8 + e].
    For each block, 2 positions at a time, lane slot l at a time: the slot's columns in order
    (soffs[b, l, t]: the column's offset in h1p; W2s[b, l, 4t:4t+4]: its weights for the block's
    4 maps), 8 accumulators (4 maps x 2 positions) -> S[l]; then `_slot_sums`."""
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        for p in range(0, P2, 2):
            pa = (STRIDE * (p // H2_SIDE) * H1PAD + STRIDE * (p % H2_SIDE)) * BATCH
            for l in range(SLOTS):
                ot = soffs[b, l]
                wt = W2s[b, l]
                s0a = vzero(h1p)
                s0b = s0a
                s1a = s0a
                s1b = s0a
                s2a = s0a
                s2b = s0a
                s3a = s0a
                s3b = s0a
                for t in range(scnt[b, l]):
                    off = ot[t] + pa
                    va = vload(h1p, off)
                    vb = vload(h1p, off + STRIDE * BATCH)
                    c = vsplat(wt[4 * t], h1p)
                    s0a = vfma(c, va, s0a)
                    s0b = vfma(c, vb, s0b)
                    c = vsplat(wt[4 * t + 1], h1p)
                    s1a = vfma(c, va, s1a)
                    s1b = vfma(c, vb, s1b)
                    c = vsplat(wt[4 * t + 2], h1p)
                    s2a = vfma(c, va, s2a)
                    s2b = vfma(c, vb, s2b)
                    c = vsplat(wt[4 * t + 3], h1p)
                    s3a = vfma(c, va, s3a)
                    s3b = vfma(c, vb, s3b)
                o = l * SLOT_TILE * BATCH
                vstore(S, o, s0a)
                vstore(S, o + BATCH, s0b)
                vstore(S, o + 2 * BATCH, s1a)
                vstore(S, o + 3 * BATCH, s1b)
                vstore(S, o + 4 * BATCH, s2a)
                vstore(S, o + 5 * BATCH, s2b)
                vstore(S, o + 6 * BATCH, s3a)
                vstore(S, o + 7 * BATCH, s3b)
            for mm in range(4):
                bt[2 * mm] = B2[lo + mm, p]
                bt[2 * mm + 1] = B2[lo + mm, p + 1]
            _slot_sums(S, bt, SLOT_TILE, T)
            for mm in range(4):
                vstore(a2b, ((lo + mm) * P2 + p) * BATCH, vload(T, 2 * mm * BATCH))
                vstore(a2b, ((lo + mm) * P2 + p + 1) * BATCH, vload(T, (2 * mm + 1) * BATCH))


@njit(**JIT)
def _batch_h3(W3T, B3, h2b, S, bt, T, a3b):
    """model.forward: x @ H3w + H3b for 8 examples -> a3b[u*8 + e]: 6 units at a time, lane slot l
    at a time (H2 units l, l+8, ..., as `_h3_forward`'s lane l), then `_slot_sums`."""
    for u in range(0, H3_UNITS, 6):
        v0 = W3T[u]
        v1 = W3T[u + 1]
        v2 = W3T[u + 2]
        v3 = W3T[u + 3]
        v4 = W3T[u + 4]
        v5 = W3T[u + 5]
        for l in range(SLOTS):
            s0 = vzero(h2b)
            s1 = s0
            s2 = s0
            s3 = s0
            s4 = s0
            s5 = s0
            for q in range(l, H2_UNITS, LANES):
                x = vload(h2b, q * BATCH)
                s0 = vfma(vsplat(v0[q], h2b), x, s0)
                s1 = vfma(vsplat(v1[q], h2b), x, s1)
                s2 = vfma(vsplat(v2[q], h2b), x, s2)
                s3 = vfma(vsplat(v3[q], h2b), x, s3)
                s4 = vfma(vsplat(v4[q], h2b), x, s4)
                s5 = vfma(vsplat(v5[q], h2b), x, s5)
            o = l * SLOT_TILE * BATCH
            vstore(S, o, s0)
            vstore(S, o + BATCH, s1)
            vstore(S, o + 2 * BATCH, s2)
            vstore(S, o + 3 * BATCH, s3)
            vstore(S, o + 4 * BATCH, s4)
            vstore(S, o + 5 * BATCH, s5)
        for i in range(6):
            bt[i] = B3[u + i]
        _slot_sums(S, bt, 6, T)
        for i in range(6):
            vstore(a3b, (u + i) * BATCH, vload(T, i * BATCH))


@njit(**JIT)
def _predict_kernel(X, act, out_act, W1, B1, W2, B2, W3T, B3, W4, B4, blocks, swcol, soffs, scnt,
                    W2s, xb, a1b, h1b, dscratch, h1p, S, bt, T, a2b, h2b, a3b, h3b, zb, outb, result):
    """model.Net1989.forward in eval mode for every example of X (N, 16, 16) -> result (N, 10),
    8 examples at a time (see above); bit for bit `_kernel`'s MODE_PREDICT."""
    n = X.shape[0]
    # the H2 weights in slot order: W2s[b, l, 4t + i] = H2w[block b's map i, column swcol[b, l, t]]
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        for l in range(SLOTS):
            for t in range(scnt[b, l]):
                w = swcol[b, l, t]
                for i in range(4):
                    W2s[b, l, 4 * t + i] = W2[lo + i, w]
    nh1 = H1_MAPS * P1 * BATCH
    for g0 in range(0, n, BATCH):
        _batch_input(X, g0, xb)
        _batch_h1(W1, B1, xb, a1b)
        # model.forward: act(...) -> h1, then into the padded layout (a row of 8 positions x 8
        # examples is 64 contiguous floats in both)
        _activate(a1b[:nh1], h1b[:nh1], dscratch[:nh1], act, False)
        for m in range(H1_MAPS):
            for r in range(H1_SIDE):
                src = (m * P1 + r * H1_SIDE) * BATCH
                dst = ((m * H1PAD + r + PAD) * H1PAD + PAD) * BATCH
                for c in range(0, H1_SIDE * BATCH, LANES):
                    vstore(h1p, dst + c, vload(h1b, src + c))
        _batch_h2(W2s, B2, blocks, soffs, scnt, h1p, S, bt, T, a2b)
        _activate(a2b, h2b, dscratch[:a2b.size], act, False)
        _batch_h3(W3T, B3, h2b, S, bt, T, a3b)
        _activate(a3b, h3b, dscratch[:a3b.size], act, False)
        # model.forward: h3 @ outw + outb, then the head's squashing
        for j in range(OUTPUTS):
            zj = vsplat(B4[j], zb)
            for u in range(H3_UNITS):
                zj = vfma(vload(h3b, u * BATCH), vsplat(W4[u, j], zb), zj)
            vstore(zb, j * BATCH, zj)
        if out_act >= 0:
            _activate(zb, outb, dscratch[:zb.size], out_act, False)
        else:
            for t in range(zb.size):
                outb[t] = zb[t]
        for e in range(min(BATCH, n - g0)):
            for j in range(OUTPUTS):
                result[g0 + e, j] = outb[j * BATCH + e]


def h2_slot_tables(blocks: np.ndarray, bruns: np.ndarray):
    """For `_batch_h2`: the columns of each block's lane slot l, in `_h2_forward`'s order (run by
    run, the run's columns l, l+8, ...): swcol[b, l, t] (column in a map's 200 weights),
    soffs[b, l, t] (offset of the column's input in h1p, from the position's corner), and the
    count scnt[b, l]."""
    nb = blocks.shape[0]
    width = -(-H2_FAN_MAPS * TAPS // SLOTS) + bruns.shape[1]
    swcol = np.zeros((nb, SLOTS, width), np.int64)
    soffs = np.zeros((nb, SLOTS, width), np.int64)
    scnt = np.zeros((nb, SLOTS), np.int64)
    for b in range(nb):
        for l in range(SLOTS):
            t = 0
            for w0, x0, n in bruns[b]:
                for c in range(l, n, SLOTS):
                    m, k = divmod(int(x0 + c), TAPS)
                    ki, kj = divmod(k, KERNEL)
                    swcol[b, l, t] = w0 + c
                    soffs[b, l, t] = ((m * H1PAD + ki) * H1PAD + kj) * BATCH
                    t += 1
            scnt[b, l] = t
    return swcol, soffs, scnt


# -- the engine ----------------------------------------------------------------------------------
def h2_blocks(table=H2_BLOCKS) -> tuple[np.ndarray, np.ndarray]:
    """From model.H2_BLOCKS (or another table's blocks, geometry.h2_blocks_of): blocks (nb, 2) =
    (first H2 map, end map) and bruns (nb, R, 3) = the block's contiguous runs of input H1 maps
    as (first column in a map's 200 weights, first column in an X2T row, length), padded with
    empty runs to a common count R. A table of one-map blocks gives the per-map runs (`mruns`)."""
    blocks, runs = [], []
    for lo, hi, ranges in table:
        col, rs = 0, []
        for a, b in ranges:
            rs.append((col * TAPS, a * TAPS, (b - a) * TAPS))
            col += b - a
        assert col == H2_FAN_MAPS, "each H2 map must see H2_FAN_MAPS H1 maps"
        assert hi - lo in (1, 4), "the H2 block kernels take a block's maps four at a time"
        blocks.append((lo, hi))
        runs.append(rs)
    width = max(len(r) for r in runs)
    bruns = np.zeros((len(blocks), width, 3), dtype=np.int64)
    for b, rs in enumerate(runs):
        bruns[b, :len(rs)] = rs
    return np.array(blocks, dtype=np.int64), bruns


# Internal layout of each parameter inside theta: the model's shape reshaped (H3w transposed).
_INTERNAL = {
    "H1w": (H1_MAPS, TAPS), "H1b": (H1_MAPS, P1),
    "H2w": (H2_MAPS, H2_FAN_MAPS * TAPS), "H2b": (H2_MAPS, P2),
    "H3w": (H3_UNITS, H2_UNITS), "H3b": (H3_UNITS,),
    "outw": (H3_UNITS, OUTPUTS), "outb": (OUTPUTS,),
}
_TRANSPOSED = {"H3w"}


class FastEngine:
    """Same interface as train.TorchEngine; weights in numpy, passes in compiled code.

    dtype: float32 (default, the reference's precision) or float64 (for accuracy studies).
    """

    name = "fast"

    def __init__(self, cfg: Config, model: Net1989 | None, *, dtype=np.float32) -> None:
        ensure_compiled()
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.act = ACT[cfg.activation]
        self.head = HEAD_LINEAR if cfg.head == "linear" else HEAD_SQUASH
        # model.head_fn: tanh head = the scaled tanh when the hidden units are scaled tanh, else tanh
        self.out_act = -1 if cfg.head == "linear" else (ACT["scaled-tanh"] if cfg.activation == "scaled-tanh" else ACT["tanh"])
        self.opt = OPT[cfg.optimizer]
        self.step = 0
        sizes = [int(np.prod(s)) for s in PARAM_SHAPES.values()]
        # each parameter starts on a cache line (the gaps stay 0: every optimizer maps a zero
        # weight with a zero gradient to zero)
        per_line = ALIGN // self.dtype.itemsize
        offsets = [0]
        for size in sizes:
            offsets.append(offsets[-1] + -(-size // per_line) * per_line)
        total = offsets[-1]
        dt = self.dtype
        self.arena = arena = _Arena()
        self.theta = arena.take(total, dt)
        self.grad = arena.take(total, dt)
        self.madam = arena.take(total, dt)
        self.vadam = arena.take(total, dt)
        # sdlm: the Hessian diagonal, lr / (mu + h), one example's diagonal, a float64 accumulator
        self.hdiag = arena.take(total, dt)
        self.coef = arena.take(total, dt)
        self.hx = arena.take(total, dt)
        self.hacc = arena.take(total, np.float64)
        self.p: dict[str, np.ndarray] = {}
        self.g: dict[str, np.ndarray] = {}
        self.hxv: dict[str, np.ndarray] = {}
        self.hv: dict[str, np.ndarray] = {}
        self.h3_span = (0, 0)
        for (name, _), size, off in zip(PARAM_SHAPES.items(), sizes, offsets):
            if name == "H3w":
                self.h3_span = (off, off + size)    # (`_kernel` takes H3w's SGD step in place)
            self.p[name] = self.theta[off:off + size].reshape(_INTERNAL[name])
            self.g[name] = self.grad[off:off + size].reshape(_INTERNAL[name])
            self.hxv[name] = self.hx[off:off + size].reshape(_INTERNAL[name])
            self.hv[name] = self.hdiag[off:off + size].reshape(_INTERNAL[name])
        if model is not None:                # (None: zero weights, for compiling)
            self.load_state_dict(model.state_dict())
        # the H2 table: in blocks of 4 maps (the anchor's) for the block kernels, else per map
        from .geometry import h2_blocks_of, h2_table
        table = H2_BLOCKS if cfg.h2_scheme == "anchor" else h2_blocks_of(h2_table(cfg.h2_scheme, cfg.h2_seed))
        self.general = any(hi - lo != 4 for lo, hi, _ in table)
        if self.general:
            per_map = tuple((o, o + 1, ranges) for lo, hi, ranges in table for o in range(lo, hi))
            self.mruns = h2_blocks(per_map)[1]
            self.blocks, self.bruns = h2_blocks()           # (unused placeholders of the same types)
        else:
            self.blocks, self.bruns = h2_blocks(table)
            self.mruns = np.zeros((H2_MAPS, 1, 3), np.int64)
        # the tanh head's MSE (Config.target, Config.mse_norm): d loss / d out = cmse (out - y)
        self.target = float(cfg.target)
        self.cmse = MSE_FACTOR[cfg.mse_norm]
        self.slots = h2_slot_tables(self.blocks, self.bruns)
        self.buf = _buffers(dt, self.arena, self.slots)

    # -- weights ----------------------------------------------------------------------------------
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, shape in PARAM_SHAPES.items():
            w = state[name].detach().cpu().numpy().reshape(shape)
            if name in _TRANSPOSED:
                w = w.T
            self.p[name][...] = w.reshape(_INTERNAL[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return _to_model(self.p)

    def _params(self):
        p = self.p
        return p["H1w"], p["H1b"], p["H2w"], p["H2b"], p["H3w"], p["H3b"], p["outw"], p["outb"]

    def _grads(self):
        g = self.g
        return g["H1w"], g["H1b"], g["H2w"], g["H2b"], g["H3w"], g["H3b"], g["outw"], g["outb"]

    def _call(self, mode: int, X: np.ndarray, labels=None, shifts=None, use_shift=False, masks=None,
              use_mask=False, lr=0.0, result=None) -> int:
        """`_kernel` with every array it may touch; unused ones are small placeholders of the
        same types, so that one compiled signature serves every mode."""
        b = self.buf
        return _kernel(mode, X, b.no_labels if labels is None else labels,
                       b.no_shifts if shifts is None else shifts, use_shift,
                       b.no_masks if masks is None else masks, use_mask, lr, self.act, self.head,
                       self.out_act, self.opt, self.step, *self.h3_span, self.theta, self.grad,
                       self.madam, self.vadam, self.hdiag, self.coef, self.hx, self.hacc,
                       float(self.cfg.sdlm_mu), float(self.cfg.sdlm_running),
                       b.no_result if result is None else result, self.target, self.cmse, self.cmse,
                       self.blocks, self.bruns, self.general, self.mruns,
                       *self._params(), *self._grads(), *self._hx(), *b.sq, *b.train)

    def _hx(self):
        g = self.hxv
        return g["H1w"], g["H1b"], g["H2w"], g["H2b"], g["H3w"], g["H3b"], g["outw"], g["outb"]

    # -- sdlm ------------------------------------------------------------------------------------
    def estimate_hessian(self, x: torch.Tensor) -> None:
        """sdlm: the Gauss-Newton diagonal averaged over the digits x (train.TorchEngine's)."""
        self._call(MODE_HESSIAN, _images(x, self.dtype))

    def hessian(self) -> dict[str, torch.Tensor]:
        """The current sdlm diagonal as {name: tensor in the model's shape} (TorchEngine.h)."""
        return _to_model(self.hv)

    # -- training and prediction ------------------------------------------------------------------
    def train_pass(self, x: torch.Tensor, labels: torch.Tensor, lr: float,
                   shifts: np.ndarray | None = None, masks: np.ndarray | None = None,
                   progress: Callable[[int], None] | None = None) -> None:
        X = _images(x, self.dtype)
        n = X.shape[0]
        lab = np.ascontiguousarray(_numpy(labels), dtype=np.int64)
        use_shift = shifts is not None
        sh = np.ascontiguousarray(shifts, dtype=np.int64) if use_shift else np.zeros((1, 2), np.int64)
        use_mask = masks is not None
        mk = (np.ascontiguousarray(masks, dtype=self.dtype) if use_mask
              else np.ones((1, H2_UNITS), self.dtype))
        if use_shift:
            assert sh.shape == (n, 2) and np.all(np.abs(sh) <= 1), "shifts must be (N, 2) in {-1, 0, 1}"
        if use_mask:
            assert mk.shape == (n, H2_UNITS), "masks must be (N, 192)"
        # progress: compiled code cannot call Python, so long passes are cut into chunks
        chunk = n if progress is None else 1024
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            self.step = self._call(MODE_TRAIN, X[lo:hi], lab[lo:hi], sh[lo:hi] if use_shift else sh,
                                   use_shift, mk[lo:hi] if use_mask else mk, use_mask, float(lr))
            if progress is not None:
                progress(hi - lo)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        import torch
        return torch.from_numpy(self.predict_numpy(_images(x, self.dtype)).astype(np.float32, copy=False))

    def predict_numpy(self, X: np.ndarray, *, per_example: bool = False) -> np.ndarray:
        """Outputs (N, 10) for images X (N, 16, 16) of the engine's dtype: 8 examples at a time
        (`_predict_kernel`), or with per_example the training forward one example at a time
        (`_kernel`'s MODE_PREDICT); the two agree bit for bit."""
        result = np.empty((X.shape[0], OUTPUTS), self.dtype)
        if per_example or self.general:
            # (an H2 table not in blocks of 4: the batched kernel has block tiles only)
            self._call(MODE_PREDICT, X, result=result)
        else:
            _predict_kernel(X, self.act, self.out_act, *self._params(), self.blocks, *self.slots,
                            *self.buf.predict, result)
        return result


def _to_model(views: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Internal layout -> {name: float32 tensor of the model's shape} (a copy)."""
    import torch
    out = {}
    for name, shape in PARAM_SHAPES.items():
        w = views[name]
        if name in _TRANSPOSED:
            w = w.T
        out[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32).reshape(shape).copy())
    return out


def _numpy(x) -> np.ndarray:
    """A torch tensor (or anything array-like) as a numpy array."""
    if isinstance(x, np.ndarray):
        return x
    import torch
    return torch.as_tensor(x).detach().cpu().numpy()


def _images(x, dtype) -> np.ndarray:
    a = _numpy(x)
    a = a.reshape(a.shape[0], IMAGE, IMAGE)
    return np.ascontiguousarray(a, dtype=dtype)



class _Arena:
    """Every array of one engine, carved in order out of one block of memory: each starts on a
    cache line, with at least LANES elements of memory after its end (a run's last chunk of 8 is
    read whole, see X2_W). One block gives the same relative layout in every process; separate
    numpy allocations land at addresses that differ run to run, and with them how the buffers
    collide in the L1 cache - measured here as a 10-20% spread of the speed between processes."""

    SIZE = 2 << 20                          # bytes; a float32 engine takes about 0.5 MB

    def __init__(self) -> None:
        self.raw = np.zeros(self.SIZE + 4096, np.uint8)
        self.off = -self.raw.ctypes.data % 4096

    def take(self, shape, dt, fill=0.0) -> np.ndarray:
        """A new array of np.full(shape, fill, dt)."""
        dt = np.dtype(dt)
        n = int(np.prod(shape))
        end = self.off + (n + LANES) * dt.itemsize
        if end > self.raw.size:
            raise MemoryError("fast engine: arena too small")
        out = self.raw[self.off:self.off + n * dt.itemsize].view(dt).reshape(shape)
        out[...] = fill
        addr = self.raw.ctypes.data
        self.off = -(-(addr + end) // ALIGN) * ALIGN - addr     # the next cache line
        return out


class _Buffers:
    pass


def _buffers(dt, arena: _Arena, slots) -> _Buffers:
    """Every per-example buffer, allocated once per engine (border cells preset to -1), then
    those of `_predict_kernel` (after the others, so that their layout does not depend on them)."""
    b = _Buffers()
    xpad = arena.take((2, XPAD, XPAD_W), dt, BG)
    h1pad = arena.take((H1_MAPS, H1PAD, H1PAD_W), dt, BG)
    fwd = [xpad, arena.take((TAPS, P1), dt), arena.take((H1_MAPS, P1), dt), arena.take((H1_MAPS, P1), dt),
           arena.take((H1_MAPS, P1), dt), h1pad, arena.take((P2, X2_W), dt),
           arena.take((H2_MAPS, P2), dt), arena.take(H2_UNITS, dt), arena.take(H2_UNITS, dt),
           arena.take(H2_UNITS, dt), arena.take(H3_UNITS, dt), arena.take(H3_UNITS, dt),
           arena.take(H3_UNITS, dt), arena.take(OUTPUTS, dt), arena.take(OUTPUTS, dt), arena.take(OUTPUTS, dt)]
    bwd = [arena.take(OUTPUTS, dt), arena.take(H3_UNITS, dt), arena.take(H2_UNITS, dt),
           arena.take((H2_MAPS, P2), dt), arena.take((P2, X2_W), dt), arena.take((H1_MAPS, P1), dt)]
    b.forward = fwd
    b.train = fwd + bwd
    b.no_labels = np.zeros(1, np.int64)
    b.no_shifts = np.zeros((1, 2), np.int64)
    b.no_masks = np.ones((1, H2_UNITS), dt)
    b.no_result = np.zeros((1, OUTPUTS), dt)
    # sdlm: squared H2 weights (with LANES floats of memory after them: the H2 kernels read a
    # run's last chunk of 8 whole, as they do from theta), squared H1 and H2 im2col inputs
    b.sq = [arena.take((H2_MAPS, H2_FAN_MAPS * TAPS), dt), arena.take((TAPS, P1), dt), arena.take((P2, X2_W), dt)]
    swcol = slots[0]
    nh1 = H1_MAPS * P1 * BATCH
    b.predict = [arena.take((swcol.shape[0], SLOTS, 4 * swcol.shape[2]), dt),
                 arena.take(XPAD * XPAD * BATCH, dt, BG), arena.take(nh1, dt), arena.take(nh1, dt),
                 arena.take(nh1, dt), arena.take(H1_MAPS * H1PAD * H1PAD * BATCH, dt, BG),
                 arena.take(SLOTS * SLOT_TILE * BATCH, dt), arena.take(SLOT_TILE, dt),
                 arena.take(SLOT_TILE * BATCH, dt), arena.take(H2_UNITS * BATCH, dt),
                 arena.take(H2_UNITS * BATCH, dt), arena.take(H3_UNITS * BATCH, dt),
                 arena.take(H3_UNITS * BATCH, dt), arena.take(OUTPUTS * BATCH, dt),
                 arena.take(OUTPUTS * BATCH, dt)]
    return b


_COMPILE_SECONDS: float | None = None


# -- one machine code per machine --------------------------------------------------------------
# Measured here (numba 0.68): code compiled in the running process and the same code loaded from
# numba's on-disk cache do not round alike (the first float32 digits of pass 1 differ), so a run
# in a fresh install would not repeat the numbers of later runs. Every process therefore runs the
# cached code: when the cache is missing or older than this file, a child process compiles and
# writes it first, then this process loads it.
_CHILD_ENV = "LECUN1989_FAST_COMPILING"
_ENSURED = False


def _cache_is_current() -> bool | None:
    """True/False: whether numba's cache index of `_kernel` is newer than this file; None: unknown
    (numba internals changed, or no cache can be written)."""
    import os
    try:
        indexes = [k._cache._cache_file._index_path for k in (_kernel, _predict_kernel)]
    except AttributeError:
        return None
    return all(os.path.exists(i) and os.path.getmtime(i) >= os.path.getmtime(__file__) for i in indexes)


def _leaf_calls(eng: "FastEngine") -> dict[str, list]:
    """Every function `_kernel` calls, with arguments of the types `_kernel` calls it with,
    in two groups of about equal compile time: {"forward": [(dispatcher, args)], "backward": [...]}."""
    b = eng.buf
    W1, B1, W2, B2, W3T, B3, W4, B4 = eng._params()
    G1, GB1, G2, _, _, _, _, _ = eng._grads()
    xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout = b.forward
    dz, dh3, dh2, da2, dX2T, da1 = b.train[len(b.forward):]
    W2sq, X1sq, X2Tsq = b.sq
    img = np.zeros((1, IMAGE, IMAGE), eng.dtype)[0]         # X[e] of the (N, 16, 16) images
    blocks, bruns = eng.blocks, eng.bruns
    return {
        "forward": [(_forward, (img, 0, 0, b.no_masks[0], False, 0, 0, True, *eng._params(),
                                blocks, bruns, eng.general, eng.mruns, *b.forward)),
                    (_adamw, (eng.theta, eng.grad, eng.madam, eng.vadam, 0.0, 1)),
                    (_softmax, (z, dz))],
        "backward": [(_gn_backward, (0, 0.2, W2, W3T, W4, blocks, bruns, *eng._hx(), W2sq, X1sq, X2Tsq,
                                     X1, d1, X2T, d2, h2d, h3, d3, z, dout, dz, dh3, dh2, da2,
                                     dX2T, da1)),
                     (_h2_backward, (da2, W2, X2T, G2, dX2T, blocks, bruns)),
                     (_h2_backward_maps, (da2, W2, X2T, G2, dX2T, eng.mruns)),
                     (_h1_backward, (dX2T, d1, da1, X1, G1, GB1))],
    }


def _compile_group(group: str) -> None:
    """In a compiling child: compile (and cache) one group of `_leaf_calls` without running it.
    The "backward" child then prints a line and compiles `_predict_kernel`; the "forward" child
    waits for a line on stdin (sent when the "backward" child's line came) and compiles
    `_kernel`, which loads the backward group from the cache."""
    import sys
    from numba import typeof
    eng = FastEngine(Config(), None)
    for disp, args in _leaf_calls(eng)[group]:
        disp.compile(tuple(typeof(a) for a in args))
    if group == "forward":
        sys.stdin.readline()
        _warm_kernel(eng)
    else:
        print("done", flush=True)
        _warm_predict(eng)


def ensure_compiled() -> None:
    """Make sure this process will load the kernels from the on-disk cache (see above). With an
    outdated cache, two child processes compile: the functions `_kernel` calls are split between
    them (`_leaf_calls`), then one of them compiles `_kernel` itself."""
    global _ENSURED
    import os
    import subprocess
    import sys
    if _ENSURED or os.environ.get(_CHILD_ENV):
        return
    _ENSURED = True
    if _cache_is_current() is False:
        log.info("compiling the fast engine (first use on this install; cached afterwards) ...")
        t0 = time.perf_counter()
        env = {**os.environ, _CHILD_ENV: "1"}

        def child(group, **kw):
            code = f"from lecun1989.fast import _compile_group; _compile_group({group!r})"
            return subprocess.Popen([sys.executable, "-c", code], env=env, **kw)
        back = child("backward", stdout=subprocess.PIPE)
        main = child("forward", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        back.stdout.readline()
        main.communicate(b"go\n")
        back.communicate()
        log.info("compiled the fast engine in %.1f s", time.perf_counter() - t0)


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


def _warm_kernel(eng: FastEngine) -> None:
    x = np.zeros((2, IMAGE, IMAGE), np.float32)
    eng.train_pass(x, np.zeros(2, np.int64), 0.0)
    eng.estimate_hessian(x)
    eng.predict_numpy(x, per_example=True)


def _warm_predict(eng: FastEngine) -> None:
    eng.predict_numpy(np.zeros((2, IMAGE, IMAGE), np.float32))


def first_compile_seconds() -> float:
    """Seconds the first use in this process took to compile or load the kernels."""
    return _COMPILE_SECONDS if _COMPILE_SECONDS is not None else warm_up()
