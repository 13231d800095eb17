"""Vectors of K lanes for the lockstep engine (the lockstep package): one lane per run (seed).

simd.py's vectors have a fixed 8 lanes; here the width is the group's size K, carried in the
numba *type* of a width tag - a tuple of K integers (`width_tag(K)`) passed to every kernel - so
that one source compiles (and is cached) once per K, each with K-lane vectors:

    v = lload(a, i, wt)      a[i:i+K] of a 1-D contiguous float32 array (no bounds check)
    lstore(a, i, v)          a[i:i+K] = v
    v = lsplat(x, wt)        [x] * K (x converted to float32)
    v = lzero(wt)            [0] * K
    v = lfma(a, b, c)        a * b + c lane by lane, fused (one rounding: llvm.fma)
    v = ladd(a, b), lsub(a, b), lmul(a, b), ldiv(a, b)

A vector of K float32 is one LLVM <K x float>; LLVM splits it into the machine's registers (one
zmm for K = 16 with AVX-512, two ymm on AVX2, ...). Each operation is one IEEE operation per
lane - fma with one rounding, the others correctly rounded - and the kernels that use these are
compiled without fast-math flags, so nothing may reassociate, contract or approximate them: lane
l's result is the same whatever K is, whichever lanes are beside it, and on any x86-64 machine
with FMA (tests/test_lockstep.py checks it bit for bit).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


def width_tag(k: int) -> tuple[int, ...]:
    """The value whose numba type (a tuple of k ints) tells the kernels the lane count."""
    return (0,) * k


class LaneVec(types.Type):
    """K lanes of float32."""

    def __init__(self, count: int):
        self.count = count
        super().__init__(name=f"lanevec{count}")


@register_model(LaneVec)
class _LaneVecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(ir.FloatType(), fe_type.count))


def _width(wt) -> int:
    if not (isinstance(wt, types.UniTuple) and wt.count >= 1):
        raise TypeError(f"lanevec: expected a width tag (a tuple of K ints), got {wt}")
    return wt.count


def _check_array(a):
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.float32):
        raise TypeError(f"lanevec: expected a 1-D float32 array, got {a}")


def _ptr(context, builder, aryty, ary, idx, vty):
    arr = context.make_array(aryty)(context, builder, ary)
    return builder.bitcast(builder.gep(arr.data, [idx]), vty.as_pointer())


@intrinsic
def lload(typingctx, a, i, wt):
    _check_array(a)
    vt = LaneVec(_width(wt))

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(vt)
        return builder.load(_ptr(context, builder, sig.args[0], args[0], args[1], ty), align=4)
    return vt(a, types.intp, wt), codegen


@intrinsic
def lstore(typingctx, a, i, v):
    _check_array(a)
    if not isinstance(v, LaneVec):
        raise TypeError("lanevec: lstore expects a lane vector")

    def codegen(context, builder, sig, args):
        builder.store(args[2], _ptr(context, builder, sig.args[0], args[0], args[1], args[2].type), align=4)
        return context.get_dummy_value()
    return types.none(a, types.intp, v), codegen


@intrinsic
def lsplat(typingctx, x, wt):
    vt = LaneVec(_width(wt))

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], types.float32)
        ty = context.get_value_type(vt)
        v = builder.insert_element(ir.Constant(ty, ir.Undefined), val, ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), vt.count), [0] * vt.count)
        return builder.shuffle_vector(v, ir.Constant(ty, ir.Undefined), mask)
    return vt(x, wt), codegen


@intrinsic
def lzero(typingctx, wt):
    vt = LaneVec(_width(wt))

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(vt)
        return ir.Constant(ty, [ir.Constant(ir.FloatType(), 0.0)] * vt.count)
    return vt(wt), codegen


def _binary(op):
    def typer(typingctx, a, b):
        if not (isinstance(a, LaneVec) and a == b):
            raise TypeError("lanevec: expected two lane vectors of one width")

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])
        return a(a, b), codegen
    return intrinsic(typer)


ladd = _binary("fadd")
lsub = _binary("fsub")
lmul = _binary("fmul")
ldiv = _binary("fdiv")


@intrinsic
def lfma(typingctx, a, b, c):
    if not (isinstance(a, LaneVec) and a == b == c):
        raise TypeError("lanevec: lfma expects three lane vectors of one width")

    def codegen(context, builder, sig, args):
        ty = args[0].type
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]),
                                            f"llvm.fma.v{ty.count}f32")
        return builder.call(fn, args)
    return a(a, b, c), codegen


def _select_const(pred):
    """v with the lanes where `pred(v, c)` holds set to c (`lmin`/`lmax` style clamps that let
    NaN through: an ordered comparison with NaN is false)."""
    def typer(typingctx, v, c):
        if not isinstance(v, LaneVec):
            raise TypeError("lanevec: expected a lane vector")

        def codegen(context, builder, sig, args):
            x = args[0]
            cv = context.cast(builder, args[1], sig.args[1], types.float32)
            ty = x.type
            cvec = builder.insert_element(ir.Constant(ty, ir.Undefined), cv, ir.Constant(ir.IntType(32), 0))
            cvec = builder.shuffle_vector(cvec, ir.Constant(ty, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), ty.count), [0] * ty.count))
            return builder.select(builder.fcmp_ordered(pred, x, cvec), cvec, x)
        return v(v, c), codegen
    return intrinsic(typer)


lmin = _select_const(">")          # x > c ? c : x   (NaN stays NaN)
lmax = _select_const("<")          # x < c ? c : x


@intrinsic
def lrelu(typingctx, v):
    """(v <= 0 ? 0 : v, v > 0 ? 1 : 0) - relu and its derivative; relu(NaN) = NaN, as torch.relu."""
    if not isinstance(v, LaneVec):
        raise TypeError("lanevec: expected a lane vector")

    def codegen(context, builder, sig, args):
        x = args[0]
        ty = x.type
        zero = ir.Constant(ty, [ir.Constant(ir.FloatType(), 0.0)] * ty.count)
        one = ir.Constant(ty, [ir.Constant(ir.FloatType(), 1.0)] * ty.count)
        h = builder.select(builder.fcmp_ordered("<=", x, zero), zero, x)
        d = builder.select(builder.fcmp_ordered(">", x, zero), one, zero)
        return context.make_tuple(builder, sig.return_type, [h, d])
    return types.UniTuple(v, 2)(v), codegen

