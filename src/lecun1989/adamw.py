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
# float32's smallest normal number. A moment below it is stored as zero: with ReLU units the
# moments of dead units' weights decay through the subnormal range for thousands of steps, and
# subnormal arithmetic takes a microcode assist on x86 (an AdamW step over such moments measured
# 22-38x slower per element, benchmarks/subnormal.py). Torch keeps them. The weights rarely tell:
# such a moment moves its weight by at most lr * 1.2e-38 / eps ~ 4e-34, far below a weight's
# rounding, and a later gradient g outweighs it unless |g| < ~1e-30 - which confident
# cross-entropy nets do produce: SGD and tanh runs keep every bit, while a few seeds in 20-40 of
# the fast engine's ReLU + AdamW runs take another trajectory (docs/engine.md, "Subnormal moments").
TINY = F32(np.finfo(np.float32).tiny)


def _update(flush: bool):
    """The update, with or without the flush of subnormal moments (`flush` is a constant of the
    compiled code: the branch is folded away)."""
    @njit(inline="always")
    def update(theta, grad, adam_m, adam_v, lr, step):
        """Decoupled decay p *= 1 - lr wd, then Adam with bias correction; the scalars in float64
        as torch computes them in Python."""
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
            if flush:
                if abs(mt) < TINY:
                    mt = F32(0.0)
                if vt < TINY:
                    vt = F32(0.0)
            adam_m[i] = mt
            adam_v[i] = vt
            denom = np.sqrt(vt) / bc2 + eps              # (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
            theta[i] = theta[i] * decay - ssize * (mt / denom)
    return update


# the engines' step
adamw_update = _update(True)
# the same update with subnormal moments kept, as torch keeps them: for tests/test_adamw.py and
# benchmarks/subnormal.py, which show what the flush changes (the moments) and what not (the weights)
adamw_update_unflushed = _update(False)
