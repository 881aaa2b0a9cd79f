"""Public wave scan ops: backend dispatch, ``torch.library`` registration and autograd.

``wave_hf::wave_scan`` and ``wave_hf::wave_scan_backward`` are custom ops with fake (meta) implementations, so
``torch.compile(fullgraph=True)`` of code calling ``wave_scan`` traces them as single nodes. The ``reference``
backend is not a custom op: it is the plain loop, differentiated by autograd (the independent check of the others).
Document starts of packed rows (``reset``, or ``cu_seqlens`` converted to it) are an argument of the custom ops, so
they flow through compiled graphs as tensors.
"""

from __future__ import annotations

import logging

import torch

from .chunked import chunk_length, chunked_backward, chunked_fir_backward, chunked_fir_forward, chunked_forward
from .fft_conv import fft_fir_readout
from .reference import wave_scan_fir_reference, wave_scan_reference, wave_step_reference
from .triton_backend import triton_backward, triton_forward, unsupported_reason
from .validation import ScanShape, check_fir, check_reset, check_scan_inputs, check_step_inputs, compute_dtype

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "reference", "chunked", "triton")
_fallback_logged = False


def resolve_backend(backend: str, u: torch.Tensor, sizes: ScanShape) -> str:
    """The backend that runs: "auto" is triton for CUDA tensors when it can run, else chunked (logged once)."""
    global _fallback_logged
    if backend not in BACKENDS:
        raise ValueError(f"wave_scan: `backend` must be one of {BACKENDS}; got {backend!r}")
    if backend == "auto":
        if not u.is_cuda:
            return "chunked"
        reason = unsupported_reason(sizes, u.device)
        if reason is None:
            return "triton"
        if not _fallback_logged:
            logger.warning("wave_scan: using the chunked PyTorch backend on CUDA because %s", reason)
            _fallback_logged = True
        return "chunked"
    if backend == "triton":
        reason = unsupported_reason(sizes, u.device)
        if reason is not None:
            raise ValueError(f"wave_scan: backend='triton' cannot run: {reason}")
    return backend


