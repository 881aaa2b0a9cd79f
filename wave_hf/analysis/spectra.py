"""Eigen-spectra of recurrent operators, the unit-circle roots that a task's cycles predict, and the spectral
comparison metric used to compare a trained operator with the theory's Phi.

``spectral_comparison(W_first, W_second, threshold)``: keep the eigenvalues with ``|lambda| > threshold``, project them
onto the unit circle (only the angle is kept: with tanh, ``|lambda| > 1`` saturates into a limit cycle, so magnitudes
are ignored on purpose), greedily match each eigenvalue of the first operator to the nearest unused one of the second,
and average the absolute angle differences, in radians.

Unequal counts (documented rule, no NaN): the emt-tools code zero-pads the shorter list, which gives NaN. Here the
greedy matching pairs ``min(n_first, n_second)`` eigenvalues; each eigenvalue left unmatched counts as the largest
possible angular error, pi. ``error`` averages over ``max(n_first, n_second)`` terms (so it can only be small when
the counts agree); ``matched_error`` is the mean over the matched pairs alone (the emt-tools number whenever the
counts are equal). Both are 0.0 when neither operator has an eigenvalue above the threshold; ``matched_error`` is pi
when exactly one of them has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import square_matrix, to_numpy

__all__ = [
    "SpectralComparison",
    "count_above",
    "count_unit_modulus",
    "cycle_roots",
    "eigenvalues",
    "spectral_comparison",
    "unit_circle_angles",
]


def eigenvalues(x: Any, name: str = "W") -> np.ndarray:
    """Eigenvalues (complex128, 1-D) of a square matrix, or ``x`` itself when it already is a 1-D eigenvalue list."""
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.ndim == 1:
        vals = to_numpy(arr, name, dtype=np.complex128)
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"`{name}` contains NaN or inf")
        return vals
    return np.linalg.eigvals(square_matrix(arr, name)).astype(np.complex128)


def count_above(x: Any, threshold: float = 0.8) -> int:
    """Number of eigenvalues with ``|lambda| > threshold`` (the companion code's count of large modes uses 0.8)."""
    return int(np.sum(np.abs(eigenvalues(x)) > threshold))


def count_unit_modulus(x: Any, tol: float = 1e-8) -> int:
    """Number of eigenvalues with ``||lambda| - 1| <= tol`` (64 / 36 / 36 / 36 for Phi of T1..T4 with d = s = 8)."""
    return int(np.sum(np.abs(np.abs(eigenvalues(x)) - 1.0) <= tol))


def cycle_roots(cycles: Iterable[tuple[int, int]]) -> np.ndarray:
    """The unit-circle eigenvalues that a task's cycles give Phi: for each cycle (lag L, sign g), the L roots of
    ``lambda^L = g``, in that order. Returns complex128 (sum of the lags,).

    Raises ValueError for a lag < 1 or a sign other than +1 / -1.
    """
    out: list[complex] = []
    for lag, sign in cycles:
        if int(lag) != lag or lag < 1:
            raise ValueError(f"cycle lag must be an integer >= 1; got {lag!r}")
        if sign not in (1, -1):
            raise ValueError(f"cycle sign must be +1 or -1; got {sign!r}")
        base = 0.0 if sign > 0 else np.pi
        out += [np.exp(1j * (base + 2 * np.pi * k) / lag) for k in range(int(lag))]
    return np.asarray(out, dtype=np.complex128)


def unit_circle_angles(x: Any, threshold: float = 0.9) -> np.ndarray:
    """Sorted angles in (-pi, pi] of the eigenvalues with ``|lambda| > threshold`` (the unit-circle projection)."""
    vals = eigenvalues(x)
    return np.sort(np.angle(vals[np.abs(vals) > threshold]))


def _angle_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| on the circle, in [0, pi]; broadcasts."""
    diff = np.abs(np.asarray(a)[..., None] - np.asarray(b)[None, ...]) % (2 * np.pi)
    return np.minimum(diff, 2 * np.pi - diff)


@dataclass(frozen=True)
class SpectralComparison:
    """Result of ``spectral_comparison`` (angles in radians).

    error: mean over ``max(n_first, n_second)`` terms, unmatched eigenvalues counting as pi (the headline number).
    matched_error: mean over the matched pairs only.
    n_first / n_second: eigenvalue counts above the threshold; pairs: (angle_first, angle_second) per match.
    """

    error: float
    matched_error: float
    n_first: int
    n_second: int
    threshold: float
    pairs: tuple[tuple[float, float], ...]

    @property
    def n_matched(self) -> int:
        return len(self.pairs)

    @property
    def counts_equal(self) -> bool:
        return self.n_first == self.n_second

    @property
    def error_degrees(self) -> float:
        return float(np.degrees(self.error))


def spectral_comparison(W_first: Any, W_second: Any, threshold: float = 0.9) -> SpectralComparison:
    """Angle-only comparison of the spectra of ``W_first`` and ``W_second`` (matrices or 1-D eigenvalue arrays).

    Greedy matching as in emt-tools: the first operator's eigenvalues, in increasing angle, each take the nearest
    (circular angle distance) unused eigenvalue of the second. See the module docstring for unequal counts.
    """
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"`threshold` must be a finite number >= 0; got {threshold!r}")
    first = unit_circle_angles(eigenvalues(W_first, "W_first"), threshold)
    second = unit_circle_angles(eigenvalues(W_second, "W_second"), threshold)
    n1, n2 = len(first), len(second)
    if n1 == 0 and n2 == 0:
        return SpectralComparison(0.0, 0.0, 0, 0, float(threshold), ())
    used = np.zeros(n2, dtype=bool)
    pairs, errs = [], []
    if n2:
        dist = _angle_distance(first, second)
        for i in range(n1):
            if used.all():
                break
            row = np.where(used, np.inf, dist[i])
            j = int(np.argmin(row))
            used[j] = True
            pairs.append((float(first[i]), float(second[j])))
            errs.append(float(row[j]))
    unmatched = max(n1, n2) - len(pairs)
    error = (sum(errs) + np.pi * unmatched) / max(n1, n2)
    matched = float(np.mean(errs)) if errs else float(np.pi)
    return SpectralComparison(float(error), matched, n1, n2, float(threshold), tuple(pairs))
