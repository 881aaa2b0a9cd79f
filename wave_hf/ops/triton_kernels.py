"""Triton kernels of the wave scan (import only through ``wave_hf.ops.triton_backend``).

One program scans one segment of T steps for one batch row and a block of channels (diagonal) or one head (dense),
sequentially in time, from a given S-value history. The history lives in registers as a ring buffer: ring row r holds
the value of local step j' = r (mod S), so at local step j the coefficient of row r is a_k with k - 1 = (j - 1 - r)
mod S, loaded from the (cache-resident) boundary each step. The kernels run in "scan time" tau: with REVERSE,
tau = L - 1 - t, which turns the kernel into the adjoint scan of the backward pass. Histories and tails are
chronological in scan time: (B, n_seg, S, C) with [.., i, :] = value at tau = seg * T - S + i (tails:
tau = seg * T + n - S + i for a segment of n steps). With ACCUM the kernel also accumulates
grad a_k = sum_t g_t z_{t-k}^T over its segment, reading z (the saved forward output, read-only) and the initial
history (B, S, C) for t - k < 0. With HAS_RESET, ``start`` (B, L) int32 holds the document start of each position
(``resets.NO_START`` before a row's first start): the ring is emptied before the first step of a document (with
REVERSE: before the last step of a document, where the adjoint enters it), and grad a takes only the pairs within a
document.

Only features of both triton 3.8 and 3.9 and of the interpreter are used: plain pointer arithmetic, math in ACC
(float32, or float64 for float64 inputs) after ``.to(ACC)`` on every load, no libdevice, no autotune, no block
pointers.
"""

import triton
import triton.language as tl

# tl.sum's own combine function: tl.reduce with it is the same reduction, but the interpreter maps it straight to
# numpy instead of re-patching the language for every call of the jitted tl.sum wrapper (about 10x faster tests)
_SUM = tl.standard._sum_combine


@triton.jit
def _empty_at_document_start(ring, starts, t, L, REVERSE: tl.constexpr):
    """The ring (the substrate's history) is empty at a document's first step, in scan order. ``starts``: this
    row's (L,) first position of the document of each step (``starts[t] == t`` where a document opens)."""
    if REVERSE:
        opens = tl.load(starts + t + 1, mask=t + 1 < L, other=-1) == t + 1
    else:
        opens = tl.load(starts + t) == t
    return tl.where(opens, tl.zeros_like(ring), ring)


@triton.jit
def diag_scan_kernel(
    x_ptr,
    a_ptr,
    hist_ptr,
    z_ptr,
    tail_ptr,
    zs_ptr,
    hist0_ptr,
    ga_ptr,
    start_ptr,
    L,
    C,
    S,
    T,
    n_seg,
    REVERSE: tl.constexpr,
    HAS_HIST: tl.constexpr,
    HAS_RESET: tl.constexpr,
    WRITE_Z: tl.constexpr,
    ACCUM: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_C: tl.constexpr,
    ACC: tl.constexpr,
):
    """x, z, zs: (B, L, C); a: (C, S) with a[c, k-1] = a_k; hist, tail, ga: (B, n_seg, S, C); hist0: (B, S, C);
    start: (B, L)."""
    pid_b = tl.program_id(0).to(tl.int64)
    pid_c = tl.program_id(1)
    seg = tl.program_id(2).to(tl.int64)
    cols = pid_c.to(tl.int64) * BLOCK_C + tl.arange(0, BLOCK_C)
    rows = tl.arange(0, BLOCK_S).to(tl.int64)  # int64 index math: no overflow checks in the interpreter
    cmask = cols < C
    mask2 = (rows[:, None] < S) & cmask[None, :]
    tile = (pid_b * n_seg + seg) * S * C + rows[:, None] * C + cols[None, :]  # offsets into hist / tail / ga
    if HAS_HIST:
        ring = tl.load(hist_ptr + tile, mask=mask2, other=0.0).to(ACC)
    else:
        ring = tl.zeros([BLOCK_S, BLOCK_C], dtype=ACC)
    acc = tl.zeros([BLOCK_S, BLOCK_C], dtype=ACC)
    a_rows = a_ptr + cols[None, :] * S
    lag0 = S - 1 - rows  # (j - 1 - r) mod S = (j + lag0) mod S
    is_row = rows[:, None]
    row_base = pid_b * L * C + cols  # offsets of (b, t=0, cols) in x / z / zs
    start = seg * T
    steps = tl.minimum(L - start, T)
    for j in range(0, steps):
        if REVERSE:
            t = L - 1 - (start + j)
        else:
            t = start + j
        if HAS_RESET:
            ring = _empty_at_document_start(ring, start_ptr + pid_b * L, t, L, REVERSE)
        coef = tl.load(a_rows + ((j + lag0) % S)[:, None], mask=mask2, other=0.0).to(ACC)
        zt = tl.load(x_ptr + row_base + t * C, mask=cmask, other=0.0).to(ACC) + tl.reduce(coef * ring, 0, _SUM)
        ring = tl.where(is_row == j % S, zt[None, :], ring)
        if WRITE_Z:
            tl.store(z_ptr + row_base + t * C, zt.to(z_ptr.dtype.element_ty), mask=cmask)
        if ACCUM:
            lag_t = (t - 1 - rows)[:, None]  # t - k for k = row + 1
            pairs = mask2
            if HAS_RESET:
                pairs = pairs & (lag_t >= tl.load(start_ptr + pid_b * L + t))
            zl = tl.load(zs_ptr + row_base[None, :] + lag_t * C, mask=pairs & (lag_t >= 0), other=0.0)
            zh = tl.load(hist0_ptr + (pid_b * S + S + lag_t) * C + cols[None, :], mask=pairs & (lag_t < 0), other=0.0)
            acc += zt[None, :] * (zl.to(ACC) + zh.to(ACC))
    tail_rows = (rows - steps % S + S) % S
    tl.store(tail_ptr + tile + (tail_rows - rows)[:, None] * C, ring, mask=mask2)
    if ACCUM:
        tl.store(ga_ptr + tile, acc, mask=mask2)


