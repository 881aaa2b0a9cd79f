"""Reference simulators of the Traveling-Wave working Memory (the paper's TWM, Theorem 3.1), float64 numpy.

The substrate is (batch, s, d): column 1 (index 0) oldest, column s (index s-1) newest. One step drops column 1
(open end), moves every other column one place toward column 1 and writes the boundary value into column s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._checks import positive_int, square_matrix, to_numpy

__all__ = ["linear_twm", "twm_rollout"]


def twm_rollout(boundary: Callable[[np.ndarray], np.ndarray], initial: Any, steps: int) -> np.ndarray:
    """Autonomous TWM with a (possibly nonlinear) start-boundary map (Theorem 3.1).

    ``h_i(t+1) = h_{i+1}(t)`` for i < s and ``h_s(t+1) = boundary(vec h(t))``, where ``vec h`` is (B, s*d), oldest
    column first. ``initial`` (B, s, d) is the substrate at t = 0 (``h_i(0) = x(i)``). Returns the start column
    ``h_s(t)`` for t = 1..steps, shape (B, steps, d): by the theorem, ``x(s+1), ..., x(s+steps)`` of the HDS.
    """
    h = to_numpy(initial, "initial")
    if h.ndim != 3:
        raise ValueError(f"`initial` must have shape (B, s, d); got {h.shape}")
    steps = positive_int(steps, "steps")
    B, s, d = h.shape
    out = np.empty((B, steps, d))
    for t in range(steps):
        new = np.asarray(boundary(h.reshape(B, s * d)), dtype=np.float64)
        if new.shape != (B, d):
            raise ValueError(f"`boundary` must map (B, s*d) to (B, d) = ({B}, {d}); got {new.shape}")
        h = np.concatenate([h[:, 1:], new[:, None]], axis=1)  # transport toward column 1, boundary into column s
        out[:, t] = new
    return out


def linear_twm(phi: Any, inputs: Any, mode: str = "load") -> np.ndarray:
    """Linear TWM ``vec h(t+1) = Phi vec h(t)`` driven by ``inputs`` (B, L, d), returning the start column after each
    step, (B, L, d) (the model's prediction at step t).

    mode "additive" (the RNN picture): ``vec h(t+1) = Phi vec h(t) + E_s x(t)``.
    mode "load" (Theorem 3.1's initial condition, a shift-register load): while ``x(t)`` is nonzero the start column
    is overwritten with it and the boundary is skipped; with zero input the TWM runs autonomously. Inputs are
    expected to be a prompt followed by zeros (the layout of the variable-binding tasks T1..T4).
    """
    phi = square_matrix(phi, "phi")
    x = to_numpy(inputs, "inputs")
    if x.ndim != 3:
        raise ValueError(f"`inputs` must have shape (B, L, d); got {x.shape}")
    B, L, d = x.shape
    if phi.shape[0] % d:
        raise ValueError(f"`phi` size {phi.shape[0]} is not a multiple of the input width d={d}")
    if mode not in ("load", "additive"):
        raise ValueError(f"`mode` must be 'load' or 'additive'; got {mode!r}")
    n = phi.shape[0]
    shift = phi.copy()
    shift[n - d :] = 0.0  # Phi without its boundary row: the pure transport
    v = np.zeros((B, n))
    out = np.empty((B, L, d))
    for t in range(L):
        xt = x[:, t]
        if mode == "additive":
            v = v @ phi.T
            v[:, n - d :] += xt
        else:
            active = np.any(xt != 0, axis=1)
            v = np.where(active[:, None], v @ shift.T, v @ phi.T)
            v[active, n - d :] = xt[active]
        out[:, t] = v[:, n - d :]
    return out
