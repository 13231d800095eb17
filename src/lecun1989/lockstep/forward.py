"""The forward pass of one example, K runs at a time (model.Net1989.forward, one lane per run)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..geometry import H1_MAPS, H1_SIDE, H2_SIDE, H2_UNITS, H3_UNITS, KERNEL, OUTPUTS, PAD, STRIDE
from ..lanevec import ladd, lfma, lload, lstore, lzero
from .common import (A_RELU, A_SCALED_TANH, A_TANH, F32, H1PAD, LJIT, P1, P2, PB, S_A2, S_A3, S_A3BLK, S_D1,
                     S_D2, S_D3, S_DOUT, S_H1PAD, S_H2, S_H2BLK, S_H2D, S_H3, S_OUT, S_XPAD, S_Z, TAPS, W2ROW,
                     XPAD, _activate, _input, _lact, _scalar_act, param_views)


@njit(**LJIT)
def _act_store(v, act, deriv, h, hi, d, di, wt):
    """h[hi] = act(v) and, with deriv, d[di] = act'(v) (one lane vector each)."""
    hv, dv = _lact(v, act, wt)
    lstore(h, hi, hv)
    if deriv:
        lstore(d, di, dv)


@njit(**LJIT)
def _h1_forward(W1, B1, xpad, h1pad, d1, act, deriv, wt):
    """model.forward: act(F.conv2d(x, H1w, stride=2) + H1b), then F.pad(., 2, value=-1): each
    pre-activation from the bias, the 25 taps in order; register tile 4 maps x 4 positions, whose
    16 sums go through the activation in registers (so the tanh's divisions overlap the next
    tile's multiply-adds) straight into the interior of h1pad (12, 12, 12; the border is preset),
    act' into d1 (12, 64) with deriv."""
    K = len(wt)
    for m in range(0, H1_MAPS, 4):
        for i in range(H1_SIDE):
            for j0 in range(0, H1_SIDE, 4):
                p = i * H1_SIDE + j0
                o0 = (m * P1 + p) * K
                o1 = o0 + P1 * K
                o2 = o1 + P1 * K
                o3 = o2 + P1 * K
                s00 = lload(B1, o0, wt)
                s01 = lload(B1, o0 + K, wt)
                s02 = lload(B1, o0 + 2 * K, wt)
                s03 = lload(B1, o0 + 3 * K, wt)
                s10 = lload(B1, o1, wt)
                s11 = lload(B1, o1 + K, wt)
                s12 = lload(B1, o1 + 2 * K, wt)
                s13 = lload(B1, o1 + 3 * K, wt)
                s20 = lload(B1, o2, wt)
                s21 = lload(B1, o2 + K, wt)
                s22 = lload(B1, o2 + 2 * K, wt)
                s23 = lload(B1, o2 + 3 * K, wt)
                s30 = lload(B1, o3, wt)
                s31 = lload(B1, o3 + K, wt)
                s32 = lload(B1, o3 + 2 * K, wt)
                s33 = lload(B1, o3 + 3 * K, wt)
                for ki in range(KERNEL):
                    xr = ((STRIDE * i + ki) * XPAD + STRIDE * j0) * K
                    for kj in range(KERNEL):
                        k = ki * KERNEL + kj
                        x0 = lload(xpad, xr + kj * K, wt)
                        x1 = lload(xpad, xr + (kj + 2) * K, wt)
                        x2 = lload(xpad, xr + (kj + 4) * K, wt)
                        x3 = lload(xpad, xr + (kj + 6) * K, wt)
                        w = lload(W1, (m * TAPS + k) * K, wt)
                        s00 = lfma(w, x0, s00)
                        s01 = lfma(w, x1, s01)
                        s02 = lfma(w, x2, s02)
                        s03 = lfma(w, x3, s03)
                        w = lload(W1, ((m + 1) * TAPS + k) * K, wt)
                        s10 = lfma(w, x0, s10)
                        s11 = lfma(w, x1, s11)
                        s12 = lfma(w, x2, s12)
                        s13 = lfma(w, x3, s13)
                        w = lload(W1, ((m + 2) * TAPS + k) * K, wt)
                        s20 = lfma(w, x0, s20)
                        s21 = lfma(w, x1, s21)
                        s22 = lfma(w, x2, s22)
                        s23 = lfma(w, x3, s23)
                        w = lload(W1, ((m + 3) * TAPS + k) * K, wt)
                        s30 = lfma(w, x0, s30)
                        s31 = lfma(w, x1, s31)
                        s32 = lfma(w, x2, s32)
                        s33 = lfma(w, x3, s33)
                hp = ((m * H1PAD + i + PAD) * H1PAD + j0 + PAD) * K
                _act_store(s00, act, deriv, h1pad, hp, d1, o0, wt)
                _act_store(s01, act, deriv, h1pad, hp + K, d1, o0 + K, wt)
                _act_store(s02, act, deriv, h1pad, hp + 2 * K, d1, o0 + 2 * K, wt)
                _act_store(s03, act, deriv, h1pad, hp + 3 * K, d1, o0 + 3 * K, wt)
                _act_store(s10, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K, d1, o1, wt)
                _act_store(s11, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K + K, d1, o1 + K, wt)
                _act_store(s12, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K + 2 * K, d1, o1 + 2 * K, wt)
                _act_store(s13, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K + 3 * K, d1, o1 + 3 * K, wt)
                _act_store(s20, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K, d1, o2, wt)
                _act_store(s21, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K + K, d1, o2 + K, wt)
                _act_store(s22, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K + 2 * K, d1, o2 + 2 * K, wt)
                _act_store(s23, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K + 3 * K, d1, o2 + 3 * K, wt)
                _act_store(s30, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K, d1, o3, wt)
                _act_store(s31, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K + K, d1, o3 + K, wt)
                _act_store(s32, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K + 2 * K, d1, o3 + 2 * K, wt)
                _act_store(s33, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K + 3 * K, d1, o3 + 3 * K, wt)
    if act != A_TANH and act != A_RELU and act != A_SCALED_TANH:
        # an entry without a vector form (`_lact` left the pre-activations): its scalar kernel
        for m in range(H1_MAPS):
            for i in range(H1_SIDE):
                for j in range(H1_SIDE):
                    hp = ((m * H1PAD + i + PAD) * H1PAD + j + PAD) * K
                    o = (m * P1 + i * H1_SIDE + j) * K
                    for lane in range(K):
                        hv, dv = _scalar_act(h1pad[hp + lane], act)
                        h1pad[hp + lane] = hv
                        if deriv:
                            d1[o + lane] = dv


