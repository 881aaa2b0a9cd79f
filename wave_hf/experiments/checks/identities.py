"""Section 9: the model classes and the basis-recovery tool against constructions with a known answer (no training;
construction checks). The SBC model is the autoregressive loop of an attention-only transformer whose context is the
substrate; the LBC's Phi is a shift plus a boundary of rank at most d, and ``boundary="none"`` is H3's shift SSM;
the wave basis is recovered from a recurrent matrix built as ``W = P Phi P^+`` with a known P."""

from __future__ import annotations

import numpy as np
import torch

from wave_hf.analysis import (
    boundary_rank,
    embedded_rnn,
    grounded_bases,
    recovery_error,
    sbc_substrate_loop,
    sbc_substrate_rollout,
    shift_ssm_convolution,
)
from wave_hf.models import WaveLBCConfig, WaveLBCForPrediction, WaveSBCConfig, WaveSBCForPrediction

from ..formatting import fmt
from ..records import Row, SectionResult, construction_rows
from .common import TASKS, D, S

__all__ = ["section_identities"]

_LENGTHS = (1, 7, 13)  # sequence lengths below, at and above the substrate width of the small models
_TOL = 1e-6


def _randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """The model in float64, eval mode, every parameter redrawn from N(0, 0.5^2) (away from special inits)."""
    gen = torch.Generator().manual_seed(seed)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def _sbc_row() -> Row:
    cfg = WaveSBCConfig(vocab_size=None, input_size=3, output_size=3, hidden_size=12, num_hidden_layers=2,
                        num_heads=2, head_dim=5, history_length=5, substrate_mode="window")
    model = _randomised(WaveSBCForPrediction(cfg), seed=0)
    gen = torch.Generator().manual_seed(1)
    fwd = roll = scale = 0.0
    for L in _LENGTHS:
        x = torch.randn(2, L, 3, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            ref = sbc_substrate_loop(model, x)
            fwd = max(fwd, float((model(input_values=x).predictions - ref).abs().max()))
            roll = max(roll, float((model.rollout(x, 6) - sbc_substrate_rollout(model, x, 6)).abs().max()))
        scale = max(scale, float(ref.abs().max()))
    fwd, roll = fwd / scale, roll / scale
    return Row(
        "9", "WaveSBC (window mode; 2 layers, 2 heads, S = 5, age bias, norms, residual) = the autoregressive loop of "
        f"an attention-only transformer over an explicit substrate of the S newest inputs (lengths {_LENGTHS}): "
        "max abs diff of the forward; of a 6-step rollout (relative to max |y|; the model's RMSNorm normalises in "
        "float32)",
        "exact (the SBC equation)", f"{fmt(fwd)}; {fmt(roll)}", fwd <= _TOL and roll <= _TOL, f"both <= {_TOL:g}",
        values={"forward": fwd, "rollout": roll, "max_abs_output": scale},
    )


def _lbc(boundary: str, **kw) -> WaveLBCForPrediction:
    cfg = WaveLBCConfig(vocab_size=None, input_size=3, output_size=3, num_hidden_layers=1, gating="none",
                        use_mlp=False, use_norm=False, residual=False, boundary=boundary, readout="fir", **kw)
    return WaveLBCForPrediction(cfg)


def _rank_row() -> Row:
    H, s, d = 3, 6, 4
    ranks = {}
    for boundary in ("dense", "diagonal", "none"):
        torch.manual_seed(0)
        model = _lbc(boundary, hidden_size=H * d, num_heads=H, head_dim=d, history_length=s,
                     boundary_init_scale=0.0 if boundary == "none" else 0.5)
        ranks[boundary] = [boundary_rank(model.companion_matrix(0, h).double().numpy(), d) for h in range(H)]
    ok = all(r <= d for rs in ranks.values() for r in rs) and ranks["none"] == [0] * H
    return Row(
        "9", f"LBC: rank(Phi_h - shift) per head for random boundaries (H = {H}, s = {s}, d = {d}); "
        "boundary='none'", "<= d; 0 (a shift plus a boundary of rank at most d)",
        "; ".join(f"{b}: {' '.join(map(str, rs))}" for b, rs in ranks.items()), ok,
        "every rank <= d and 0 for boundary='none'", values=ranks,
    )


def _shift_ssm_row() -> Row:
    H, s, d = 2, 5, 3
    worst = scale = 0.0
    gen = torch.Generator().manual_seed(2)
    for i, projections in enumerate((False, True)):
        model = _randomised(_lbc("none", hidden_size=H * d, num_heads=H, head_dim=d, history_length=s,
                                 mixer_projections=projections), seed=3 + i)
        for L in _LENGTHS:
            x = torch.randn(2, L, 3, generator=gen, dtype=torch.float64)
            with torch.no_grad():
                got = model(input_values=x, use_cache=False).predictions
            ref = shift_ssm_convolution(model, x)
            worst, scale = max(worst, float((got - ref).abs().max())), max(scale, float(ref.abs().max()))
    rel = worst / scale
    return Row(
        "9", f"LBC boundary='none' (readout 'fir', with and without projections; lengths {_LENGTHS}) = H3's shift "
        "SSM: forward vs an explicit causal convolution of length s with the FIR taps (max abs diff / max |y|)",
        "exact (a pure shift register + FIR readout)", fmt(rel), rel <= 1e-9, "<= 1e-9",
        values={"max_abs_diff": worst, "max_abs_output": scale},
    )


def _recovery_row(phis: dict[str, np.ndarray]) -> Row:
    rng = np.random.default_rng(0)
    n = 2 * S * D
    errs = {}
    for task in TASKS:
        P = rng.standard_normal((n, S * D)) * rng.uniform(0.2, 5.0, S * D)  # neither orthogonal nor normalised
        W, W_uh, _ = embedded_rnn(phis[task], P, D)
        basis = grounded_bases(W, S, W_uh=W_uh, phi=phis[task], ground="input")
        errs[task] = {**recovery_error(basis, P), "cells": basis.n_cells}
    worst = max(max(e["column_mismatch"], e["subspace_angle"]) for e in errs.values())
    return Row(
        "9", f"basis recovery (input grounding) from W_hh = P Phi P^+ with a known random P ({n} x {S * D}, not "
        "orthonormal): per task 1 - |cos| of the recovered vs true columns, largest principal angle (rad), kept cells",
        "0; 0 (P's columns on the active cells, up to scale and sign)",
        ", ".join(f"{t}: {fmt(e['column_mismatch'])}, {fmt(e['subspace_angle'])}, {e['cells']}"
                  for t, e in errs.items()),
        worst < 1e-7, "both < 1e-7 for every task", values=errs,
    )


def section_identities(phis: dict[str, np.ndarray]) -> SectionResult:
    """The rows of section 9 (no training; construction checks). ``phis``: the theory Phi of T1..T4."""
    return SectionResult(construction_rows([_sbc_row(), _rank_row(), _shift_ssm_row(), _recovery_row(phis)]))
