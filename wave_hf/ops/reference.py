"""Plain reference of the wave scan (the definition, a loop over time; used by tests and as the slow backend).

Arithmetic runs in the promoted dtype of the inputs (``compute_dtype(..., keep_low_precision=True)``: bf16 inputs give
a bf16 loop, the "plain low-precision path" the fast backends are judged against); outputs take the dtype of ``u``.
Gradients come from autograd through the loop.

Packed rows: ``reset`` (B, L) bool marks the first position of each document; there the substrate is emptied before
the step, so z_{t-k} = 0 whenever t - k lies before the document of t (``wave_hf.ops.resets``). These loops define
that semantics for the fast backends.
"""

from __future__ import annotations

import torch

from .resets import doc_starts
from .validation import compute_dtype


def apply_boundary(a: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """Boundary term sum_k a_k z_{t-k} of one step.

    a: (H, S, D) diagonal or (H, S, D, D) dense; state: (B, H, S, D) with state[:, :, j] = z_{t-1-j}.
    Returns (B, H, D).
    """
    if a.dim() == 3:
        return (a * state).sum(2)
    return (a @ state.unsqueeze(-1)).squeeze(-1).sum(2)


def wave_step_reference(u_t: torch.Tensor, a: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step z_t = u_t + sum_k a_k z_{t-k}.

    u_t: (B, H, D), a: (H, S, D) or (H, S, D, D), state: (B, H, S, D).
    Returns z_t (B, H, D) in u_t's dtype and the new state (B, H, S, D) in state's dtype.
    """
    dtype = compute_dtype(u_t, a, state, keep_low_precision=True)
    z_t = u_t.to(dtype) + apply_boundary(a.to(dtype), state.to(dtype))
    new_state = torch.cat([z_t.unsqueeze(2), state.to(dtype)[:, :, :-1]], dim=2)
    return z_t.to(u_t.dtype), new_state.to(state.dtype)


def wave_scan_reference(
    u: torch.Tensor,
    a: torch.Tensor,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loop over time of the recurrence z_t = u_t + sum_{k=1..S} a_k z_{t-k}.

    u: (B, L, H, D), a: (H, S, D) or (H, S, D, D), initial_state: (B, H, S, D) with initial_state[:, :, j] = z_{-1-j}
    (None: zeros); reset: (B, L) bool or None, True where a document starts (the state is emptied before that step).
    Returns z (B, L, H, D) and, if ``output_final_state``, the final state (B, H, S, D) with final[:, :, j] =
    z_{L-1-j} (zero for positions before the last document); both in u's dtype.
    """
    B, L, H, D = u.shape
    S = a.shape[1]
    dtype = compute_dtype(u, a, initial_state, keep_low_precision=True)
    u_c, a_c = u.to(dtype), a.to(dtype)
    state = u_c.new_zeros(B, H, S, D) if initial_state is None else initial_state.to(dtype)
    zs = []
    for t in range(L):
        if reset is not None:
            state = state * (~reset[:, t]).to(dtype)[:, None, None, None]
        z_t = u_c[:, t] + apply_boundary(a_c, state)
        state = torch.cat([z_t.unsqueeze(2), state[:, :, :-1]], dim=2)
        zs.append(z_t)
    z = torch.stack(zs, dim=1) if zs else u_c.new_zeros(B, 0, H, D)
    return z.to(u.dtype), (state.to(u.dtype) if output_final_state else None)


def fir_readout_reference(
    z: torch.Tensor, fir: torch.Tensor, initial_state: torch.Tensor | None = None, reset: torch.Tensor | None = None
) -> torch.Tensor:
    """The FIR readout y_t = sum_{j<S} fir[:, j] * z_{t-j} of the waves z (B, L, H, D), reading z_{t-j} for t < j from
    ``initial_state`` (B, H, S, D) (None: zeros); fir: (H, S, D); with ``reset`` (B, L), z_{t-j} = 0 when t - j lies
    before the document of t. Returns (B, L, H, D) in the promoted dtype."""
    B, L, H, D = z.shape
    S = fir.shape[1]
    dtype = compute_dtype(z, fir, initial_state, keep_low_precision=True)
    if initial_state is None:
        past = z.new_zeros(B, S, H, D, dtype=dtype)
    else:
        past = initial_state.to(dtype).flip(2).transpose(1, 2)  # chronological
    timeline = torch.cat([past, z.to(dtype)], dim=1)  # [z_{-S}, ..., z_{L-1}]
    if reset is None:
        return sum(fir[:, j].to(dtype) * timeline[:, S - j : S - j + L] for j in range(S))
    t = torch.arange(L, device=z.device)
    starts = doc_starts(reset)  # (B, L)
    return sum(
        fir[:, j].to(dtype) * timeline[:, S - j : S - j + L] * (t - j >= starts).to(dtype)[:, :, None, None]
        for j in range(S)
    )


def wave_scan_fir_reference(
    u: torch.Tensor,
    a: torch.Tensor,
    fir: torch.Tensor,
    initial_state: torch.Tensor | None = None,
    output_waves: bool = False,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``wave_scan_reference`` followed by ``fir_readout_reference``: (y, z or None), in u's dtype."""
    z, _ = wave_scan_reference(u, a, initial_state, reset=reset)
    y = fir_readout_reference(z, fir, initial_state, reset).to(u.dtype)
    return y, (z if output_waves else None)
