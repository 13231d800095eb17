"""Explicit 8-lane vectors for the fast engine's kernels (numba extension, LLVM vector IR).

numba's autovectorizer turns a scalar loop into vector code, but it keeps accumulators in memory
(a load and a store around every multiply-add) and decides the order of sums itself. The kernels
in fast/ instead hold a tile of accumulators in registers across a whole reduction, as a matrix
multiply does; these few operations make that expressible in numba code:

    v = vload(a, i)          a[i:i+8] of a 1-D contiguous array (no bounds check: the caller
                             keeps i + 8 <= a.size)
    vstore(a, i, v)          a[i:i+8] = v
    v = vsplat(x)            [x] * 8 (x converted to the vector's element type: `vsplat(x, a)` takes
                             the element type of array a)
    v = vzero(a)             [0] * 8 in the element type of array a
    v = vfma(a, b, c)        a * b + c lane by lane, fused (one rounding: llvm.fma)
    v = vadd(a, b), vmul(a, b)
    x = vsum(v)              the sum of the 8 lanes, written as ((0+4)+(2+6))+((1+5)+(3+7))
    v = vhead(v, t)          v with lanes t..7 set to 0 (the partial last chunk of a row)
    v = vmerge(v, w, t)      lanes 0..t-1 of v, lanes t..7 of w
    v = vband(v, lo, hi)     v with the lanes outside lo..hi-1 set to 0

A vector is 8 lanes of the array's element type: <8 x float> (one AVX register) for float32,
<8 x double> for float64. Each operation is one LLVM instruction (vfma: a call of llvm.fma, one
rounding, which no optimisation splits or reorders). In a function compiled with numba's fastmath
these instructions get its fast-math flags like every other float operation, so LLVM may
reassociate a chain of vadd's held in registers; a given machine code still computes the same
result for the same inputs every time.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8


class VecType(types.Type):
    """LANES lanes of a float type (numba type float32 or float64)."""

    def __init__(self, dtype):
        self.dtype = dtype
        super().__init__(name=f"vec{LANES}({dtype})")


@register_model(VecType)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = ir.FloatType() if fe_type.dtype == types.float32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(elem, LANES))


def _check_array(a):
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.dtype in (types.float32, types.float64)):
        raise TypeError(f"simd: expected a 1-D float32/float64 array, got {a}")


def _elem_ptr(context, builder, aryty, ary, idx):
    arr = context.make_array(aryty)(context, builder, ary)
    return builder.gep(arr.data, [idx])


@intrinsic
def vload(typingctx, a, i):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        vptr = builder.bitcast(ptr, context.get_value_type(vt).as_pointer())
        return builder.load(vptr, align=4)
    return vt(a, types.intp), codegen


@intrinsic
def vstore(typingctx, a, i, v):
    _check_array(a)

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        vptr = builder.bitcast(ptr, args[2].type.as_pointer())
        builder.store(args[2], vptr, align=4)
        return context.get_dummy_value()
    return types.none(a, types.intp, VecType(a.dtype)), codegen


@intrinsic
def vsplat(typingctx, x, a):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], sig.args[1].dtype)
        ty = context.get_value_type(vt)
        v = builder.insert_element(ir.Constant(ty, ir.Undefined), val, ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(v, ir.Constant(ty, ir.Undefined), mask)
    return vt(x, a), codegen


@intrinsic
def vzero(typingctx, a):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(vt)
        return ir.Constant(ty, [ir.Constant(ty.element, 0.0)] * LANES)
    return vt(a), codegen


def _binary(op):
    def typer(typingctx, a, b):
        if not (isinstance(a, VecType) and a == b):
            raise TypeError("simd: expected two vectors of one type")

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])
        return a(a, b), codegen
    return intrinsic(typer)


vadd = _binary("fadd")
vmul = _binary("fmul")


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, VecType) and a == b == c):
        raise TypeError("simd: vfma expects three vectors of one type")

    def codegen(context, builder, sig, args):
        ty = args[0].type
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]),
                                            f"llvm.fma.v{LANES}f{32 if ty.element == ir.FloatType() else 64}")
        return builder.call(fn, args)
    return a(a, b, c), codegen


@intrinsic
def vsum(typingctx, v):
    if not isinstance(v, VecType):
        raise TypeError("simd: vsum expects a vector")

    def codegen(context, builder, sig, args):
        x = args[0]
        ty = x.type
        undef = ir.Constant(ty, ir.Undefined)
        i32 = ir.IntType(32)
        # halves: lanes (0..3) + (4..7), then (0,1) + (2,3), then 0 + 1
        for half in (4, 2, 1):
            idx = [(j + half) if j < half else j for j in range(LANES)]
            x = builder.fadd(x, builder.shuffle_vector(x, undef, ir.Constant(ir.VectorType(i32, LANES), idx)))
        return builder.extract_element(x, ir.Constant(i32, 0))
    return v.dtype(v), codegen


@intrinsic
def vmerge(typingctx, v, w, t):
    """Lanes 0..t-1 from v, lanes t..7 from w: the partial last chunk of a row, stored without
    changing what lies beyond the row's end (vstore(a, i, vmerge(v, vload(a, i), t)))."""
    if not (isinstance(v, VecType) and v == w):
        raise TypeError("simd: vmerge expects two vectors of one type")

    def codegen(context, builder, sig, args):
        return builder.select(_lanes_below(builder, args[2]), args[0], args[1])
    return v(v, w, types.intp), codegen


