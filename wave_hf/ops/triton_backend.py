"""Host side of the Triton backend: segment-parallel scans built from ``triton_kernels``.

A sequence is cut into segments of T steps that are scanned in parallel (one program per batch row, channel block
and segment). Pass 1 scans every segment from a zero history and keeps only its tail (last S values); the exact
histories entering the segments then follow from the short recurrence R[c+1] = tail[c] + M R[c] with M = Phi**T
(``lti.transition``, ``lti.propagate_states``: a torch loop over segments); pass 2 rescans every segment from its
exact history and writes the outputs. The backward pass does the same in reverse time with transposed a, and its
second pass also accumulates grad a. Packed rows: the kernels empty their ring at each document start (``start``),
so a segment's tail holds only its last document, and the hand-off drops M R[c] across a segment holding a start.
This module imports triton only when a kernel is launched, so it is importable without triton.
"""

from __future__ import annotations

import importlib.util
import math
import os

import torch

from . import lti
from .resets import before_first_reset, doc_starts, final_window
from .validation import ScanShape, compute_dtype

_MAX_DENSE_TILE = 1 << 14  # BLOCK_S * BLOCK_W^2 fp32 values per program (coefficients and grad accumulator)
_MAX_SUBSTRATE = 256
_TRITON_FOUND = importlib.util.find_spec("triton") is not None  # looked up once (no import, and compile-friendly)


def _pow2(n: int) -> int:
    return max(2, 1 << (n - 1).bit_length())


def triton_available() -> bool:
    """True when the triton package is installed (it is optional)."""
    return _TRITON_FOUND


def unsupported_reason(sizes: ScanShape, device: torch.device) -> str | None:
    """Why the Triton backend cannot run this call (None when it can)."""
    if not triton_available():
        return "triton is not installed (pip install 'wave_hf[triton]')"
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return f"tensors are on {device}; the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 for tests)"
    if sizes.substrate > _MAX_SUBSTRATE:
        return f"S={sizes.substrate} > {_MAX_SUBSTRATE}"
    if sizes.dense and _pow2(sizes.substrate) * _pow2(sizes.width) ** 2 > _MAX_DENSE_TILE:
        return f"dense boundary with S={sizes.substrate}, D={sizes.width} needs S*D^2 <= {_MAX_DENSE_TILE}"
    return None


def segment_length(length: int, substrate: int) -> int:
    """Steps per segment: about sqrt(L), a power of two in [32, 1024], so both passes and the hand-off stay short."""
    return max(substrate, min(1024, max(32, _pow2(math.isqrt(max(length, 1))))))


