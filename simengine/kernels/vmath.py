"""Vectorisable ``exp`` (:func:`vexp`), ``log`` and ``log1p`` for the passes over accounts.

libm's ``log`` and ``log1p`` are calls, which keep a loop scalar; these are plain arithmetic on
the float's bits, inlined into the caller (``inline="always"``), so LLVM vectorises a loop that
calls them (as :func:`vexp` does for ``exp``).  Both are fdlibm's
algorithms (Sun, 1993; ``e_log.c``, ``s_log1p.c``, as in musl), with every branch turned into a
select:

- ``log(x)``: ``x = 2**k m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))`` read off the exponent bits
  (subnormal ``x`` scaled by ``2**54`` first), ``f = m - 1``, ``s = f / (2 + f)`` and
  ``log(1 + f) = 2 s + s R(s**2)`` with fdlibm's degree-14 minimax ``R``; ``k ln2`` in two parts.
- ``log1p(x)``: ``u = 1 + x`` reduced the same way, plus fdlibm's correction ``c / u`` for the
  rounding of ``1 + x``; ``1 + x`` in ``[sqrt(2)/2, sqrt(2))`` takes ``f = x`` exactly, and
  ``|x| < 2**-53`` returns ``x``.

Below 1 ulp in fdlibm's analysis; tests/kernels/test_vlog.py holds them within 2 ulp of libm
over a wide range and checks NaN, infinities, zeros, negatives and subnormals.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from simengine.kernels._jit import inline_jit, pass_jit


@intrinsic
def f64_bits(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast: no instruction)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def bits_f64(typingctx, x):
    """The float64 with the bits of an int64 (a bitcast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


_LN2_HI = 6.93147180369123816490e-01  # ln2's top 32 bits: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_TWO54 = 18014398509481984.0
_TINY = 2.2250738585072014e-308  # smallest normal
_INF = np.inf
_NAN = np.nan
_LOW32 = 0xFFFFFFFF
# fdlibm works on the high word: adding 0x3ff00000 - 0x3fe6a09e moves the exponent boundary from
# a power of 2 to sqrt(2)/2, so the mantissa comes out in [sqrt(2)/2, sqrt(2)).
_SHIFT = 0x3FF00000 - 0x3FE6A09E


@inline_jit
def _log1p_core(f, dk, c):
    """``k ln2 + log(1 + f) + c`` for ``f`` in ``[sqrt(2)/2 - 1, sqrt(2) - 1]`` (fdlibm)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    return s * (hfsq + r) + (dk * _LN2_LO + c) - hfsq + f + dk * _LN2_HI


@inline_jit
def vlog(x):
    """``log(x)`` in branch-free arithmetic (vectorisable): fdlibm's, within an ulp or two."""
    sub = x < _TINY  # subnormal (or zero, negative: replaced below)
    xs = x * _TWO54 if sub else x
    hx = (f64_bits(xs) >> 32) + _SHIFT
    k = (hx >> 20) - 0x3FF - (54 if sub else 0)
    hx = (hx & 0x000FFFFF) + 0x3FE6A09E
    m = bits_f64((hx << 32) | (f64_bits(xs) & _LOW32))
    y = _log1p_core(m - 1.0, np.float64(k), 0.0)
    y = _INF if x == _INF else y
    y = -_INF if x == 0.0 else y
    y = _NAN if x < 0.0 else y
    return x if x != x else y


@inline_jit
def vlog1p(x):
    """``log1p(x)`` in branch-free arithmetic (vectorisable): fdlibm's, within an ulp or two."""
    u = 1.0 + x
    hu = (f64_bits(u) >> 32) + _SHIFT
    k = (hu >> 20) - 0x3FF
    # The rounding of 1 + x, put back as c / u (fdlibm); none left once u is past 2**54.
    c = (1.0 - (u - x) if k >= 2 else x - (u - 1.0)) / u
    c = 0.0 if k >= 54 else c
    hu = (hu & 0x000FFFFF) + 0x3FE6A09E
    f = bits_f64((hu << 32) | (f64_bits(u) & _LOW32)) - 1.0
    # 1 + x in [sqrt(2)/2, sqrt(2)): no reduction, and f = x carries every bit of x.
    near = x > -0.2928932188134524 and x < 0.41421356237309503
    f = x if near else f
    c = 0.0 if near else c
    k = 0 if near else k
    y = _log1p_core(f, np.float64(k), c)
    y = x if (x > -1.1102230246251565e-16 and x < 1.1102230246251565e-16) else y  # |x| < 2**-53
    y = _INF if x == _INF else y
    y = -_INF if x == -1.0 else y
    y = _NAN if x < -1.0 else y
    return x if x != x else y


@pass_jit
def log_pass(lo, hi, x, out):
    """``out[p] = log(x[p])`` (:func:`vlog`) for ``p`` in ``lo .. hi - 1``."""
    for k in range(hi - lo):
        p = np.uintp(lo + k)
        out[p] = vlog(x[p])


@pass_jit
def log1p_pass(lo, hi, x, out):
    """``out[p] = log1p(x[p])`` (:func:`vlog1p`) for ``p`` in ``lo .. hi - 1``."""
    for k in range(hi - lo):
        p = np.uintp(lo + k)
        out[p] = vlog1p(x[p])


# exp(x) for the passes: libm's exp is a call, which keeps a loop scalar; this one is plain
# arithmetic, so LLVM vectorises it.  Cody & Waite's reduction x = k ln2 + r (|r| <= ln2 / 2,
# fdlibm's two-part ln2, k ln2_hi exact), exp(r) by its Taylor polynomial to r**12 / 12! (the
# next term is below 2e-16 relative), and 2**k as the product of two powers of two (so results
# that are subnormal or overflow come out as 0 / inf / subnormal, not as garbage exponents), each
# built from its exponent bits (``k`` in [-539, 512] is a normal float's): a table read in a
# vectorised loop is a gather, ~10% of a pass that calls vexp.  Within a few ulp of libm
# (tests/kernels/test_vexp.py); the oracle's NumPy exp agrees to rtol 1e-9.
_LOG2E = 1.4426950408889634
_EXP_BIAS = 1023
_INV_FACT = tuple(1.0 / math.factorial(j) for j in range(13))
(_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12) = _INV_FACT


@inline_jit
def vexp(x):
    """``exp(x)`` in branch-free arithmetic (vectorisable); NaN in, NaN out."""
    # NaN is replaced before the clamp: min/max of a NaN may return it, and floor(NaN) as an
    # integer is undefined (an exponent out of range: garbage, or a read out of bounds).
    xc = min(max(x if x == x else 0.0, -746.0), 710.0)
    k = math.floor(xc * _LOG2E + 0.5)
    kf = np.float64(k)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + _C1
    p = p * r + _C0
    k1 = k >> 1
    y = (p * bits_f64((k1 + _EXP_BIAS) << 52)) * bits_f64((k - k1 + _EXP_BIAS) << 52)
    return x if x != x else y


@pass_jit
def exp_pass(lo, hi, x, out):
    """``out[p] = exp(x[p])`` (:func:`vexp`): the one transcendental of the common path."""
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        out[p] = vexp(x[p])
