"""Chunked PyTorch backend of the wave scan: exact, parallel over time in chunks, with an adjoint backward.

Within a chunk of T steps the recurrence is a lower block-Toeplitz map, z_chunk = Toe(h) (u_chunk + c), with h the
impulse response (h_0 = I, h_n = sum_k a_k h_{n-k}, computed once per call for n < T) and c the drive of the entering
history on the first S steps (``lti.drive_map``), so the intra-chunk work of all chunks is one batched matmul; only
the S-value history hand-off between chunks (``lti.propagate_states``) is sequential. No FFT is used, so poles on the
unit circle (copy tasks) stay exact.

The backward pass is the same recurrence run backwards in time with transposed a (g_t = dz_t + sum_k a_k^T g_{t+k}),
grad_u = g, grad a_k = sum_t g_t z_{t-k}^T (a lagged correlation, done as batched matmuls), and the initial-history
gradient comes from the first S adjoint values. Arithmetic runs in float32 (float64 for float64 inputs).

Work happens in a channel-major layout (C, B, Lp, W) (time padded with zeros to a multiple of T at the end), so that
the chunks of all batch rows of a channel are the rows of one matrix and every step is one batched matmul over the
channels; transposed copies in and out are the only reshuffles of the data.

Packed rows (``reset``, ``wave_hf.ops.resets``) keep this structure, and no output reads another document, not even
through rounding: a document that starts at step j > 0 of a chunk gets its rows in that chunk from the chunk's
Toeplitz map applied to the chunk's inputs with the steps before j zeroed (one batched matmul over a copy of the
chunks that hold such starts; the map is causal, so the chunk's later documents do not reach them), written over the
chunk's response; the hand-off carries only the history values each chunk's first document reads (zero before its
start), and across a chunk that holds a start it carries only that chunk's own tail values (``_hand_off_masks``: one
product per chunk, no masks inside the sequential loop of ``lti.propagate_states`` where no start cuts it); the
entering history's response is then written over again by the rows of the starts. The adjoint does the same in
reverse time, where a document "starts" at its last position. The lag correlations (the gradients of a and of the
FIR taps, sums over all documents) subtract their cross-document pairs, which all lie within S steps after a start,
as one more block per start (``lag_correlation``); the FIR readout's first S outputs after a start, and its
adjoint's last S values before one, are read again from their own document. The index tensors of all this are built
once per forward and once per backward call (``_Documents``).

``chunked_fir_forward`` / ``chunked_fir_backward`` add the FIR readout y_t = sum_{j<S} f_j z_{t-j} in the same
layout: per chunk one more matmul by a banded Toeplitz matrix plus one by the history each chunk enters with (a
by-product of the hand-off), so the waves never leave the channel-major layout between the scan and the readout.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import lti
from .resets import NO_START, before_first_reset, final_window, start_list
from .validation import compute_dtype


def chunk_length(substrate: int, width: int) -> int:
    """Chunk length T >= S: a power of two near 256 / W in [16, 64] (64 up to width 4, 16 for width 16), or S.

    Per value the chunk matmul costs 2*T*W flops and the sequential hand-off 2*S^2*W/T, in L/T Python-level steps;
    building the operators costs about C*(T*W)^2 per call, which keeps T*W near 256 for wide blocks. With the
    hand-off on row vectors (``lti.propagate_states``), T = 128 is no faster than 64 at S = 64 (scan + FIR readout,
    forward + backward: equal at B = 1, L = 8192 and B = 4, L = 2048, 1.25x slower at B = 16, L = 512).
    """
    base = min(64, max(16, 1 << (256 // width).bit_length() - 1))
    return max(substrate, base)


def _chunk_operators(a_blk: torch.Tensor, T: int, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Toe (C, T*W, T*W), block [m, n] = h_{m-n} (zero for n > m), and Phi (C, T*W, S*W) = Toe[:, :S] drive_map, the
    map from the entering history to the chunk.

    The impulse response h is the first block column of Toe = (I - A_toe)^{-1}, A_toe the block-Toeplitz matrix of
    [0, a_1, ..., a_S] (one unit-triangular solve with W right-hand sides). For ``reverse`` (the adjoint recurrence
    with a_k^T, run backwards in time) the operators are the time reversals of those of a^T, which equal Toe^T and
    (drive_map Toe[last S rows])^T.
    """
    C, S, W, _ = a_blk.shape
    eye = torch.eye(W, dtype=a_blk.dtype, device=a_blk.device)
    lags = a_blk.new_zeros(C, T, W, W)  # [I, -a_1, ..., -a_S, 0, ...]: lti.block_toeplitz(lags) = I - A_toe
    lags[:, 0] = eye
    lags[:, 1 : S + 1] = -a_blk[:, : T - 1]
    e0 = lags.new_zeros(T * W, W)
    e0[:W] = eye
    h = torch.linalg.solve_triangular(lti.block_toeplitz(lags), e0.expand(C, T * W, W), upper=False, unitriangular=True)
    toe = lti.block_toeplitz(h.view(C, T, W, W))
    drive = lti.drive_map(a_blk)
    if reverse:
        return toe.transpose(1, 2), (drive @ toe[:, (T - S) * W :]).transpose(1, 2)
    return toe, toe[:, :, : S * W] @ drive