@njit(**LJIT)
def _h2_forward(W2, B2, h1pad, a2, groups, wt):
    """model.forward: the H2 convolutions of the connection table + H2b -> a2 (12, 16). a2 starts
    from the bias; each H1 map m (in order) adds, for each H2 map o that reads it, its 25-tap sum
    (taps in order, from 0) - so each H2 unit sums its 8 input maps in increasing order. Register
    tile: a group's 4 maps x 4 positions (a row of H2)."""
    K = len(wt)
    for t in range(H2_UNITS * K):
        a2[t] = B2[t]
    for g in range(groups.shape[0]):
        m = groups[g, 0]
        cnt = groups[g, 1]
        mb = m * H1PAD * H1PAD
        if cnt == 4:
            wa = (groups[g, 2] * W2ROW + groups[g, 3] * TAPS) * K
            wb = (groups[g, 4] * W2ROW + groups[g, 5] * TAPS) * K
            wc = (groups[g, 6] * W2ROW + groups[g, 7] * TAPS) * K
            wd = (groups[g, 8] * W2ROW + groups[g, 9] * TAPS) * K
            for i in range(H2_SIDE):
                s00 = lzero(wt)
                s01 = s00
                s02 = s00
                s03 = s00
                s10 = s00
                s11 = s00
                s12 = s00
                s13 = s00
                s20 = s00
                s21 = s00
                s22 = s00
                s23 = s00
                s30 = s00
                s31 = s00
                s32 = s00
                s33 = s00
                for ki in range(KERNEL):
                    xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                    for kj in range(KERNEL):
                        k = (ki * KERNEL + kj) * K
                        x0 = lload(h1pad, xr + kj * K, wt)
                        x1 = lload(h1pad, xr + (kj + 2) * K, wt)
                        x2 = lload(h1pad, xr + (kj + 4) * K, wt)
                        x3 = lload(h1pad, xr + (kj + 6) * K, wt)
                        w = lload(W2, wa + k, wt)
                        s00 = lfma(w, x0, s00)
                        s01 = lfma(w, x1, s01)
                        s02 = lfma(w, x2, s02)
                        s03 = lfma(w, x3, s03)
                        w = lload(W2, wb + k, wt)
                        s10 = lfma(w, x0, s10)
                        s11 = lfma(w, x1, s11)
                        s12 = lfma(w, x2, s12)
                        s13 = lfma(w, x3, s13)
                        w = lload(W2, wc + k, wt)
                        s20 = lfma(w, x0, s20)
                        s21 = lfma(w, x1, s21)
                        s22 = lfma(w, x2, s22)
                        s23 = lfma(w, x3, s23)
                        w = lload(W2, wd + k, wt)
                        s30 = lfma(w, x0, s30)
                        s31 = lfma(w, x1, s31)
                        s32 = lfma(w, x2, s32)
                        s33 = lfma(w, x3, s33)
                pa = (groups[g, 2] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s00))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s01))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s02))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s03))
                pa = (groups[g, 4] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s10))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s11))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s12))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s13))
                pa = (groups[g, 6] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s20))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s21))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s22))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s23))
                pa = (groups[g, 8] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s30))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s31))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s32))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s33))
        else:
            # fewer than 4 maps (a `random` table): one map at a time, the same sums
            for u in range(cnt):
                wa = (groups[g, 2 + 2 * u] * W2ROW + groups[g, 3 + 2 * u] * TAPS) * K
                for i in range(H2_SIDE):
                    s00 = lzero(wt)
                    s01 = s00
                    s02 = s00
                    s03 = s00
                    for ki in range(KERNEL):
                        xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                        for kj in range(KERNEL):
                            w = lload(W2, wa + (ki * KERNEL + kj) * K, wt)
                            s00 = lfma(w, lload(h1pad, xr + kj * K, wt), s00)
                            s01 = lfma(w, lload(h1pad, xr + (kj + 2) * K, wt), s01)
                            s02 = lfma(w, lload(h1pad, xr + (kj + 4) * K, wt), s02)
                            s03 = lfma(w, lload(h1pad, xr + (kj + 6) * K, wt), s03)
                    pa = (groups[g, 2 + 2 * u] * P2 + i * H2_SIDE) * K
                    lstore(a2, pa, ladd(lload(a2, pa, wt), s00))
                    lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s01))
                    lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s02))
                    lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s03))


