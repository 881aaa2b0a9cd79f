"""Hidden states in wave coordinates: frames of the substrate over time, the "315" stimulus and a shift score
(the paper's figure of the "315" input travelling through the trained RNN's wave coordinates)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import positive_int, to_numpy
from .basis import WaveBasis

__all__ = ["bitmap_315", "wave_frames", "wave_shift_score"]

# (time, component) cells of the "315" bitmap that are +1; every other entry is -1 (as in the companion code's notebook)
_BITMAP_315_ON = {0: (2, 4, 6), 1: (2, 3, 4, 5, 6), 3: (2, 3, 4, 5, 6), 5: (2, 3, 4, 6), 6: (2, 4, 5, 6)}


def bitmap_315() -> np.ndarray:
    """The hand-made "315" input (s = 8 time steps, d = 8 components) with entries +-1: row t is x(t)."""
    x = -np.ones((8, 8))
    for t, comps in _BITMAP_315_ON.items():
        x[t, list(comps)] = 1.0
    return x


def wave_frames(basis: WaveBasis, hidden: Any, zscore: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states (T, n) -> frames (T, s, d) of ``Psi* h(t)`` laid out as the substrate (column 1 oldest), and the
    (s, d) mask of kept cells. With ``zscore`` each frame is standardised over its kept cells (pruned cells stay 0)."""
    frames, mask = basis.substrate(hidden)
    if frames.ndim != 3:
        raise ValueError(f"`hidden` must be one trajectory (T, n); got {frames.shape[:-2] + (basis.psi.shape[0],)}")
    if zscore:
        vals = frames[:, mask]
        mu = vals.mean(axis=1, keepdims=True)
        sd = vals.std(axis=1, keepdims=True)
        vals = (vals - mu) / np.where(sd > 0, sd, 1.0)
        frames = np.zeros_like(frames)
        frames[:, mask] = vals
    return frames, mask


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else 0.0


def wave_shift_score(frames: Any, mask: Any | None = None, start: int = 0, stop: int | None = None) -> dict:
    """How well consecutive frames are one-column shifts toward column 1.

    For t in [start, stop-1): ``shifted`` = correlation of ``frame[t+1][columns 1..s-1]`` with ``frame[t][columns
    2..s]`` (the content moved one column), ``static`` = correlation of ``frame[t+1]`` with ``frame[t]`` on the same
    columns. Only cells kept in both positions enter. A travelling wave has ``shifted`` near 1 and above ``static``.
    Returns {"shifted", "static", "per_step"} (per_step: shifted correlation per t).
    """
    F = to_numpy(frames, "frames")
    if F.ndim != 3 or F.shape[0] < 2 or F.shape[1] < 2:
        raise ValueError(f"`frames` must have shape (T >= 2, s >= 2, d); got {F.shape}")
    T, s, d = F.shape
    M = np.ones((s, d), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if M.shape != (s, d):
        raise ValueError(f"`mask` must have shape (s, d) = ({s}, {d}); got {M.shape}")
    stop = T if stop is None else stop
    if not 0 <= start < stop - 1 < T:
        raise ValueError(f"need 0 <= start < stop - 1 < T={T}; got start={start}, stop={stop}")
    positive_int(stop - start, "stop - start")
    both = M[:-1] & M[1:]  # cell (k, j) with k+1 -> k both kept
    per, static = [], []
    for t in range(start, stop - 1):
        per.append(_corr(F[t + 1, :-1][both], F[t, 1:][both]))
        static.append(_corr(F[t + 1, :-1][both], F[t, :-1][both]))
    return {"shifted": float(np.mean(per)), "static": float(np.mean(static)), "per_step": np.asarray(per)}
