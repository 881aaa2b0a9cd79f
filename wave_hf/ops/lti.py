"""Linear-time-invariant pieces of the wave recurrence shared by the chunked and Triton backends.

Both boundary forms are handled as a block recurrence over C channels of width W:
diagonal a (H, S, D) is C = H*D channels of width 1, dense a (H, S, D, D) is C = H channels of width D. With these
sizes, data (B, L, H, D) is the same memory as (B, L, C, W), and a state (B, H, S, D) maps to a chronological history
(B, S, C, W) with hist[:, i] = z_{-S+i} (oldest first).

Chunked evaluation (used by both backends): for a chunk of T steps entering with history r (S values),
z_chunk = zero-history response + effect of r, and the history leaving the chunk is r' = tail + M r with
M = Phi**T (the T-th power of Phi, the block companion matrix of the recurrence, ``companion.companion_matrix``).
"""

from __future__ import annotations

import torch


def to_blocks(a: torch.Tensor) -> torch.Tensor:
    """a (H, S, D) -> (H*D, S, 1, 1); a (H, S, D, D) -> itself. Output: (C, S, W, W), block [c, k-1] = a_k."""
    if a.dim() == 3:
        H, S, D = a.shape
        return a.permute(0, 2, 1).reshape(H * D, S, 1, 1)
    return a


def from_blocks(a_blk: torch.Tensor, a_shape: torch.Size) -> torch.Tensor:
    """Inverse of ``to_blocks``: (C, S, W, W) -> a_shape ((H, S, D) or (H, S, D, D))."""
    if len(a_shape) == 3:
        H, S, D = a_shape
        return a_blk.reshape(H, D, S).permute(0, 2, 1)
    return a_blk


def history_from_state(state: torch.Tensor, channels: int, width: int) -> torch.Tensor:
    """state (B, H, S, D) with state[:, :, j] = z_{-1-j} -> chronological history (B, S, C, W)."""
    B, _, S, _ = state.shape
    return state.flip(2).transpose(1, 2).reshape(B, S, channels, width)


def state_from_history(hist: torch.Tensor, heads: int, width: int) -> torch.Tensor:
    """Chronological history (B, S, C, W) -> state (B, H, S, D); inverse of ``history_from_state``."""
    B, S = hist.shape[:2]
    return hist.reshape(B, S, heads, width).transpose(1, 2).flip(2)


def block_toeplitz(seq: torch.Tensor) -> torch.Tensor:
    """Lower block-triangular Toeplitz matrix (C, T*W, T*W) with block [m, n] = seq[:, m - n] for m >= n, else 0.

    seq: (C, T, W, W). Built as a strided window view over one padded row buffer (row block T-1-m of the result
    starts at block m of the buffer), then one flip of the row blocks.
    """
    C, T, W, _ = seq.shape
    rows = seq.new_zeros(C, W, (2 * T - 1) * W)  # [.., w, j*W + x] = seq[T-1-j][w, x] for j < T
    rows[:, :, : T * W] = seq.flip(1).permute(0, 2, 1, 3).reshape(C, W, T * W)
    view = rows.as_strided((C, T, W, T * W), (W * (2 * T - 1) * W, W, (2 * T - 1) * W, 1))
    return view.flip(1).reshape(C, T * W, T * W)


def drive_map(a_blk: torch.Tensor) -> torch.Tensor:
    """(C, S*W, S*W) map from an entering history r to the extra drive of the first S steps of a chunk.

    c_n = sum_{k=n+1..S} a_k z_{n-k} and z_{n-k} = r_{S+n-k}, so block [n, j] = a_{S+n-j} for j >= n: the transpose of
    the lower block-Toeplitz matrix of the sequence a_S^T, a_{S-1}^T, ..., a_1^T.
    """
    return block_toeplitz(a_blk.flip(1).transpose(-1, -2)).transpose(1, 2)