@njit(**LJIT)
def _h3_forward(W3, B3, h2d, a3, wt):
    """model.forward: x @ H3w + H3b -> a3 (30): from the bias, the 192 inputs in order. Register
    tile: 10 units."""
    K = len(wt)
    for u in range(0, H3_UNITS, 10):
        s0 = lload(B3, u * K, wt)
        s1 = lload(B3, (u + 1) * K, wt)
        s2 = lload(B3, (u + 2) * K, wt)
        s3 = lload(B3, (u + 3) * K, wt)
        s4 = lload(B3, (u + 4) * K, wt)
        s5 = lload(B3, (u + 5) * K, wt)
        s6 = lload(B3, (u + 6) * K, wt)
        s7 = lload(B3, (u + 7) * K, wt)
        s8 = lload(B3, (u + 8) * K, wt)
        s9 = lload(B3, (u + 9) * K, wt)
        for q in range(H2_UNITS):
            x = lload(h2d, q * K, wt)
            r = (q * H3_UNITS + u) * K
            s0 = lfma(x, lload(W3, r, wt), s0)
            s1 = lfma(x, lload(W3, r + K, wt), s1)
            s2 = lfma(x, lload(W3, r + 2 * K, wt), s2)
            s3 = lfma(x, lload(W3, r + 3 * K, wt), s3)
            s4 = lfma(x, lload(W3, r + 4 * K, wt), s4)
            s5 = lfma(x, lload(W3, r + 5 * K, wt), s5)
            s6 = lfma(x, lload(W3, r + 6 * K, wt), s6)
            s7 = lfma(x, lload(W3, r + 7 * K, wt), s7)
            s8 = lfma(x, lload(W3, r + 8 * K, wt), s8)
            s9 = lfma(x, lload(W3, r + 9 * K, wt), s9)
        lstore(a3, u * K, s0)
        lstore(a3, (u + 1) * K, s1)
        lstore(a3, (u + 2) * K, s2)
        lstore(a3, (u + 3) * K, s3)
        lstore(a3, (u + 4) * K, s4)
        lstore(a3, (u + 5) * K, s5)
        lstore(a3, (u + 6) * K, s6)
        lstore(a3, (u + 7) * K, s7)
        lstore(a3, (u + 8) * K, s8)
        lstore(a3, (u + 9) * K, s9)


