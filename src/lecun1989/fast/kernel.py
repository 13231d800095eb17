"""The per-example entry point `_kernel`: a training pass, the per-example forward, or the sdlm
diagonal, with the forward pass, the loss gradient, the output and H3 backward, the Gauss-Newton
backward and the optimizer steps around the layer kernels of layers.py."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..adamw import adamw_update
from ..geometry import OUTPUTS
from ..simd import LANES, vfma, vload, vmul, vsplat, vstore, vzero
from .common import (F32, HEAD_SQUASH, JIT, MODE_HESSIAN,
                     MODE_PREDICT, MODE_TRAIN, OPT_ADAMW, OPT_SDLM, OPT_SGD, P1, P2, TAPS)
from .layers import (_activate, _h1_backward, _h1_forward, _h2_backward, _h2_backward_maps, _h2_forward,
                     _h2_forward_maps, _h2_im2col, _h3_forward, _input)


@njit(**JIT)
def _forward(img, sr, sc, mask, use_mask, act, out_act, deriv, p, t, b):
    """model.Net1989.forward for one example (p: the weights, t: the H2 tables, b: the buffers),
    keeping what the backward pass needs (the activations' derivatives only with deriv). With
    t.per_map the H2 table is not in blocks of 4 maps (`_h2_forward_maps` instead of the block
    kernel)."""
    _input(img, sr, sc, b.xpad, b.X1)
    _h1_forward(p.H1w, p.H1b, b.X1, b.a1)
    # model.forward: act(...) -> h1 (12, 64), and act'
    nh1 = b.a1.size
    _activate(b.a1.reshape(nh1), b.h1.reshape(nh1), b.dact1.reshape(nh1), act, deriv)
    _h2_im2col(b.h1, b.h1pad, b.X2T)
    if t.per_map:
        _h2_forward_maps(p.H2w, p.H2b, b.X2T, b.a2, t.map_runs)
    else:
        _h2_forward(p.H2w, p.H2b, b.X2T, b.a2, t.blocks, t.block_runs)
    # model.forward: act(...), flatten -> h2 (192)
    _activate(b.a2.reshape(b.h2.size), b.h2, b.dact2, act, deriv)
    # model.forward: x * dropout_mask (training only)
    h2, h2m = b.h2, b.h2_masked
    if use_mask:
        for q in range(h2.size):
            h2m[q] = h2[q] * mask[q]
    else:
        for q in range(h2.size):
            h2m[q] = h2[q]
    _h3_forward(p.H3wT, p.H3b, h2m, b.a3)
    _activate(b.a3, b.h3, b.dact3, act, deriv)
    # model.forward: x @ outw + outb -> z (10); then the head's squashing (activations.head_of)
    z, h3, outw = b.z, b.h3, p.outw
    for j in range(OUTPUTS):
        z[j] = p.outb[j]
    for u in range(h3.size):
        hu = h3[u]
        for j in range(OUTPUTS):
            z[j] += hu * outw[u, j]
    if out_act >= 0:
        _activate(z, b.out, b.dact_out, out_act, deriv)
    else:
        for j in range(OUTPUTS):
            b.out[j] = z[j]


@njit(**JIT)
def _softmax(z, p, label):
    """p = softmax(z) over the 10 outputs (shifted by the largest, as torch does) minus
    onehot(label) (label -1: none). The one-hot is subtracted in the expression that divides by
    the sum, so that each output's cross-entropy gradient is one multiply-add by the sum's
    reciprocal, whatever code surrounds the call."""
    zmax = z[0]
    for j in range(1, OUTPUTS):
        zmax = max(zmax, z[j])
    tot = F32(0.0)
    for j in range(OUTPUTS):
        p[j] = np.float32(math.exp(z[j] - zmax))
        tot += p[j]
    one = F32(1.0)
    zero = F32(0.0)
    for j in range(OUTPUTS):
        p[j] = p[j] / tot - (one if j == label else zero)


@njit(**JIT)
def _gn_backward(head, mse_d2, p, gn, b):
    """sdlm.gn_diagonal for one example, after `_forward` without dropout (sdlm.forward_parts
    has none), written into gn (one example's diagonal, the parameters' layout) down to H3; then
    `_kernel` runs the H2 and H1 backward kernels of training on the squares prepared here (the
    squared H2 weights, the squared im2col inputs, and dact1 overwritten with its square): the
    training backward pass with squared weights, inputs and derivatives, so the same kernels
    serve both."""
    one = F32(1.0)
    zero = F32(0.0)
    dz, dh3, dh2, h3, dact3 = b.dz, b.dh3, b.dh2, b.h3, b.dact3
    n3, n2, maps2, maps1 = h3.size, dh2.size, b.a2.shape[0], b.a1.shape[0]
    # sdlm.output_d2: tanh head f'(a4)^2 * mse_d2 (2/10 for the mean over the 10 outputs;
    # config.MSE_FACTOR); linear head p (1 - p) of softmax(a4)
    if head == HEAD_SQUASH:
        for j in range(OUTPUTS):
            dz[j] = b.dact_out[j] * b.dact_out[j] * F32(mse_d2)
    else:
        _softmax(b.z, dz, np.int64(-1))     # (not a literal -1: one compiled signature of _softmax)
        for j in range(OUTPUTS):
            dz[j] = dz[j] * (one - dz[j])
    # outw: x4^2 d4; H3: d3 = f'(a3)^2 * (d4 @ (outw^2)^T)
    for j in range(OUTPUTS):
        gn.outb[j] = dz[j]
    for u in range(n3):
        x2 = h3[u] * h3[u]
        s = zero
        for j in range(OUTPUTS):
            gn.outw[u, j] = x2 * dz[j]
            w = p.outw[u, j]
            s += w * w * dz[j]
        dh3[u] = dact3[u] * dact3[u] * s
    # H3w: x3^2 d3; H2: d2 = f'(a2)^2 * (d3 @ (H3w^2)^T)
    for q in range(n2):
        dh2[q] = zero
    h2m = b.h2_masked
    for u in range(n3):
        g = dh3[u]
        gn.H3b[u] = g
        w = p.H3wT[u]
        hw = gn.H3wT[u]
        for q in range(n2):
            x = h2m[q]
            hw[q] = g * (x * x)
            dh2[q] += g * (w[q] * w[q])
    for o in range(maps2):
        for q in range(P2):
            f = b.dact2[o * P2 + q]
            g = dh2[o * P2 + q] * (f * f)
            b.da2[o, q] = g
            gn.H2b[o, q] = g
    # the squares the H2 and H1 backward kernels then run on (the padding is a constant, not a
    # unit: its cells are dropped by the col2im)
    for o in range(maps2):
        for w0 in range(p.H2w.shape[1]):
            b.H2w_sq[o, w0] = p.H2w[o, w0] * p.H2w[o, w0]
    for q in range(P2):
        for x0 in range(maps1 * TAPS):
            b.X2T_sq[q, x0] = b.X2T[q, x0] * b.X2T[q, x0]
    for k in range(TAPS):
        for q in range(P1):
            b.X1_sq[k, q] = b.X1[k, q] * b.X1[k, q]
    for m in range(maps1):
        for q in range(P1):
            b.dact1[m, q] = b.dact1[m, q] * b.dact1[m, q]


# -- the per-example entry point: a training pass, prediction, or the sdlm diagonal -------------------
# Compile time: numba optimizes each @njit function's code on its own and again inside every
# caller that links it, so each entry point re-optimizes all the kernels below it. One entry
# point for the three jobs (rather than one function each) builds and caches them once. (The
# batched prediction, `_predict_kernel`, shares only the activations with it and is compiled in
# parallel with it: see compilation.ensure_compiled.)
@njit(**JIT)
def _kernel(mode, X, labels, shifts, use_shift, masks, use_mask, lr, step0, result, s, v, p, g, gn, t, b):
    """mode MODE_TRAIN: train.TorchEngine.train_pass over examples 0..N-1 in order: per example
    forward, loss, backward (every gradient from the old weights), then one optimizer step; returns
    the step count. sdlm: v.hdiag is the Hessian diagonal (theta's layout); with s.sdlm_running > 0
    it is updated after each step from the example's own diagonal (v.hdiag_example, views gn), as
    TorchEngine._sdlm_step does.
    MODE_PREDICT: model.forward in eval mode (no dropout, no shift) for every example -> result (N, 10)
    (FastEngine.predict runs `_predict_kernel` instead: the same outputs bit for bit, faster).
    MODE_HESSIAN: sdlm.gn_diagonal(model, X): the per-example diagonals summed in float64 into
    v.hdiag_sum, then v.hdiag = the sum / N.
    s: the Settings, v: the FlatVectors, p / g / gn: the Params views of the weights, gradients
    and one example's diagonal, t: the H2Tables, b: the ExampleBuffers (buffers.py)."""
    n = X.shape[0]
    one = F32(1.0)
    zero = F32(0.0)
    lr32 = F32(lr)
    mu32 = F32(s.sdlm_mu)
    running = s.sdlm_running
    weight_new = F32(running)                # the running average's weight of the new example
    weight_old = F32(1.0 - running)
    tgt32 = F32(s.target)
    cm32 = F32(s.mse_factor)
    opt = s.opt
    theta, grad, hdiag, rate = v.theta, v.grad, v.hdiag, v.sdlm_rate
    hdiag_ex, hdiag_sum = v.hdiag_example, v.hdiag_sum
    dz, dh3, dh2, h3, dact3, h2m, W3T = b.dz, b.dh3, b.dh2, b.h3, b.dact3, b.h2_masked, p.H3wT
    n3, n2, maps2 = h3.size, dh2.size, b.a2.shape[0]       # H3 units, H2 units, H2 maps
    step = step0
    if mode == MODE_HESSIAN:
        for i in range(hdiag_sum.size):
            hdiag_sum[i] = 0.0
    if mode == MODE_TRAIN and opt == OPT_SDLM and running == 0.0:
        # TorchEngine._sdlm_step: lr / (mu + h), which torch computes as (mu + h).reciprocal() * lr
        for i in range(theta.size):
            rate[i] = (one / (mu32 + hdiag[i])) * lr32
    # Each example takes one or two rounds; every round is one forward pass, so that `_forward`
    # and `_gn_backward` each have a single call site (inlined once: see the compile-time note).
    # Round 0: prediction, the training step, or (MODE_HESSIAN) the example's diagonal; round 1
    # (sdlm with a running average only): the example's diagonal with the weights after the step.
    rounds = 2 if (mode == MODE_TRAIN and opt == OPT_SDLM and running > 0.0) else 1
    sgd_h3 = mode == MODE_TRAIN and opt == OPT_SGD
    deriv = mode != MODE_PREDICT
    for it in range(n * rounds):
        e = it // rounds
        diag_round = mode == MODE_HESSIAN or it % rounds == 1
        sr = shifts[e, 0] if use_shift else 0
        sc = shifts[e, 1] if use_shift else 0
        me = e if use_mask else 0
        mrow = masks[me]
        drop = use_mask and not diag_round  # (a plain variable: numba rejects inline control flow in long calls)
        _forward(X[e], sr, sc, mrow, drop, s.act, s.out_act, deriv, p, t, b)
        if mode == MODE_PREDICT:
            for j in range(OUTPUTS):
                result[e, j] = b.out[j]
            continue
        if diag_round:
            _gn_backward(s.head, s.mse_d2, p, gn, b)
        else:
            lab = labels[e]
            # -- loss gradient at the output pre-activation z ---------------------------------------
            if s.head == HEAD_SQUASH:
                # train_pass: loss = mean((y - out)^2) over 10 outputs, y = +1 at the label, -1 else;
                # d loss / d out = 2 (out - y) / 10, then through the head's squashing (dact_out).
                # Config.target: y = +-target; Config.mse_norm: the factor mse_factor instead of 2/10
                for j in range(OUTPUTS):
                    y = tgt32 if j == lab else -tgt32
                    dz[j] = (cm32 * (b.out[j] - y)) * b.dact_out[j]
            else:
                # train_pass: F.cross_entropy(z, label) -> softmax(z) - onehot(label)
                _softmax(b.z, dz, lab)
            # -- autograd of z = h3 @ outw + outb, then of H3's act --------------------------------
            for j in range(OUTPUTS):
                g.outb[j] = dz[j]
            for u in range(n3):
                acc = zero
                for j in range(OUTPUTS):
                    g.outw[u, j] = h3[u] * dz[j]
                    acc += p.outw[u, j] * dz[j]
                dh3[u] = acc * dact3[u]
            # -- autograd of a3 = h2_masked @ H3w + H3b: dh2 = sum_u dh3[u] H3w[:, u] (u in order),
            # H3w's gradient dh3[u] h2_masked; 8 H2 units at a time over all 30 H3 units. With SGD,
            # H3w's step p - lr g is taken here, right after p's last use (H3w is 59% of the
            # weights: its gradient is then neither stored nor read back); the optimizer step
            # below skips it.
            nlr = vsplat(-lr32, h2m)
            for qc in range(0, n2, LANES):
                hq = vload(h2m, qc)
                acc = vzero(h2m)
                for u in range(n3):
                    gs = vsplat(dh3[u], h2m)
                    w = vload(W3T[u], qc)
                    acc = vfma(gs, w, acc)
                    gw = vmul(gs, hq)
                    if sgd_h3:
                        vstore(W3T[u], qc, vfma(nlr, gw, w))
                    else:
                        vstore(g.H3wT[u], qc, gw)
                vstore(dh2, qc, acc)
            for u in range(n3):
                g.H3b[u] = dh3[u]
            # -- autograd of the dropout mask and H2's act: da2 = dh2 * mask * act'(a2) ---------------
            if use_mask:
                for q in range(n2):
                    dh2[q] *= mrow[q]
            for o in range(maps2):
                for q in range(P2):
                    gq = dh2[o * P2 + q] * b.dact2[o * P2 + q]
                    b.da2[o, q] = gq
                    g.H2b[o, q] = gq
        # -- H2 and H1 backward: one call site for training and the sdlm diagonal (which runs them
        # on squared weights and inputs into the diagonal's views), so that the compiler inlines
        # and optimizes them once
        h2_weights = b.H2w_sq if diag_round else p.H2w
        h2_inputs = b.X2T_sq if diag_round else b.X2T
        h2w_out = gn.H2w if diag_round else g.H2w
        h1_inputs = b.X1_sq if diag_round else b.X1
        h1w_out = gn.H1w if diag_round else g.H1w
        h1b_out = gn.H1b if diag_round else g.H1b
        if t.per_map:
            _h2_backward_maps(b.da2, h2_weights, h2_inputs, h2w_out, b.dX2T, t.map_runs)
        else:
            _h2_backward(b.da2, h2_weights, h2_inputs, h2w_out, b.dX2T, t.blocks, t.block_runs)
        _h1_backward(b.dX2T, b.dact1, b.da1, h1_inputs, h1w_out, h1b_out)
        if diag_round:
            if mode == MODE_HESSIAN:
                for i in range(hdiag_sum.size):
                    hdiag_sum[i] += hdiag_ex[i]
            else:
                # h <- (1 - g) h + g h_example (TorchEngine._sdlm_step)
                for i in range(theta.size):
                    hdiag[i] = weight_old * hdiag[i] + weight_new * hdiag_ex[i]
            continue
        # -- optimizer step over the flat parameter vector -----------------------------------------
        step += 1
        if opt == OPT_SGD:
            # torch.optim.SGD (no momentum, no weight decay): p -= lr * g (H3w: done above)
            for i in range(s.h3_lo):
                theta[i] -= lr32 * grad[i]
            for i in range(s.h3_hi, theta.size):
                theta[i] -= lr32 * grad[i]
        elif opt == OPT_ADAMW:
            _adamw(theta, grad, v.adam_m, v.adam_v, lr, step)
        elif running == 0.0:
            # TorchEngine._sdlm_step: p -= lr / (mu + h) * grad
            for i in range(theta.size):
                theta[i] -= rate[i] * grad[i]
        else:
            # the diagonal is then updated in round 1 of this example
            for i in range(theta.size):
                theta[i] -= ((one / (mu32 + hdiag[i])) * lr32) * grad[i]
    if mode == MODE_HESSIAN:
        for i in range(hdiag_sum.size):
            hdiag[i] = hdiag_sum[i] / n
    return step


@njit(**JIT)
def _adamw(theta, grad, adam_m, adam_v, lr, step):
    """torch.optim.AdamW's step (adamw.py), compiled with this engine's flags."""
    adamw_update(theta, grad, adam_m, adam_v, lr, step)