def _lanes_below(builder, n):
    """<LANES x i1>: lane index < n."""
    i32 = ir.IntType(32)
    vty = ir.VectorType(i32, LANES)
    n32 = builder.trunc(n, i32) if n.type.width > 32 else n
    nv = builder.insert_element(ir.Constant(vty, ir.Undefined), n32, ir.Constant(i32, 0))
    nv = builder.shuffle_vector(nv, ir.Constant(vty, ir.Undefined), ir.Constant(vty, [0] * LANES))
    return builder.icmp_signed("<", ir.Constant(vty, list(range(LANES))), nv)


@intrinsic
def vhead(typingctx, v, t):
    """v with lanes t..7 set to zero (lanes 0..t-1 kept): the partial last chunk of a row."""
    if not isinstance(v, VecType):
        raise TypeError("simd: vhead expects a vector")

    def codegen(context, builder, sig, args):
        x = args[0]
        zero = ir.Constant(x.type, [ir.Constant(x.type.element, 0.0)] * LANES)
        return builder.select(_lanes_below(builder, args[1]), x, zero)
    return v(v, types.intp), codegen


@intrinsic
def vband(typingctx, v, lo, hi):
    """v with the lanes outside lo..hi-1 set to zero (lo and hi may lie outside 0..8)."""
    if not isinstance(v, VecType):
        raise TypeError("simd: vband expects a vector")

    def codegen(context, builder, sig, args):
        x = args[0]
        zero = ir.Constant(x.type, [ir.Constant(x.type.element, 0.0)] * LANES)
        inside = builder.and_(builder.not_(_lanes_below(builder, args[1])), _lanes_below(builder, args[2]))
        return builder.select(inside, x, zero)
    return v(v, types.intp, types.intp), codegen


@intrinsic
def vsum8(typingctx, v0, v1, v2, v3, v4, v5, v6, v7):
    """The 8 lane sums of 8 vectors at once, as one vector: lane i = vsum(vi), summed in the same
    order as vsum (a transposing reduction: pairwise shuffles and adds, no scalar steps)."""
    vs = (v0, v1, v2, v3, v4, v5, v6, v7)
    if not (isinstance(v0, VecType) and all(v == v0 for v in vs)):
        raise TypeError("simd: vsum8 expects eight vectors of one type")

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)

        def shuf(a, b, idx):
            return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, LANES), idx))

        # step 1, lanes j and j+4 of each vector: a + (a rotated by 4 within the vector) pairs up
        # (x_j + x_{j+4}); taken two vectors at a time: [a0+a4, a1+a5, a2+a6, a3+a7 | b...]
        def step(a, b, lo, hi):
            return builder.fadd(shuf(a, b, lo), shuf(a, b, hi))
        # (0+4), (1+5), (2+6), (3+7) of a then of b
        l1 = [0, 1, 2, 3, 8, 9, 10, 11]
        h1 = [4, 5, 6, 7, 12, 13, 14, 15]
        p01 = step(args[0], args[1], l1, h1)
        p23 = step(args[2], args[3], l1, h1)
        p45 = step(args[4], args[5], l1, h1)
        p67 = step(args[6], args[7], l1, h1)
        # (0+4)+(2+6), (1+5)+(3+7) of a, b, c, d: [a02, a13, b02, b13 | c02, c13, d02, d13]
        l2 = [0, 1, 4, 5, 8, 9, 12, 13]
        h2 = [2, 3, 6, 7, 10, 11, 14, 15]
        q0 = step(p01, p23, l2, h2)
        q1 = step(p45, p67, l2, h2)
        # ((0+4)+(2+6)) + ((1+5)+(3+7)): [a, b, c, d | e, f, g, h]
        l3 = [0, 2, 4, 6, 8, 10, 12, 14]
        h3 = [1, 3, 5, 7, 9, 11, 13, 15]
        return step(q0, q1, l3, h3)
    return v0(*vs), codegen


@intrinsic
def vget(typingctx, v, i):
    """Lane i of v."""
    if not isinstance(v, VecType):
        raise TypeError("simd: vget expects a vector")

    def codegen(context, builder, sig, args):
        return builder.extract_element(args[0], builder.trunc(args[1], ir.IntType(32)))
    return v.dtype(v, types.intp), codegen