@njit(**LJIT)
def _out_forward(W4, B4, h3, z, wt):
    """model.forward: h3 @ outw + outb -> z (10): from the bias, the 30 units in order."""
    K = len(wt)
    s0 = lload(B4, 0, wt)
    s1 = lload(B4, K, wt)
    s2 = lload(B4, 2 * K, wt)
    s3 = lload(B4, 3 * K, wt)
    s4 = lload(B4, 4 * K, wt)
    s5 = lload(B4, 5 * K, wt)
    s6 = lload(B4, 6 * K, wt)
    s7 = lload(B4, 7 * K, wt)
    s8 = lload(B4, 8 * K, wt)
    s9 = lload(B4, 9 * K, wt)
    for u in range(H3_UNITS):
        x = lload(h3, u * K, wt)
        r = u * OUTPUTS * K
        s0 = lfma(x, lload(W4, r, wt), s0)
        s1 = lfma(x, lload(W4, r + K, wt), s1)
        s2 = lfma(x, lload(W4, r + 2 * K, wt), s2)
        s3 = lfma(x, lload(W4, r + 3 * K, wt), s3)
        s4 = lfma(x, lload(W4, r + 4 * K, wt), s4)
        s5 = lfma(x, lload(W4, r + 5 * K, wt), s5)
        s6 = lfma(x, lload(W4, r + 6 * K, wt), s6)
        s7 = lfma(x, lload(W4, r + 7 * K, wt), s7)
        s8 = lfma(x, lload(W4, r + 8 * K, wt), s8)
        s9 = lfma(x, lload(W4, r + 9 * K, wt), s9)
    lstore(z, 0, s0)
    lstore(z, K, s1)
    lstore(z, 2 * K, s2)
    lstore(z, 3 * K, s3)
    lstore(z, 4 * K, s4)
    lstore(z, 5 * K, s5)
    lstore(z, 6 * K, s6)
    lstore(z, 7 * K, s7)
    lstore(z, 8 * K, s8)
    lstore(z, 9 * K, s9)


@njit(**LJIT)
def _forward_to_h2(X, e, sidx, use_sample, shifts, use_shift, act, deriv, theta, groups, S, h2, wt):
    """model.Net1989.forward for one example in every lane, up to H2's activations -> h2 (and
    act' into d2 with deriv)."""
    K = len(wt)
    xpad = S[S_XPAD * K:(S_XPAD + XPAD * XPAD) * K]
    d1 = S[S_D1 * K:(S_D1 + H1_MAPS * P1) * K]
    h1pad = S[S_H1PAD * K:(S_H1PAD + H1_MAPS * H1PAD * H1PAD) * K]
    a2 = S[S_A2 * K:(S_A2 + H2_UNITS) * K]
    d2 = S[S_D2 * K:(S_D2 + H2_UNITS) * K]
    W1, B1, W2, B2, W3, B3, W4, B4 = param_views(theta, K)
    _input(X, e, sidx, use_sample, shifts, use_shift, xpad, wt)
    _h1_forward(W1, B1, xpad, h1pad, d1, act, deriv, wt)
    _h2_forward(W2, B2, h1pad, a2, groups, wt)
    _activate(a2, h2, d2, H2_UNITS, act, deriv, wt)


