"""The backward pass of one example, K runs at a time: the H2, H1 and H3 kernels (with SGD's step
taken inside them, see docs/lockstep.md)."""

from __future__ import annotations

from numba import njit

from ..geometry import H1_MAPS, H1_SIDE, H2_SIDE, H2_UNITS, H3_UNITS, KERNEL, PAD, STRIDE
from ..lanevec import lfma, lload, lmul, lsplat, lstore, lzero
from .common import H1PAD, LJIT, P1, P2, TAPS, W2ROW, XPAD


@njit(**LJIT)
def _h2_backward(da2, W2, h1pad, G2, dh1pad, groups, fuse, lr32, wt):
    """Autograd of `_h2_forward` (or, on squared weights and inputs, sdlm's diagonal): the weight
    gradient G2[o, c*25 + tap] = sum over the 16 positions (in order, from 0) of da2[o, p] x the
    input under the tap; the input gradient dh1pad (zeroed first) gets, per group, for each
    kernel row ki and H2 row i, the 4 positions' 5 taps of the group's maps (maps in order),
    accumulated along the padded row in registers. With fuse (SGD), H2w's step p - lr g is taken
    here, right after the old weights' last use, and G2 is not written."""
    K = len(wt)
    nlr = lsplat(-lr32, wt)
    # only the interior is summed into (and read by _h1_backward); the padding's cells are never
    # added to, and what the windows carry through them is dropped
    z = lzero(wt)
    for m in range(H1_MAPS):
        for r in range(PAD, PAD + H1_SIDE):
            o = (m * H1PAD + r) * H1PAD * K
            for c in range(PAD, PAD + H1_SIDE):
                lstore(dh1pad, o + c * K, z)
    for g in range(groups.shape[0]):
        m = groups[g, 0]
        cnt = groups[g, 1]
        mb = m * H1PAD * H1PAD
        if cnt == 4:
            oa = groups[g, 2] * P2 * K
            ob = groups[g, 4] * P2 * K
            oc = groups[g, 6] * P2 * K
            od = groups[g, 8] * P2 * K
            wa = (groups[g, 2] * W2ROW + groups[g, 3] * TAPS) * K
            wb = (groups[g, 4] * W2ROW + groups[g, 5] * TAPS) * K
            wc = (groups[g, 6] * W2ROW + groups[g, 7] * TAPS) * K
            wd = (groups[g, 8] * W2ROW + groups[g, 9] * TAPS) * K
            for ki in range(KERNEL):
                k = ki * KERNEL * K
                # -- input gradient: the 4 maps' 5 weights of row ki stay in registers; along each
                # padded row 2i+ki, a window of 5 cells (2j .. 2j+4) is summed in registers. The
                # padding's cells (rows and columns 0, 1, 10) are skipped: their gradient is dropped
                a0 = lload(W2, wa + k, wt)
                a1_ = lload(W2, wa + k + K, wt)
                a2_ = lload(W2, wa + k + 2 * K, wt)
                a3_ = lload(W2, wa + k + 3 * K, wt)
                a4 = lload(W2, wa + k + 4 * K, wt)
                b0 = lload(W2, wb + k, wt)
                b1 = lload(W2, wb + k + K, wt)
                b2 = lload(W2, wb + k + 2 * K, wt)
                b3 = lload(W2, wb + k + 3 * K, wt)
                b4 = lload(W2, wb + k + 4 * K, wt)
                c0 = lload(W2, wc + k, wt)
                c1 = lload(W2, wc + k + K, wt)
                c2 = lload(W2, wc + k + 2 * K, wt)
                c3 = lload(W2, wc + k + 3 * K, wt)
                c4 = lload(W2, wc + k + 4 * K, wt)
                e0 = lload(W2, wd + k, wt)
                e1 = lload(W2, wd + k + K, wt)
                e2 = lload(W2, wd + k + 2 * K, wt)
                e3 = lload(W2, wd + k + 3 * K, wt)
                e4 = lload(W2, wd + k + 4 * K, wt)
                for i in range(H2_SIDE):
                    if not PAD <= STRIDE * i + ki < PAD + H1_SIDE:
                        continue        # a padding row: its gradient is dropped
                    rb = (mb + (STRIDE * i + ki) * H1PAD) * K
                    r0 = lload(dh1pad, rb, wt)
                    r1 = lload(dh1pad, rb + K, wt)
                    r2 = lload(dh1pad, rb + 2 * K, wt)
                    for j in range(H2_SIDE):
                        cb = rb + STRIDE * j * K
                        r3 = lload(dh1pad, cb + 3 * K, wt)
                        r4 = lload(dh1pad, cb + 4 * K, wt)
                        p = (i * H2_SIDE + j) * K
                        d = lload(da2, oa + p, wt)
                        if j > 0:
                            r0 = lfma(d, a0, r0)
                            r1 = lfma(d, a1_, r1)
                        r2 = lfma(d, a2_, r2)
                        r3 = lfma(d, a3_, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, a4, r4)
                        d = lload(da2, ob + p, wt)
                        if j > 0:
                            r0 = lfma(d, b0, r0)
                            r1 = lfma(d, b1, r1)
                        r2 = lfma(d, b2, r2)
                        r3 = lfma(d, b3, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, b4, r4)
                        d = lload(da2, oc + p, wt)
                        if j > 0:
                            r0 = lfma(d, c0, r0)
                            r1 = lfma(d, c1, r1)
                        r2 = lfma(d, c2, r2)
                        r3 = lfma(d, c3, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, c4, r4)
                        d = lload(da2, od + p, wt)
                        if j > 0:
                            r0 = lfma(d, e0, r0)
                            r1 = lfma(d, e1, r1)
                        r2 = lfma(d, e2, r2)
                        r3 = lfma(d, e3, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, e4, r4)
                        lstore(dh1pad, cb, r0)
                        lstore(dh1pad, cb + K, r1)
                        r0 = r2
                        r1 = r3
                        r2 = r4
                    cb = rb + STRIDE * H2_SIDE * K
                    lstore(dh1pad, cb, r0)
                    lstore(dh1pad, cb + K, r1)
                    lstore(dh1pad, cb + 2 * K, r2)
                # -- weight gradient: 4 maps x the 5 taps of kernel row ki, over the 16 positions (with fuse,
                # SGD's step p - lr g at once, from the old weights still in registers)
                s0 = lzero(wt)
                s1 = s0
                s2 = s0
                s3 = s0
                s4 = s0
                t0 = s0
                t1 = s0
                t2 = s0
                t3 = s0
                t4 = s0
                u0 = s0
                u1 = s0
                u2 = s0
                u3 = s0
                u4 = s0
                v0 = s0
                v1 = s0
                v2 = s0
                v3 = s0
                v4 = s0
                for i in range(H2_SIDE):
                    xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                    for j in range(H2_SIDE):
                        p = (i * H2_SIDE + j) * K
                        xo = xr + STRIDE * j * K
                        x0 = lload(h1pad, xo, wt)
                        x1 = lload(h1pad, xo + K, wt)
                        x2 = lload(h1pad, xo + 2 * K, wt)
                        x3 = lload(h1pad, xo + 3 * K, wt)
                        x4 = lload(h1pad, xo + 4 * K, wt)
                        d = lload(da2, oa + p, wt)
                        s0 = lfma(d, x0, s0)
                        s1 = lfma(d, x1, s1)
                        s2 = lfma(d, x2, s2)
                        s3 = lfma(d, x3, s3)
                        s4 = lfma(d, x4, s4)
                        d = lload(da2, ob + p, wt)
                        t0 = lfma(d, x0, t0)
                        t1 = lfma(d, x1, t1)
                        t2 = lfma(d, x2, t2)
                        t3 = lfma(d, x3, t3)
                        t4 = lfma(d, x4, t4)
                        d = lload(da2, oc + p, wt)
                        u0 = lfma(d, x0, u0)
                        u1 = lfma(d, x1, u1)
                        u2 = lfma(d, x2, u2)
                        u3 = lfma(d, x3, u3)
                        u4 = lfma(d, x4, u4)
                        d = lload(da2, od + p, wt)
                        v0 = lfma(d, x0, v0)
                        v1 = lfma(d, x1, v1)
                        v2 = lfma(d, x2, v2)
                        v3 = lfma(d, x3, v3)
                        v4 = lfma(d, x4, v4)
                if fuse:
                    lstore(W2, wa + k, lfma(nlr, s0, a0))
                    lstore(W2, wa + k + K, lfma(nlr, s1, a1_))
                    lstore(W2, wa + k + 2 * K, lfma(nlr, s2, a2_))
                    lstore(W2, wa + k + 3 * K, lfma(nlr, s3, a3_))
                    lstore(W2, wa + k + 4 * K, lfma(nlr, s4, a4))
                    lstore(W2, wb + k, lfma(nlr, t0, b0))
                    lstore(W2, wb + k + K, lfma(nlr, t1, b1))
                    lstore(W2, wb + k + 2 * K, lfma(nlr, t2, b2))
                    lstore(W2, wb + k + 3 * K, lfma(nlr, t3, b3))
                    lstore(W2, wb + k + 4 * K, lfma(nlr, t4, b4))
                    lstore(W2, wc + k, lfma(nlr, u0, c0))
                    lstore(W2, wc + k + K, lfma(nlr, u1, c1))
                    lstore(W2, wc + k + 2 * K, lfma(nlr, u2, c2))
                    lstore(W2, wc + k + 3 * K, lfma(nlr, u3, c3))
                    lstore(W2, wc + k + 4 * K, lfma(nlr, u4, c4))
                    lstore(W2, wd + k, lfma(nlr, v0, e0))
                    lstore(W2, wd + k + K, lfma(nlr, v1, e1))
                    lstore(W2, wd + k + 2 * K, lfma(nlr, v2, e2))
                    lstore(W2, wd + k + 3 * K, lfma(nlr, v3, e3))
                    lstore(W2, wd + k + 4 * K, lfma(nlr, v4, e4))
                else:
                    lstore(G2, wa + k, s0)
                    lstore(G2, wa + k + K, s1)
                    lstore(G2, wa + k + 2 * K, s2)
                    lstore(G2, wa + k + 3 * K, s3)
                    lstore(G2, wa + k + 4 * K, s4)
                    lstore(G2, wb + k, t0)
                    lstore(G2, wb + k + K, t1)
                    lstore(G2, wb + k + 2 * K, t2)
                    lstore(G2, wb + k + 3 * K, t3)
                    lstore(G2, wb + k + 4 * K, t4)
                    lstore(G2, wc + k, u0)
                    lstore(G2, wc + k + K, u1)
                    lstore(G2, wc + k + 2 * K, u2)
                    lstore(G2, wc + k + 3 * K, u3)
                    lstore(G2, wc + k + 4 * K, u4)
                    lstore(G2, wd + k, v0)
                    lstore(G2, wd + k + K, v1)
                    lstore(G2, wd + k + 2 * K, v2)
                    lstore(G2, wd + k + 3 * K, v3)
                    lstore(G2, wd + k + 4 * K, v4)
        else:
            # fewer than 4 maps (a `random` table): one map at a time, the same sums
            for u in range(cnt):
                oa = groups[g, 2 + 2 * u] * P2 * K
                wa = (groups[g, 2 + 2 * u] * W2ROW + groups[g, 3 + 2 * u] * TAPS) * K
                for ki in range(KERNEL):
                    k = ki * KERNEL * K
                    a0 = lload(W2, wa + k, wt)
                    a1_ = lload(W2, wa + k + K, wt)
                    a2_ = lload(W2, wa + k + 2 * K, wt)
                    a3_ = lload(W2, wa + k + 3 * K, wt)
                    a4 = lload(W2, wa + k + 4 * K, wt)
                    for i in range(H2_SIDE):
                        if not PAD <= STRIDE * i + ki < PAD + H1_SIDE:
                            continue
                        rb = (mb + (STRIDE * i + ki) * H1PAD) * K
                        r0 = lload(dh1pad, rb, wt)
                        r1 = lload(dh1pad, rb + K, wt)
                        r2 = lload(dh1pad, rb + 2 * K, wt)
                        for j in range(H2_SIDE):
                            cb = rb + STRIDE * j * K
                            r3 = lload(dh1pad, cb + 3 * K, wt)
                            r4 = lload(dh1pad, cb + 4 * K, wt)
                            d = lload(da2, oa + (i * H2_SIDE + j) * K, wt)
                            if j > 0:
                                r0 = lfma(d, a0, r0)
                                r1 = lfma(d, a1_, r1)
                            r2 = lfma(d, a2_, r2)
                            r3 = lfma(d, a3_, r3)
                            if j < H2_SIDE - 1:
                                r4 = lfma(d, a4, r4)
                            lstore(dh1pad, cb, r0)
                            lstore(dh1pad, cb + K, r1)
                            r0 = r2
                            r1 = r3
                            r2 = r4
                        cb = rb + STRIDE * H2_SIDE * K
                        lstore(dh1pad, cb, r0)
                        lstore(dh1pad, cb + K, r1)
                        lstore(dh1pad, cb + 2 * K, r2)
                    s0 = lzero(wt)
                    s1 = s0
                    s2 = s0
                    s3 = s0
                    s4 = s0
                    for i in range(H2_SIDE):
                        xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                        for j in range(H2_SIDE):
                            xo = xr + STRIDE * j * K
                            d = lload(da2, oa + (i * H2_SIDE + j) * K, wt)
                            s0 = lfma(d, lload(h1pad, xo, wt), s0)
                            s1 = lfma(d, lload(h1pad, xo + K, wt), s1)
                            s2 = lfma(d, lload(h1pad, xo + 2 * K, wt), s2)
                            s3 = lfma(d, lload(h1pad, xo + 3 * K, wt), s3)
                            s4 = lfma(d, lload(h1pad, xo + 4 * K, wt), s4)
                    if fuse:
                        lstore(W2, wa + k, lfma(nlr, s0, a0))
                        lstore(W2, wa + k + K, lfma(nlr, s1, a1_))
                        lstore(W2, wa + k + 2 * K, lfma(nlr, s2, a2_))
                        lstore(W2, wa + k + 3 * K, lfma(nlr, s3, a3_))
                        lstore(W2, wa + k + 4 * K, lfma(nlr, s4, a4))
                    else:
                        lstore(G2, wa + k, s0)
                        lstore(G2, wa + k + K, s1)
                        lstore(G2, wa + k + 2 * K, s2)
                        lstore(G2, wa + k + 3 * K, s3)
                        lstore(G2, wa + k + 4 * K, s4)


