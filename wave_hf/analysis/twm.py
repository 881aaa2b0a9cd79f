"""Reference simulators of the Traveling-Wave working Memory (the paper's TWM, Theorem 3.1), float64 numpy.

The substrate is (batch, s, d): column 1 (index 0) oldest, column s (index s-1) newest. One step drops column 1
(open end), moves every other column one place toward column 1 and writes the boundary value into column s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._checks import positive_int, square_matrix, to_numpy

__all__ = ["additive_floor", "linear_twm", "twm_rollout"]


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


def additive_floor(operator: Any, d: int, s: int, horizon: int) -> float:
    """Least-squares error floor of every additive model (the RNN picture: any linear, time-invariant system driven
    by the inputs) on a linear variable-binding task.

    The task: a prompt ``x(0..s-1)`` of i.i.d. +-1 entries given as inputs (zeros after it), then the scored targets
    ``y(t) = operator^T vec(y(t-s..t-1))`` for ``t = s..s+horizon-1`` (``operator`` (s*d, d), oldest column first,
    e.g. ``wave_hf.data.task_operator``). An additive model predicts ``y_hat(t) = sum_k K(t-k) x(k)`` for some
    impulse response ``K(lag)`` (d, d), the same for every t. The target is ``y(t) = sum_k G_t[k] x(k)`` with
    ``G_t[k]`` the exact map (the task's Phi to the power t-s+1, read at the start column), and since
    ``E[x x^T] = I`` the expected squared error is ``sum_{t,k} ||G_t[k] - K(t-k)||_F^2``. It is smallest when each
    ``K(lag)`` is the mean of the ``G_t[k]`` with ``t - k = lag``; what is left is the floor.

    Returns:
        The floor as a mean squared error per scored component (0 exactly when some impulse response solves the task,
        as for T1; no additive model of any size does better in expectation).
    """
    d, s, horizon = positive_int(d, "d"), positive_int(s, "s"), positive_int(horizon, "horizon")
    F = to_numpy(operator, "operator")
    if F.shape != (s * d, d):
        raise ValueError(f"`operator` must have shape (s*d, d) = ({s * d}, {d}); got {F.shape}")
    # G[m, t] = the response of y(s+t) to the prompt entry m (x(k)[i] with m = k*d + i): the TWM from basis prompts
    G = twm_rollout(lambda z: z @ F, np.eye(s * d).reshape(s * d, s, d), horizon).reshape(s, d, horizon, d)
    sq_err = 0.0
    for lag in range(1, s + horizon):
        # the pairs (t, k) with t - k = lag: t = s + j scored (0 <= j < horizon), k = s + j - lag a prompt step
        pairs = [(s + j - lag, j) for j in range(horizon) if 0 <= s + j - lag < s]
        blocks = np.stack([G[k, :, j, :] for k, j in pairs])  # (pairs, d_in, d_out)
        sq_err += float(((blocks - blocks.mean(axis=0)) ** 2).sum())
    return sq_err / (horizon * d)