@njit(**LJIT)
def _forward_from_a3(a3, act, out_act, deriv, theta, S, wt):
    """model.Net1989.forward from H3's pre-activations a3 to the outputs (S's out; z, h3 and,
    with deriv, d3 and dout kept for the backward pass)."""
    K = len(wt)
    h3 = S[S_H3 * K:(S_H3 + H3_UNITS) * K]
    d3 = S[S_D3 * K:(S_D3 + H3_UNITS) * K]
    z = S[S_Z * K:(S_Z + OUTPUTS) * K]
    out = S[S_OUT * K:(S_OUT + OUTPUTS) * K]
    dout = S[S_DOUT * K:(S_DOUT + OUTPUTS) * K]
    W1, B1, W2, B2, W3, B3, W4, B4 = param_views(theta, K)
    _activate(a3, h3, d3, H3_UNITS, act, deriv, wt)
    _out_forward(W4, B4, h3, z, wt)
    if out_act >= 0:
        _activate(z, out, dout, OUTPUTS, out_act, deriv, wt)
    else:
        for t in range(OUTPUTS * K):
            out[t] = z[t]


@njit(**LJIT)
def _forward(X, e, sidx, use_sample, shifts, use_shift, masks, use_mask, act, out_act, deriv,
             theta, groups, S, wt):
    """model.Net1989.forward for one example in every lane (scratch S, offsets S_*), keeping
    what the backward pass needs (the derivatives only with deriv)."""
    K = len(wt)
    h2 = S[S_H2 * K:(S_H2 + H2_UNITS) * K]
    h2d = S[S_H2D * K:(S_H2D + H2_UNITS) * K]
    a3 = S[S_A3 * K:(S_A3 + H3_UNITS) * K]
    W1, B1, W2, B2, W3, B3, W4, B4 = param_views(theta, K)
    _forward_to_h2(X, e, sidx, use_sample, shifts, use_shift, act, deriv, theta, groups, S, h2, wt)
    # model.forward: x * dropout_mask (training only; lane l's own mask)
    if use_mask:
        for q in range(H2_UNITS):
            for lane in range(K):
                h2d[q * K + lane] = h2[q * K + lane] * masks[lane, e, q]
    # (without a mask H3 reads h2 itself: h2d is then not written)
    _h3_forward(W3, B3, h2d if use_mask else h2, a3, wt)
    _forward_from_a3(a3, act, out_act, deriv, theta, S, wt)


@njit(**LJIT)
def _h3_forward_block(W3, B3, hblk, ablk, wt):
    """`_h3_forward` for PB = 4 digits at once: hblk (4 x 192 lane vectors) -> ablk (4 x 30), each
    sum as there (from the bias, the 192 inputs in order, the same fused multiply-adds), but each
    weight vector loaded once for the 4 digits: with 16 runs H3w is 368 KB, beyond the L1, and
    streaming it once per digit made H3 the prediction's slowest kernel per multiply-add.
    Register tile: 5 units x 4 digits (20 accumulators, 5 weights, 1 input: 26 of the 32 zmm)."""
    K = len(wt)
    D = H2_UNITS * K
    A = H3_UNITS * K
    for u in range(0, H3_UNITS, 5):
        s00 = lload(B3, u * K, wt)
        s01 = lload(B3, (u + 1) * K, wt)
        s02 = lload(B3, (u + 2) * K, wt)
        s03 = lload(B3, (u + 3) * K, wt)
        s04 = lload(B3, (u + 4) * K, wt)
        s10, s11, s12, s13, s14 = s00, s01, s02, s03, s04
        s20, s21, s22, s23, s24 = s00, s01, s02, s03, s04
        s30, s31, s32, s33, s34 = s00, s01, s02, s03, s04
        for q in range(H2_UNITS):
            r = (q * H3_UNITS + u) * K
            w0 = lload(W3, r, wt)
            w1 = lload(W3, r + K, wt)
            w2 = lload(W3, r + 2 * K, wt)
            w3 = lload(W3, r + 3 * K, wt)
            w4 = lload(W3, r + 4 * K, wt)
            x = lload(hblk, q * K, wt)
            s00 = lfma(x, w0, s00)
            s01 = lfma(x, w1, s01)
            s02 = lfma(x, w2, s02)
            s03 = lfma(x, w3, s03)
            s04 = lfma(x, w4, s04)
            x = lload(hblk, D + q * K, wt)
            s10 = lfma(x, w0, s10)
            s11 = lfma(x, w1, s11)
            s12 = lfma(x, w2, s12)
            s13 = lfma(x, w3, s13)
            s14 = lfma(x, w4, s14)
            x = lload(hblk, 2 * D + q * K, wt)
            s20 = lfma(x, w0, s20)
            s21 = lfma(x, w1, s21)
            s22 = lfma(x, w2, s22)
            s23 = lfma(x, w3, s23)
            s24 = lfma(x, w4, s24)
            x = lload(hblk, 3 * D + q * K, wt)
            s30 = lfma(x, w0, s30)
            s31 = lfma(x, w1, s31)
            s32 = lfma(x, w2, s32)
            s33 = lfma(x, w3, s33)
            s34 = lfma(x, w4, s34)
        o = u * K
        lstore(ablk, o, s00)
        lstore(ablk, o + K, s01)
        lstore(ablk, o + 2 * K, s02)
        lstore(ablk, o + 3 * K, s03)
        lstore(ablk, o + 4 * K, s04)
        lstore(ablk, A + o, s10)
        lstore(ablk, A + o + K, s11)
        lstore(ablk, A + o + 2 * K, s12)
        lstore(ablk, A + o + 3 * K, s13)
        lstore(ablk, A + o + 4 * K, s14)
        lstore(ablk, 2 * A + o, s20)
        lstore(ablk, 2 * A + o + K, s21)
        lstore(ablk, 2 * A + o + 2 * K, s22)
        lstore(ablk, 2 * A + o + 3 * K, s23)
        lstore(ablk, 2 * A + o + 4 * K, s24)
        lstore(ablk, 3 * A + o, s30)
        lstore(ablk, 3 * A + o + K, s31)
        lstore(ablk, 3 * A + o + 2 * K, s32)
        lstore(ablk, 3 * A + o + 3 * K, s33)
        lstore(ablk, 3 * A + o + 4 * K, s34)


