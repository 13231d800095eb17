"""Prediction, 8 examples at a time (`_predict_kernel`), bit for bit the per-example forward."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..geometry import H1_SIDE, H2_SIDE, IMAGE, KERNEL, OUTPUTS, PAD, STRIDE
from ..simd import LANES, vadd, vfma, vload, vsplat, vstore, vzero
from .buffers import BATCH, SLOT_TILE, SLOTS
from .common import H1PAD, JIT, NOFASTMATH, P1, P2, TAPS, XPAD
from .layers import _activate

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
# Layouts (buffers.PredictBuffers): a vector of 8 examples per pixel / unit: x (20*20, 8) padded
# input, a1 (12*64, 8), h1pad (12*12*12, 8) padded H1, a2/h2 (192, 8), a3/h3 (30, 8), z/out (10, 8).


@njit(**NOFASTMATH)
def _slot_sums(slots, bias, nout, sums):
    """sums[k] = bias[k] + ((S0 + S4) + (S2 + S6)) + ((S1 + S5) + (S3 + S7)) for the slots Sl =
    slots[l, k] (vectors of 8 examples): vsum8's order. Compiled without fastmath (set explicitly:
    numba otherwise inherits the caller's flags), so that LLVM cannot reassociate the sums."""
    so = SLOT_TILE * BATCH
    for k in range(nout):
        i = k * BATCH
        s0, s1 = vload(slots, i), vload(slots, so + i)
        s2, s3 = vload(slots, 2 * so + i), vload(slots, 3 * so + i)
        s4, s5 = vload(slots, 4 * so + i), vload(slots, 5 * so + i)
        s6, s7 = vload(slots, 6 * so + i), vload(slots, 7 * so + i)
        t = vadd(vadd(vadd(s0, s4), vadd(s2, s6)), vadd(vadd(s1, s5), vadd(s3, s7)))
        vstore(sums, i, vadd(vsplat(bias[k], sums), t))


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
    for mh in range(0, W1.shape[0], 6):
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
def _batch_h2(W2s, B2, blocks, slot_offset, slot_count, h1p, slots, bias_tile, sums, a2b):
    """model.forward: the H2 block convolutions + H2b for 8 examples -> a2b[(o*16 + p)*8 + e].
    For each block, 2 positions at a time, lane slot l at a time: the slot's columns in order
    (slot_offset[b, l, t]: the column's input's offset in h1p; W2s[b, l, 4t:4t+4]: its weights for
    the block's 4 maps), 8 accumulators (4 maps x 2 positions) -> slots[l]; then `_slot_sums`."""
    for b in range(blocks.shape[0]):
        lo = blocks[b, 0]
        for p in range(0, P2, 2):
            pa = (STRIDE * (p // H2_SIDE) * H1PAD + STRIDE * (p % H2_SIDE)) * BATCH
            for l in range(SLOTS):
                ot = slot_offset[b, l]
                wt = W2s[b, l]
                s0a = vzero(h1p)
                s0b = s0a
                s1a = s0a
                s1b = s0a
                s2a = s0a
                s2b = s0a
                s3a = s0a
                s3b = s0a
                for t in range(slot_count[b, l]):
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
                vstore(slots, o, s0a)
                vstore(slots, o + BATCH, s0b)
                vstore(slots, o + 2 * BATCH, s1a)
                vstore(slots, o + 3 * BATCH, s1b)
                vstore(slots, o + 4 * BATCH, s2a)
                vstore(slots, o + 5 * BATCH, s2b)
                vstore(slots, o + 6 * BATCH, s3a)
                vstore(slots, o + 7 * BATCH, s3b)
            for mm in range(4):
                bias_tile[2 * mm] = B2[lo + mm, p]
                bias_tile[2 * mm + 1] = B2[lo + mm, p + 1]
            _slot_sums(slots, bias_tile, SLOT_TILE, sums)
            for mm in range(4):
                vstore(a2b, ((lo + mm) * P2 + p) * BATCH, vload(sums, 2 * mm * BATCH))
                vstore(a2b, ((lo + mm) * P2 + p + 1) * BATCH, vload(sums, (2 * mm + 1) * BATCH))


@njit(**JIT)
def _batch_h3(W3T, B3, h2b, slots, bias_tile, sums, a3b):
    """model.forward: x @ H3w + H3b for 8 examples -> a3b[u*8 + e]: 6 units at a time, lane slot l
    at a time (H2 units l, l+8, ..., as `_h3_forward`'s lane l), then `_slot_sums`."""
    n2 = W3T.shape[1]
    for u in range(0, W3T.shape[0], 6):
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
            for q in range(l, n2, LANES):
                x = vload(h2b, q * BATCH)
                s0 = vfma(vsplat(v0[q], h2b), x, s0)
                s1 = vfma(vsplat(v1[q], h2b), x, s1)
                s2 = vfma(vsplat(v2[q], h2b), x, s2)
                s3 = vfma(vsplat(v3[q], h2b), x, s3)
                s4 = vfma(vsplat(v4[q], h2b), x, s4)
                s5 = vfma(vsplat(v5[q], h2b), x, s5)
            o = l * SLOT_TILE * BATCH
            vstore(slots, o, s0)
            vstore(slots, o + BATCH, s1)
            vstore(slots, o + 2 * BATCH, s2)
            vstore(slots, o + 3 * BATCH, s3)
            vstore(slots, o + 4 * BATCH, s4)
            vstore(slots, o + 5 * BATCH, s5)
        for i in range(6):
            bias_tile[i] = B3[u + i]
        _slot_sums(slots, bias_tile, 6, sums)
        for i in range(6):
            vstore(a3b, (u + i) * BATCH, vload(sums, i * BATCH))


@njit(**JIT)
def _predict_kernel(X, act, out_act, p, t, pb, result):
    """model.Net1989.forward in eval mode for every example of X (N, 16, 16) -> result (N, 10),
    8 examples at a time (see above); bit for bit `_kernel`'s MODE_PREDICT. p: the weights,
    t: the H2Tables, pb: the PredictBuffers (buffers.py)."""
    n = X.shape[0]
    W2s, h1b, h1p, zb, outb = pb.H2w_slots, pb.h1, pb.h1pad, pb.z, pb.out
    slots, bias_tile, sums = pb.slots, pb.bias_tile, pb.tile_sums
    scratch = pb.dact_scratch
    # the H2 weights in slot order: W2s[b, l, 4k + i] = H2w[block b's map i, column slot_weight_col[b, l, k]]
    for b in range(t.blocks.shape[0]):
        lo = t.blocks[b, 0]
        for l in range(SLOTS):
            for k in range(t.slot_count[b, l]):
                w = t.slot_weight_col[b, l, k]
                for i in range(4):
                    W2s[b, l, 4 * k + i] = p.H2w[lo + i, w]
    maps1 = p.H1w.shape[0]
    n3 = p.H3b.size
    nh1 = maps1 * P1 * BATCH
    for g0 in range(0, n, BATCH):
        _batch_input(X, g0, pb.x)
        _batch_h1(p.H1w, p.H1b, pb.x, pb.a1)
        # model.forward: act(...) -> h1, then into the padded layout (a row of 8 positions x 8
        # examples is 64 contiguous floats in both)
        _activate(pb.a1[:nh1], h1b[:nh1], scratch[:nh1], act, False)
        for m in range(maps1):
            for r in range(H1_SIDE):
                src = (m * P1 + r * H1_SIDE) * BATCH
                dst = ((m * H1PAD + r + PAD) * H1PAD + PAD) * BATCH
                for c in range(0, H1_SIDE * BATCH, LANES):
                    vstore(h1p, dst + c, vload(h1b, src + c))
        _batch_h2(W2s, p.H2b, t.blocks, t.slot_input_offset, t.slot_count, h1p, slots, bias_tile, sums, pb.a2)
        _activate(pb.a2, pb.h2, scratch[:pb.a2.size], act, False)
        _batch_h3(p.H3wT, p.H3b, pb.h2, slots, bias_tile, sums, pb.a3)
        _activate(pb.a3, pb.h3, scratch[:pb.a3.size], act, False)
        # model.forward: h3 @ outw + outb, then the head's squashing
        for j in range(OUTPUTS):
            zj = vsplat(p.outb[j], zb)
            for u in range(n3):
                zj = vfma(vload(pb.h3, u * BATCH), vsplat(p.outw[u, j], zb), zj)
            vstore(zb, j * BATCH, zj)
        if out_act >= 0:
            _activate(zb, outb, scratch[:zb.size], out_act, False)
        else:
            for i in range(zb.size):
                outb[i] = zb[i]
        for e in range(min(BATCH, n - g0)):
            for j in range(OUTPUTS):
                result[g0 + e, j] = outb[j * BATCH + e]


def h2_slot_tables(blocks: np.ndarray, block_runs: np.ndarray, fan_maps: int):
    """For `_batch_h2`: the columns of each block's lane slot l, in `_h2_forward`'s order (run by
    run, the run's columns l, l+8, ...): slot_weight_col[b, l, k] (column in a map's 200
    weights), slot_input_offset[b, l, k] (offset of the column's input in the batched padded H1,
    from the position's corner), and the count slot_count[b, l]. fan_maps: H1 maps per H2 map
    (geometry.Geometry.h2_fan_maps)."""
    nb = blocks.shape[0]
    width = -(-fan_maps * TAPS // SLOTS) + block_runs.shape[1]
    weight_col = np.zeros((nb, SLOTS, width), np.int64)
    input_offset = np.zeros((nb, SLOTS, width), np.int64)
    count = np.zeros((nb, SLOTS), np.int64)
    for b in range(nb):
        for l in range(SLOTS):
            k = 0
            for w0, x0, n in block_runs[b]:
                for c in range(l, n, SLOTS):
                    m, tap = divmod(int(x0 + c), TAPS)
                    ki, kj = divmod(tap, KERNEL)
                    weight_col[b, l, k] = w0 + c
                    input_offset[b, l, k] = ((m * H1PAD + ki) * H1PAD + kj) * BATCH
                    k += 1
            count[b, l] = k
    return weight_col, input_offset, count
