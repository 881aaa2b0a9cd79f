"""Public wave scan ops: backend dispatch, ``torch.library`` registration and autograd.

``wave_hf::wave_scan`` and ``wave_hf::wave_scan_backward`` are custom ops with fake (meta) implementations, so
``torch.compile(fullgraph=True)`` of code calling ``wave_scan`` traces them as single nodes. The ``reference``
backend is not a custom op: it is the plain loop, differentiated by autograd (the independent check of the others).
"""

from __future__ import annotations

import logging

import torch

from .chunked import chunked_backward, chunked_forward
from .reference import wave_scan_reference, wave_step_reference
from .triton_backend import triton_backward, triton_forward, unsupported_reason
from .validation import ScanShape, check_scan_inputs, check_step_inputs, compute_dtype

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
    u: torch.Tensor, a: torch.Tensor, initial_state: torch.Tensor | None, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    forward = triton_forward if backend == "triton" else chunked_forward
    z, final = forward(u, a, initial_state)
    return z.contiguous(), final.contiguous()  # the strides of the fake implementation


@_scan_op.register_fake
def _(u, a, initial_state, backend):
    B, L, H, D = u.shape
    return torch.empty_like(u), u.new_empty(B, H, a.shape[1], D)


@torch.library.custom_op("wave_hf::wave_scan_backward", mutates_args=())
def _scan_backward_op(
    grad_z: torch.Tensor,
    grad_final: torch.Tensor,
    a: torch.Tensor,
    initial_state: torch.Tensor | None,
    z: torch.Tensor,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    backward = triton_backward if backend == "triton" else chunked_backward
    grad_u, grad_a, grad_s = backward(grad_z, grad_final, a, initial_state, z)
    return grad_u.contiguous(), grad_a.contiguous(), grad_z.new_empty(0) if grad_s is None else grad_s.contiguous()


@_scan_backward_op.register_fake
def _(grad_z, grad_final, a, initial_state, z, backend):
    grad_s = grad_z.new_empty(0) if initial_state is None else torch.empty_like(initial_state)
    return torch.empty_like(grad_z), torch.empty_like(a), grad_s


def _setup_context(ctx, inputs, output):
    _, a, initial_state, backend = inputs
    ctx.save_for_backward(a, initial_state, output[0])
    ctx.backend = backend
    ctx.has_initial_state = initial_state is not None


def _backward(ctx, grad_z, grad_final):
    a, initial_state, z = ctx.saved_tensors
    grad_u, grad_a, grad_s = torch.ops.wave_hf.wave_scan_backward(grad_z, grad_final, a, initial_state, z, ctx.backend)
    return grad_u, grad_a, grad_s if ctx.has_initial_state else None, None


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
        check_finite: raise ValueError if ``a`` has nan/inf (a device sync; eager only).

    Returns z (B, L, H, D) in u's dtype and the final state or None. The fast backends accumulate in float32
    (float64 for float64 inputs). Gradients flow to u, a and initial_state.
    """
    sizes = check_scan_inputs(u, a, initial_state, check_finite=check_finite)
    name = resolve_backend(backend, u, sizes)
    if name == "reference":
        return wave_scan_reference(u, a, initial_state, output_final_state)
    if u.numel() == 0:
        z, final = _empty_scan(u, sizes, initial_state)
    else:
        z, final = torch.ops.wave_hf.wave_scan(u, a, initial_state, name)
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