@njit(**LJIT)
def _predict(X, sidx, shifts, act, out_act, theta, groups, S, result, wt):
    """model.forward in eval mode for every digit of X in every lane -> result (K, N, 10): the
    digits' H2 outputs in blocks of PB, H3 for the block at once (`_h3_forward_block`; the last,
    shorter block and vectors of other than 16 lanes - two or more registers each, where the
    tile would not fit - digit by digit), then each digit's output layer. The same operations
    per digit as `_forward`, so the same numbers."""
    K = len(wt)
    n = X.shape[0]
    D = H2_UNITS * K
    A = H3_UNITS * K
    hblk = S[S_H2BLK * K:(S_H2BLK + PB * H2_UNITS) * K]
    ablk = S[S_A3BLK * K:(S_A3BLK + PB * H3_UNITS) * K]
    out = S[S_OUT * K:(S_OUT + OUTPUTS) * K]
    W1, B1, W2, B2, W3, B3, W4, B4 = param_views(theta, K)
    for e0 in range(0, n, PB):
        nb = min(PB, n - e0)
        for b in range(nb):
            _forward_to_h2(X, e0 + b, sidx, False, shifts, False, act, False, theta, groups, S,
                           hblk[b * D:(b + 1) * D], wt)
        if nb == PB and K == 16:
            _h3_forward_block(W3, B3, hblk, ablk, wt)
        else:
            for b in range(nb):
                _h3_forward(W3, B3, hblk[b * D:(b + 1) * D], ablk[b * A:(b + 1) * A], wt)
        for b in range(nb):
            _forward_from_a3(ablk[b * A:(b + 1) * A], act, out_act, False, theta, S, wt)
            for j in range(OUTPUTS):
                for lane in range(K):
                    result[lane, e0 + b, j] = out[j * K + lane]


@njit(**LJIT)
def _softmax(z, p, wt):
    """p = softmax(z) over the 10 outputs of each lane (shifted by the largest, as torch does)."""
    K = len(wt)
    for lane in range(K):
        zmax = z[lane]
        for j in range(1, OUTPUTS):
            v = z[j * K + lane]
            zmax = v if v > zmax else zmax
        tot = F32(0.0)
        for j in range(OUTPUTS):
            v = np.float32(math.exp(z[j * K + lane] - zmax))
            p[j * K + lane] = v
            tot += v
        for j in range(OUTPUTS):
            p[j * K + lane] = p[j * K + lane] / tot


# -- backward ------------------------------------------------------------------------------------
