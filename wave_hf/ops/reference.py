"""Plain reference implementations of the wave scan (the definition; used by tests and as the slow backend)."""

from __future__ import annotations

import torch


def apply_boundary(a: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """Boundary term sum_k a_k z_{t-k} for one step.

    a: (H, S, D) diagonal or (H, S, D, D) dense; state: (B, H, S, D) with state[:, :, j] = z_{t-1-j}.
    Returns (B, H, D).
    """
    if a.dim() == 3:
        return torch.einsum("hsd,bhsd->bhd", a, state)
    return torch.einsum("hsij,bhsj->bhi", a, state)


def wave_step_reference(u_t: torch.Tensor, a: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step z_t = u_t + sum_k a_k z_{t-k}. u_t: (B, H, D), state: (B, H, S, D) -> (z_t, new_state)."""
    z_t = u_t + apply_boundary(a, state)
    new_state = torch.cat([z_t.unsqueeze(2), state[:, :, :-1]], dim=2)
    return z_t, new_state


def wave_scan_reference(
    u: torch.Tensor,
    a: torch.Tensor,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loop over time of ``wave_step_reference``. u: (B, L, H, D) -> z (B, L, H, D), final (B, H, S, D)."""
    B, L, H, D = u.shape
    S = a.shape[1]
    state = u.new_zeros(B, H, S, D) if initial_state is None else initial_state
    zs = []
    for t in range(L):
        z_t, state = wave_step_reference(u[:, t], a, state)
        zs.append(z_t)
    z = torch.stack(zs, dim=1) if zs else u.new_zeros(B, 0, H, D)
    return z, (state if output_final_state else None)
