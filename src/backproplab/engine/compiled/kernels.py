"""The numba code of the compiled trainer: IEEE math, then the training kernel.

All compiled code lives in this one file on purpose: numba's on-disk cache (``cache=True``)
is invalidated when the source file of a cached function changes, but not when a function
it calls from another file does. Keeping every jitted function here means any edit
recompiles everything.

Layout. Runs are trained in blocks of ``LANES`` runs, the lane being the innermost axis of
every array (``params[block, row, lane]``; a tile's ``z[unit, sample, lane]``), so that
each elementwise operation and each multiply-add of a product acts on a vector of lanes.
Products use an explicit vector type (``VEC``, below) in 4 x 4 register blocks;
elementwise loops run over contiguous 1-D slices, which LLVM vectorises. Lanes never
interact: every lane goes through the same operations in the same order whatever the
other lanes hold, so a run's bits do not depend on its block, its lane, the vector width
or the number of threads (``prange`` over blocks, each block its own epoch loop).

No ``fastmath``: LLVM then keeps every rounding of the source (no FMA contraction, no
reassociation of sums), and transcendental functions are the exact-operation ones below.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, models, register_model

# Runs per block: one 512-bit vector of float64 (two 256-bit, four 128-bit ones). By
# design any value computes the same bits; 8 keeps a 4 x 4 block of partial sums in the
# 32 vector registers of AVX-512 (LLVM splits the vectors on narrower CPUs, same bits).
LANES = 8

_OPTS = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}

# ---------------------------------------------------------------------------------------
# IEEE math (documented in backproplab.engine.compiled.ieee)
# ---------------------------------------------------------------------------------------


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64 (a reinterpretation, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose bits are the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


_h = float.fromhex
_INF = float("inf")
_LN2_HI = _h("0x1.62e42fee00000p-1")  # 32 significant bits: k * _LN2_HI is exact
_LN2_LO = _h("0x1.a39ef35793c76p-33")
_INV_LN2 = _h("0x1.71547652b82fep+0")
_LOGE2 = _h("0x1.62e42fefa39efp-1")  # log(2) rounded, NumPy's NPY_LOGE2
_ROUND = _h("0x1.8p52")  # x + _ROUND - _ROUND rounds x to an integer (|x| < 2**51)
_ROUND_BITS = 0x4338000000000000
_TWO54 = _h("0x1p54")
_P1 = _h("0x1.555555555553ep-3")
_P2 = _h("-0x1.6c16c16bebd93p-9")
_P3 = _h("0x1.1566aaf25de2cp-14")
_P4 = _h("-0x1.bbd41c5d26bf1p-20")
_P5 = _h("0x1.6376972bea4d0p-25")
_LG1 = _h("0x1.5555555555593p-1")
_LG2 = _h("0x1.999999997fa04p-2")
_LG3 = _h("0x1.2492494229359p-2")
_LG4 = _h("0x1.c71c51d8e78afp-3")
_LG5 = _h("0x1.7466496cb03dep-3")
_LG6 = _h("0x1.39a09d078c69fp-3")
_LG7 = _h("0x1.2f112df3e5244p-3")
_LO32 = 0xFFFFFFFF
# Sigmoid's argument cap: exp's largest finite result is at 709.78 (as in the engine).
_EXP_ARG_MAX = 709.0


@njit(inline="always", **_OPTS)
def exp(x):
    """e**x within 1 ulp; inf above 709.78, 0 below -745.13, NaN for NaN."""
    xs = x
    if xs > 710.0:
        xs = 710.0  # exp overflows to inf from 709.79 on
    if xs < -746.0:
        xs = -746.0  # and underflows to 0 below -745.14
    if xs != xs:
        xs = 0.0  # keep the integer path in range; NaN is returned below
    t = xs * _INV_LN2 + _ROUND
    kf = t - _ROUND  # round(x / ln2), exactly
    k = _bits(t) - _ROUND_BITS  # the same integer, from the bits
    hi = xs - kf * _LN2_HI  # exact (Sterbenz)
    lo = kf * _LN2_LO
    r = hi - lo
    r2 = r * r
    c = r - r2 * (_P1 + r2 * (_P2 + r2 * (_P3 + r2 * (_P4 + r2 * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    # 2**k in two exact factors 2**k1 * 2**k2 (k in [-1077, 1024]): y * 2**k1 is exact and
    # normal, the second product rounds once (to a subnormal, or to inf on overflow).
    k1 = k >> 1
    k2 = k - k1
    y = y * _from_bits((k1 + 1023) << 52)
    y = y * _from_bits((k2 + 1023) << 52)
    return y if x == x else x


@njit(inline="always", **_OPTS)
def _log_tail(f, k, c):
    """log(2**k (1 + f)) + c for sqrt(2)/2 <= 1 + f < sqrt(2) (fdlibm's evaluation)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    dk = float(k)
    return s * (hfsq + R) + (dk * _LN2_LO + c) - hfsq + f + dk * _LN2_HI


@njit(**_OPTS)
def log(x):
    """Natural logarithm within 1 ulp; -inf at +-0, NaN below 0, inf at inf."""
    ix = _bits(x)
    hx = (ix >> 32) & _LO32
    k = 0
    if hx < 0x00100000 or (hx >> 31) != 0:
        if (ix & 0x7FFFFFFFFFFFFFFF) == 0:
            return -_INF  # log(+-0)
        if (hx >> 31) != 0:
            return (x - x) / 0.0  # log(x < 0), log(-inf): the invalid operation's NaN
        k -= 54  # subnormal: scale into the normal range
        ix = _bits(x * _TWO54)
        hx = (ix >> 32) & _LO32
    elif hx >= 0x7FF00000:
        return x  # inf, NaN
    elif hx == 0x3FF00000 and (ix & _LO32) == 0:
        return 0.0  # log(1)
    # Reduce x into [sqrt(2)/2, sqrt(2)): k from the exponent, shifted by 1 - sqrt(2)/2.
    hx += 0x3FF00000 - 0x3FE6A09E
    k += (hx >> 20) - 0x3FF
    hx = (hx & 0x000FFFFF) + 0x3FE6A09E
    f = _from_bits((hx << 32) | (ix & _LO32)) - 1.0
    return _log_tail(f, k, 0.0)


@njit(**_OPTS)
def log1p(x):
    """log(1 + x) within 1 ulp, also for tiny x; -inf at -1, NaN below."""
    ix = _bits(x)
    hx = (ix >> 32) & _LO32
    k = 1
    c = 0.0
    f = 0.0
    if hx < 0x3FDA827A or (hx >> 31) != 0:  # 1 + x < sqrt(2)+
        if hx >= 0xBFF00000:  # x <= -1, -inf, negative NaN
            if x == -1.0:
                return -_INF
            return (x - x) / 0.0  # the invalid operation's NaN (a NaN stays itself)
        if ((hx << 1) & _LO32) < (0x3CA00000 << 1):  # |x| < 2**-53
            return x
        if hx <= 0xBFD2BEC4:  # sqrt(2)/2- <= 1 + x < sqrt(2)+
            k = 0
            f = x
    elif hx >= 0x7FF00000:
        return x  # inf, NaN
    if k != 0:
        u = 1.0 + x
        iu = _bits(u)
        hu = ((iu >> 32) & _LO32) + (0x3FF00000 - 0x3FE6A09E)
        k = (hu >> 20) - 0x3FF
        # The rounding error of 1 + x, as a correction to log(u).
        if k < 54:
            c = (1.0 - (u - x)) if k >= 2 else (x - (u - 1.0))
            c /= u
        hu = (hu & 0x000FFFFF) + 0x3FE6A09E
        f = _from_bits((hu << 32) | (iu & _LO32)) - 1.0
    return _log_tail(f, k, c)


@njit(inline="always", **_OPTS)
def tanh(z):
    """The engine's tanh: sign(z) (2 / (1 + exp(-2|z|)) - 1), step for step."""
    t = exp(abs(z) * -2.0)
    t = 2.0 / (t + 1.0)
    return math.copysign(t - 1.0, z)


@njit(inline="always", **_OPTS)
def sigmoid(z):
    """The engine's sigmoid: 1 / (1 + exp(min(-z, 709))), step for step (NaN stays NaN)."""
    t = -z
    if t > _EXP_ARG_MAX:
        t = _EXP_ARG_MAX
    return 1.0 / (exp(t) + 1.0)


@njit(inline="always", **_OPTS)
def softplus(z):
    """``np.logaddexp(0, z)``, branch for branch: log(1 + e**z) without overflow."""
    if z == 0.0:
        return _LOGE2
    t = 0.0 - z
    if t > 0.0:
        return log1p(exp(z))
    if t <= 0.0:
        return z + log1p(exp(t))
    return t  # NaN


# Array versions (1-D), for tests and for Python callers.


@njit(**_OPTS)
def exp_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = exp(x[i])
    return out


@njit(**_OPTS)
def log_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = log(x[i])
    return out


@njit(**_OPTS)
def log1p_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = log1p(x[i])
    return out


@njit(**_OPTS)
def tanh_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])
    return out


