"""The fast engine: the reference loop of train.py (one example at a time, constant order) written
by hand in numba, with the same interface as `train.TorchEngine`.

Every block below names the computation of `model.Net1989.forward` (or of autograd / the torch
optimizer) that it mirrors. The arithmetic is the same as the reference engine's up to float
rounding (sums are taken in a different order, and tanh is a rational approximation accurate to
about one float32 ulp - `tanh_rational`), so runs agree closely but not bit for bit; see
tests/test_fast.py for the agreement that is checked.

Speed comes from doing a whole pass inside one compiled call, with every buffer allocated once,
and from layouts that make the inner loops run over contiguous float32 arrays:

    X1   (25, 64)    H1 im2col: one row per kernel tap, one column per H1 position
    X2T  (16, 300)   H2 im2col, transposed: one row per H2 position, 12 maps x 25 taps per row,
                     so that each H2 map's 8 input maps are one or two contiguous runs
    W3T  (30, 192)   H3 weights transposed, so that both forward and backward run over 192 floats

The parameters live in one flat float32 vector (`theta`, in PARAM_SHAPES order, H3w stored
transposed) with one flat gradient vector beside it, so an optimizer step is one loop.
Compiled functions are cached on disk (numba `cache=True`): the first process pays the compile
time (`first_compile_seconds`), later ones load the machine code.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
from numba import njit

from .config import Config
from .model import (BACKGROUND, H1_MAPS, H1_SIDE, H2_BLOCKS, H2_FAN_MAPS, H2_MAPS, H2_SIDE,
                    H2_UNITS, H3_UNITS, IMAGE, KERNEL, OUTPUTS, PAD, PARAM_SHAPES,
                    SCALED_TANH_A, SCALED_TANH_S, STRIDE, Net1989)

# -- geometry, derived from model.py -----------------------------------------------------------
TAPS = KERNEL * KERNEL                      # 25 kernel taps
P1 = H1_SIDE * H1_SIDE                      # 64 positions per H1 map
P2 = H2_SIDE * H2_SIDE                      # 16 positions per H2 map
assert P2 % 4 == 0, "_h2_backward takes H2 positions four at a time"
XPAD = IMAGE + 2 * PAD                      # 20: padded input side
H1PAD = H1_SIDE + 2 * PAD                   # 12: padded H1 side
X2_ROW = H1_MAPS * TAPS                     # 300: one X2T row = every H1 map's 25 taps

# activation / head / optimizer codes passed to the compiled kernels
ACT = {"tanh": 0, "relu": 1, "scaled-tanh": 2}
HEAD_SQUASH, HEAD_LINEAR = 0, 1
OPT = {"sgd": 0, "adamw": 1}
# torch.optim.AdamW defaults (lr is given per pass)
ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_WD = 0.9, 0.999, 1e-8, 1e-2

# fastmath without nnan/ninf: a diverging run must still produce NaN/inf, as the reference does.
# reassoc lets LLVM vectorize reductions; contract lets it fuse multiply-adds. Both are decided at
# compile time, so a given machine code gives the same result for the same inputs every time.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
# error_model="numpy": float division without Python's zero check (which blocks vectorization).
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False, nogil=True)

F32 = np.float32
SA = F32(SCALED_TANH_A)                     # 1.7159, as torch multiplies by it in float32
SS = F32(SCALED_TANH_S)                     # 2/3 in float32
BG = F32(BACKGROUND)

# -- tanh ----------------------------------------------------------------------------------------
# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= TANH_CLAMP (beyond it tanh rounds to +-1 in float32),
# evaluated in float64: max error 2.4e-8 relative (fit), about 1.2 float32 ulp after rounding
# (torch's vectorized tanhf is within 1 ulp). libm's tanhf does not vectorize and costs ~14 ns,
# which would be most of an example's budget (1000 tanh per example). The coefficients come from
# `fit_tanh_rational()` below (a weighted least-squares fit iterated towards minimax).
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
    x = x if x < _CL else _CL
    x = x if x > -_CL else -_CL
    u = x * x
    num = (((_P4 * u + _P3) * u + _P2) * u + _P1) * u + 1.0
    den = (((_Q4 * u + _Q3) * u + _Q2) * u + _Q1) * u + 1.0
    return x * num / den


@njit(**JIT)
def tanh_array(a, out, exact):
    """out = tanh(a) elementwise (exact: libm; else tanh_rational); for tests and benchmarks."""
    for i in range(a.size):
        out[i] = math.tanh(a[i]) if exact else tanh_rational(a[i])


# -- activations: h = act(a) and h' = act'(a), as torch's autograd computes it from the output ----
@njit(**JIT)
def _activate(a, h, dh, act, exact):
    """model.Net1989.forward: `act(...)` for tanh | relu | scaled-tanh, elementwise on flat arrays;
    also stores the derivative the backward pass needs (tanh: 1 - h^2; relu: h > 0;
    scaled-tanh: A S (1 - t^2) with t = tanh(S a), as autograd chains A * tanh(S * a))."""
    one = F32(1.0)
    if act == 0:
        if exact:
            for i in range(a.size):
                t = np.float32(math.tanh(a[i]))
                h[i] = t
                dh[i] = one - t * t
        else:
            for i in range(a.size):
                t = np.float32(tanh_rational(a[i]))
                h[i] = t
                dh[i] = one - t * t
    elif act == 1:
        zero = F32(0.0)
        for i in range(a.size):
            v = a[i]
            pos = v > zero
            h[i] = v if pos else zero
            dh[i] = one if pos else zero
    else:
        sas = SA * SS
        if exact:
            for i in range(a.size):
                t = np.float32(math.tanh(SS * a[i]))
                h[i] = SA * t
                dh[i] = sas * (one - t * t)
        else:
            for i in range(a.size):
                t = np.float32(tanh_rational(SS * a[i]))
                h[i] = SA * t
                dh[i] = sas * (one - t * t)


# -- blocks of one example ---------------------------------------------------------------------------
# Index arithmetic inside a loop defeats LLVM's vectorizer (numba adds a negative-index check
# to every computed index), so the H2 loops take slices first and index them by the loop counter.

@njit(**JIT)
def _input(img, sr, sc, xpad, X1):
    """train_pass: torch.roll(xi, (sr, sc), (2, 3)), i.e. out[r, c] = in[r - sr, c - sc] with
    wrap-around; model.forward: F.pad(x, 2, value=-1) -> xpad (20, 20) (border preset to -1);
    then the H1 im2col X1[ki*5+kj, i*8+j] = xpad[2i+ki, 2j+kj]."""
    for r in range(IMAGE):
        rs = (r - sr + IMAGE) % IMAGE
        row = img[rs]
        dst = xpad[PAD + r]
        for c in range(IMAGE):
            dst[PAD + c] = row[(c - sc + IMAGE) % IMAGE]
    for ki in range(KERNEL):
        for kj in range(KERNEL):
            dst = X1[ki * KERNEL + kj]
            for i in range(H1_SIDE):
                src = xpad[STRIDE * i + ki]
                for j in range(H1_SIDE):
                    dst[i * H1_SIDE + j] = src[STRIDE * j + kj]


@njit(**JIT)
def _h1_forward(W1, B1, X1, a1):
    """model.forward: F.conv2d(x, H1w, stride=2) + H1b -> a1 (12, 64): the 25 taps unrolled,
    the 64 positions vectorized."""
    for m in range(H1_MAPS):
        for p in range(P1):
            s = B1[m, p]
            for k in range(TAPS):
                s += W1[m, k] * X1[k, p]
            a1[m, p] = s


@njit(**JIT)
def _h2_im2col(h1, h1pad, X2T):
    """model.forward: F.pad(h1, 2, value=-1) -> h1pad (12, 12, 12) (border preset to -1), then
    the H2 im2col, transposed: X2T[i*4+j, m*25 + ki*5+kj] = h1pad[m, 2i+ki, 2j+kj]."""
    for m in range(H1_MAPS):
        for r in range(H1_SIDE):
            for c in range(H1_SIDE):
                h1pad[m, PAD + r, PAD + c] = h1[m, r * H1_SIDE + c]
    for i in range(H2_SIDE):
        for j in range(H2_SIDE):
            row = X2T[i * H2_SIDE + j]
            for m in range(H1_MAPS):
                for ki in range(KERNEL):
                    src = h1pad[m, STRIDE * i + ki]
                    for kj in range(KERNEL):
                        row[m * TAPS + ki * KERNEL + kj] = src[STRIDE * j + kj]


@njit(**JIT)
def _h2_forward(W2, B2, X2T, a2, blocks, bruns):
    """model.forward: the block convolutions of H2_BLOCKS, concatenated, + H2b -> a2 (12, 16).
    blocks[b] = (first map, end map); bruns[b] = the block's contiguous runs of input columns as
    (first column in a map's 200 weights, first column in an X2T row, length). Four maps of a
    block at a time, so that each X2T load feeds four multiply-adds."""
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        hi = blocks[b, 1]
        for p in range(P2):
            o = lo
            while o < hi:
                if o + 4 <= hi:
                    s0 = B2[o, p]
                    s1 = B2[o + 1, p]
                    s2 = B2[o + 2, p]
                    s3 = B2[o + 3, p]
                    for q in range(bruns.shape[1]):
                        w0 = bruns[b, q, 0]
                        x0 = bruns[b, q, 1]
                        n = bruns[b, q, 2]
                        x = X2T[p, x0:x0 + n]
                        wa = W2[o, w0:w0 + n]
                        wb = W2[o + 1, w0:w0 + n]
                        wc = W2[o + 2, w0:w0 + n]
                        wd = W2[o + 3, w0:w0 + n]
                        for r in range(n):
                            xr = x[r]
                            s0 += wa[r] * xr
                            s1 += wb[r] * xr
                            s2 += wc[r] * xr
                            s3 += wd[r] * xr
                    a2[o, p] = s0
                    a2[o + 1, p] = s1
                    a2[o + 2, p] = s2
                    a2[o + 3, p] = s3
                    o += 4
                else:
                    s0 = B2[o, p]
                    for q in range(bruns.shape[1]):
                        w0 = bruns[b, q, 0]
                        x0 = bruns[b, q, 1]
                        n = bruns[b, q, 2]
                        x = X2T[p, x0:x0 + n]
                        wa = W2[o, w0:w0 + n]
                        for r in range(n):
                            s0 += wa[r] * x[r]
                    a2[o, p] = s0
                    o += 1


@njit(**JIT)
def _h2_backward(da2, W2, X2T, G2, dX2T, blocks, bruns):
    """Autograd of the H2 block convolutions: weight gradient G2[o, w] = sum_p da2[o, p] X2T[p, x]
    and input gradient dX2T[p, x] = sum_o da2[o, p] W2[o, w] (over the columns w <-> x of the
    block's runs), four positions / four maps at a time."""
    dX2T[:, :] = F32(0.0)
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        hi = blocks[b, 1]
        for q in range(bruns.shape[1]):
            w0 = bruns[b, q, 0]
            x0 = bruns[b, q, 1]
            n = bruns[b, q, 2]
            for o in range(lo, hi):
                g = G2[o, w0:w0 + n]
                for pc in range(0, P2, 4):
                    xa = X2T[pc, x0:x0 + n]
                    xb = X2T[pc + 1, x0:x0 + n]
                    xc = X2T[pc + 2, x0:x0 + n]
                    xd = X2T[pc + 3, x0:x0 + n]
                    da = da2[o, pc]
                    db = da2[o, pc + 1]
                    dc = da2[o, pc + 2]
                    dd = da2[o, pc + 3]
                    if pc == 0:
                        for r in range(n):
                            g[r] = da * xa[r] + db * xb[r] + dc * xc[r] + dd * xd[r]
                    else:
                        for r in range(n):
                            g[r] += da * xa[r] + db * xb[r] + dc * xc[r] + dd * xd[r]
            for p in range(P2):
                d = dX2T[p, x0:x0 + n]
                o = lo
                while o < hi:
                    if o + 4 <= hi:
                        wa = W2[o, w0:w0 + n]
                        wb = W2[o + 1, w0:w0 + n]
                        wc = W2[o + 2, w0:w0 + n]
                        wd = W2[o + 3, w0:w0 + n]
                        ga = da2[o, p]
                        gb = da2[o + 1, p]
                        gc = da2[o + 2, p]
                        gd = da2[o + 3, p]
                        for r in range(n):
                            d[r] += ga * wa[r] + gb * wb[r] + gc * wc[r] + gd * wd[r]
                        o += 4
                    else:
                        wa = W2[o, w0:w0 + n]
                        ga = da2[o, p]
                        for r in range(n):
                            d[r] += ga * wa[r]
                        o += 1


@njit(**JIT)
def _h1_backward(dX2T, dh1pad, d1, da1, X1, G1, GB1):
    """Autograd of F.pad + H1 conv: col2im dh1pad[m, 2i+ki, 2j+kj] += dX2T[i*4+j, m*25+ki*5+kj]
    (the padding border is a constant: its gradient is dropped); da1 = dh1 * act'(a1);
    H1b's gradient da1, H1w's gradient G1[m, k] = sum_p da1[m, p] X1[k, p]."""
    dh1pad[:, :, :] = F32(0.0)
    for i in range(H2_SIDE):
        for j in range(H2_SIDE):
            row = dX2T[i * H2_SIDE + j]
            for m in range(H1_MAPS):
                for ki in range(KERNEL):
                    dst = dh1pad[m, STRIDE * i + ki]
                    for kj in range(KERNEL):
                        dst[STRIDE * j + kj] += row[m * TAPS + ki * KERNEL + kj]
    for m in range(H1_MAPS):
        for r in range(H1_SIDE):
            src = dh1pad[m, PAD + r]
            for c in range(H1_SIDE):
                p = r * H1_SIDE + c
                g = src[PAD + c] * d1[m, p]
                da1[m, p] = g
                GB1[m, p] = g
    for m in range(H1_MAPS):
        for k in range(TAPS):
            s = F32(0.0)
            for p in range(P1):
                s += da1[m, p] * X1[k, p]
            G1[m, k] = s


@njit(**JIT)
def _h3_forward(W3T, B3, h2d, a3):
    """model.forward: x @ H3w + H3b -> a3 (30), with W3T = H3w.T: one dot over 192 per unit."""
    for u in range(H3_UNITS):
        s = F32(0.0)
        w = W3T[u]
        for q in range(H2_UNITS):
            s += w[q] * h2d[q]
        a3[u] = s + B3[u]


@njit(**JIT)
def _forward(img, sr, sc, mask, use_mask, act, out_act, exact,
             W1, B1, W2, B2, W3T, B3, W4, B4, blocks, bruns,
             xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout):
    """model.Net1989.forward for one example, keeping what the backward pass needs."""
    _input(img, sr, sc, xpad, X1)
    _h1_forward(W1, B1, X1, a1)
    # model.forward: act(...) -> h1 (12, 64), and act'
    _activate(a1.reshape(H1_MAPS * P1), h1.reshape(H1_MAPS * P1), d1.reshape(H1_MAPS * P1), act, exact)
    _h2_im2col(h1, h1pad, X2T)
    _h2_forward(W2, B2, X2T, a2, blocks, bruns)
    # model.forward: act(...), flatten -> h2 (192)
    _activate(a2.reshape(H2_UNITS), h2, d2, act, exact)
    # model.forward: x * dropout_mask (training only)
    if use_mask:
        for q in range(H2_UNITS):
            h2d[q] = h2[q] * mask[q]
    else:
        for q in range(H2_UNITS):
            h2d[q] = h2[q]
    _h3_forward(W3T, B3, h2d, a3)
    _activate(a3, h3, d3, act, exact)
    # model.forward: x @ outw + outb -> z (10); then the head's squashing (model.head_fn)
    for j in range(OUTPUTS):
        z[j] = B4[j]
    for u in range(H3_UNITS):
        hu = h3[u]
        for j in range(OUTPUTS):
            z[j] += hu * W4[u, j]
    if out_act >= 0:
        _activate(z, out, dout, out_act, exact)
    else:
        for j in range(OUTPUTS):
            out[j] = z[j]


# -- one training pass -----------------------------------------------------------------------------
@njit(**JIT)
def _train_pass(X, labels, shifts, use_shift, masks, use_mask, lr, act, head, out_act, opt,
                exact, step0, theta, grad, madam, vadam, blocks, bruns,
                W1, B1, W2, B2, W3T, B3, W4, B4,
                G1, GB1, G2, GB2, G3T, GB3, G4, GB4,
                xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout,
                dz, dh3, dh2, da2, dX2T, dh1pad, da1):
    """train.TorchEngine.train_pass over examples 0..N-1 in order: per example forward, loss,
    backward (every gradient from the old weights), then one optimizer step. Returns the step count."""
    n = X.shape[0]
    one = F32(1.0)
    zero = F32(0.0)
    lr32 = F32(lr)
    step = step0
    for e in range(n):
        sr = shifts[e, 0] if use_shift else 0
        sc = shifts[e, 1] if use_shift else 0
        me = e if use_mask else 0
        mrow = masks[me]
        _forward(X[e], sr, sc, mrow, use_mask, act, out_act, exact,
                 W1, B1, W2, B2, W3T, B3, W4, B4, blocks, bruns,
                 xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout)
        lab = labels[e]
        # -- loss gradient at the output pre-activation z ---------------------------------------
        if head == HEAD_SQUASH:
            # train_pass: loss = mean((y - out)^2) over 10 outputs, y = +1 at the label, -1 else;
            # d loss / d out = 2 (out - y) / 10, then through the head's squashing (dout)
            for j in range(OUTPUTS):
                y = one if j == lab else -one
                dz[j] = (F32(2.0 / OUTPUTS) * (out[j] - y)) * dout[j]
        else:
            # train_pass: F.cross_entropy(z, label) -> softmax(z) - onehot(label)
            zmax = z[0]
            for j in range(1, OUTPUTS):
                zmax = max(zmax, z[j])
            tot = zero
            for j in range(OUTPUTS):
                dz[j] = np.float32(math.exp(z[j] - zmax))
                tot += dz[j]
            for j in range(OUTPUTS):
                dz[j] = dz[j] / tot - (one if j == lab else zero)
        # -- autograd of z = h3 @ outw + outb, then of H3's act --------------------------------
        for j in range(OUTPUTS):
            GB4[j] = dz[j]
        for u in range(H3_UNITS):
            s = zero
            for j in range(OUTPUTS):
                G4[u, j] = h3[u] * dz[j]
                s += W4[u, j] * dz[j]
            dh3[u] = s * d3[u]
        # -- autograd of a3 = h2d @ H3w + H3b ---------------------------------------------------
        for q in range(H2_UNITS):
            dh2[q] = zero
        for u in range(H3_UNITS):
            g = dh3[u]
            GB3[u] = g
            w = W3T[u]
            gw = G3T[u]
            for q in range(H2_UNITS):
                gw[q] = g * h2d[q]
                dh2[q] += g * w[q]
        # -- autograd of the dropout mask and H2's act: da2 = dh2 * mask * act'(a2) ---------------
        if use_mask:
            for q in range(H2_UNITS):
                dh2[q] *= mrow[q]
        for o in range(H2_MAPS):
            for p in range(P2):
                g = dh2[o * P2 + p] * d2[o * P2 + p]
                da2[o, p] = g
                GB2[o, p] = g
        _h2_backward(da2, W2, X2T, G2, dX2T, blocks, bruns)
        _h1_backward(dX2T, dh1pad, d1, da1, X1, G1, GB1)
        # -- optimizer step over the flat parameter vector -----------------------------------------
        step += 1
        if opt == 0:
            # torch.optim.SGD (no momentum, no weight decay): p -= lr * g
            for t in range(theta.size):
                theta[t] -= lr32 * grad[t]
        else:
            _adamw(theta, grad, madam, vadam, lr, step)
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


@njit(**JIT)
def _predict(X, act, out_act, exact, W1, B1, W2, B2, W3T, B3, W4, B4, blocks, bruns, result,
             xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout):
    """model.forward in eval mode (no dropout, no shift) for every example; result (N, 10)."""
    for e in range(X.shape[0]):
        _forward(X[e], 0, 0, h2d, False, act, out_act, exact,
                 W1, B1, W2, B2, W3T, B3, W4, B4, blocks, bruns,
                 xpad, X1, a1, h1, d1, h1pad, X2T, a2, h2, d2, h2d, a3, h3, d3, z, out, dout)
        for j in range(OUTPUTS):
            result[e, j] = out[j]


# -- the engine ----------------------------------------------------------------------------------
def h2_blocks() -> tuple[np.ndarray, np.ndarray]:
    """From model.H2_BLOCKS: blocks (nb, 2) = (first H2 map, end map) and bruns (nb, R, 3) = the
    block's contiguous runs of input H1 maps as (first column in a map's 200 weights, first
    column in an X2T row, length), padded with empty runs to a common count R."""
    blocks, runs = [], []
    for lo, hi, ranges in H2_BLOCKS:
        col, rs = 0, []
        for a, b in ranges:
            rs.append((col * TAPS, a * TAPS, (b - a) * TAPS))
            col += b - a
        assert col == H2_FAN_MAPS, "each H2 map must see H2_FAN_MAPS H1 maps"
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
    exact_tanh: use libm's tanh instead of the vectorized rational approximation (slow).
    """

    name = "fast"

    def __init__(self, cfg: Config, model: Net1989, *, dtype=np.float32, exact_tanh: bool = False) -> None:
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.exact = bool(exact_tanh)
        self.act = ACT[cfg.activation]
        self.head = HEAD_LINEAR if cfg.head == "linear" else HEAD_SQUASH
        # model.head_fn: tanh head = the scaled tanh when the hidden units are scaled tanh, else tanh
        self.out_act = -1 if cfg.head == "linear" else (ACT["scaled-tanh"] if cfg.activation == "scaled-tanh" else ACT["tanh"])
        self.opt = OPT[cfg.optimizer]
        self.step = 0
        sizes = [int(np.prod(s)) for s in PARAM_SHAPES.values()]
        total = sum(sizes)
        dt = self.dtype
        self.theta = np.zeros(total, dt)
        self.grad = np.zeros(total, dt)
        self.madam = np.zeros(total, dt)
        self.vadam = np.zeros(total, dt)
        self.p: dict[str, np.ndarray] = {}
        self.g: dict[str, np.ndarray] = {}
        off = 0
        for (name, _), size in zip(PARAM_SHAPES.items(), sizes):
            self.p[name] = self.theta[off:off + size].reshape(_INTERNAL[name])
            self.g[name] = self.grad[off:off + size].reshape(_INTERNAL[name])
            off += size
        self.load_state_dict(model.state_dict())
        self.blocks, self.bruns = h2_blocks()
        self.buf = _buffers(dt)

    # -- weights ----------------------------------------------------------------------------------
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, shape in PARAM_SHAPES.items():
            w = state[name].detach().cpu().numpy().reshape(shape)
            if name in _TRANSPOSED:
                w = w.T
            self.p[name][...] = w.reshape(_INTERNAL[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, shape in PARAM_SHAPES.items():
            w = self.p[name]
            if name in _TRANSPOSED:
                w = w.T
            out[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32).reshape(shape).copy())
        return out

    def _params(self):
        p = self.p
        return p["H1w"], p["H1b"], p["H2w"], p["H2b"], p["H3w"], p["H3b"], p["outw"], p["outb"]

    def _grads(self):
        g = self.g
        return g["H1w"], g["H1b"], g["H2w"], g["H2b"], g["H3w"], g["H3b"], g["outw"], g["outb"]

    # -- training and prediction ------------------------------------------------------------------
    def train_pass(self, x: torch.Tensor, labels: torch.Tensor, lr: float,
                   shifts: np.ndarray | None = None, masks: np.ndarray | None = None,
                   progress: Callable[[int], None] | None = None) -> None:
        X = _images(x, self.dtype)
        n = X.shape[0]
        lab = np.ascontiguousarray(torch.as_tensor(labels).cpu().numpy(), dtype=np.int64)
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
            self.step = _train_pass(
                X[lo:hi], lab[lo:hi], sh[lo:hi] if use_shift else sh, use_shift,
                mk[lo:hi] if use_mask else mk, use_mask, float(lr), self.act, self.head,
                self.out_act, self.opt, self.exact, self.step,
                self.theta, self.grad, self.madam, self.vadam, self.blocks, self.bruns,
                *self._params(), *self._grads(), *self.buf.train)
            if progress is not None:
                progress(hi - lo)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        X = _images(x, self.dtype)
        result = np.empty((X.shape[0], OUTPUTS), self.dtype)
        _predict(X, self.act, self.out_act, self.exact, *self._params(), self.blocks, self.bruns, result,
                 *self.buf.forward)
        return torch.from_numpy(result.astype(np.float32, copy=False))


def _images(x, dtype) -> np.ndarray:
    a = torch.as_tensor(x).detach().cpu().numpy()
    a = a.reshape(a.shape[0], IMAGE, IMAGE)
    return np.ascontiguousarray(a, dtype=dtype)


class _Buffers:
    pass


def _buffers(dt) -> _Buffers:
    """Every per-example buffer, allocated once per engine (border cells preset to -1)."""
    b = _Buffers()
    xpad = np.full((XPAD, XPAD), BG, dt)
    h1pad = np.full((H1_MAPS, H1PAD, H1PAD), BG, dt)
    fwd = [xpad, np.zeros((TAPS, P1), dt), np.zeros((H1_MAPS, P1), dt), np.zeros((H1_MAPS, P1), dt),
           np.zeros((H1_MAPS, P1), dt), h1pad, np.zeros((P2, X2_ROW), dt),
           np.zeros((H2_MAPS, P2), dt), np.zeros(H2_UNITS, dt), np.zeros(H2_UNITS, dt),
           np.zeros(H2_UNITS, dt), np.zeros(H3_UNITS, dt), np.zeros(H3_UNITS, dt),
           np.zeros(H3_UNITS, dt), np.zeros(OUTPUTS, dt), np.zeros(OUTPUTS, dt), np.zeros(OUTPUTS, dt)]
    bwd = [np.zeros(OUTPUTS, dt), np.zeros(H3_UNITS, dt), np.zeros(H2_UNITS, dt),
           np.zeros((H2_MAPS, P2), dt), np.zeros((P2, X2_ROW), dt),
           np.zeros((H1_MAPS, H1PAD, H1PAD), dt), np.zeros((H1_MAPS, P1), dt)]
    b.forward = fwd
    b.train = fwd + bwd
    return b


_COMPILE_SECONDS: float | None = None


def warm_up() -> float:
    """Compile (or load from the on-disk cache) every kernel for float32; returns the seconds."""
    global _COMPILE_SECONDS
    t0 = time.perf_counter()
    from .model import NetConfig
    cfg = Config()
    eng = FastEngine(cfg, Net1989(NetConfig(), seed=0))
    x = torch.zeros((2, 1, IMAGE, IMAGE))
    eng.train_pass(x, torch.zeros(2, dtype=torch.int64), 0.0)
    eng.predict(x)
    dt = time.perf_counter() - t0
    if _COMPILE_SECONDS is None:
        _COMPILE_SECONDS = dt
    return dt


def first_compile_seconds() -> float:
    """Seconds the first use in this process took to compile or load the kernels."""
    return _COMPILE_SECONDS if _COMPILE_SECONDS is not None else warm_up()
