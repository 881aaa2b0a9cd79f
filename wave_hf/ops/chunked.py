"""Chunked PyTorch backend of the wave scan: exact, parallel over time in chunks, with an adjoint backward.

Within a chunk of T steps the recurrence is a lower block-Toeplitz map, z_chunk = Toe(h) (u_chunk + c), with h the
impulse response (h_0 = I, h_n = sum_k a_k h_{n-k}) and c the drive of the entering history on the first S steps
(``lti.drive_map``). Toe(h) = (I - A_toe)^{-1} comes from one unit-triangular solve per call, so the intra-chunk work
of all chunks is one batched matmul; only the S-value history hand-off between chunks (``lti.propagate_states``) is
sequential. No FFT is used, so poles on the unit circle (copy tasks) stay exact.

The backward pass is the same recurrence run backwards in time with transposed a (g_t = dz_t + sum_k a_k^T g_{t+k}),
grad_u = g, grad a_k = sum_t g_t z_{t-k}^T (a lagged correlation, done as batched matmuls), and the initial-history
gradient comes from the first S adjoint values. Arithmetic runs in float32 (float64 for float64 inputs).

Work happens in a channel-major layout (B, C, Lp, W) (time padded with zeros to a multiple of T at the end), so that
each channel's chunks are rows of one matrix; a transposed copy in and out is the only reshuffle of the data.
"""

from __future__ import annotations

import torch

from . import lti
from .validation import compute_dtype