@njit(**_OPTS)
def sigmoid_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = sigmoid(x[i])
    return out


@njit(**_OPTS)
def softplus_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = softplus(x[i])
    return out


# ---------------------------------------------------------------------------------------
# Vectors of LANES float64: one value per run of a block
# ---------------------------------------------------------------------------------------
#
# numba has no vector type, and LLVM's loop vectoriser cannot keep a block of partial
# sums in registers across a loop (that needs the SLP vectoriser, which numba disables):
# the products below are written with this explicit <LANES x double> type instead, whose
# operations are LLVM's lane-wise fadd, fsub, fmul and select (each lane rounds exactly as
# the scalar operation would; no FMA). Elementwise loops need none of this: written over
# contiguous 1-D slices, LLVM vectorises them itself.


class _Vec(types.Type):
    def __init__(self):
        super().__init__(name=f"f64x{LANES}")


VEC = _Vec()
_LLVEC = ir.VectorType(ir.DoubleType(), LANES)


@register_model(_Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _LLVEC)


def _is_vector_array(arr):
    return isinstance(arr, types.Array) and arr.dtype == types.float64 and arr.ndim == 1


def _vec_pointer(context, builder, sig, args):
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    i = context.cast(builder, args[1], sig.args[1], types.intp)
    return builder.bitcast(builder.gep(ary.data, [i], inbounds=True), _LLVEC.as_pointer())


@intrinsic
def vload(typingctx, arr, i):
    """arr[i : i + LANES] as a vector (arr 1-D float64)."""
    if not (_is_vector_array(arr) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_vec_pointer(context, builder, sig, args), align=8)

    return VEC(arr, i), codegen


@intrinsic
def vstore(typingctx, arr, i, v):
    """arr[i : i + LANES] = v."""
    if not (_is_vector_array(arr) and isinstance(i, types.Integer) and v == VEC):
        return None

    def codegen(context, builder, sig, args):
        builder.store(args[2], _vec_pointer(context, builder, sig, args), align=8)
        return context.get_dummy_value()

    return types.void(arr, i, VEC), codegen