class _Problem:
    """Flattened, contiguous operands of one scan: data (B, L, C*W), boundary, chunk sizes and launch parameters."""

    def __init__(
        self, a: torch.Tensor, dtype: torch.dtype, B: int, L: int, segment: int | None, reset: torch.Tensor | None
    ):
        self.reset = reset
        self.start = None if reset is None else doc_starts(reset).to(torch.int32).contiguous()
        self.dense = a.dim() == 4
        self.a_blk = lti.to_blocks(a.to(dtype))
        self.C, self.S, self.W, _ = self.a_blk.shape
        self.B, self.L = B, L
        self.T = segment or segment_length(L, self.S)
        self.n_seg = max(1, -(-L // self.T))
        if self.dense:
            self.a_kernel = self.a_blk.contiguous()
            self.block = _pow2(self.W)
            self.grid = (B, self.C, self.n_seg)
            tile = _pow2(self.S) * self.block
            self.num_warps = 1 if tile <= 128 else (2 if tile <= 512 else 4)
        else:
            self.a_kernel = self.a_blk.reshape(self.C, self.S).contiguous()
            self.block = min(32, _pow2(self.C))
            self.grid = (B, -(-self.C // self.block), self.n_seg)
            self.num_warps = 1 if _pow2(self.S) * self.block <= 256 else 2

    def launch(self, x, hist, z, tail, *, reverse, zs=None, hist0=None, ga=None):
        """One pass over all segments (see ``triton_kernels``); hist None means zero histories, z None no outputs."""
        import triton.language as tl

        from . import triton_kernels as k

        dummy = tail
        args = [x, self.a_kernel, dummy if hist is None else hist, dummy if z is None else z, tail]
        args += [dummy if zs is None else zs, dummy if hist0 is None else hist0, dummy if ga is None else ga]
        args += [dummy if self.start is None else self.start]
        flags = dict(REVERSE=reverse, HAS_HIST=hist is not None, WRITE_Z=z is not None, ACCUM=ga is not None,
                     HAS_RESET=self.start is not None)
        blocks = dict(BLOCK_S=_pow2(self.S), ACC=tl.float64 if self.a_blk.dtype == torch.float64 else tl.float32)
        if self.dense:
            W = self.W
            strides = (1, W) if reverse else (W, 1)  # the adjoint reads a_k^T
            k.dense_scan_kernel[self.grid](
                *args,
                self.L,
                self.C,
                self.S,
                W,
                self.T,
                self.n_seg,
                *strides,
                **flags,
                **blocks,
                BLOCK_W=self.block,
                num_warps=self.num_warps,
            )
        else:
            k.diag_scan_kernel[self.grid](
                *args,
                self.L,
                self.C,
                self.S,
                self.T,
                self.n_seg,
                **flags,
                **blocks,
                BLOCK_C=self.block,
                num_warps=self.num_warps,
            )

    def _keep(self, reverse: bool) -> torch.Tensor | None:
        """(n_seg - 1, 1, B, 1): segment c (scan order) holds no document start, so M R[c] reaches the next one."""
        if self.reset is None:
            return None
        B, L, T = self.B, self.L, self.T
        opens = self.reset.new_zeros(B, self.n_seg * T)  # document starts in scan order
        if reverse:  # scan step tau = L - 1 - t; the adjoint enters a document at its last step t (t + 1 starts one)
            opens[:, 1:L] = self.reset[:, 1:].flip(1)
        else:
            opens[:, :L] = self.reset
        free = ~opens.view(B, self.n_seg, T).any(2)
        return free[:, :-1].T[:, None, :, None].to(self.a_blk.dtype)

    def scan(self, x, hist0, out_dtype, *, reverse, zs=None, ga_hist0=None, ga=None):
        """Two-pass segment scan of x (B, L, C*W) from the history hist0 (B, S, C*W) or zeros.

        Returns (outputs (B, L, C*W) in out_dtype, tail of the last segment (B, S, C*W) in the compute dtype).
        """
        B, S, CW = self.B, self.S, self.C * self.W
        dtype = self.a_blk.dtype
        tails = x.new_empty(B, self.n_seg, S, CW, dtype=dtype)
        z = x.new_empty(B, self.L, CW, dtype=out_dtype)
        if self.n_seg == 1:
            hists = None if hist0 is None else hist0.unsqueeze(1)
        else:
            self.launch(x, None, None, tails, reverse=reverse)
            M = lti.transition(self.a_blk.transpose(-1, -2) if reverse else self.a_blk, self.T)
            r0 = None if hist0 is None else lti.rows(hist0.view(B, S, self.C, self.W))
            t0 = tails[:, :-1].view(B, self.n_seg - 1, S, self.C, self.W).permute(1, 3, 0, 2, 4)
            R = lti.propagate_states(t0.reshape(self.n_seg - 1, self.C, B, S * self.W), M, r0, self._keep(reverse))
            hists = R.view(self.n_seg, self.C, B, S, self.W).permute(2, 0, 3, 1, 4).contiguous().view(B, -1, S, CW)
        self.launch(x, hists, z, tails, reverse=reverse, zs=zs, hist0=ga_hist0, ga=ga)
        return z, tails[:, -1]


def triton_forward(
    u: torch.Tensor,
    a: torch.Tensor,
    initial_state: torch.Tensor | None,
    reset: torch.Tensor | None = None,
    segment: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """z (B, L, H, D) and final state (B, H, S, D) in u's dtype; ``segment`` overrides the segment length T."""
    B, L, H, D = u.shape
    dtype = compute_dtype(u, a, initial_state)
    p = _Problem(a, dtype, B, L, segment, reset)
    hist0 = None
    if initial_state is not None:
        hist0 = lti.history_from_state(initial_state.to(dtype), p.C, p.W).reshape(B, p.S, H * D).contiguous()
    z, last = p.scan(u.reshape(B, L, H * D).contiguous(), hist0, u.dtype, reverse=False)
    final = lti.state_from_history(last.view(B, p.S, p.C, p.W), H, D).to(u.dtype)
    return z.view(B, L, H, D), final


def triton_backward(
    grad_z: torch.Tensor,
    grad_final: torch.Tensor | None,
    a: torch.Tensor,
    initial_state: torch.Tensor | None,
    z: torch.Tensor,
    reset: torch.Tensor | None = None,
    segment: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients (u, a, initial_state) of ``triton_forward``; arguments as in ``chunked.chunked_backward``."""
    B, L, H, D = grad_z.shape
    dtype = compute_dtype(grad_z, a, initial_state)
    p = _Problem(a, dtype, B, L, segment, reset)
    S, C, W = p.S, p.C, p.W
    dz = grad_z.to(dtype, memory_format=torch.contiguous_format, copy=True).view(B, L, C, W)
    direct = None
    if grad_final is not None:
        final = lti.history_from_state(grad_final.to(dtype), C, W)
        if reset is not None:  # the final state holds only the last document
            final = final * final_window(reset, S)[:, :, None, None].to(dtype)
        onto_z, direct = lti.split_final_grad(final, L)
        dz[:, L - onto_z.shape[1] :] += onto_z
    hist = None if initial_state is None else lti.history_from_state(initial_state.to(dtype), C, W)
    hist0 = torch.zeros(B, S, C * W, dtype=dtype, device=z.device) if hist is None else hist.reshape(B, S, C * W)
    ga = z.new_empty((B, p.n_seg, H, S, D, D) if p.dense else (B, p.n_seg, S, C), dtype=dtype)
    zs = z.reshape(B, L, C * W).contiguous()
    g, _ = p.scan(dz.view(B, L, C * W), None, dtype, reverse=True, zs=zs, ga_hist0=hist0.contiguous(), ga=ga)
    if p.dense:
        grad_a = ga.sum((0, 1))
    else:
        grad_a = lti.from_blocks(ga.sum((0, 1)).transpose(0, 1).reshape(C, S, 1, 1), a.shape)
    grad_u = g.view(B, L, H, D).to(grad_z.dtype)
    if initial_state is None:
        return grad_u, grad_a.to(a.dtype), None
    g_head = g.view(B, L, C, W)[:, : min(S, L)]
    if reset is not None:  # the initial history drives only the steps before the first document start
        g_head = g_head * before_first_reset(reset, g_head.shape[1])[:, :, None, None].to(dtype)
    grad_s = lti.state_from_history(lti.history_grad(p.a_blk, g_head, direct), H, D).to(initial_state.dtype)
    return grad_u, grad_a.to(a.dtype), grad_s
