"""The companion ("Phi") form of the wave recurrence, in the paper's layout (substrate columns, newest last).

The substrate stacks s columns of d waves, column 1 oldest and column s newest:
``vec h = [h_1; ...; h_s]``. One step is ``vec h(t+1) = Phi vec h(t)`` with

    Phi = (S_s kron I_d) + (e_s kron I_d) [A_1 ... A_s]

(identity blocks on the block superdiagonal: column i receives column i+1; the last block row is the
boundary). In the op convention of ``wave_scan`` (``a[k-1]`` multiplies the value k steps back) the
column of age k-1 is column s-k+1, so ``A_i = a[s - i]``.
"""

from __future__ import annotations

import torch


def _as_dense_blocks(a: torch.Tensor) -> torch.Tensor:
    """(S, D) diagonal or (S, D, D) dense boundary of one head -> (S, D, D)."""
    if a.dim() == 2:
        return torch.diag_embed(a)
    if a.dim() == 3 and a.shape[1] == a.shape[2]:
        return a
    raise ValueError(f"boundary `a` of one head must have shape (S, D) or (S, D, D); got {tuple(a.shape)}")


def companion_matrix(a: torch.Tensor) -> torch.Tensor:
    """Phi (S*D, S*D) of one head's boundary ``a`` ((S, D) diagonal or (S, D, D) dense, op convention)."""
    blocks = _as_dense_blocks(a)
    S, D, _ = blocks.shape
    phi = torch.zeros(S * D, S * D, dtype=blocks.dtype, device=blocks.device)
    if S > 1:
        phi[: (S - 1) * D, D:] = torch.eye((S - 1) * D, dtype=blocks.dtype, device=blocks.device)
    # last block row [A_1 ... A_s], A_i = a[s - i]: flip the lag axis so that column 1 (oldest) comes first
    phi[(S - 1) * D :, :] = blocks.flip(0).permute(1, 0, 2).reshape(D, S * D)
    return phi


def boundary_from_operator(F: torch.Tensor, d: int, s: int) -> torch.Tensor:
    """Op-convention boundary a (s, d, d) of a linear HDS ``y(t) = F^T vec(x(t-s), ..., x(t-1))``.

    ``F`` has shape (s*d, d); row ``k*d + i`` is component i of the history vector at offset k (k = 0 oldest,
    i.e. lag s). Then ``a[lag-1] = F^T[:, (s-lag)*d : (s-lag+1)*d]``.
    """
    if F.shape != (s * d, d):
        raise ValueError(f"task operator F must have shape (s*d, d) = ({s * d}, {d}); got {tuple(F.shape)}")
    blocks = F.T.reshape(d, s, d).permute(1, 0, 2)  # blocks[k] acts on history offset k (k = 0 oldest)
    return blocks.flip(0).contiguous()


def boundary_from_companion(phi: torch.Tensor, d: int) -> torch.Tensor:
    """Inverse of ``companion_matrix`` for the dense form: read the boundary row of Phi back as a (s, d, d)."""
    n = phi.shape[0]
    if phi.dim() != 2 or phi.shape[1] != n or n % d:
        raise ValueError(f"Phi must be square with a size divisible by d={d}; got {tuple(phi.shape)}")
    s = n // d
    return phi[(s - 1) * d :, :].reshape(d, s, d).permute(1, 0, 2).flip(0).contiguous()
