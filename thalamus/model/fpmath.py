"""Elementary functions built only from correctly rounded IEEE-754 operations.

NumPy dispatches ``exp``, ``log`` and ``power`` to CPU-specific SIMD kernels
(AVX-512 on one machine, a scalar libm on another) which can disagree in the
last bit. A thalamus result must be the same bytes on every worker of a mixed
cluster, so the model uses these versions instead: they use only ``+ - * /``,
``sqrt``, ``rint``, ``frexp`` and ``ldexp``, each of which IEEE-754 defines
exactly, so every machine computes the same bits. They are accurate to a few
units in the last place, far below any modelled effect.

All functions take and return float64 arrays (0-d arrays and scalars work too).
"""

from __future__ import annotations

import math

import numpy as np

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT_HALF = 0.70710678118654752440
_TWO_PI = 6.28318530717958647692

#: 1/k! for the exp series, highest power first (Horner order).
_EXP_COEFFS = tuple(
    1.0 / float(np.prod(np.arange(1, k + 1))) for k in range(14, -1, -1)
)
#: 1/(2k+1) for the atanh series of log, highest power first.
_ATANH_COEFFS = tuple(1.0 / (2 * k + 1) for k in range(12, -1, -1))


def _horner(x: np.ndarray, coefficients: tuple) -> np.ndarray:
    result = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        result = result * x + c
    return result


def exp(x) -> np.ndarray:
    """e**x, identical on every IEEE-754 machine.

    Examples
    --------
    >>> round(float(exp(np.array(1.0))), 12)
    2.718281828459
    """
    x = np.clip(np.asarray(x, dtype=np.float64), -745.0, 709.0)
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return np.ldexp(_horner(r, _EXP_COEFFS), k.astype(np.int32))


def log(x) -> np.ndarray:
    """Natural logarithm for x > 0 (0 gives -inf), identical on every machine.

    Examples
    --------
    >>> float(log(np.array(8.0)) / log(np.array(2.0)))
    3.0
    """
    x = np.asarray(x, dtype=np.float64)
    mantissa, exponent = np.frexp(x)
    small = mantissa < _SQRT_HALF
    mantissa = np.where(small, mantissa * 2.0, mantissa)
    exponent = (exponent - small).astype(np.float64)
    f = (mantissa - 1.0) / (mantissa + 1.0)
    log_m = 2.0 * f * _horner(f * f, _ATANH_COEFFS)
    result = exponent * _LN2_HI + (log_m + exponent * _LN2_LO)
    return np.where(x > 0.0, result, -np.inf)


def power(base, exponent) -> np.ndarray:
    """base**exponent for base >= 0, with 0**e = 0 for e > 0.

    Examples
    --------
    >>> float(power(np.array(4.0), np.array(0.5)))
    2.0
    """
    base = np.asarray(base, dtype=np.float64)
    positive = base > 0.0
    safe = np.where(positive, base, 1.0)
    return np.where(positive, exp(exponent * log(safe)), 0.0)


#: Taylor coefficients of sin(r)/r and cos(r) in r**2, highest power first.
_SIN_COEFFS = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(9, -1, -1))
_COS_COEFFS = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(9, -1, -1))


def _sin_cos_reduced(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin and cos for |r| <= pi/4 by their Taylor series."""
    r2 = r * r
    return r * _horner(r2, _SIN_COEFFS), _horner(r2, _COS_COEFFS)


def sincos_turns(turns) -> tuple[np.ndarray, np.ndarray]:
    """sin and cos of 2*pi*turns, for turns in [0, 1).

    Working in turns keeps the quadrant reduction exact: ``4 * turns`` and its
    rounding lose nothing.

    Examples
    --------
    >>> s, c = sincos_turns(np.array([0.25, 0.5]))
    >>> bool(np.allclose(s, [1.0, 0.0]) and np.allclose(c, [0.0, -1.0]))
    True
    """
    turns = np.asarray(turns, dtype=np.float64)
    quadrant = np.rint(4.0 * turns)
    r = (turns - 0.25 * quadrant) * _TWO_PI
    s, c = _sin_cos_reduced(r)
    q = quadrant.astype(np.int64) % 4
    sin = np.select([q == 0, q == 1, q == 2], [s, c, -s], -c)
    cos = np.select([q == 0, q == 1, q == 2], [c, -s, -c], s)
    return sin, cos