@torch.library.custom_op("wave_hf::wave_scan", mutates_args=())
def _scan_op(
    u: torch.Tensor, a: torch.Tensor, initial_state: torch.Tensor | None, reset: torch.Tensor | None, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    forward = triton_forward if backend == "triton" else chunked_forward
    z, final = forward(u, a, initial_state, reset)
    return z.contiguous(), final.contiguous()  # the strides of the fake implementation


@_scan_op.register_fake
def _(u, a, initial_state, reset, backend):
    B, L, H, D = u.shape
    return torch.empty_like(u), u.new_empty(B, H, a.shape[1], D)


@torch.library.custom_op("wave_hf::wave_scan_backward", mutates_args=())
def _scan_backward_op(
    grad_z: torch.Tensor,
    grad_final: torch.Tensor,
    a: torch.Tensor,
    initial_state: torch.Tensor | None,
    z: torch.Tensor,
    reset: torch.Tensor | None,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    backward = triton_backward if backend == "triton" else chunked_backward
    grad_u, grad_a, grad_s = backward(grad_z, grad_final, a, initial_state, z, reset)
    return grad_u.contiguous(), grad_a.contiguous(), grad_z.new_empty(0) if grad_s is None else grad_s.contiguous()


@_scan_backward_op.register_fake
def _(grad_z, grad_final, a, initial_state, z, reset, backend):
    grad_s = grad_z.new_empty(0) if initial_state is None else torch.empty_like(initial_state)
    return torch.empty_like(grad_z), torch.empty_like(a), grad_s


def _setup_context(ctx, inputs, output):
    _, a, initial_state, reset, backend = inputs
    ctx.save_for_backward(a, initial_state, output[0], reset)
    ctx.backend = backend
    ctx.has_initial_state = initial_state is not None


def _backward(ctx, grad_z, grad_final):
    a, initial_state, z, reset = ctx.saved_tensors
    grad_u, grad_a, grad_s = torch.ops.wave_hf.wave_scan_backward(
        grad_z, grad_final, a, initial_state, z, reset, ctx.backend
    )
    return grad_u, grad_a, grad_s if ctx.has_initial_state else None, None, None


_scan_op.register_autograd(_backward, setup_context=_setup_context)


def _empty_scan(u: torch.Tensor, sizes: ScanShape, initial_state: torch.Tensor | None):
    """No elements (L = 0 or B = 0): no outputs, and the final state is the initial one."""
    B, _, H, D = u.shape
    final = u.new_zeros(B, H, sizes.substrate, D) if initial_state is None else initial_state.to(u.dtype, copy=True)
    return u.new_zeros(u.shape), final


def wave_scan(
    u: torch.Tensor,
    a: torch.Tensor,
    initial_state: torch.Tensor | None = None,
    *,
    output_final_state: bool = False,
    backend: str = "auto",
    reset: torch.Tensor | None = None,
    cu_seqlens: torch.Tensor | None = None,
    check_finite: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Linear-boundary traveling-wave recurrence z_t = u_t + sum_{k=1..S} a_k z_{t-k}, t = 0..L-1.

    Args:
        u: (B, L, H, D) drive of H heads of D waves.
        a: (H, S, D) per-wave boundary ("diagonal") or (H, S, D, D) boundary mixing the D waves of a head ("dense",
            (a_k z)_i = sum_j a[h, k-1, i, j] z_j); a[:, k-1] multiplies the value k steps back.
        initial_state: (B, H, S, D) with initial_state[:, :, j] = z_{-1-j}; None means zeros.
        output_final_state: also return the final state (B, H, S, D), final[:, :, j] = z_{L-1-j}.
        backend: "reference" (loop), "chunked" (PyTorch, default on CPU), "triton" (CUDA kernels) or "auto".
        reset: (B, L) bool, True at the first position of each document of a packed row: the substrate is empty
            there, exactly as for a separate run of the document (``reset[:, 0]`` True: ``initial_state`` is not read
            for that row), and the final state is that of the last document.
        cu_seqlens: 1-D integer document bounds [0, l_1, l_1 + l_2, ..., L] of one packed row (B == 1; fla's
            convention), converted to ``reset``; not together with ``reset``.
        check_finite: raise ValueError if ``a`` has nan/inf (a device sync; eager only).

    Returns z (B, L, H, D) in u's dtype and the final state or None. The fast backends accumulate in float32
    (float64 for float64 inputs). Gradients flow to u, a and initial_state (never across a document start).
    """
    sizes = check_scan_inputs(u, a, initial_state, check_finite=check_finite)
    reset = check_reset("wave_scan", reset, cu_seqlens, sizes.batch, sizes.length, u)
    name = resolve_backend(backend, u, sizes)
    if name == "reference":
        return wave_scan_reference(u, a, initial_state, output_final_state, reset)
    if u.numel() == 0:
        z, final = _empty_scan(u, sizes, initial_state)
    else:
        z, final = torch.ops.wave_hf.wave_scan(u, a, initial_state, reset, name)
    return z, final if output_final_state else None


def wave_step(
    u_t: torch.Tensor, a: torch.Tensor, state: torch.Tensor, *, check_finite: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """One recurrent step for generation: z_t = u_t + sum_k a_k z_{t-k}; O(S*D) (diagonal) or O(S*D^2) (dense) work.

    u_t: (B, H, D); a as in ``wave_scan``; state: (B, H, S, D), state[:, :, j] = z_{t-1-j}.
    Returns z_t (B, H, D) in u_t's dtype and the new state (B, H, S, D) in state's dtype, computed in float32 for
    half-precision inputs.
    """
    check_step_inputs(u_t, a, state, check_finite=check_finite)
    dtype = compute_dtype(u_t, a, state)
    z_t, new_state = wave_step_reference(u_t.to(dtype), a.to(dtype), state.to(dtype))
    return z_t.to(u_t.dtype), new_state.to(state.dtype)


# --------------------------------------------------------------------------------------------------------------------
# the scan with its FIR readout
# --------------------------------------------------------------------------------------------------------------------


@torch.library.custom_op("wave_hf::wave_scan_fir", mutates_args=())
def _scan_fir_op(
    u: torch.Tensor,
    a: torch.Tensor,
    fir: torch.Tensor,
    initial_state: torch.Tensor | None,
    reset: torch.Tensor | None,
    output_waves: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y, z, zc = chunked_fir_forward(u, a, fir, initial_state, output_waves, reset)
    return y.contiguous(), z.contiguous(), zc  # zc: the channel-major waves, kept for the backward


@_scan_fir_op.register_fake
def _(u, a, fir, initial_state, reset, output_waves):
    B, L, H, D = u.shape
    C, W = (H, D) if a.dim() == 4 else (H * D, 1)
    T = chunk_length(a.shape[1], W)
    Lp = max(1, -(-L // T)) * T
    z = torch.empty_like(u) if output_waves else u.new_empty(0)
    return torch.empty_like(u), z, u.new_empty(C, B, Lp, W, dtype=compute_dtype(u, a, fir, initial_state))


@torch.library.custom_op("wave_hf::wave_scan_fir_backward", mutates_args=())
def _scan_fir_backward_op(
    grad_y: torch.Tensor,
    grad_z: torch.Tensor | None,
    a: torch.Tensor,
    fir: torch.Tensor,
    initial_state: torch.Tensor | None,
    zc: torch.Tensor,
    reset: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    grad_u, grad_a, grad_fir, grad_s = chunked_fir_backward(grad_y, grad_z, a, fir, initial_state, zc, reset)
    grad_s = grad_y.new_empty(0) if grad_s is None else grad_s.contiguous()
    return grad_u.contiguous(), grad_a.contiguous(), grad_fir.contiguous(), grad_s


@_scan_fir_backward_op.register_fake
def _(grad_y, grad_z, a, fir, initial_state, zc, reset):
    grad_s = grad_y.new_empty(0) if initial_state is None else torch.empty_like(initial_state)
    return torch.empty_like(grad_y), torch.empty_like(a), torch.empty_like(fir), grad_s


def _setup_fir_context(ctx, inputs, output):
    _, a, fir, initial_state, reset, output_waves = inputs
    ctx.save_for_backward(a, fir, initial_state, output[2], reset)
    ctx.has_initial_state = initial_state is not None
    ctx.output_waves = output_waves


def _fir_backward(ctx, grad_y, grad_z, _grad_zc):
    a, fir, initial_state, zc, reset = ctx.saved_tensors
    grad_z = grad_z if ctx.output_waves else None
    grad_u, grad_a, grad_fir, grad_s = torch.ops.wave_hf.wave_scan_fir_backward(
        grad_y, grad_z, a, fir, initial_state, zc, reset
    )
    return grad_u, grad_a, grad_fir, grad_s if ctx.has_initial_state else None, None, None


_scan_fir_op.register_autograd(_fir_backward, setup_context=_setup_fir_context)


def wave_scan_fir(
    u: torch.Tensor,
    a: torch.Tensor,
    fir: torch.Tensor,
    initial_state: torch.Tensor | None = None,
    *,
    output_waves: bool = False,
    backend: str = "auto",
    reset: torch.Tensor | None = None,
    cu_seqlens: torch.Tensor | None = None,
    check_finite: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The wave scan with an FIR readout of its substrate (H3's shift-SSM ``C``; the LBC mixer's ``readout="fir"``):

        z_t = u_t + sum_{k=1..S} a_k z_{t-k}   (``wave_scan``),    y_t = sum_{j=0..S-1} fir[:, j] * z_{t-j},

    with z_{t-j} for t < j read from ``initial_state``, and z_{t-j} = 0 when t - j lies before the document of t.

    Args:
        u, a, initial_state, backend, reset, cu_seqlens, check_finite: as in ``wave_scan`` (at a document start the
            FIR history is empty too).
        fir: (H, S, D) per-wave taps; fir[:, j] multiplies the value j steps back (j = 0: z_t).
        output_waves: also return z (B, L, H, D) (e.g. to take the substrate after each row's last token).

    Returns y (B, L, H, D) in u's dtype and z or None; gradients flow to u, a, fir, initial_state and through z.
    The chunked backend (CPU) reads out inside the scan's channel-major layout; the Triton backend runs ``wave_scan``
    and an FFT convolution (``fft_fir_readout``; with document starts a direct convolution whose first S outputs
    after each start are read from their own document); "reference" is the plain loop.
    """
    sizes = check_scan_inputs(u, a, initial_state, check_finite=check_finite, fn="wave_scan_fir")
    check_fir(fir, u, sizes, fn="wave_scan_fir")
    reset = check_reset("wave_scan_fir", reset, cu_seqlens, sizes.batch, sizes.length, u)
    name = resolve_backend(backend, u, sizes)
    if name == "reference":
        return wave_scan_fir_reference(u, a, fir, initial_state, output_waves, reset)
    if name == "triton" or u.numel() == 0:
        z, _ = wave_scan(u, a, initial_state, backend=name, reset=reset)
        return fft_fir_readout(z, fir, initial_state, reset), (z if output_waves else None)
    y, z, _ = torch.ops.wave_hf.wave_scan_fir(u, a, fir, initial_state, reset, output_waves)
    return y, (z if output_waves else None)