def transition(a_blk: torch.Tensor, steps: int) -> torch.Tensor:
    """(C, S*W, S*W) matrix M = Phi**steps mapping a chronological history to the one ``steps`` later (zero drive)."""
    C, S, W, _ = a_blk.shape
    phi = a_blk.new_zeros(C, S * W, S * W)
    if S > 1:
        phi[:, : (S - 1) * W, W:] = torch.eye((S - 1) * W, dtype=a_blk.dtype, device=a_blk.device)
    # newest value z_0 = sum_i a_{S-i} r_i: the last block row is [a_S, ..., a_1]
    phi[:, (S - 1) * W :] = a_blk.flip(1).permute(0, 2, 1, 3).reshape(C, W, S * W)
    return torch.linalg.matrix_power(phi, steps)


def propagate_states(
    tails: torch.Tensor, M: torch.Tensor, r0: torch.Tensor | None, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """Sequential hand-off between chunks: R[0] = r0, R[c+1] = tails[c] + keep[c] * (M @ R[c]), on row vectors.

    tails: (n, C, B, S*W) zero-history tails of chunks 0..n-1; M: (C, S*W, S*W); r0: (C, B, S*W) or None (zeros);
    keep: (n, 1, B, 1), zero where a document start of a packed row cuts the hand-off from chunk c to c+1, or None
    (all ones). Returns R (n+1, C, B, S*W), R[c] being the history entering chunk c. Row vectors times M^T: with
    B = 1 these batched matrix-vector products are 3x faster on CPU than M times column vectors. The chunks where
    every row keeps its history (known with one host sync) take one ``baddbmm`` as without ``keep``.
    """
    n = tails.shape[0]
    R = tails.new_empty(n + 1, *tails.shape[1:])
    if r0 is None:
        R[0].zero_()
    else:
        R[0].copy_(r0)
    M_t = M.transpose(1, 2).contiguous()
    cut = [False] * n if keep is None else (keep.flatten(1) == 0).any(1).tolist()
    read = torch.empty_like(R[0])
    for c in range(n):
        if cut[c]:
            torch.baddbmm(tails[c], torch.mul(R[c], keep[c], out=read), M_t, out=R[c + 1])
        else:
            torch.baddbmm(tails[c], R[c], M_t, out=R[c + 1])
    return R


def rows(hist: torch.Tensor) -> torch.Tensor:
    """History (B, S, C, W) -> (C, B, S*W), the row layout of ``propagate_states``."""
    B, S, C, W = hist.shape
    return hist.permute(2, 0, 1, 3).reshape(C, B, S * W)


def unrows(x: torch.Tensor, S: int, W: int) -> torch.Tensor:
    """(C, B, S*W) -> history (B, S, C, W); inverse of ``rows``."""
    C, B, _ = x.shape
    return x.reshape(C, B, S, W).permute(1, 2, 0, 3)


def split_final_grad(grad_final: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Splits the gradient of the final history between z and the initial history.

    The final history is ext[L : L+S] of ext = [initial history (S), z (L)]. grad_final: (B, S, C, W) chronological.
    Returns (gradient of z[:, L-n:L] with n = min(S, L), as (B, n, C, W); gradient of the initial history or None).
    """
    S = grad_final.shape[1]
    n = min(S, length)
    if n == S:
        return grad_final, None
    direct = torch.zeros_like(grad_final)
    direct[:, length:] = grad_final[:, : S - length]
    return grad_final[:, S - n :], direct


def history_grad(a_blk: torch.Tensor, g_head: torch.Tensor, direct: torch.Tensor | None) -> torch.Tensor:
    """Gradient of the chronological initial history (B, S, C, W) from the first min(S, L) adjoint values.

    r_j enters the drive of step n as a_{S+n-j} r_j (``drive_map``), so grad r = drive_map^T g[:, :S].
    g_head: (B, min(S, L), C, W); direct: the final-state part from ``split_final_grad`` or None.
    """
    B, n, C, W = g_head.shape
    S = a_blk.shape[1]
    head = g_head.new_zeros(B, S, C, W)
    head[:, :n] = g_head
    out = unrows(torch.bmm(rows(head), drive_map(a_blk)), S, W)
    return out if direct is None else out + direct
