"""The theory operator Phi of a linear-boundary wave (the paper's linear TWM) as a float64 numpy matrix.

Layout (shared with ``wave_hf.ops.companion``, never re-derived here): ``vec h = [h_1; ...; h_s]`` with column 1 the
oldest and column s the newest; identity blocks on the block superdiagonal (column i receives column i+1) and the
boundary ``[A_1 ... A_s]`` in the last block row. Cell ``k*d + j`` (0-based) is component j of column k+1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wave_hf.ops.companion import boundary_from_operator, companion_matrix

from ._checks import matrix, positive_int, square_matrix, to_numpy

__all__ = ["phi_from_boundary", "phi_from_model", "phi_from_task_operator", "task_operator_from_phi"]


def phi_from_task_operator(F: Any, d: int, s: int) -> np.ndarray:
    """Phi (s*d, s*d) of the linear HDS ``y(t) = F^T vec(x(t-s), ..., x(t-1))``.

    ``F`` has shape (s*d, d): row ``k*d + i`` is component i of the history vector at offset k (k = 0 oldest). The
    last block row of Phi is ``F^T`` (emt-tools' ``construct_phi_from_operator``).
    """
    d, s = positive_int(d, "d"), positive_int(s, "s")
    F = matrix(F, "F", rows=s * d, cols=d)
    a = boundary_from_operator(torch.from_numpy(F), d, s)
    return companion_matrix(a).numpy()


def phi_from_boundary(a: Any) -> np.ndarray:
    """Phi of one head's op-convention boundary ``a`` ((s, d) diagonal or (s, d, d) dense; ``a[k-1]`` multiplies the
    value k steps back), as built by ``wave_hf.ops.companion.companion_matrix``."""
    arr = to_numpy(a, "a")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[1] != arr.shape[2]):
        raise ValueError(f"`a` must have shape (s, d) or (s, d, d); got {arr.shape}")
    return companion_matrix(torch.from_numpy(arr)).numpy()


def task_operator_from_phi(phi: Any, d: int) -> np.ndarray:
    """Inverse of ``phi_from_task_operator``: the task operator F (s*d, d) read from Phi's boundary row."""
    d = positive_int(d, "d")
    phi = square_matrix(phi, "phi")
    if phi.shape[0] % d:
        raise ValueError(f"`phi` size {phi.shape[0]} is not a multiple of d={d}")
    s = phi.shape[0] // d
    return phi[(s - 1) * d :, :].T.copy() if s else np.zeros((0, d))


def phi_from_model(model: Any, **kwargs: Any) -> np.ndarray:
    """Phi of a trained LBC model through its accessor ``companion_matrix(layer_idx=0, head=0)`` (wave_hf's LBC
    classes; ``kwargs`` are passed on). Returns float64 numpy (s*d, s*d)."""
    fn = getattr(model, "companion_matrix", None)
    if not callable(fn):
        raise TypeError(f"{type(model).__name__} exposes no Phi accessor (expected a `companion_matrix` method)")
    return square_matrix(fn(**kwargs), f"{type(model).__name__}.companion_matrix()")
