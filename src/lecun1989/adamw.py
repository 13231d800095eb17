"""torch.optim.AdamW's update (single-tensor path, amsgrad False, torch's default betas, eps and
weight decay) over one flat float32 vector, for both compiled engines. It is inlined into each
engine's own `_adamw`, so it is compiled with that engine's flags (the fast engine's fast-math,
the lockstep engine's none) and the one formula serves both."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_WD = 0.9, 0.999, 1e-8, 1e-2
F32 = np.float32


@njit(inline="always")
def adamw_update(theta, grad, adam_m, adam_v, lr, step):
    """Decoupled decay p *= 1 - lr wd, then Adam with bias correction; the scalars in float64 as
    torch computes them in Python."""
    bc1 = 1.0 - ADAM_BETA1 ** step
    bc2s = math.sqrt(1.0 - ADAM_BETA2 ** step)
    decay = F32(1.0 - lr * ADAM_WD)
    b1c = F32(1.0 - ADAM_BETA1)
    b2 = F32(ADAM_BETA2)
    b2c = F32(1.0 - ADAM_BETA2)
    ssize = F32(lr / bc1)
    bc2 = F32(bc2s)
    eps = F32(ADAM_EPS)
    for i in range(theta.size):
        gi = grad[i]
        mt = adam_m[i] + b1c * (gi - adam_m[i])     # exp_avg.lerp_(grad, 1 - beta1)
        vt = adam_v[i] * b2 + b2c * gi * gi          # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
        adam_m[i] = mt
        adam_v[i] = vt
        denom = np.sqrt(vt) / bc2 + eps              # (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
        theta[i] = theta[i] * decay - ssize * (mt / denom)
