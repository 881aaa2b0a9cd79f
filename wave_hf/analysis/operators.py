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


def phi_from_model(model: Any, layer_idx: int = 0) -> np.ndarray:
    """Phi of one layer of an LBC model over ALL its heads: the block-diagonal matrix ``diag(Phi_1, ..., Phi_H)``
    (float64 numpy, (H*s*d, H*s*d)), head h's block read through the model's accessor
    ``companion_matrix(layer_idx=layer_idx, head=h)`` (wave_hf's LBC classes).

    The heads are independent substrates of the same layer (none reads another's), so the layer's state update is
    exactly this block-diagonal operator; its eigenvalues are the union of the heads' eigenvalues. It is the ``phi``
    of the model's ``wave_operators()`` for a one-layer linear model, but defined for any config (the write and read
    maps around it are left out). ``H`` is ``model.config.num_heads``.
    """
    fn = getattr(model, "companion_matrix", None)
    if not callable(fn):
        raise TypeError(f"{type(model).__name__} exposes no Phi accessor (expected a `companion_matrix` method)")
    num_heads = getattr(getattr(model, "config", None), "num_heads", None)
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise TypeError(f"{type(model).__name__} has no `config.num_heads` (a positive int); got {num_heads!r}")
    name = f"{type(model).__name__}.companion_matrix"
    blocks = [square_matrix(fn(layer_idx=layer_idx, head=h), f"{name}(head={h})") for h in range(num_heads)]
    n = sum(b.shape[0] for b in blocks)
    phi = np.zeros((n, n))
    start = 0
    for b in blocks:
        phi[start : start + b.shape[0], start : start + b.shape[0]] = b
        start += b.shape[0]
    return phi