@triton.jit
def dense_scan_kernel(
    x_ptr,
    a_ptr,
    hist_ptr,
    z_ptr,
    tail_ptr,
    zs_ptr,
    hist0_ptr,
    ga_ptr,
    start_ptr,
    L,
    H,
    S,
    W,
    T,
    n_seg,
    stride_ai,
    stride_aj,
    REVERSE: tl.constexpr,
    HAS_HIST: tl.constexpr,
    HAS_RESET: tl.constexpr,
    WRITE_Z: tl.constexpr,
    ACCUM: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_W: tl.constexpr,
    ACC: tl.constexpr,
):
    """x, z, zs: (B, L, H, W); a: (H, S, W, W) read as coef[i, j] = a_ptr[h, k-1, i * stride_ai + j * stride_aj];
    hist, tail: (B, n_seg, S, H, W); hist0: (B, S, H, W); ga: (B, n_seg, H, S, W, W); start: (B, L)."""
    pid_b = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1).to(tl.int64)
    seg = tl.program_id(2).to(tl.int64)
    C = H * W
    rows = tl.arange(0, BLOCK_S).to(tl.int64)  # int64 index math: no overflow checks in the interpreter
    wv = tl.arange(0, BLOCK_W).to(tl.int64)
    smask = rows < S
    wmask = wv < W
    mask2 = smask[:, None] & wmask[None, :]
    mask3 = smask[:, None, None] & wmask[None, :, None] & wmask[None, None, :]
    tile = (pid_b * n_seg + seg) * S * C + rows[:, None] * C + h * W + wv[None, :]  # offsets into hist / tail
    if HAS_HIST:
        ring = tl.load(hist_ptr + tile, mask=mask2, other=0.0).to(ACC)
    else:
        ring = tl.zeros([BLOCK_S, BLOCK_W], dtype=ACC)
    acc = tl.zeros([BLOCK_S, BLOCK_W, BLOCK_W], dtype=ACC)
    a_head = a_ptr + h * S * W * W + wv[None, :, None] * stride_ai + wv[None, None, :] * stride_aj
    lag0 = S - 1 - rows  # (j - 1 - r) mod S = (j + lag0) mod S
    is_row = rows[:, None]
    row_base = pid_b * L * C + h * W + wv  # offsets of (b, t=0, h, :) in x / z / zs
    start = seg * T
    steps = tl.minimum(L - start, T)
    for j in range(0, steps):
        if REVERSE:
            t = L - 1 - (start + j)
        else:
            t = start + j
        if HAS_RESET:
            ring = _empty_at_document_start(ring, start_ptr + pid_b * L, t, L, REVERSE)
        coef = tl.load(a_head + ((j + lag0) % S)[:, None, None] * W * W, mask=mask3, other=0.0).to(ACC)
        mixed = tl.reduce(tl.reduce(coef * ring[:, None, :], 2, _SUM), 0, _SUM)
        zt = tl.load(x_ptr + row_base + t * C, mask=wmask, other=0.0).to(ACC) + mixed
        ring = tl.where(is_row == j % S, zt[None, :], ring)
        if WRITE_Z:
            tl.store(z_ptr + row_base + t * C, zt.to(z_ptr.dtype.element_ty), mask=wmask)
        if ACCUM:
            lag_t = (t - 1 - rows)[:, None]  # t - k for k = row + 1
            pairs = mask2
            if HAS_RESET:
                pairs = pairs & (lag_t >= tl.load(start_ptr + pid_b * L + t))
            zl = tl.load(zs_ptr + row_base[None, :] + lag_t * C, mask=pairs & (lag_t >= 0), other=0.0)
            zh_off = (pid_b * S + S + lag_t) * C + h * W + wv[None, :]
            zh = tl.load(hist0_ptr + zh_off, mask=pairs & (lag_t < 0), other=0.0)
            lagged = zl.to(ACC) + zh.to(ACC)
            acc += zt[None, :, None] * lagged[:, None, :]
    tail_rows = (rows - steps % S + S) % S
    tl.store(tail_ptr + tile + (tail_rows - rows)[:, None] * C, ring, mask=mask2)
    if ACCUM:
        ga_off = (((pid_b * n_seg + seg) * H + h) * S + rows[:, None, None]) * W * W
        tl.store(ga_ptr + ga_off + wv[None, :, None] * W + wv[None, None, :], acc, mask=mask3)
