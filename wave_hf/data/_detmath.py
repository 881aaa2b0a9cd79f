"""Machine-independent float64 math for the generators.

numpy dispatches its transcendental ufuncs (``sin``, ``exp``, ``tanh``, ...) and ``@`` (BLAS) to CPU-specific
SIMD code, whose results can differ in the last bit between machines; in a chaotic system such a bit grows into a
visible difference. The generators therefore only use IEEE-754 basic operations (``+ - * /``, ``rint``, ``ldexp``,
comparisons), which are correctly rounded everywhere, in a fixed order. The functions here build ``exp``, ``tanh``,
``sin``, ``cos`` and a matrix product from those operations (accuracy: a few ulp).
"""

from __future__ import annotations

import math

import numpy as np

# Cody-Waite splits (fdlibm): the high parts have trailing zero bits, so ``n * HI`` is exact for moderate n.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_PIO2_1 = 1.57079632673412561417e00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_TWO_OVER_PI = 6.36619772367581382433e-01
_MAX_TRIG_ARG = 2.0**19 * math.pi / 2  # keeps k * _PIO2_1 exact (|k| < 2^19, _PIO2_1 has 33 significant bits)

_EXP_COEF = [1.0 / math.factorial(i) for i in range(14)]  # Taylor on |r| <= ln2/2: truncation < 1e-17
_SIN_COEF = [(-1) ** i / math.factorial(2 * i + 1) for i in range(9)]  # |r| <= pi/4: truncation < 1e-19
_COS_COEF = [(-1) ** i / math.factorial(2 * i) for i in range(10)]


def _horner(x: np.ndarray, coef: list[float]) -> np.ndarray:
    out = np.full_like(x, coef[-1])
    for c in reversed(coef[:-1]):
        out = out * x + c
    return out


def det_exp(x: np.ndarray) -> np.ndarray:
    """exp(x) for float64 arrays, clamped to the finite range."""
    x = np.clip(np.asarray(x, dtype=np.float64), -708.0, 709.0)
    n = np.rint(x * _INV_LN2)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    return np.ldexp(_horner(r, _EXP_COEF), n.astype(np.int64))


def det_tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|); absolute error ~1e-16 (relative error grows for
    |x| << 1e-8, irrelevant for an activation)."""
    x = np.asarray(x, dtype=np.float64)
    e = det_exp(-2.0 * np.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return np.where(x < 0, -t, t)


def _reduce_pio2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if x.size and not np.all(np.abs(x) < _MAX_TRIG_ARG):
        raise ValueError(f"det_sin/det_cos need |x| < {_MAX_TRIG_ARG:.3g}; got max |x| = {np.abs(x).max():.3g}")
    k = np.rint(x * _TWO_OVER_PI)
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    return r, (k.astype(np.int64) & 3)


def det_sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin x, cos x) for float64 arrays with |x| < ~8e5."""
    r, q = _reduce_pio2(x)
    r2 = r * r
    s = r * _horner(r2, _SIN_COEF)
    c = _horner(r2, _COS_COEF)
    sin = np.select([q == 0, q == 1, q == 2], [s, c, -s], -c)
    cos = np.select([q == 0, q == 1, q == 2], [c, -s, -c], s)
    return sin, cos


def det_sin(x: np.ndarray) -> np.ndarray:
    """sin(x) for float64 arrays (see ``det_sincos``)."""
    return det_sincos(x)[0]


def det_cos(x: np.ndarray) -> np.ndarray:
    """cos(x) for float64 arrays (see ``det_sincos``)."""
    return det_sincos(x)[1]


def det_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for x (..., K) and w (K, N), accumulated over k = 0..K-1 in that order (no BLAS)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"det_matmul: inner sizes differ ({x.shape[-1]} vs {w.shape[0]})")
    acc = x[..., 0:1] * w[0]
    for k in range(1, w.shape[0]):
        acc += x[..., k : k + 1] * w[k]
    return acc
