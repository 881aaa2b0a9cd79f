"""Shared pieces of the wave scan tests: random stable boundaries, relative errors, outputs + gradients of a run."""

from __future__ import annotations

import torch

from wave_hf.ops import wave_scan_reference


def stable_boundary(H: int, S: int, D: int, dense: bool, radius: float = 0.95, dtype=torch.float64) -> torch.Tensor:
    """Random boundary with sum_k ||a_k|| = radius < 1 per head (diagonal: per wave), so the recurrence is stable."""
    if dense:
        a = torch.randn(H, S, D, D, dtype=dtype)
        norms = torch.linalg.matrix_norm(a, ord=2).sum(1)[:, None, None, None]
    else:
        a = torch.randn(H, S, D, dtype=dtype)
        norms = a.abs().sum(1, keepdim=True)
    return radius * a / norms


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    """||x - ref|| / ||ref|| in float64 (0 for empty tensors)."""
    if ref.numel() == 0:
        return 0.0
    ref = ref.double()
    return ((x.double() - ref).norm() / ref.norm().clamp_min(1e-300)).item()


def max_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return (x.double() - ref.double()).abs().max().item() if ref.numel() else 0.0


def run(scan, u, a, s0, gz, gf):
    """Outputs and gradients of ``scan(u, a, s0) -> (z, final)`` for the loss sum(z*gz) + sum(final*gf).

    Returns [z, final, grad_u, grad_a] (+ [grad_s0] when s0 is given), all detached.
    """
    leaves = [u.detach().clone().requires_grad_(), a.detach().clone().requires_grad_()]
    if s0 is not None:
        leaves.append(s0.detach().clone().requires_grad_())
    z, final = scan(*leaves[:2], leaves[2] if s0 is not None else None)
    grads = torch.autograd.grad((z * gz).sum() + (final * gf).sum(), leaves)
    return [z.detach(), final.detach(), *grads]


def case_tensors(B, L, H, S, D, dense, with_state, dtype=torch.float64, radius=0.95):
    """u, a, initial state (or None) and random output cotangents of one test case."""
    u = torch.randn(B, L, H, D, dtype=dtype)
    a = stable_boundary(H, S, D, dense, radius, dtype)
    s0 = torch.randn(B, H, S, D, dtype=dtype) if with_state else None
    gz = torch.randn(B, L, H, D, dtype=dtype)
    gf = torch.randn(B, H, S, D, dtype=dtype)
    return u, a, s0, gz, gf


NAMES = ("z", "final_state", "grad_u", "grad_a", "grad_initial_state")


def reference(u, a, s0):
    return wave_scan_reference(u, a, s0, output_final_state=True)


def check_against_reference(scan, L, S, D, dense, tolerances: dict, B: int = 2, H: int = 2, device="cpu"):
    """``scan`` vs the float64 reference loop, without and with an initial state, outputs and all gradients.

    ``tolerances`` maps each dtype to run in to its bound on the relative error. One reference run covers both
    cases: its batch is [zero-state rows; initial-state rows], and as the loss sums over the batch, its grad_a is the
    sum of the two cases' grad_a.
    """
    u, a, s0, gz, gf = case_tensors(2 * B, L, H, S, D, dense, True)
    s0[:B] = 0
    ref = run(reference, u, a, s0, gz, gf)
    for dtype, tol in tolerances.items():
        x = [t.to(device, dtype) for t in (u, a, s0, gz, gf)]
        zero = run(scan, x[0][:B], x[1], None, x[3][:B], x[4][:B])
        init = run(scan, x[0][B:], x[1], x[2][B:], x[3][B:], x[4][B:])
        got = [torch.cat([zero[i], init[i]]) for i in range(3)] + [zero[3] + init[3], init[4]]
        want = ref[:4] + [ref[4][B:]]
        for name, g, w in zip(NAMES, got, want):
            assert g.dtype == dtype
            assert rel_err(g, w) < tol, f"{dtype} {name}: {rel_err(g, w):.2e}"


def check_low_precision(scan, dtype, dense, device="cpu", B=1, L=40, H=2, S=4, D=3):
    """H3's criterion: max |scan(low) - exact| <= 2 max |reference loop(low) - exact| for the outputs and every
    gradient, ``exact`` being the float64 loop on the same (rounded) inputs."""
    low = [t.to(device, dtype) for t in case_tensors(B, L, H, S, D, dense, True, radius=0.9)]
    exact = run(reference, *(t.double() for t in low))
    plain = run(reference, *low)
    for name, x, p, e in zip(NAMES, run(scan, *low), plain, exact):
        assert x.dtype == dtype and torch.isfinite(x).all(), name
        assert max_err(x, e) <= 2 * max_err(p, e), f"{name}: {max_err(x, e):.2e} vs plain {max_err(p, e):.2e}"