@intrinsic
def vsplat(typingctx, x):
    """A vector of LANES copies of the float64 x."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        v = ir.Constant(_LLVEC, ir.Undefined)
        for lane in range(LANES):
            v = builder.insert_element(v, args[0], ir.Constant(ir.IntType(32), lane))
        return v

    return VEC(types.float64), codegen


def _binary(op):
    @intrinsic
    def fn(typingctx, a, b):
        if not (a == VEC and b == VEC):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])

        return VEC(VEC, VEC), codegen

    return fn


vadd = _binary("fadd")
vsub = _binary("fsub")
vmul = _binary("fmul")


@intrinsic
def vclip(typingctx, v, c):
    """Each lane clipped to [-c, c], NaN passing through (np.minimum then np.maximum)."""
    if not (v == VEC and c == types.float64):
        return None

    def codegen(context, builder, sig, args):
        hi = lo = ir.Constant(_LLVEC, ir.Undefined)
        neg = builder.fsub(ir.Constant(ir.DoubleType(), -0.0), args[1])  # -c, exactly
        for lane in range(LANES):
            index = ir.Constant(ir.IntType(32), lane)
            hi = builder.insert_element(hi, args[1], index)
            lo = builder.insert_element(lo, neg, index)
        t = builder.select(builder.fcmp_ordered(">", args[0], hi), hi, args[0])
        return builder.select(builder.fcmp_ordered("<", t, lo), lo, t)

    return VEC(VEC, types.float64), codegen


@njit(inline="always", **_OPTS)
def vzero():
    return vsplat(0.0)


# ---------------------------------------------------------------------------------------
# The training kernel
# ---------------------------------------------------------------------------------------
#
# Buffers of a block are 1-D. A tile of T samples (T a multiple of 4) holds each layer's
# z, a and dL/dz unit-major, (unit, sample, lane): unit j, sample t, lane l of the layer
# whose block starts at o is at o + (j T + t) LANES + l, so that a unit's values over the
# tile are one contiguous run of T LANES numbers. Layer widths are padded to multiples of
# 4 with units whose weights, biases, activations and gradients stay zero (products run
# in 4 x 4 register blocks); padded sample slots of a partial tile are computed and
# never used. Every sum over samples (losses, dW, db) runs in sample order across tiles,
# so the tile size changes no bit.

# Activation and loss codes (trainer.py maps the engine's names onto them).
IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = 0, 1, 2, 3, 4, 5
MSE, HALF_SSE, BCE, CROSS_ENTROPY = 0, 1, 2, 3
# Any finite loss passes this limit; NaN and infinities do not (as in the engine).
_NO_LIMIT = float(np.finfo(np.float64).max)
_BOUND_EVERY = 10
_L = LANES


@njit(**_OPTS)
def _forward_product(x, xo, n_in, p, wo, bo, n_out, z, zo, T, nt):
    """z[j, t] = (sum_i x[i, t] W[i, j]) + b[j], i in order, for t < nt, j < n_out (both
    multiples of 4); x's layer block starts at xo, z's at zo, W's rows at wo, b's at bo."""
    TL = T * _L
    for j0 in range(0, n_out, 4):
        for t0 in range(0, nt, 4):
            a00 = vzero()
            a01 = vzero()
            a02 = vzero()
            a03 = vzero()
            a10 = vzero()
            a11 = vzero()
            a12 = vzero()
            a13 = vzero()
            a20 = vzero()
            a21 = vzero()
            a22 = vzero()
            a23 = vzero()
            a30 = vzero()
            a31 = vzero()
            a32 = vzero()
            a33 = vzero()
            for i in range(n_in):
                xb = xo + i * TL + t0 * _L
                x0 = vload(x, xb)
                x1 = vload(x, xb + _L)
                x2 = vload(x, xb + 2 * _L)
                x3 = vload(x, xb + 3 * _L)
                wb = wo + (i * n_out + j0) * _L
                w = vload(p, wb)
                a00 = vadd(a00, vmul(x0, w))
                a01 = vadd(a01, vmul(x1, w))
                a02 = vadd(a02, vmul(x2, w))
                a03 = vadd(a03, vmul(x3, w))
                w = vload(p, wb + _L)
                a10 = vadd(a10, vmul(x0, w))
                a11 = vadd(a11, vmul(x1, w))
                a12 = vadd(a12, vmul(x2, w))
                a13 = vadd(a13, vmul(x3, w))
                w = vload(p, wb + 2 * _L)
                a20 = vadd(a20, vmul(x0, w))
                a21 = vadd(a21, vmul(x1, w))
                a22 = vadd(a22, vmul(x2, w))
                a23 = vadd(a23, vmul(x3, w))
                w = vload(p, wb + 3 * _L)
                a30 = vadd(a30, vmul(x0, w))
                a31 = vadd(a31, vmul(x1, w))
                a32 = vadd(a32, vmul(x2, w))
                a33 = vadd(a33, vmul(x3, w))
            zb = zo + j0 * TL + t0 * _L
            b = vload(p, bo + j0 * _L)
            vstore(z, zb, vadd(a00, b))
            vstore(z, zb + _L, vadd(a01, b))
            vstore(z, zb + 2 * _L, vadd(a02, b))
            vstore(z, zb + 3 * _L, vadd(a03, b))
            zb += TL
            b = vload(p, bo + (j0 + 1) * _L)
            vstore(z, zb, vadd(a10, b))
            vstore(z, zb + _L, vadd(a11, b))
            vstore(z, zb + 2 * _L, vadd(a12, b))
            vstore(z, zb + 3 * _L, vadd(a13, b))
            zb += TL
            b = vload(p, bo + (j0 + 2) * _L)
            vstore(z, zb, vadd(a20, b))
            vstore(z, zb + _L, vadd(a21, b))
            vstore(z, zb + 2 * _L, vadd(a22, b))
            vstore(z, zb + 3 * _L, vadd(a23, b))
            zb += TL
            b = vload(p, bo + (j0 + 3) * _L)
            vstore(z, zb, vadd(a30, b))
            vstore(z, zb + _L, vadd(a31, b))
            vstore(z, zb + 2 * _L, vadd(a32, b))
            vstore(z, zb + 3 * _L, vadd(a33, b))


@njit(**_OPTS)
def _weight_gradient(x, xo, n_in, d, do, n_out, g, wo, bo, T, tn):
    """g[W[i, j]] += sum_t x[i, t] dz[j, t] and g[b[j]] += sum_t dz[j, t], over t < tn in
    order (continuing the previous tiles' sums); n_in and n_out multiples of 4."""
    TL = T * _L
    for i0 in range(0, n_in, 4):
        for j0 in range(0, n_out, 4):
            r0 = wo + (i0 * n_out + j0) * _L
            r1 = r0 + n_out * _L
            r2 = r1 + n_out * _L
            r3 = r2 + n_out * _L
            a00 = vload(g, r0)
            a01 = vload(g, r0 + _L)
            a02 = vload(g, r0 + 2 * _L)
            a03 = vload(g, r0 + 3 * _L)
            a10 = vload(g, r1)
            a11 = vload(g, r1 + _L)
            a12 = vload(g, r1 + 2 * _L)
            a13 = vload(g, r1 + 3 * _L)
            a20 = vload(g, r2)
            a21 = vload(g, r2 + _L)
            a22 = vload(g, r2 + 2 * _L)
            a23 = vload(g, r2 + 3 * _L)
            a30 = vload(g, r3)
            a31 = vload(g, r3 + _L)
            a32 = vload(g, r3 + 2 * _L)
            a33 = vload(g, r3 + 3 * _L)
            for t in range(tn):
                xb = xo + i0 * TL + t * _L
                x0 = vload(x, xb)
                x1 = vload(x, xb + TL)
                x2 = vload(x, xb + 2 * TL)
                x3 = vload(x, xb + 3 * TL)
                db = do + j0 * TL + t * _L
                d0 = vload(d, db)
                d1 = vload(d, db + TL)
                d2 = vload(d, db + 2 * TL)
                d3 = vload(d, db + 3 * TL)
                a00 = vadd(a00, vmul(x0, d0))
                a01 = vadd(a01, vmul(x0, d1))
                a02 = vadd(a02, vmul(x0, d2))
                a03 = vadd(a03, vmul(x0, d3))
                a10 = vadd(a10, vmul(x1, d0))
                a11 = vadd(a11, vmul(x1, d1))
                a12 = vadd(a12, vmul(x1, d2))
                a13 = vadd(a13, vmul(x1, d3))
                a20 = vadd(a20, vmul(x2, d0))
                a21 = vadd(a21, vmul(x2, d1))
                a22 = vadd(a22, vmul(x2, d2))
                a23 = vadd(a23, vmul(x2, d3))
                a30 = vadd(a30, vmul(x3, d0))
                a31 = vadd(a31, vmul(x3, d1))
                a32 = vadd(a32, vmul(x3, d2))
                a33 = vadd(a33, vmul(x3, d3))
            vstore(g, r0, a00)
            vstore(g, r0 + _L, a01)
            vstore(g, r0 + 2 * _L, a02)
            vstore(g, r0 + 3 * _L, a03)
            vstore(g, r1, a10)
            vstore(g, r1 + _L, a11)
            vstore(g, r1 + 2 * _L, a12)
            vstore(g, r1 + 3 * _L, a13)
            vstore(g, r2, a20)
            vstore(g, r2 + _L, a21)
            vstore(g, r2 + 2 * _L, a22)
            vstore(g, r2 + 3 * _L, a23)
            vstore(g, r3, a30)
            vstore(g, r3 + _L, a31)
            vstore(g, r3 + 2 * _L, a32)
            vstore(g, r3 + 3 * _L, a33)
    for j in range(n_out):
        acc = vload(g, bo + j * _L)
        db = do + j * TL
        for t in range(tn):
            acc = vadd(acc, vload(d, db + t * _L))
        vstore(g, bo + j * _L, acc)


@njit(**_OPTS)
def _input_gradient(d, do, n_out, p, wo, n_in, ga, T, nt):
    """ga[i, t] = sum_j dz[j, t] W[i, j], j in order, for i < n_in, t < nt (multiples of 4)."""
    TL = T * _L
    for i0 in range(0, n_in, 4):
        for t0 in range(0, nt, 4):
            a00 = vzero()
            a01 = vzero()
            a02 = vzero()
            a03 = vzero()
            a10 = vzero()
            a11 = vzero()
            a12 = vzero()
            a13 = vzero()
            a20 = vzero()
            a21 = vzero()
            a22 = vzero()
            a23 = vzero()
            a30 = vzero()
            a31 = vzero()
            a32 = vzero()
            a33 = vzero()
            r0 = wo + i0 * n_out * _L
            for j in range(n_out):
                db = do + j * TL + t0 * _L
                d0 = vload(d, db)
                d1 = vload(d, db + _L)
                d2 = vload(d, db + 2 * _L)
                d3 = vload(d, db + 3 * _L)
                w = vload(p, r0 + j * _L)
                a00 = vadd(a00, vmul(d0, w))
                a01 = vadd(a01, vmul(d1, w))
                a02 = vadd(a02, vmul(d2, w))
                a03 = vadd(a03, vmul(d3, w))
                w = vload(p, r0 + (n_out + j) * _L)
                a10 = vadd(a10, vmul(d0, w))
                a11 = vadd(a11, vmul(d1, w))
                a12 = vadd(a12, vmul(d2, w))
                a13 = vadd(a13, vmul(d3, w))
                w = vload(p, r0 + (2 * n_out + j) * _L)
                a20 = vadd(a20, vmul(d0, w))
                a21 = vadd(a21, vmul(d1, w))
                a22 = vadd(a22, vmul(d2, w))
                a23 = vadd(a23, vmul(d3, w))
                w = vload(p, r0 + (3 * n_out + j) * _L)
                a30 = vadd(a30, vmul(d0, w))
                a31 = vadd(a31, vmul(d1, w))
                a32 = vadd(a32, vmul(d2, w))
                a33 = vadd(a33, vmul(d3, w))
            gb = i0 * TL + t0 * _L
            vstore(ga, gb, a00)
            vstore(ga, gb + _L, a01)
            vstore(ga, gb + 2 * _L, a02)
            vstore(ga, gb + 3 * _L, a03)
            gb += TL
            vstore(ga, gb, a10)
            vstore(ga, gb + _L, a11)
            vstore(ga, gb + 2 * _L, a12)
            vstore(ga, gb + 3 * _L, a13)
            gb += TL
            vstore(ga, gb, a20)
            vstore(ga, gb + _L, a21)
            vstore(ga, gb + 2 * _L, a22)
            vstore(ga, gb + 3 * _L, a23)
            gb += TL
            vstore(ga, gb, a30)
            vstore(ga, gb + _L, a31)
            vstore(ga, gb + 2 * _L, a32)
            vstore(ga, gb + 3 * _L, a33)


@njit(**_OPTS)
def _row_max(z, zo, k, TL, nq, m):
    """m[q] = max_j z[zo + j TL + q] for q < nq, NaN propagating (the engine's row_max)."""
    m[:nq] = z[zo : zo + nq]
    for j in range(1, k):
        zr = z[zo + j * TL : zo + j * TL + nq]
        for q in range(nq):
            v = zr[q]
            mq = m[q]
            m[q] = v if (v > mq or v != v) else mq


@njit(**_OPTS)
def _row_sum(z, zo, k, TL, nq, s):
    """s[q] = sum_j z[zo + j TL + q], j in order."""
    s[:nq] = 0.0
    for j in range(k):
        zr = z[zo + j * TL : zo + j * TL + nq]
        for q in range(nq):
            s[q] += zr[q]


@njit(**_OPTS)
def _activate(code, slope, z, a, o, k, TL, nq, rs):
    """a = activation(z) on the k units of the layer block at o (q < nq of each unit)."""
    if code == SOFTMAX:
        m = rs[0:nq]
        tot = rs[TL : TL + nq]
        _row_max(z, o, k, TL, nq, m)
        tot[:] = 0.0
        for j in range(k):
            zr = z[o + j * TL : o + j * TL + nq]
            ar = a[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                e = exp(zr[q] - m[q])
                ar[q] = e
                tot[q] += e
        for j in range(k):
            ar = a[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                ar[q] = ar[q] / tot[q]
        return
    for j in range(k):
        zr = z[o + j * TL : o + j * TL + nq]
        ar = a[o + j * TL : o + j * TL + nq]
        if code == SIGMOID:
            for q in range(nq):
                ar[q] = sigmoid(zr[q])
        elif code == TANH:
            for q in range(nq):
                ar[q] = tanh(zr[q])
        elif code == RELU:
            for q in range(nq):
                v = zr[q]
                ar[q] = v if (v > 0.0 or v != v) else 0.0  # np.maximum(z, 0)
        elif code == LEAKY_RELU:
            for q in range(nq):
                v = zr[q]
                s = v * slope
                ar[q] = v if v >= s else s  # np.maximum(z, slope z), NaN propagating
        else:
            ar[:] = zr


@njit(**_OPTS)
def _activation_backward(code, slope, z, a, o, ga, d, k, TL, nq, rs):
    """d (layer block at o) = dL/dz from ga (rows from 0) = dL/da, the engine's formulas."""
    if code == SOFTMAX:
        tot = rs[0:nq]
        tot[:] = 0.0
        for j in range(k):
            gr = ga[j * TL : j * TL + nq]
            ar = a[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                tot[q] += gr[q] * ar[q]
        for j in range(k):
            gr = ga[j * TL : j * TL + nq]
            ar = a[o + j * TL : o + j * TL + nq]
            dr = d[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                dr[q] = (gr[q] - tot[q]) * ar[q]
        return
    for j in range(k):
        gr = ga[j * TL : j * TL + nq]
        zr = z[o + j * TL : o + j * TL + nq]
        ar = a[o + j * TL : o + j * TL + nq]
        dr = d[o + j * TL : o + j * TL + nq]
        if code == SIGMOID:
            for q in range(nq):
                dr[q] = ((1.0 - ar[q]) * ar[q]) * gr[q]
        elif code == TANH:
            for q in range(nq):
                dr[q] = (1.0 - ar[q] * ar[q]) * gr[q]
        elif code == RELU:
            for q in range(nq):
                dr[q] = (1.0 if zr[q] > 0.0 else 0.0) * gr[q]
        elif code == LEAKY_RELU:
            for q in range(nq):
                dr[q] = (1.0 if zr[q] > 0.0 else slope) * gr[q]
        else:
            dr[:] = gr


@njit(**_OPTS)
def _output_delta(loss, act, slope, z, a, o, y, ga, d, k, m, TL, nq, rs):
    """dL/dz of the output layer (block at o) for a loss that is a mean over m samples."""
    if loss == BCE:  # fused with the sigmoid: (a - y) / (m k)
        scale = 1.0 / (m * k)
        for j in range(k):
            ar = a[o + j * TL : o + j * TL + nq]
            yr = y[j * TL : j * TL + nq]
            dr = d[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                dr[q] = (ar[q] - yr[q]) * scale
        return
    if loss == CROSS_ENTROPY:  # fused with the softmax: (a sum_k y - y) / m
        scale = 1.0 / m
        ysum = rs[0:nq]
        _row_sum(y, 0, k, TL, nq, ysum)
        for j in range(k):
            ar = a[o + j * TL : o + j * TL + nq]
            yr = y[j * TL : j * TL + nq]
            dr = d[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                dr[q] = (ar[q] * ysum[q] - yr[q]) * scale
        return
    scale = 2.0 / (m * k) if loss == MSE else 1.0 / m
    for j in range(k):
        ar = a[o + j * TL : o + j * TL + nq]
        yr = y[j * TL : j * TL + nq]
        gr = ga[j * TL : j * TL + nq]
        for q in range(nq):
            gr[q] = (ar[q] - yr[q]) * scale
    _activation_backward(act, slope, z, a, o, ga, d, k, TL, nq, rs[TL:])


@njit(**_OPTS)
def _add_in_order(acc, ao, buf, rows, T, tn):
    """acc[ao : ao + LANES] += buf[(j T + t) LANES + lane] over t < tn, then j < rows:
    sample by sample, as the whole training set's sum (the tile size changes no bit)."""
    TL = T * _L
    s = vload(acc, ao)
    for t in range(tn):
        for j in range(rows):
            s = vadd(s, vload(buf, j * TL + t * _L))
    vstore(acc, ao, s)


@njit(**_OPTS)
def _accumulate_loss(code, z, a, o, y, k, T, tn, nq, acc, ao, tm, rs):
    """Add the tile's terms of loss ``code`` to acc[ao] (and acc[ao + LANES], the second
    sum of cross-entropy)."""
    TL = T * _L
    if code == CROSS_ENTROPY:
        # sum_k y logsumexp(z) - sum_k y z, logsumexp shifted by the row maximum
        m = rs[0:nq]
        tot = rs[TL : TL + nq]
        ysum = rs[2 * TL : 2 * TL + nq]
        _row_max(z, o, k, TL, nq, m)
        tot[:] = 0.0
        for j in range(k):
            zr = z[o + j * TL : o + j * TL + nq]
            for q in range(nq):
                tot[q] += exp(zr[q] - m[q])
        _row_sum(y, 0, k, TL, nq, ysum)
        t0 = tm[0:nq]
        for q in range(nq):
            t0[q] = (log(tot[q]) + m[q]) * ysum[q]
        _add_in_order(acc, ao, tm, 1, T, tn)
        for j in range(k):
            zr = z[o + j * TL : o + j * TL + nq]
            yr = y[j * TL : j * TL + nq]
            tr = tm[j * TL : j * TL + nq]
            for q in range(nq):
                tr[q] = yr[q] * zr[q]
        _add_in_order(acc, ao + _L, tm, k, T, tn)
        return
    for j in range(k):
        zr = z[o + j * TL : o + j * TL + nq]
        ar = a[o + j * TL : o + j * TL + nq]
        yr = y[j * TL : j * TL + nq]
        tr = tm[j * TL : j * TL + nq]
        if code == BCE:
            for q in range(nq):
                tr[q] = softplus(zr[q]) - yr[q] * zr[q]
        else:
            for q in range(nq):
                dq = ar[q] - yr[q]
                tr[q] = dq * dq
    _add_in_order(acc, ao, tm, k, T, tn)


@njit(inline="always", **_OPTS)
def _finish_loss(code, a1, a2, m, k):
    if code == MSE or code == BCE:
        return a1 / (m * k)
    if code == HALF_SSE:
        return a1 * (0.5 / m)
    return (a1 - a2) / m


@njit(**_OPTS)
def _accumulate_hits(a, o, y, k, T, tn, nq, acc, ao, tm, rs):
    """Correct predictions: a > 0.5 against y > 0.5 for one output, else arg max (first
    maximum, NaN counting as the maximum, as np.argmax)."""
    TL = T * _L
    hit = tm[0:nq]
    if k == 1:
        ar = a[o : o + nq]
        yr = y[0:nq]
        for q in range(nq):
            hit[q] = 1.0 if (ar[q] > 0.5) == (yr[q] > 0.5) else 0.0
    else:
        ba = rs[0:nq]
        ia = rs[TL : TL + nq]
        by = rs[2 * TL : 2 * TL + nq]
        iy = rs[3 * TL : 3 * TL + nq]
        ba[:] = a[o : o + nq]
        by[:] = y[0:nq]
        ia[:] = 0.0
        iy[:] = 0.0
        for j in range(1, k):
            ar = a[o + j * TL : o + j * TL + nq]
            yr = y[j * TL : j * TL + nq]
            fj = float(j)
            for q in range(nq):
                v = ar[q]
                b = ba[q]
                better = (v > b) or (v != v and b == b)
                ba[q] = v if better else b
                ia[q] = fj if better else ia[q]
                v = yr[q]
                b = by[q]
                better = (v > b) or (v != v and b == b)
                by[q] = v if better else b
                iy[q] = fj if better else iy[q]
        for q in range(nq):
            hit[q] = 1.0 if ia[q] == iy[q] else 0.0
    _add_in_order(acc, ao, tm, 1, T, tn)


@njit(**_OPTS)
def _load_shared(X, Y, s0, tn, d, k, T, xt, yt):
    """Tile rows s0..s0+tn of data shared by every lane, broadcast."""
    TL = T * _L
    for i in range(d):
        for t in range(tn):
            vstore(xt, i * TL + t * _L, vsplat(X[s0 + t, i]))
    for j in range(k):
        for t in range(tn):
            vstore(yt, j * TL + t * _L, vsplat(Y[s0 + t, j]))


@njit(**_OPTS)
def _load_lanes(X, Y, order, s0, tn, d, k, T, xt, yt):
    """Tile positions s0..s0+tn of each lane's own sample order (shuffled mini-batches);
    ``order`` is (n, LANES)."""
    TL = T * _L
    for t in range(tn):
        for lane in range(_L):
            r = order[s0 + t, lane]
            for i in range(d):
                xt[i * TL + t * _L + lane] = X[r, i]
            for j in range(k):
                yt[j * TL + t * _L + lane] = Y[r, j]


@njit(**_OPTS)
def _forward(nl, sizes, psz, acts, slopes, woff, boff, zoff, p, xt, zt, at, T, nt, rs):
    """The tile's forward pass (first nt sample slots) into zt and at."""
    TL = T * _L
    for layer in range(nl):
        o = zoff[layer]
        if layer == 0:
            _forward_product(xt, 0, psz[0], p, woff[0], boff[0], psz[1], zt, o, T, nt)
        else:
            _forward_product(
                at, zoff[layer - 1], psz[layer], p, woff[layer], boff[layer], psz[layer + 1],
                zt, o, T, nt,
            )  # fmt: skip
        _activate(acts[layer], slopes[layer], zt, at, o, sizes[layer + 1], TL, nt * _L, rs)


@njit(**_OPTS)
def _backward(nl, sizes, psz, acts, slopes, loss, woff, boff, zoff, p, g, xt, yt,
              zt, at, dt, ga, m, T, tn, nt, rs):  # fmt: skip
    """Backpropagate the tile and add its samples' dW and db to ``g``."""
    TL = T * _L
    nq = nt * _L
    top = nl - 1
    _output_delta(
        loss, acts[top], slopes[top], zt, at, zoff[top], yt, ga, dt, sizes[nl], m, TL, nq, rs
    )
    for layer in range(top, -1, -1):
        o = zoff[layer]
        if layer == 0:
            _weight_gradient(xt, 0, psz[0], dt, o, psz[1], g, woff[0], boff[0], T, tn)
            break
        below = zoff[layer - 1]
        _weight_gradient(
            at, below, psz[layer], dt, o, psz[layer + 1], g, woff[layer], boff[layer], T, tn
        )
        _input_gradient(dt, o, psz[layer + 1], p, woff[layer], psz[layer], ga, T, nt)
        _activation_backward(
            acts[layer - 1], slopes[layer - 1], zt, at, below, ga, dt, sizes[layer], TL, nq, rs
        )


def work_size(psz, k, tile) -> int:
    """Numbers of ``work`` per block that :func:`_block` takes for its tile buffers."""
    units = int(sum(psz[1:]))
    return (int(psz[0]) + int(k) + 3 * units + 2 * max(4, int(max(psz))) + 4) * tile * LANES


@njit(**_OPTS)
def _freeze(lane, epoch, p, v, g, frozen, alive, lr, div_epoch):
    """Retire ``lane``: keep its parameters in ``frozen`` and park the lane at zero
    parameters, gradients and learning rate (finite work, no effect on other lanes)."""
    for q in range(lane, p.shape[0], _L):
        frozen[q] = p[q]
        p[q] = 0.0
        v[q] = 0.0
        g[q] = 0.0
    lr[lane] = 0.0
    alive[lane] = 0
    div_epoch[lane] = epoch


@njit(**_OPTS)
def _step(p, v, g, lr, is_bias, momentum, clip, update_biases):
    """The engine's update: clip, then p -= g lr, or v = v mu + g and p -= v lr."""
    lrv = vload(lr, 0)
    muv = vsplat(momentum)
    for q in range(is_bias.shape[0]):
        if update_biases == 0 and is_bias[q] != 0:
            continue
        o = q * _L
        gv = vload(g, o)
        if clip > 0.0:
            gv = vclip(gv, clip)
        if momentum > 0.0:
            gv = vadd(vmul(vload(v, o), muv), gv)
            vstore(v, o, gv)
        vstore(p, o, vsub(vload(p, o), vmul(gv, lrv)))


@njit(inline="always", **_OPTS)
def _take(work, start, size):
    """work[start : start + size] and the next start."""
    return work[start : start + size], start + size


@njit(**_OPTS)
def _count(alive):
    c = 0
    for lane in range(_L):
        c += alive[lane]
    return c


@njit(**_OPTS)
def _block(
    sizes, psz, acts, slopes, loss, woff, boff, zoff, is_bias,
    X, Y, Xe, Ye, eoff, mcodes,
    momentum, clip, update_biases, batch, full_batch, shuffle, order,
    above, factor, epochs,
    start, stop, skip_first, rec_slot, trace_stop, keep, T,
    p, v, g, lr, alive, limit, div_epoch, frozen, last_loss, hist, Zf, Af, work,
):  # fmt: skip
    """Epochs ``start``..``stop`` of one block (see :func:`train_chunk`); returns the
    number of lanes still training at the top of epoch ``stop``."""
    nl = sizes.shape[0] - 1
    n = X.shape[0]
    d = sizes[0]
    k = sizes[nl]
    Kp = zoff[nl] // (T * _L)  # padded units of all layers
    kmax = 4
    for layer in range(nl + 1):
        kmax = max(kmax, psz[layer])
    nm = mcodes.shape[0]
    TL = T * _L
    # The tile buffers: slices of ``work``, which lives across calls (zeroing ~0.5 MB per
    # block at every hook epoch cost 10% of W3's training), so padded rows stay zero.
    xt, o = _take(work, 0, psz[0] * TL)
    yt, o = _take(work, o, k * TL)
    zt, o = _take(work, o, Kp * TL)
    at, o = _take(work, o, Kp * TL)
    dt, o = _take(work, o, Kp * TL)
    ga, o = _take(work, o, kmax * TL)
    tm, o = _take(work, o, kmax * TL)
    rs, o = _take(work, o, 4 * TL)
    # Per-lane sums: [loss, loss', metric 0, metric 0', ..., hits], LANES each.
    acc = np.zeros((2 * (1 + nm) + 1) * _L)
    hits = 2 * (1 + nm) * _L
    lossv = np.empty(_L)
    bad = np.empty(_L, dtype=np.int64)
    top = zoff[nl - 1]
    top_alive = 0
    for epoch in range(start, stop + 1):
        if epoch > start or skip_first == 0:
            n_alive = _count(alive)
            if n_alive == 0:
                break
            if epoch == stop:
                top_alive = n_alive
            slot = rec_slot[epoch - start]
            trace = trace_stop != 0 and epoch == stop
            last = epoch == epochs
            if full_batch != 0 or slot >= 0 or trace or last:
                # -- the full training set: loss, divergence, record, gradients -------
                grads = trace or (full_batch != 0 and not last)
                if grads:
                    g[:] = 0.0
                acc[:] = 0.0
                for s0 in range(0, n, T):
                    tn = min(T, n - s0)
                    nt = (tn + 3) // 4 * 4
                    nq = nt * _L
                    _load_shared(X, Y, s0, tn, d, k, T, xt, yt)
                    _forward(
                        nl, sizes, psz, acts, slopes, woff, boff, zoff, p, xt, zt, at, T, nt, rs
                    )
                    _accumulate_loss(loss, zt, at, top, yt, k, T, tn, nq, acc, 0, tm, rs)
                    if slot >= 0:
                        for q in range(nm):
                            ao = (2 + 2 * q) * _L
                            _accumulate_loss(
                                mcodes[q], zt, at, top, yt, k, T, tn, nq, acc, ao, tm, rs
                            )
                        _accumulate_hits(at, top, yt, k, T, tn, nq, acc, hits, tm, rs)
                    if trace and keep != 0:  # the full-data z and a, (unit, sample, lane)
                        for u in range(Kp):
                            Zf[(u * n + s0) * _L : (u * n + s0 + tn) * _L] = zt[
                                u * TL : u * TL + tn * _L
                            ]
                            Af[(u * n + s0) * _L : (u * n + s0 + tn) * _L] = at[
                                u * TL : u * TL + tn * _L
                            ]
                    if grads:
                        _backward(
                            nl, sizes, psz, acts, slopes, loss, woff, boff, zoff, p, g, xt, yt,
                            zt, at, dt, ga, n, T, tn, nt, rs,
                        )  # fmt: skip
                for lane in range(_L):
                    lossv[lane] = _finish_loss(loss, acc[lane], acc[_L + lane], n, k)
                    if epoch == 0:
                        limit[lane] = factor * lossv[lane] if factor > 0.0 else _NO_LIMIT
                    bad[lane] = (
                        1 if (alive[lane] != 0 and not (abs(lossv[lane]) <= limit[lane])) else 0
                    )
                if above > 0.0 and (epoch % _BOUND_EVERY == 0 or epoch == epochs):
                    # np.maximum.reduce propagates NaN, and NaN > limit is False.
                    for lane in range(_L):
                        mx = -_INF
                        mn = _INF
                        nan = False
                        for q in range(lane, p.shape[0], _L):
                            x = p[q]
                            nan = nan or x != x
                            mx = x if x > mx else mx
                            mn = x if x < mn else mn
                        if alive[lane] != 0 and not nan and (mx > above or mn < -above):
                            bad[lane] = 1
                for lane in range(_L):
                    if bad[lane] != 0:
                        _freeze(lane, epoch, p, v, g, frozen, alive, lr, div_epoch)
                    last_loss[lane] = lossv[lane]
                if slot >= 0:
                    for lane in range(_L):
                        if alive[lane] != 0:
                            hist[0, lane, slot] = lossv[lane]
                            hist[1, lane, slot] = acc[hits + lane] / n
                            for q in range(nm):
                                ao = (2 + 2 * q) * _L + lane
                                hist[2 + q, lane, slot] = _finish_loss(
                                    mcodes[q], acc[ao], acc[ao + _L], n, k
                                )
                    for ev in range(eoff.shape[0] - 1):
                        e0 = eoff[ev]
                        ne = eoff[ev + 1] - e0
                        acc[:] = 0.0
                        for s0 in range(0, ne, T):
                            tn = min(T, ne - s0)
                            nt = (tn + 3) // 4 * 4
                            nq = nt * _L
                            _load_shared(Xe, Ye, e0 + s0, tn, d, k, T, xt, yt)
                            _forward(
                                nl,
                                sizes,
                                psz,
                                acts,
                                slopes,
                                woff,
                                boff,
                                zoff,
                                p,
                                xt,
                                zt,
                                at,
                                T,
                                nt,
                                rs,
                            )
                            _accumulate_loss(loss, zt, at, top, yt, k, T, tn, nq, acc, 0, tm, rs)
                            _accumulate_hits(at, top, yt, k, T, tn, nq, acc, hits, tm, rs)
                        col = 2 + nm + 2 * ev
                        for lane in range(_L):
                            if alive[lane] != 0:
                                hist[col, lane, slot] = _finish_loss(
                                    loss, acc[lane], acc[_L + lane], ne, k
                                )
                                hist[col + 1, lane, slot] = acc[hits + lane] / ne
        if epoch == stop or _count(alive) == 0:
            break
        # -- the update of this epoch -------------------------------------------------
        if full_batch != 0:
            _step(p, v, g, lr, is_bias, momentum, clip, update_biases)
            continue
        for b0 in range(0, n, batch):
            m = min(batch, n - b0)
            g[:] = 0.0
            acc[: 2 * _L] = 0.0
            for s0 in range(b0, b0 + m, T):
                tn = min(T, b0 + m - s0)
                nt = (tn + 3) // 4 * 4
                nq = nt * _L
                if shuffle != 0:
                    _load_lanes(X, Y, order[epoch - start], s0, tn, d, k, T, xt, yt)
                else:
                    _load_shared(X, Y, s0, tn, d, k, T, xt, yt)
                _forward(nl, sizes, psz, acts, slopes, woff, boff, zoff, p, xt, zt, at, T, nt, rs)
                _accumulate_loss(loss, zt, at, top, yt, k, T, tn, nq, acc, 0, tm, rs)
                _backward(
                    nl, sizes, psz, acts, slopes, loss, woff, boff, zoff, p, g, xt, yt,
                    zt, at, dt, ga, m, T, tn, nt, rs,
                )  # fmt: skip
            for lane in range(_L):
                lv = _finish_loss(loss, acc[lane], acc[_L + lane], m, k)
                if alive[lane] != 0 and not (abs(lv) <= _NO_LIMIT):
                    _freeze(lane, epoch, p, v, g, frozen, alive, lr, div_epoch)
            if _count(alive) == 0:
                return top_alive
            _step(p, v, g, lr, is_bias, momentum, clip, update_biases)
    return top_alive


@njit(parallel=True, **_OPTS)
def train_chunk(
    sizes, psz, acts, slopes, loss, woff, boff, zoff, is_bias,
    X, Y, Xe, Ye, eoff, mcodes,
    momentum, clip, update_biases, batch, full_batch, shuffle, orders,
    above, factor, epochs,
    start, stop, skip_first, rec_slot, trace_stop, keep, tile,
    params, vel, grads, lr, alive, limit, div_epoch, frozen, last_loss, top_alive, hist, Zf, Af,
    work,
):  # fmt: skip
    """Train every block from epoch ``start`` to ``stop``, blocks in parallel.

    Epoch ``e`` is two phases, as in the engine's loop: its evaluation (the full training
    set's loss, the divergence tests, the record at a metrics epoch, gradients for a
    full-batch step or a trace) and its update (one step, or one pass of mini-batches).
    A call runs the evaluation of ``start`` (unless ``skip_first``: the previous call ended
    with it), then update, evaluation, ... up to the evaluation of ``stop``, and stops
    there, its state in the arrays: ``grads`` (if ``trace_stop``) and ``last_loss`` are
    those of epoch ``stop``'s evaluation, for the trace hook, and ``Zf``, ``Af`` too if
    ``keep``. The evaluation changes nothing when repeated (the same losses freeze no
    more runs), so the trainer calls it again with ``keep`` for a hook that reads z or a,
    instead of copying them at every hook epoch.

    Model: ``sizes`` the widths, ``psz`` them padded to multiples of 4, ``woff``/``boff``
    each layer's first W and b row (of ``psz``-shaped layers), ``zoff`` each layer's
    block in a tile buffer (and the total at the end), ``is_bias`` per parameter row.
    Per-block arrays (leading axis), lanes last: ``params``, ``vel``, ``grads``,
    ``frozen`` (B, P LANES); ``lr``, ``alive``, ``limit``, ``div_epoch``, ``last_loss``
    (B, LANES); ``hist`` (B, columns, LANES, T); ``Zf``, ``Af`` (B, K n LANES) or empty;
    ``orders`` (B, stop - start, n, LANES) for shuffled mini-batches; ``work`` (B, W),
    zeros at first, the tile buffers (``work_size`` numbers per block).
    """
    for blk in prange(params.shape[0]):
        top_alive[blk] = _block(
            sizes, psz, acts, slopes, loss, woff, boff, zoff, is_bias,
            X, Y, Xe, Ye, eoff, mcodes,
            momentum, clip, update_biases, batch, full_batch, shuffle, orders[blk],
            above, factor, epochs,
            start, stop, skip_first, rec_slot, trace_stop, keep, tile,
            params[blk], vel[blk], grads[blk], lr[blk], alive[blk], limit[blk],
            div_epoch[blk], frozen[blk], last_loss[blk], hist[blk], Zf[blk], Af[blk], work[blk],
        )  # fmt: skip