def chunk_length(substrate: int, width: int) -> int:
    """Chunk length T >= S: a power of two near 256 / W in [16, 64] (64 for diagonal, 16 for width 16), or S."""
    base = min(64, max(16, 1 << (256 // width).bit_length() - 1))
    return max(substrate, base)


def _flip_blocks(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Reverses the order of the (rows x cols) blocks of x (C, rows*W, cols*W), keeping each block."""
    C, RW, _ = x.shape
    W = RW // rows
    return x.view(C, rows, W, cols, W).flip(1, 3).reshape(C, RW, cols * W)


def _chunk_operators(b_blk: torch.Tensor, T: int, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Toe (C, T*W, T*W) = (I - B_toe)^{-1} and Phi (C, T*W, S*W), the map from the entering history to the chunk.

    For ``reverse`` both are conjugated by time reversal: the chunk then depends on the S values that follow it.
    """
    C, S, W, _ = b_blk.shape
    b_pad = torch.cat([b_blk.new_zeros(C, 1, W, W), b_blk], dim=1)
    n = torch.arange(T, device=b_blk.device)
    lag = n[:, None] - n[None, :]  # m - n
    idx = torch.where((lag >= 1) & (lag <= S), lag, 0)
    eye = torch.eye(T * W, dtype=b_blk.dtype, device=b_blk.device).expand(C, T * W, T * W)
    toe = torch.linalg.solve_triangular(eye - lti.blocks_to_matrix(b_pad[:, idx]), eye, upper=False, unitriangular=True)
    phi = toe[:, :, : S * W] @ lti.drive_map(b_blk)
    if reverse:
        return _flip_blocks(toe, T, T), _flip_blocks(phi, T, S)
    return toe, phi


def to_channel_major(x: torch.Tensor, padded_length: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, L, C, W) -> (B, C, Lp, W) in ``dtype``, zero-padded at the end of time."""
    B, L, C, W = x.shape
    out = x.new_empty(B, C, padded_length, W, dtype=dtype)
    out[:, :, :L].copy_(x.transpose(1, 2))
    out[:, :, L:].zero_()
    return out


def from_channel_major(y: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, C, Lp, W) -> (B, L, C, W) in ``dtype``, dropping the time padding."""
    B, C, _, W = y.shape
    out = y.new_empty(B, length, C, W, dtype=dtype)
    out.copy_(y[:, :, :length].transpose(1, 2))
    return out


def scan_channel_major(
    x: torch.Tensor, b_blk: torch.Tensor, hist: torch.Tensor | None, reverse: bool = False
) -> torch.Tensor:
    """Block recurrence z_t = x_t + sum_k b_k z_{t-k} (``reverse``: z_t = x_t + sum_k b_k z_{t+k}).

    x: (B, C, Lp, W) with Lp a multiple of ``chunk_length``; b_blk: (C, S, W, W) in x's dtype; hist: the S values
    before the sequence (after it for ``reverse``), chronological (B, S, C, W), or None for zeros.
    Returns z (B, C, Lp, W).
    """
    B, C, Lp, W = x.shape
    S = b_blk.shape[1]
    T = chunk_length(S, W)
    n = Lp // T
    toe, phi = _chunk_operators(b_blk, T, reverse)
    xc = x.view(B, C, n, T * W)
    y = torch.empty_like(xc)
    for b in range(B):
        torch.bmm(xc[b], toe.transpose(1, 2), out=y[b])
    if n == 1 and hist is None:
        return y.view(B, C, Lp, W)
    # rows of a chunk that form the history of the next chunk in scan order: its last S steps (first S if reverse)
    edge = slice(0, S * W) if reverse else slice((T - S) * W, T * W)
    tails = y[:, :, 1:, edge].flip(2) if reverse else y[:, :, :-1, edge]  # (B, C, n-1, S*W), scan order
    R = lti.propagate_states(tails.permute(2, 1, 3, 0), phi[:, edge], None if hist is None else lti.columns(hist))
    R = R[:n].flip(0) if reverse else R[:n]  # (n, C, S*W, B): history entering chunk c
    Rb = R.permute(3, 1, 0, 2).contiguous()  # (B, C, n, S*W)
    for b in range(B):
        y[b].baddbmm_(Rb[b], phi.transpose(1, 2))
    return y.view(B, C, Lp, W)


def lag_correlation(g: torch.Tensor, z: torch.Tensor, hist: torch.Tensor | None, S: int, T: int) -> torch.Tensor:
    """grad a_k = sum_{b,t} g_t z_{t-k}^T for k = 1..S, with z_{t-k} from ``hist`` for t < k.

    g: adjoint (B, C, Lp, W), zero on the padding; z: outputs (B, L, C, W); hist: (B, S, C, W) or None; T: the chunk
    length (Lp is a multiple of it). Returns (C, S, W, W). Time is cut into blocks of Tc >= S steps (Tc divides T);
    per block, P = g_block^T [previous S values; z_block] is a batched matmul and lag k is the sum of P along its
    block diagonal of offset S - k.
    """
    B, C, Lp, W = g.shape
    L = z.shape[1]
    Tc = T if T == S else 1 << (S - 1).bit_length()
    nb, full = Lp // Tc, L // Tc
    win = g.new_empty(B, C, nb, S + Tc, W)  # win[:, :, i] = z at times i*Tc - S .. (i+1)*Tc - 1
    body = win[:, :, :, S:]
    if full:
        body[:, :, :full].copy_(z[:, : full * Tc].reshape(B, full, Tc, C, W).permute(0, 3, 1, 2, 4))
    if full < nb:
        body[:, :, full, : L - full * Tc].copy_(z[:, full * Tc :].transpose(1, 2))
        body[:, :, full, L - full * Tc :].zero_()
        body[:, :, full + 1 :].zero_()
    win[:, :, 1:, :S] = body[:, :, :-1, Tc - S :]
    if hist is None:
        win[:, :, 0, :S].zero_()
    else:
        win[:, :, 0, :S] = hist.transpose(1, 2)
    gb = g.view(B, C, nb, Tc * W)
    wb = win.view(B, C, nb, (S + Tc) * W)
    P = torch.bmm(gb[0].transpose(1, 2), wb[0])
    for b in range(1, B):
        P.baddbmm_(gb[b].transpose(1, 2), wb[b])
    P = P.view(C, Tc, W, S + Tc, W)
    m = torch.arange(Tc, device=g.device)[:, None]
    k = torch.arange(1, S + 1, device=g.device)[None, :]
    return P[:, m, :, m + S - k, :].sum(0).transpose(0, 1)


def final_history(z: torch.Tensor, hist: torch.Tensor | None, S: int) -> torch.Tensor:
    """Chronological last S values of [hist; z]: (B, S, C, W), from z (B, L, C, W) and hist (B, S, C, W) or None."""
    B, L, C, W = z.shape
    if L >= S:
        return z[:, L - S :]
    head = z.new_zeros(B, S - L, C, W) if hist is None else hist[:, L:].to(z.dtype)
    return torch.cat([head, z], dim=1)


def _setup(a: torch.Tensor, initial_state: torch.Tensor | None, length: int, dtype: torch.dtype):
    """Block boundary, initial history, chunk length and padded length shared by forward and backward."""
    a_blk = lti.to_blocks(a.to(dtype))
    C, S, W, _ = a_blk.shape
    hist = None if initial_state is None else lti.history_from_state(initial_state.to(dtype), C, W)
    T = chunk_length(S, W)
    return a_blk, hist, T, max(1, -(-length // T)) * T


def chunked_forward(
    u: torch.Tensor, a: torch.Tensor, initial_state: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """z (B, L, H, D) and final state (B, H, S, D), both in u's dtype; shapes as in ``wave_hf.ops.wave_scan``."""
    B, L, H, D = u.shape
    a_blk, hist, _, Lp = _setup(a, initial_state, L, compute_dtype(u, a, initial_state))
    C, S, W, _ = a_blk.shape
    y = scan_channel_major(to_channel_major(u.reshape(B, L, C, W), Lp, a_blk.dtype), a_blk, hist)
    z = from_channel_major(y, L, u.dtype)
    return z.view(B, L, H, D), lti.state_from_history(final_history(z, hist, S), H, D)


def chunked_backward(
    grad_z: torch.Tensor,
    grad_final: torch.Tensor | None,
    a: torch.Tensor,
    initial_state: torch.Tensor | None,
    z: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients (u, a, initial_state) of ``chunked_forward`` given grad_z (B, L, H, D), grad_final (B, H, S, D)
    or None, and the forward output z (B, L, H, D)."""
    B, L, H, D = grad_z.shape
    a_blk, hist, T, Lp = _setup(a, initial_state, L, compute_dtype(grad_z, a, initial_state))
    C, S, W, _ = a_blk.shape
    dz = to_channel_major(grad_z.reshape(B, L, C, W), Lp, a_blk.dtype)
    direct = None
    if grad_final is not None:
        onto_z, direct = lti.split_final_grad(lti.history_from_state(grad_final.to(a_blk.dtype), C, W), L)
        dz[:, :, L - onto_z.shape[1] : L] += onto_z.transpose(1, 2)
    g = scan_channel_major(dz, a_blk.transpose(-1, -2), None, reverse=True)
    grad_a = lti.from_blocks(lag_correlation(g, z.reshape(B, L, C, W), hist, S, T), a.shape).to(a.dtype)
    grad_u = from_channel_major(g, L, grad_z.dtype).view(B, L, H, D)
    if initial_state is None:
        return grad_u, grad_a, None
    g_head = g[:, :, : min(S, L)].transpose(1, 2)
    grad_s = lti.state_from_history(lti.history_grad(a_blk, g_head, direct), H, D).to(initial_state.dtype)
    return grad_u, grad_a, grad_s