@njit(**LJIT)
def _h1_backward(dh1pad, d1, xpad, GB1, G1, fuse, lr32, W1, B1, da1, wt):
    """Autograd of F.pad + act + the H1 conv: da1 = dh1pad's interior x act'(a1) -> GB1 (H1b's
    gradient, one per unit); H1w's gradient G1[m, tap] = sum over the 64 positions (in order,
    from 0) of da1 x the input under the tap. Register tile: 4 maps x the 5 taps of a kernel row.
    With fuse (SGD): da1 goes to the scratch da1 and the steps p - lr g of H1b and H1w are taken
    here (G1, GB1 not written); else da1 is GB1."""
    K = len(wt)
    nlr = lsplat(-lr32, wt)
    if not fuse:
        da1 = GB1
    for m in range(H1_MAPS):
        for r in range(H1_SIDE):
            src = ((m * H1PAD + r + PAD) * H1PAD + PAD) * K
            dst = (m * P1 + r * H1_SIDE) * K
            for t in range(H1_SIDE * K):
                da1[dst + t] = dh1pad[src + t] * d1[dst + t]
            if fuse:
                for c in range(0, H1_SIDE * K, K):
                    lstore(B1, dst + c, lfma(nlr, lload(da1, dst + c, wt), lload(B1, dst + c, wt)))
    for m in range(0, H1_MAPS, 4):
        oa = m * P1 * K
        ob = oa + P1 * K
        oc = ob + P1 * K
        od = oc + P1 * K
        for ki in range(KERNEL):
            s0 = lzero(wt)
            s1 = s0
            s2 = s0
            s3 = s0
            s4 = s0
            t0 = s0
            t1 = s0
            t2 = s0
            t3 = s0
            t4 = s0
            u0 = s0
            u1 = s0
            u2 = s0
            u3 = s0
            u4 = s0
            v0 = s0
            v1 = s0
            v2 = s0
            v3 = s0
            v4 = s0
            for i in range(H1_SIDE):
                xr = (STRIDE * i + ki) * XPAD * K
                for j in range(H1_SIDE):
                    p = (i * H1_SIDE + j) * K
                    xo = xr + STRIDE * j * K
                    x0 = lload(xpad, xo, wt)
                    x1 = lload(xpad, xo + K, wt)
                    x2 = lload(xpad, xo + 2 * K, wt)
                    x3 = lload(xpad, xo + 3 * K, wt)
                    x4 = lload(xpad, xo + 4 * K, wt)
                    d = lload(da1, oa + p, wt)
                    s0 = lfma(d, x0, s0)
                    s1 = lfma(d, x1, s1)
                    s2 = lfma(d, x2, s2)
                    s3 = lfma(d, x3, s3)
                    s4 = lfma(d, x4, s4)
                    d = lload(da1, ob + p, wt)
                    t0 = lfma(d, x0, t0)
                    t1 = lfma(d, x1, t1)
                    t2 = lfma(d, x2, t2)
                    t3 = lfma(d, x3, t3)
                    t4 = lfma(d, x4, t4)
                    d = lload(da1, oc + p, wt)
                    u0 = lfma(d, x0, u0)
                    u1 = lfma(d, x1, u1)
                    u2 = lfma(d, x2, u2)
                    u3 = lfma(d, x3, u3)
                    u4 = lfma(d, x4, u4)
                    d = lload(da1, od + p, wt)
                    v0 = lfma(d, x0, v0)
                    v1 = lfma(d, x1, v1)
                    v2 = lfma(d, x2, v2)
                    v3 = lfma(d, x3, v3)
                    v4 = lfma(d, x4, v4)
            k = (m * TAPS + ki * KERNEL) * K
            if fuse:
                lstore(W1, k, lfma(nlr, s0, lload(W1, k, wt)))
            else:
                lstore(G1, k, s0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, s1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, s1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, s2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, s2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, s3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, s3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, s4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, s4)
            k += TAPS * K
            if fuse:
                lstore(W1, k, lfma(nlr, t0, lload(W1, k, wt)))
            else:
                lstore(G1, k, t0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, t1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, t1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, t2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, t2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, t3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, t3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, t4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, t4)
            k += TAPS * K
            if fuse:
                lstore(W1, k, lfma(nlr, u0, lload(W1, k, wt)))
            else:
                lstore(G1, k, u0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, u1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, u1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, u2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, u2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, u3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, u3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, u4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, u4)
            k += TAPS * K
            if fuse:
                lstore(W1, k, lfma(nlr, v0, lload(W1, k, wt)))
            else:
                lstore(G1, k, v0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, v1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, v1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, v2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, v2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, v3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, v3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, v4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, v4)


