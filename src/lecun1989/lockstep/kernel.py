"""The entry point: one compiled call trains a pass, predicts, or estimates sdlm's diagonal, for
all K lanes; and the AdamW step."""

from __future__ import annotations

from numba import njit

from ..adamw import adamw_update
from ..geometry import H1_MAPS, H2_MAPS, H2_UNITS, H3_UNITS, OUTPUTS
from ..lanevec import lfma, lload, lmul, lsplat, lstore, lsub, lzero
from .backward import _h1_backward, _h2_backward, _h3_backward
from .common import (F32, H1PAD, HEAD_SQUASH, LJIT, MODE_HESSIAN, MODE_PREDICT, MODE_TRAIN, P1, S_A1, S_D1,
                     S_D2, S_D3, S_DA2, S_DH1PAD, S_DH2, S_DH3, S_DOUT, S_DZ, S_H1PAD, S_H1PSQ, S_H2,
                     S_H2D, S_H3, S_OUT, S_W2SQ, S_XPAD, S_XPSQ, S_Z, W2ROW, XPAD, param_views)
from .forward import _forward, _predict, _softmax


@njit(**LJIT)
def _adamw(theta, grad, adam_m, adam_v, lr, step):
    """torch.optim.AdamW's step (adamw.py), compiled with this engine's flags."""
    adamw_update(theta, grad, adam_m, adam_v, lr, step)