def to_channel_major(x: torch.Tensor, padded_length: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, L, C, W) -> (C, B, Lp, W) in ``dtype``, zero-padded at the end of time.

    Two copies (a per-batch transpose, then a permutation of contiguous (L, W) blocks) are much faster on CPU than one
    4-D permuting copy.
    """
    B, L, C, W = x.shape
    per_batch = x.new_empty(B, C, L, W, dtype=dtype)
    per_batch.copy_(x.transpose(1, 2))
    out = x.new_empty(C, B, padded_length, W, dtype=dtype)
    out[:, :, :L].copy_(per_batch.transpose(0, 1))
    out[:, :, L:].zero_()
    return out


def from_channel_major(y: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
    """(C, B, Lp, W) -> (B, L, C, W) in ``dtype``, dropping the time padding."""
    C, B, _, W = y.shape
    out = y.new_empty(B, length, C, W, dtype=dtype)
    out.copy_(y[:, :, :length].permute(1, 2, 0, 3))
    return out


class _Documents(NamedTuple):
    """The document starts of packed rows (``reset`` (B, L)) as the index tensors of one chunked forward or backward
    call: built once (one host sync, ``start_list``) and shared by the scan, the FIR readout and the lag correlations.

    b, p, length, previous: (R,) row, position and length of each document, and the start of the document before it
    in its row (``NO_START`` for a row's first). after / before: (R, S) flat rows b*Lp + t of the steps t = p .. p+S-1
    and t = p-S .. p-1 (clamped into the row and to 0), and after_pad / before_pad (R, S, 1) bool the steps past the
    document's end and before time 0, which read as zero; before_steps (R, S) the steps p-S .. p-1 themselves.
    """

    reset: torch.Tensor
    b: torch.Tensor
    p: torch.Tensor
    length: torch.Tensor
    previous: torch.Tensor
    after: torch.Tensor
    after_pad: torch.Tensor
    before: torch.Tensor
    before_pad: torch.Tensor
    before_steps: torch.Tensor


def _documents(reset: torch.Tensor, padded_length: int, S: int) -> _Documents:
    """``_Documents`` of ``reset`` (B, L) for channel-major tensors of padded length Lp and substrate S."""
    b, p, length = start_list(reset)
    previous = torch.full_like(p, NO_START)
    previous[1:] = torch.where(b[1:] == b[:-1], p[:-1], previous[1:])
    steps = torch.arange(S, device=p.device)
    row = (b * padded_length)[:, None]
    after, before = p[:, None] + steps, p[:, None] - S + steps
    return _Documents(
        reset, b, p, length, previous,
        row + after.clamp(max=padded_length - 1), (steps >= length[:, None])[:, :, None],
        row + before.clamp(min=0), (before < 0)[:, :, None], before,
    )  # fmt: skip


class _Rows(NamedTuple):
    """Where ``_write_rows`` writes: index (1, M*W), the scatter index of M rows of a (C, N*W) view, and pick (M,),
    the entries of the (R*K) window rows that go there."""

    index: torch.Tensor
    pick: torch.Tensor


def _rows_to_write(rows: torch.Tensor, valid: torch.Tensor, width: int) -> _Rows:
    """The rows (R, K) of windows where valid (R, K) bool, for ``_write_rows``; one host sync (``nonzero``)."""
    pick = valid.view(-1).nonzero().squeeze(1)
    index = rows.reshape(-1)[pick, None] * width + torch.arange(width, device=rows.device)
    return _Rows(index.view(1, -1), pick)


def _write_rows(flat: torch.Tensor, rows: _Rows, windows: torch.Tensor) -> None:
    """flat[:, rows] = the picked window rows, in place; flat (C, N, W), windows (C, R*K, W) (a scatter: much
    faster on CPU than ``index_copy_`` along the middle dimension)."""
    C = flat.shape[0]
    values = windows.reshape(C, -1, flat.shape[2]).index_select(1, rows.pick)
    flat.view(C, -1).scatter_(1, rows.index.expand(C, -1), values.view(C, -1))


def _window_rows(x: torch.Tensor, rows: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """x (C, B, Lp, W) at the flat rows (R, K) of ``_Documents``, zero where pad (R, K, 1): (C, R, K, W)."""
    C, _, _, W = x.shape
    out = x.reshape(C, -1, W).index_select(1, rows.reshape(-1)).view(C, *rows.shape, W)
    return out.masked_fill_(pad, 0)


class _Heads(NamedTuple):
    """The documents whose scan starts inside a chunk (the adjoint runs backwards in time: for it, those that end
    inside one): chunks (R,) the flat chunk b*n + c of each, drop (R, T, 1) bool the steps of that chunk on the far
    side of the start (the inputs the document does not read), and rows, the steps of the chunk from the start to the
    document's other end or the chunk's, which take the document's own response."""

    chunks: torch.Tensor
    drop: torch.Tensor
    rows: _Rows


def _heads(docs: _Documents, padded_length: int, T: int, W: int, reverse: bool) -> _Heads | None:
    """``_Heads`` of a forward (``reverse``: adjoint) scan, or None when no document starts inside a chunk. In time
    order a document starts at p (span: its length) or, in reverse, at its last step p' - 1 before the next start p'
    (span: back to the previous start, or to time 0)."""
    step, span = (docs.p - 1, docs.p - docs.previous.clamp(min=0)) if reverse else (docs.p, docs.length)
    offset = step % T
    # a document that starts at a chunk's first step (in reverse: ends at its last) is the chunk's own response
    inner = (docs.p > 0) & (offset < T - 1) if reverse else offset > 0
    pick = inner.nonzero().squeeze(1)
    if pick.numel() == 0:
        return None
    step, span, offset = step[pick, None], span[pick, None], offset[pick, None]
    chunks = docs.b[pick] * (padded_length // T) + step.squeeze(1) // T
    steps = torch.arange(T, device=step.device)
    if reverse:  # the adjoint is anti-causal: the rows up to the last step read only the inputs up to it
        read = steps <= offset
        rows = read & (steps > offset - span)
    else:
        read = steps >= offset
        rows = read & (steps < offset + span)
    return _Heads(chunks, ~read[:, :, None], _rows_to_write(chunks[:, None] * T + steps, rows, W))


def _head_windows(xchunks: torch.Tensor, toe: torch.Tensor, heads: _Heads) -> torch.Tensor:
    """The exact zero-history response of each document of ``heads`` over its chunk: the chunk's Toeplitz map applied
    to the chunk's inputs with those the document does not read zeroed (the map is causal, anti-causal for the
    adjoint, so the rows ``heads.rows`` read no other document). xchunks (C, B*n, T*W); toe (C, T*W, T*W) in time
    order. Returns (C, R*T, W) for ``_write_rows``."""
    C, _, TW = xchunks.shape
    T = heads.drop.shape[1]
    window = xchunks.index_select(1, heads.chunks)
    window.view(C, -1, T, TW // T).masked_fill_(heads.drop, 0)
    return torch.bmm(window, toe.transpose(1, 2)).view(C, -1, TW // T)


def _scan_starts(reset: torch.Tensor, padded_length: int, reverse: bool) -> torch.Tensor:
    """Document starts in scan order, (B, Lp) bool. Forward: ``reset`` padded at the end. Reverse (scan position
    Lp-1-t for time t): a document's last position t, i.e. t + 1 < L starts the next one."""
    B, L = reset.shape
    starts = reset.new_zeros(B, padded_length)
    if reverse:
        starts[:, : L - 1] = reset[:, 1:]
        return starts.flip(1)
    starts[:, :L] = reset
    return starts


def _hand_off_masks(starts: torch.Tensor, T: int, S: int, W: int, reverse: bool, dtype: torch.dtype):
    """The hand-off of packed rows, chunks in scan order: reads (n, 1, B, S*W), a value of the history entering chunk
    c lies in the document of the chunk's first step (rows in time order: reversed scan order if ``reverse``), and
    keep (n-1, 1, B, 1), no document starts from step 0 of chunk c to step 0 of chunk c+1.

    The history each chunk reads, R'[c] = reads[c] * R[c], then follows R'[c+1] = reads[c+1] * tails[c] +
    keep[c] * (M @ R'[c]) (``lti.propagate_states``): when chunk c holds a start, the entering values reach only the
    tail values before its first start, and chunk c+1 reads only those after its last one.
    """
    B, Lp = starts.shape
    n = Lp // T
    # counts[:, S + t] = starts at scan positions <= t (zero for t < 0): a value at h is read by chunk c when no
    # start lies in (h, c*T], and the hand-off from c to c+1 is kept when none lies in [c*T, (c+1)*T]
    counts = torch.cat([starts.new_zeros(B, S, dtype=torch.int32), starts.cumsum(1, dtype=torch.int32)], 1)
    reads = counts.unfold(1, S, T)[:, :n] == counts[:, S::T, None]  # (B, n, S): scan positions c*T - S + i
    reads = reads.flip(2) if reverse else reads
    keep = counts[:, S + T :: T] == counts[:, S - 1 :: T][:, : n - 1]  # (B, n-1)
    return reads.permute(1, 0, 2).repeat_interleave(W, 2)[:, None].to(dtype), keep.T[:, None, :, None].to(dtype)


def scan_channel_major(
    x: torch.Tensor,
    a_blk: torch.Tensor,
    hist: torch.Tensor | None,
    reverse: bool = False,
    docs: _Documents | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Block recurrence z_t = x_t + sum_k a_k z_{t-k}, or with ``reverse`` its adjoint z_t = x_t + sum_k a_k^T z_{t+k}.

    x: (C, B, Lp, W) with Lp a multiple of ``chunk_length``; a_blk: (C, S, W, W) in x's dtype; hist: the S values
    before the sequence, chronological (B, S, C, W), or None for zeros (always None for ``reverse``: the adjoint
    starts from zeros after the end, and the zero padding at the end keeps it zero there); docs: the document starts
    of packed rows or None. Returns z (C, B, Lp, W) and the S values entering each chunk as its first document reads
    them (zero before that document's start), (C, B*n, S*W) with row b*n + c for chunk c of row b (chronological, in
    scan order), or None when no chunk has a history (one chunk, no ``hist``).
    """
    C, B, Lp, W = x.shape
    S = a_blk.shape[1]
    T = chunk_length(S, W)
    n = Lp // T
    toe, phi = _chunk_operators(a_blk, T, reverse)
    xchunks = x.view(C, B * n, T * W)
    y = torch.bmm(xchunks, toe.transpose(1, 2))  # every chunk of every row, from zero history
    heads = keep = reads = None
    if docs is not None:  # documents that start inside a chunk get their exact rows (overwritten again below)
        heads = _heads(docs, Lp, T, W, reverse)
        if heads is not None:
            windows = _head_windows(xchunks, toe, heads)
            _write_rows(y.view(C, B * Lp, W), heads.rows, windows)
        reads, keep = _hand_off_masks(_scan_starts(docs.reset, Lp, reverse), T, S, W, reverse, y.dtype)
    if n == 1 and hist is None:
        return y.view(C, B, Lp, W), None
    # rows of a chunk that form the history of the next chunk in scan order: its last S steps (first S if reverse)
    edge = slice(0, S * W) if reverse else slice((T - S) * W, T * W)
    chunks = y.view(C, B, n, T * W)
    tails = chunks[:, :, 1:, edge].flip(2) if reverse else chunks[:, :, :-1, edge]  # (C, B, n-1, S*W), scan order
    tails = tails.permute(2, 0, 1, 3)
    r0 = None if hist is None else lti.rows(hist)
    if reads is None:
        tails = tails.contiguous()
    else:  # each chunk's history as its first document reads it (``_hand_off_masks``)
        tails = tails * reads[1:]
        r0 = None if r0 is None else r0 * reads[0]
    R = lti.propagate_states(tails, phi[:, edge], r0, keep)  # (n, C, B, S*W): history read by chunk c, scan order
    entering = (R.flip(0) if reverse else R).permute(1, 2, 0, 3).reshape(C, B * n, S * W)  # chunks in time order
    y.baddbmm_(entering, phi.transpose(1, 2))
    if heads is not None:  # the rows from a chunk's first start on do not read the entering history
        _write_rows(y.view(C, B * Lp, W), heads.rows, windows)
    return y.view(C, B, Lp, W), entering


def _history_before(z: torch.Tensor, hist: torch.Tensor | None, docs: _Documents) -> torch.Tensor:
    """The S values z_{p-S} .. z_{p-1} before each document start p, from z (C, B, Lp, W) or, before time 0, from hist
    (B, S, C, W) (None: zeros): (C, R, S, W)."""
    out = _window_rows(z, docs.before, docs.before_pad)
    if hist is not None:  # only the starts p < S reach back to the initial history
        C, S = z.shape[0], hist.shape[1]
        early = (docs.p < S).nonzero().squeeze(1)
        before = docs.before_steps[early]
        rows = (docs.b[early, None] * S + (before + S).clamp(max=S - 1)).view(-1)
        past = hist.permute(2, 0, 1, 3).reshape(C, -1, z.shape[3]).index_select(1, rows).view(C, -1, S, z.shape[3])
        out.index_add_(1, early, past.masked_fill_(docs.before_pad[early].logical_not()[None], 0))
    return out


def _lag_diagonals(P: torch.Tensor, S: int, first_lag: int) -> torch.Tensor:
    """sum_m P[:, m, :, m + S - k, :] for the S lags k = first_lag .. first_lag + S - 1: (C, S, W, W).

    P: contiguous (C, I, W, J, W) with J >= I + S - first_lag and first_lag in {0, 1}. Each lag is a block diagonal
    of P, read through one strided view (no gather).
    """
    C, I, W, J, _ = P.shape
    sc, sm, sw = P.stride()[:3]
    # [c, d, m] = P[c, m, :, m + 1 - first_lag + d, :], d = S - 1 - (k - first_lag)
    view = P.as_strided((C, S, I, W, W), (sc, W, sm + W, sw, 1), P.storage_offset() + (1 - first_lag) * W)
    return view.sum(2).flip(1)


def lag_correlation(
    g: torch.Tensor,
    z: torch.Tensor,
    hist: torch.Tensor | None,
    S: int,
    T: int,
    first_lag: int = 1,
    cross: tuple[_Documents, torch.Tensor] | None = None,
) -> torch.Tensor:
    """sum_{b,t} g_t z_{t-k}^T for the S lags k = first_lag .. first_lag + S - 1 (grad a_k: lags 1..S; the FIR taps:
    lags 0..S-1), with z_{t-k} from ``hist`` for t < k.

    g, z: adjoint and outputs, channel-major (C, B, Lp, W), g zero on the padding; hist: (B, S, C, W) or None; T: the
    chunk length (Lp is a multiple of it). Returns (C, S, W, W). Time is cut into blocks of Tc >= S steps (Tc divides
    T); P = sum over blocks of g_block^T [last S values before the block; z_block], and lag k is the sum of P along
    its block diagonal of offset S - k. The "before" part pairs each block with the tail of the previous one through
    one matmul over the flattened (batch, block) rows; the pairs that cross a batch row are then swapped for the
    initial history. With ``cross`` (the documents of packed rows and the S values of z before each start, from
    ``_history_before``), the pairs across a document start are left out: they all lie within S steps of a start, and
    the first S values of g after each start times the S values of z before it are subtracted from the "before" part,
    as one more block per start.
    """
    C, B, Lp, W = g.shape
    Tc = T if T == S else 1 << (S - 1).bit_length()
    nb, tail = Lp // Tc, slice((Tc - S) * W, Tc * W)
    G = g.view(C, B * nb, Tc * W)
    Z = z.view(C, B * nb, Tc * W)
    body = torch.bmm(G.transpose(1, 2), Z)  # (C, Tc*W, Tc*W)
    before = torch.bmm(G[:, 1:].transpose(1, 2), Z[:, :-1, tail])  # (C, Tc*W, S*W)
    firsts = G.view(C, B, nb, Tc * W)[:, :, 0].transpose(1, 2)  # (C, Tc*W, B): first block of each batch row
    before.baddbmm_(firsts[:, :, 1:], Z.view(C, B, nb, Tc * W)[:, :-1, nb - 1, tail], alpha=-1)
    if hist is not None:
        before.baddbmm_(firsts, hist.permute(2, 0, 1, 3).reshape(C, B, S * W))
    if cross is not None:  # minus the pairs across a document start p: t = p + i, t - k = p - S + h (i, h < S)
        docs, z_before = cross
        g_after = _window_rows(g, docs.after, docs.after_pad)
        before[:, : S * W].baddbmm_(g_after.view(C, -1, S * W).transpose(1, 2), z_before.view(C, -1, S * W), alpha=-1)
    return _lag_diagonals(torch.cat([before, body], dim=-1).view(C, Tc, W, S + Tc, W), S, first_lag)


def final_history(z: torch.Tensor, hist: torch.Tensor | None, S: int, reset: torch.Tensor | None) -> torch.Tensor:
    """Chronological last S values of [hist; z]: (B, S, C, W), from z (B, L, C, W) and hist (B, S, C, W) or None;
    with ``reset``, zero before the last document (the substrate after the last position)."""
    B, L, C, W = z.shape
    if L >= S:
        out = z[:, L - S :]
    else:
        head = z.new_zeros(B, S - L, C, W) if hist is None else hist[:, L:].to(z.dtype)
        out = torch.cat([head, z], dim=1)
    return out if reset is None else out * final_window(reset, S)[:, :, None, None].to(out.dtype)


def _setup(
    a: torch.Tensor, initial_state: torch.Tensor | None, length: int, dtype: torch.dtype, reset: torch.Tensor | None
):
    """Block boundary, initial history, chunk length, padded length and the documents of packed rows (None without
    ``reset``) shared by forward and backward."""
    a_blk = lti.to_blocks(a.to(dtype))
    C, S, W, _ = a_blk.shape
    hist = None if initial_state is None else lti.history_from_state(initial_state.to(dtype), C, W)
    T = chunk_length(S, W)
    Lp = max(1, -(-length // T)) * T
    return a_blk, hist, T, Lp, None if reset is None else _documents(reset, Lp, S)


def chunked_forward(
    u: torch.Tensor, a: torch.Tensor, initial_state: torch.Tensor | None, reset: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """z (B, L, H, D) and final state (B, H, S, D), both in u's dtype; shapes as in ``wave_hf.ops.wave_scan``."""
    B, L, H, D = u.shape
    a_blk, hist, _, Lp, docs = _setup(a, initial_state, L, compute_dtype(u, a, initial_state), reset)
    C, S, W, _ = a_blk.shape
    y, _ = scan_channel_major(to_channel_major(u.reshape(B, L, C, W), Lp, a_blk.dtype), a_blk, hist, docs=docs)
    z = from_channel_major(y, L, u.dtype)
    return z.view(B, L, H, D), lti.state_from_history(final_history(z, hist, S, reset), H, D)


def _final_grad_onto(dz: torch.Tensor, grad_final: torch.Tensor, reset: torch.Tensor | None, length: int):
    """Adds the part of grad_final (B, S, C, W, chronological, compute dtype) that falls on z to dz (C, B, Lp, W);
    returns the part that falls on the initial history (or None)."""
    if reset is not None:
        grad_final = grad_final * final_window(reset, grad_final.shape[1])[:, :, None, None].to(grad_final.dtype)
    onto_z, direct = lti.split_final_grad(grad_final, length)
    dz[:, :, length - onto_z.shape[1] : length] += onto_z.permute(2, 0, 1, 3)
    return direct


def _cross(docs: _Documents | None, zc: torch.Tensor, hist: torch.Tensor | None):
    """The ``cross`` argument of ``lag_correlation`` for the waves zc (C, B, Lp, W), or None without documents."""
    return None if docs is None else (docs, _history_before(zc, hist, docs))


def _adjoint(
    dz: torch.Tensor, zc: torch.Tensor, a_blk: torch.Tensor, hist: torch.Tensor | None, T: int,
    direct: torch.Tensor | None, want_history: bool, cross: tuple[_Documents, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of the scan given dz, the gradient of its outputs, channel-major (C, B, Lp, W) and zero on the
    padding, and its outputs zc (C, B, Lp, W): (g = grad u (C, B, Lp, W), grad a_blk (C, S, W, W), grad of the
    chronological initial history (B, S, C, W) plus ``direct`` (its other gradient, or None), if ``want_history``).
    cross: packed rows' documents and zc before each start (as in ``lag_correlation``), or None."""
    S = a_blk.shape[1]
    g, _ = scan_channel_major(dz, a_blk, None, reverse=True, docs=None if cross is None else cross[0])
    grad_a = lag_correlation(g, zc, hist, S, T, cross=cross)
    if not want_history:
        return g, grad_a, None
    head = g[:, :, :S].permute(1, 2, 0, 3)  # Lp >= T >= S
    if cross is not None:  # the initial history drives only the steps before the first document start
        reset = cross[0].reset
        reads = before_first_reset(reset, min(S, reset.shape[1]))
        head = head * torch.cat([reads, reads.new_ones(reads.shape[0], S - reads.shape[1])], 1)[:, :, None, None]
    return g, grad_a, lti.history_grad(a_blk, head, direct)


def chunked_backward(
    grad_z: torch.Tensor,
    grad_final: torch.Tensor | None,
    a: torch.Tensor,
    initial_state: torch.Tensor | None,
    z: torch.Tensor,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients (u, a, initial_state) of ``chunked_forward`` given grad_z (B, L, H, D), grad_final (B, H, S, D)
    or None, and the forward output z (B, L, H, D)."""
    B, L, H, D = grad_z.shape
    a_blk, hist, T, Lp, docs = _setup(a, initial_state, L, compute_dtype(grad_z, a, initial_state), reset)
    C, S, W, _ = a_blk.shape
    dz = to_channel_major(grad_z.reshape(B, L, C, W), Lp, a_blk.dtype)
    direct = None
    if grad_final is not None:
        direct = _final_grad_onto(dz, lti.history_from_state(grad_final.to(a_blk.dtype), C, W), reset, L)
    zc = to_channel_major(z.reshape(B, L, C, W), Lp, a_blk.dtype)
    g, grad_a, grad_hist = _adjoint(dz, zc, a_blk, hist, T, direct, initial_state is not None, _cross(docs, zc, hist))
    grad_a = lti.from_blocks(grad_a, a.shape).to(a.dtype)
    grad_u = from_channel_major(g, L, grad_z.dtype).view(B, L, H, D)
    if initial_state is None:
        return grad_u, grad_a, None
    return grad_u, grad_a, lti.state_from_history(grad_hist, H, D).to(initial_state.dtype)


# --------------------------------------------------------------------------------------------------------------------
# the scan with its FIR readout, y_t = sum_{j<S} f_j * z_{t-j} (``wave_hf.ops.wave_scan_fir``)
# --------------------------------------------------------------------------------------------------------------------


def _channel_taps(fir: torch.Tensor, width: int) -> torch.Tensor:
    """Per-wave taps fir (H, S, D) -> (C, S, W) in the block layout of ``lti.to_blocks`` (W = 1: C = H*D)."""
    H, S, D = fir.shape
    return fir.permute(0, 2, 1).reshape(H * D, S, 1) if width == 1 else fir


def _fir_operators(taps: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The FIR readout of one chunk of T steps, y_chunk = F z_chunk + P r, r the S values entering the chunk.

    taps: (C, S, W), taps[:, j] multiplies z_{t-j}. F (C, T*W, T*W) is block-Toeplitz with diagonal blocks diag(f_j);
    P (C, T*W, S*W) reads the history: output n takes f_i z_{n-i} for i > n, with z_{n-i} = r_{S+n-i}, which is the
    structure of ``lti.drive_map`` for the lags f_1 .. f_{S-1} (f_0 never reaches the history).
    """
    C, S, W = taps.shape
    blocks = torch.diag_embed(taps)  # (C, S, W, W)
    seq = blocks.new_zeros(C, T, W, W)
    seq[:, :S] = blocks
    read_history = blocks.new_zeros(C, T * W, S * W)
    read_history[:, : S * W] = lti.drive_map(torch.cat([blocks[:, 1:], blocks.new_zeros(C, 1, W, W)], dim=1))
    return lti.block_toeplitz(seq), read_history


def chunked_fir_forward(
    u: torch.Tensor,
    a: torch.Tensor,
    fir: torch.Tensor,
    initial_state: torch.Tensor | None,
    output_waves: bool,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Readout y (B, L, H, D), the waves z (B, L, H, D) if ``output_waves`` (else empty) and z channel-major
    (C, B, Lp, W) in the compute dtype, kept for the backward."""
    B, L, H, D = u.shape
    a_blk, hist, T, Lp, docs = _setup(a, initial_state, L, compute_dtype(u, a, fir, initial_state), reset)
    C, S, W, _ = a_blk.shape
    zc, entering = scan_channel_major(to_channel_major(u.reshape(B, L, C, W), Lp, a_blk.dtype), a_blk, hist, docs=docs)
    lower, read_history = _fir_operators(_channel_taps(fir.to(a_blk.dtype), W), T)
    y = torch.bmm(zc.view(C, -1, T * W), lower.transpose(1, 2))
    if entering is not None:  # otherwise every chunk starts from the zero history
        y.baddbmm_(entering, read_history.transpose(1, 2))
    if docs is not None:  # the first S outputs of each document, read again from that document alone
        window = _window_rows(zc, docs.after, docs.after_pad).view(C, -1, S * W)
        head = torch.bmm(window, lower[:, : S * W, : S * W].transpose(1, 2))
        _write_rows(y.view(C, B * Lp, W), _rows_to_write(docs.after, ~docs.after_pad.squeeze(2), W), head)
    y = from_channel_major(y.view(C, B, Lp, W), L, u.dtype).view(B, L, H, D)
    z = from_channel_major(zc, L, u.dtype).view(B, L, H, D) if output_waves else u.new_empty(0)
    return y, z, zc


def chunked_fir_backward(
    grad_y: torch.Tensor,
    grad_z: torch.Tensor | None,
    a: torch.Tensor,
    fir: torch.Tensor,
    initial_state: torch.Tensor | None,
    zc: torch.Tensor,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients (u, a, fir, initial_state) of ``chunked_fir_forward`` given grad_y (B, L, H, D), grad_z (B, L, H, D)
    or None and the saved channel-major waves zc."""
    B, L, H, D = grad_y.shape
    a_blk, hist, T, Lp, docs = _setup(a, initial_state, L, zc.dtype, reset)
    C, S, W, _ = a_blk.shape
    n = Lp // T
    gy = to_channel_major(grad_y.reshape(B, L, C, W), Lp, zc.dtype)
    lower, read_history = _fir_operators(_channel_taps(fir.to(zc.dtype), W), T)
    # the FIR's adjoint: dz = F^T gy within each chunk, plus the part of the next chunk's outputs that read this
    # chunk's last S values as their history
    rows = gy.view(C, B * n, T * W)
    dz = torch.bmm(rows, lower).view(C, B, n, T * W)
    onto_history = torch.bmm(rows, read_history).view(C, B, n, S * W)
    dz[:, :, :-1, (T - S) * W :] += onto_history[:, :, 1:]
    dz = dz.view(C, B, Lp, W)
    cross = _cross(docs, zc, hist)
    taps_grad = lag_correlation(gy, zc, hist, S, T, first_lag=0, cross=cross).diagonal(dim1=-2, dim2=-1)  # (C, S, W)
    grad_fir = (taps_grad.reshape(H, D, S).transpose(1, 2) if W == 1 else taps_grad).to(fir.dtype)
    direct = None
    if initial_state is not None:  # the FIR's direct reads of the initial history, from chunk 0 of each row
        first = rows.view(C, B, n, T * W)[:, :, 0]
        if reset is not None:  # only by the outputs before the row's first document start
            reads = before_first_reset(reset, min(T, L))
            reads = torch.cat([reads, reads.new_zeros(B, T - reads.shape[1])], 1).repeat_interleave(W, 1)
            first = first * reads.to(first.dtype)
        direct = torch.bmm(first, read_history).reshape(C, B, S, W).permute(1, 2, 0, 3)
    if docs is not None:  # the last S values of each document before a start, read from that document alone
        window = _window_rows(gy, docs.before, docs.before_pad).view(C, -1, S * W)
        tail = torch.bmm(window, lower[:, : S * W, : S * W])
        valid = (docs.before_steps >= docs.previous[:, None]) & ~docs.before_pad.squeeze(2)
        _write_rows(dz.view(C, B * Lp, W), _rows_to_write(docs.before, valid, W), tail)
    if grad_z is not None:
        dz[:, :, :L] += grad_z.reshape(B, L, C, W).permute(2, 0, 1, 3)
    g, grad_a, grad_hist = _adjoint(dz, zc, a_blk, hist, T, direct, initial_state is not None, cross)
    grad_a = lti.from_blocks(grad_a, a.shape).to(a.dtype)
    grad_u = from_channel_major(g, L, grad_y.dtype).view(B, L, H, D)
    if initial_state is None:
        return grad_u, grad_a, grad_fir, None
    return grad_u, grad_a, grad_fir, lti.state_from_history(grad_hist, H, D).to(initial_state.dtype)
