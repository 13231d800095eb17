"""The explicit-vector operations of simd.py that the fast engine's kernels are built from."""

import numpy as np
import pytest
from numba import njit

from lecun1989.simd import (LANES, vadd, vband, vfma, vget, vhead, vload, vmerge, vmul, vsplat,
                            vstore, vsum, vsum8, vzero)


@njit
def _ops(a, b, c, out, t):
    x = vload(a, 3)                        # an unaligned load
    y = vload(b, 0)
    z = vload(c, 8)
    vstore(out, 0, vfma(x, y, z))
    vstore(out, 8, vadd(x, y))
    vstore(out, 16, vmul(x, y))
    vstore(out, 24, vsplat(2.5, a))
    vstore(out, 32, vzero(a))
    vstore(out, 40, vhead(x, t))
    vstore(out, 48, vmerge(x, y, t))
    vstore(out, 56, vband(x, t - 5, t + 2))    # lanes 0..4 of x (the band starts before lane 0)
    vstore(out, 64, vband(y, t, t + 9))        # lanes 3..7 of y (and ends after lane 7)
    return vsum(x), vget(y, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_operations(dtype):
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(24).astype(dtype) for _ in range(3))
    out = np.full(80, 7.0, dtype)
    t = 3
    s, g = _ops(a, b, c, out, t)
    x, y, z = a[3:11], b[:8], c[8:16]
    if dtype == np.float32:
        # one rounding: the float64 product of two float32 is exact
        assert np.array_equal(out[:8], (x.astype(np.float64) * y + z).astype(dtype))
    else:
        np.testing.assert_allclose(out[:8], x * y + z, rtol=1e-15)
    assert np.array_equal(out[8:16], x + y)
    assert np.array_equal(out[16:24], x * y)
    assert np.all(out[24:32] == dtype(2.5))
    assert np.all(out[32:40] == 0)
    assert np.array_equal(out[40:48], np.where(np.arange(LANES) < t, x, 0))
    assert np.array_equal(out[48:56], np.where(np.arange(LANES) < t, x, y))
    lane = np.arange(LANES)
    assert np.array_equal(out[56:64], np.where(lane < t + 2, x, 0))
    assert np.array_equal(out[64:72], np.where(lane >= t, y, 0))
    assert np.all(out[72:] == 7.0)                               # nothing written past the last store
    assert g == b[5]
    # vsum's documented order: ((0+4)+(2+6)) + ((1+5)+(3+7))
    want = ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7]))
    assert s == want


@njit
def _sums(a, out1, out8):
    vs0 = vload(a, 0)
    vs1 = vload(a, 8)
    vs2 = vload(a, 16)
    vs3 = vload(a, 24)
    vs4 = vload(a, 32)
    vs5 = vload(a, 40)
    vs6 = vload(a, 48)
    vs7 = vload(a, 56)
    vstore(out8, 0, vsum8(vs0, vs1, vs2, vs3, vs4, vs5, vs6, vs7))
    out1[0] = vsum(vs0)
    out1[1] = vsum(vs1)
    out1[2] = vsum(vs2)
    out1[3] = vsum(vs3)
    out1[4] = vsum(vs4)
    out1[5] = vsum(vs5)
    out1[6] = vsum(vs6)
    out1[7] = vsum(vs7)


def test_vsum8_is_eight_vsums_bit_for_bit():
    a = (np.random.default_rng(1).standard_normal(64) * 10.0 ** np.arange(-4, 4).repeat(8)).astype(np.float32)
    out1, out8 = np.zeros(8, np.float32), np.zeros(8, np.float32)
    _sums(a, out1, out8)
    assert np.array_equal(out1, out8)
    np.testing.assert_allclose(out8, a.reshape(8, 8).astype(np.float64).sum(1), rtol=1e-5, atol=1e-6)


def test_operations_reject_wrong_types():
    @njit
    def bad(a):
        return vload(a, 0)

    with pytest.raises(Exception, match="1-D float32/float64"):
        bad(np.zeros((2, 8), np.float32))