@njit(**LJIT)
def _h3_backward(dh3, W3, h2d, G3, dh2, sgd, lr32, sq, wt):
    """Autograd of a3 = h2d @ H3w + H3b: dh2[q] = sum_u dh3[u] H3w[q, u] (u in order, from 0) and
    H3w's gradient dh3[u] h2d[q]; 8 H2 units at a time. With sgd, H3w's step p - lr g (one fused
    multiply-add) is taken right after p's last use and no gradient is stored. With sq (sdlm's
    diagonal) the same on squared weights and inputs."""
    K = len(wt)
    nlr = lsplat(-lr32, wt)
    for q in range(0, H2_UNITS, 8):
        x0 = lload(h2d, q * K, wt)
        x1 = lload(h2d, (q + 1) * K, wt)
        x2 = lload(h2d, (q + 2) * K, wt)
        x3 = lload(h2d, (q + 3) * K, wt)
        x4 = lload(h2d, (q + 4) * K, wt)
        x5 = lload(h2d, (q + 5) * K, wt)
        x6 = lload(h2d, (q + 6) * K, wt)
        x7 = lload(h2d, (q + 7) * K, wt)
        if sq:
            x0 = lmul(x0, x0)
            x1 = lmul(x1, x1)
            x2 = lmul(x2, x2)
            x3 = lmul(x3, x3)
            x4 = lmul(x4, x4)
            x5 = lmul(x5, x5)
            x6 = lmul(x6, x6)
            x7 = lmul(x7, x7)
        s0 = lzero(wt)
        s1 = s0
        s2 = s0
        s3 = s0
        s4 = s0
        s5 = s0
        s6 = s0
        s7 = s0
        for u in range(H3_UNITS):
            g = lload(dh3, u * K, wt)
            r0 = (q * H3_UNITS + u) * K
            r1 = r0 + H3_UNITS * K
            r2 = r1 + H3_UNITS * K
            r3 = r2 + H3_UNITS * K
            r4 = r3 + H3_UNITS * K
            r5 = r4 + H3_UNITS * K
            r6 = r5 + H3_UNITS * K
            r7 = r6 + H3_UNITS * K
            w0 = lload(W3, r0, wt)
            w1 = lload(W3, r1, wt)
            w2 = lload(W3, r2, wt)
            w3 = lload(W3, r3, wt)
            w4 = lload(W3, r4, wt)
            w5 = lload(W3, r5, wt)
            w6 = lload(W3, r6, wt)
            w7 = lload(W3, r7, wt)
            if sq:
                s0 = lfma(g, lmul(w0, w0), s0)
                s1 = lfma(g, lmul(w1, w1), s1)
                s2 = lfma(g, lmul(w2, w2), s2)
                s3 = lfma(g, lmul(w3, w3), s3)
                s4 = lfma(g, lmul(w4, w4), s4)
                s5 = lfma(g, lmul(w5, w5), s5)
                s6 = lfma(g, lmul(w6, w6), s6)
                s7 = lfma(g, lmul(w7, w7), s7)
            else:
                s0 = lfma(g, w0, s0)
                s1 = lfma(g, w1, s1)
                s2 = lfma(g, w2, s2)
                s3 = lfma(g, w3, s3)
                s4 = lfma(g, w4, s4)
                s5 = lfma(g, w5, s5)
                s6 = lfma(g, w6, s6)
                s7 = lfma(g, w7, s7)
            if sgd:
                lstore(W3, r0, lfma(nlr, lmul(g, x0), w0))
                lstore(W3, r1, lfma(nlr, lmul(g, x1), w1))
                lstore(W3, r2, lfma(nlr, lmul(g, x2), w2))
                lstore(W3, r3, lfma(nlr, lmul(g, x3), w3))
                lstore(W3, r4, lfma(nlr, lmul(g, x4), w4))
                lstore(W3, r5, lfma(nlr, lmul(g, x5), w5))
                lstore(W3, r6, lfma(nlr, lmul(g, x6), w6))
                lstore(W3, r7, lfma(nlr, lmul(g, x7), w7))
            else:
                lstore(G3, r0, lmul(g, x0))
                lstore(G3, r1, lmul(g, x1))
                lstore(G3, r2, lmul(g, x2))
                lstore(G3, r3, lmul(g, x3))
                lstore(G3, r4, lmul(g, x4))
                lstore(G3, r5, lmul(g, x5))
                lstore(G3, r6, lmul(g, x6))
                lstore(G3, r7, lmul(g, x7))
        lstore(dh2, q * K, s0)
        lstore(dh2, (q + 1) * K, s1)
        lstore(dh2, (q + 2) * K, s2)
        lstore(dh2, (q + 3) * K, s3)
        lstore(dh2, (q + 4) * K, s4)
        lstore(dh2, (q + 5) * K, s5)
        lstore(dh2, (q + 6) * K, s6)
        lstore(dh2, (q + 7) * K, s7)
