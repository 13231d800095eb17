"""adamw.adamw_update against torch.optim.AdamW, step by step, including moments that fall below
float32's smallest normal number (stored as zero by the engines, kept by torch)."""

import numpy as np
import pytest
import torch

from lecun1989 import fast
from lecun1989.adamw import TINY, adamw_update
from lecun1989.lockstep import compilation as lockstep_compilation
from lecun1989.lockstep.kernel import _adamw as lockstep_adamw
from lecun1989.fast.kernel import _adamw as fast_adamw

# numba keys a cached function on its own file's time stamp, not on adamw.py's that it inlines:
# the engines' cache checks run before these kernels are first called, as the engines do
fast.ensure_compiled()
lockstep_compilation.ensure_compiled()

ENGINES = {"fast": fast_adamw, "lockstep": lockstep_adamw}


def _torch_steps(theta, grads, m0, v0, lr, first_step):
    p = torch.nn.Parameter(torch.from_numpy(theta.copy()))
    opt = torch.optim.AdamW([p], lr=lr)
    opt.state[p] = {"step": torch.tensor(float(first_step - 1)), "exp_avg": torch.from_numpy(m0.copy()),
                    "exp_avg_sq": torch.from_numpy(v0.copy())}
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
    st = opt.state[p]
    return p.detach().numpy(), st["exp_avg"].numpy(), st["exp_avg_sq"].numpy()


def _ours(fn, theta, grads, m0, v0, lr, first_step):
    theta, m, v = theta.copy(), m0.copy(), v0.copy()
    for i, g in enumerate(grads):
        fn(theta, g.copy(), m, v, lr, first_step + i)
    return theta, m, v


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_normal_moments_match_torch_to_rounding(engine):
    rng = np.random.default_rng(3)
    n = 257
    theta = (rng.standard_normal(n) * 0.1).astype(np.float32)
    grads = [(rng.standard_normal(n) * 1e-2).astype(np.float32) for _ in range(20)]
    m0 = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    v0 = (rng.random(n) * 1e-5).astype(np.float32)
    want = _torch_steps(theta, grads, m0, v0, 3e-4, 5)
    got = _ours(ENGINES[engine], theta, grads, m0, v0, 3e-4, 5)
    for w, g in zip(want, got):
        # to float32 rounding, as the engine tests hold weights (1e-5 of the largest): lerp's
        # cancellation and fused multiply-adds round the moments differently from torch's kernel
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * np.abs(w).max())


def _unflushed_step(flags):
    """adamw_update_unflushed (subnormal moments kept) compiled with an engine's flags, so that
    the flush is the only difference."""
    from numba import njit

    from lecun1989.adamw import adamw_update_unflushed

    @njit(**dict(flags, cache=False))
    def step(theta, grad, m, v, lr, step):
        adamw_update_unflushed(theta, grad, m, v, lr, step)
    return step


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_subnormal_moments_are_zero_and_the_weights_keep_their_bits(engine):
    """A dead unit's weights: zero gradients while the moments decay. Without the flush (torch's
    arithmetic) the moments walk down through the subnormal range; the engines store zero as soon
    as a moment is below TINY, and the weights come out bit for bit the same (the moment's share of
    the step is far below their rounding). Then the unit revives: after the next step moments and
    weights are the unflushed ones again, bit for bit. Torch itself keeps the subnormals too."""
    from lecun1989.fast.common import JIT
    from lecun1989.lockstep.common import LJIT
    unflushed = _unflushed_step(JIT if engine == "fast" else LJIT)
    rng = np.random.default_rng(5)
    n = 64
    theta = (rng.standard_normal(n) * 0.1).astype(np.float32)
    m0 = np.full(n, 1e-36, np.float32) * np.sign(rng.standard_normal(n)).astype(np.float32)
    v0 = np.full(n, 1.3e-38, np.float32)
    dead = [np.zeros(n, np.float32)] * 300
    _, t_m, t_v = _torch_steps(theta, dead, m0, v0, 3e-4, 1000)
    assert np.all(np.abs(t_m) < TINY) and np.any(t_m != 0) and np.any(t_v != 0), "torch keeps subnormals"
    u_theta, u_m, u_v = _ours(unflushed, theta, dead, m0, v0, 3e-4, 1000)
    assert np.any(u_m != 0) and np.all(np.abs(u_m) < TINY)
    o_theta, o_m, o_v = _ours(ENGINES[engine], theta, dead, m0, v0, 3e-4, 1000)
    assert np.all(o_m == 0) and np.all(o_v == 0), "the engines store them as zero"
    np.testing.assert_array_equal(o_theta, u_theta)
    revive = [(rng.standard_normal(n) * 1e-3).astype(np.float32)]
    u2 = _ours(unflushed, u_theta, revive, u_m, u_v, 3e-4, 1300)
    o2 = _ours(ENGINES[engine], o_theta, revive, o_m, o_v, 3e-4, 1300)
    for want, got in zip(u2, o2):
        np.testing.assert_array_equal(got, want)


def test_the_flush_is_inlined_in_both_engines():
    # the compiled steps are adamw_update's: one formula, one flush
    x = np.array([0.5], np.float32)
    for fn in (adamw_update, fast_adamw, lockstep_adamw):
        m, v = np.array([1e-39], np.float32), np.array([1e-39], np.float32)
        fn(x.copy(), np.zeros(1, np.float32), m, v, 3e-4, 10)
        assert m[0] == 0 and v[0] == 0