# -- the entry point ------------------------------------------------------------------------------
@njit(**LJIT)
def _kernel(mode, wt, X, labels, sidx, use_sample, shifts, use_shift, masks, use_mask, lr, act, head,
            out_act, opt, step0, theta, grad, madam, vadam, hdiag, coef, hx, hacc, mu, running,
            result, tgt, cmse, d2mse, groups, S):
    """mode MODE_TRAIN: train.TorchEngine.train_pass over examples 0..N-1 in every lane: per
    example forward, loss, backward, one optimizer step; returns the step count. sdlm: hdiag is
    the diagonal (theta's layout); with running > 0 it is updated after each step from the
    example's own diagonal, as TorchEngine._sdlm_step does.
    MODE_PREDICT: model.forward in eval mode for every example -> result (K, N, 10) (forward._predict).
    MODE_HESSIAN: sdlm.gn_diagonal over each lane's sample X[sidx[l]]: per-example diagonals
    summed in float64 (hacc), then hdiag = hacc / N."""
    if mode == MODE_PREDICT:
        _predict(X, sidx, shifts, act, out_act, theta, groups, S, result, wt)
        return step0
    K = len(wt)
    n = sidx.shape[1] if mode == MODE_HESSIAN else X.shape[0]
    one = F32(1.0)
    lr32 = F32(lr)
    mu32 = F32(mu)
    g32 = F32(running)
    g1 = F32(1.0 - running)
    tgt32 = F32(tgt)
    cm32 = F32(cmse)
    d2m = lsplat(F32(d2mse), wt)
    step = step0
    xpad = S[S_XPAD * K:(S_XPAD + XPAD * XPAD) * K]
    xpsq = S[S_XPSQ * K:(S_XPSQ + XPAD * XPAD) * K]
    d1 = S[S_D1 * K:(S_D1 + H1_MAPS * P1) * K]
    h1pad = S[S_H1PAD * K:(S_H1PAD + H1_MAPS * H1PAD * H1PAD) * K]
    h1psq = S[S_H1PSQ * K:(S_H1PSQ + H1_MAPS * H1PAD * H1PAD) * K]
    d2 = S[S_D2 * K:(S_D2 + H2_UNITS) * K]
    h2 = S[S_H2 * K:(S_H2 + H2_UNITS) * K]
    h2d = S[S_H2D * K:(S_H2D + H2_UNITS) * K]
    h3 = S[S_H3 * K:(S_H3 + H3_UNITS) * K]
    d3 = S[S_D3 * K:(S_D3 + H3_UNITS) * K]
    z = S[S_Z * K:(S_Z + OUTPUTS) * K]
    out = S[S_OUT * K:(S_OUT + OUTPUTS) * K]
    dout = S[S_DOUT * K:(S_DOUT + OUTPUTS) * K]
    dz = S[S_DZ * K:(S_DZ + OUTPUTS) * K]
    dh3 = S[S_DH3 * K:(S_DH3 + H3_UNITS) * K]
    dh2 = S[S_DH2 * K:(S_DH2 + H2_UNITS) * K]
    da2 = S[S_DA2 * K:(S_DA2 + H2_UNITS) * K]
    dh1pad = S[S_DH1PAD * K:(S_DH1PAD + H1_MAPS * H1PAD * H1PAD) * K]
    w2sq = S[S_W2SQ * K:(S_W2SQ + H2_MAPS * W2ROW) * K]
    a1 = S[S_A1 * K:(S_A1 + H1_MAPS * P1) * K]
    W1, B1, W2, B2, W3, B3, W4, B4 = param_views(theta, K)
    nlr = lsplat(-lr32, wt)
    if mode == MODE_HESSIAN:
        for t in range(hacc.size):
            hacc[t] = 0.0
    if mode == MODE_TRAIN and opt == 2 and running == 0.0:
        # TorchEngine._sdlm_step: lr / (mu + h), which torch computes as (mu + h).reciprocal() * lr
        for t in range(theta.size):
            coef[t] = (one / (mu32 + hdiag[t])) * lr32
    rounds = 2 if (mode == MODE_TRAIN and opt == 2 and running > 0.0) else 1
    sgd_h3 = mode == MODE_TRAIN and opt == 0
    for it in range(n * rounds):
        e = it // rounds
        gn = mode == MODE_HESSIAN or it % rounds == 1
        drop = use_mask and not gn
        _forward(X, e, sidx, use_sample, shifts, use_shift, masks, drop, act, out_act, True,
                 theta, groups, S, wt)
        # the gradient (training) or the Gauss-Newton diagonal (sdlm) into G = grad or hx
        G = hx if gn else grad
        G1, GB1, G2, GB2, G3, GB3, G4, GB4 = param_views(G, K)
        # -- at the output pre-activation z
        if gn:
            # sdlm.output_d2: tanh head f'(a4)^2 d2mse; linear head p (1 - p) of softmax(a4)
            if head == HEAD_SQUASH:
                for j in range(OUTPUTS):
                    f = lload(dout, j * K, wt)
                    lstore(dz, j * K, lmul(lmul(f, f), d2m))
            else:
                _softmax(z, dz, wt)
                for t in range(OUTPUTS * K):
                    dz[t] = dz[t] * (one - dz[t])
        else:
            lab = labels[e]
            if head == HEAD_SQUASH:
                # loss = mean((y - out)^2) (Config.mse_norm: the factor cmse), y = +-tgt
                for j in range(OUTPUTS):
                    y = lsplat(tgt32 if j == lab else -tgt32, wt)
                    d = lmul(lmul(lsplat(cm32, wt), lsub(lload(out, j * K, wt), y)), lload(dout, j * K, wt))
                    lstore(dz, j * K, d)
            else:
                # F.cross_entropy(z, label) -> softmax(z) - onehot(label)
                _softmax(z, dz, wt)
                for t in range(K):
                    dz[lab * K + t] = dz[lab * K + t] - one
        # -- autograd of z = h3 @ outw + outb, then of H3's act (gn: squared). With SGD (fuse) every
        # layer's step p - lr g (one fused multiply-add, as the SGD loop below would take it) is
        # taken as soon as its gradient is known and its old weights were used: no gradient is stored
        fuse = sgd_h3 and not gn
        if fuse:
            for t in range(0, OUTPUTS * K, K):
                lstore(B4, t, lfma(nlr, lload(dz, t, wt), lload(B4, t, wt)))
        else:
            for t in range(OUTPUTS * K):
                GB4[t] = dz[t]
        for u in range(H3_UNITS):
            x = lload(h3, u * K, wt)
            f = lload(d3, u * K, wt)
            if gn:
                x = lmul(x, x)
                f = lmul(f, f)
            s = lzero(wt)
            for j in range(OUTPUTS):
                d = lload(dz, j * K, wt)
                w = lload(W4, (u * OUTPUTS + j) * K, wt)
                if gn:
                    w = lmul(w, w)
                if fuse:
                    lstore(W4, (u * OUTPUTS + j) * K, lfma(nlr, lmul(x, d), w))
                else:
                    lstore(G4, (u * OUTPUTS + j) * K, lmul(x, d))
                s = lfma(w, d, s)
            lstore(dh3, u * K, lmul(s, f))
        if fuse:
            for t in range(0, H3_UNITS * K, K):
                lstore(B3, t, lfma(nlr, lload(dh3, t, wt), lload(B3, t, wt)))
        else:
            for t in range(H3_UNITS * K):
                GB3[t] = dh3[t]
        # -- autograd of a3 = h2d @ H3w + H3b (h2 itself without a mask, as in _forward)
        _h3_backward(dh3, W3, h2d if drop else h2, G3, dh2, fuse, lr32, gn, wt)
        # -- the dropout mask and H2's act: da2 = dh2 * mask * act'(a2) (gn: squared act')
        if drop:
            for q in range(H2_UNITS):
                for lane in range(K):
                    dh2[q * K + lane] = dh2[q * K + lane] * masks[lane, e, q]
        if gn:
            for t in range(H2_UNITS * K):
                g = dh2[t] * (d2[t] * d2[t])
                da2[t] = g
                GB2[t] = g
        elif fuse:
            for t in range(0, H2_UNITS * K, K):
                g = lmul(lload(dh2, t, wt), lload(d2, t, wt))
                lstore(da2, t, g)
                lstore(B2, t, lfma(nlr, g, lload(B2, t, wt)))
        else:
            for t in range(H2_UNITS * K):
                da2[t] = dh2[t] * d2[t]
            for t in range(H2_UNITS * K):
                GB2[t] = da2[t]
        # -- H2 and H1: one call site each for training and the sdlm diagonal (squared weights,
        # inputs and derivatives; the padding is a constant: its cells are dropped)
        if gn:
            for t in range(w2sq.size):
                w2sq[t] = W2[t] * W2[t]
            for t in range(h1psq.size):
                h1psq[t] = h1pad[t] * h1pad[t]
            for t in range(xpsq.size):
                xpsq[t] = xpad[t] * xpad[t]
            for t in range(d1.size):
                d1[t] = d1[t] * d1[t]
        _h2_backward(da2, w2sq if gn else W2, h1psq if gn else h1pad, G2, dh1pad, groups, fuse, lr32, wt)
        _h1_backward(dh1pad, d1, xpsq if gn else xpad, GB1, G1, fuse, lr32, W1, B1, a1, wt)
        if gn:
            if mode == MODE_HESSIAN:
                for t in range(hacc.size):
                    hacc[t] += hx[t]
            else:
                # h <- (1 - g) h + g h_example (TorchEngine._sdlm_step)
                for t in range(theta.size):
                    hdiag[t] = g1 * hdiag[t] + g32 * hx[t]
            continue
        # -- optimizer step over the flat parameter vector
        step += 1
        if opt == 0:
            pass    # torch.optim.SGD, p -= lr * g: taken in the backward pass above (fuse)
        elif opt == 1:
            _adamw(theta, grad, madam, vadam, lr, step)
        elif running == 0.0:
            for t in range(theta.size):
                theta[t] -= coef[t] * grad[t]
        else:
            for t in range(theta.size):
                theta[t] -= ((one / (mu32 + hdiag[t])) * lr32) * grad[t]
    if mode == MODE_HESSIAN:
        for t in range(hacc.size):
            hdiag[t] = hacc[t] / n
    return step
