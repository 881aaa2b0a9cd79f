"""The wave models written out by hand, as the paper states them, to check the model classes against.

- ``sbc_substrate_loop`` / ``sbc_substrate_rollout``: the SBC model (the paper's self-attention boundary condition) as
  the autoregressive loop of an attention-only transformer whose context is the substrate: a list holding the S
  newest input columns, the stack of attention blocks run on that list, the output read from its newest column.
- ``shift_operator`` and ``boundary_rank``: the LBC's Phi is the shift (identity blocks on the block superdiagonal)
  plus the boundary, which lives in the last block row, so ``rank(Phi - shift) <= d`` per head.
- ``shift_ssm_convolution``: ``boundary="none"`` with the FIR readout as H3's shift SSM written as an explicit causal
  convolution of length S (``y_t = sum_{j<S} fir_j * z_{t-j}`` per wave), read from the model's parameters.

Everything runs in float64 on the model's own parameters (read, never changed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._checks import positive_int, square_matrix

__all__ = [
    "boundary_rank",
    "sbc_substrate_loop",
    "sbc_substrate_rollout",
    "shift_operator",
    "shift_ssm_convolution",
]


def shift_operator(s: int, d: int) -> np.ndarray:
    """The pure shift (s*d, s*d): identity blocks on the block superdiagonal (column k receives column k+1, the
    layout of ``operators.py``), zero boundary row."""
    s, d = positive_int(s, "s"), positive_int(d, "d")
    return np.kron(np.eye(s, k=1), np.eye(d))


def boundary_rank(phi: Any, d: int, tol: float = 1e-9) -> int:
    """``rank(phi - shift_operator(s, d))`` of one head's Phi (s*d, s*d), singular values above ``tol`` times the
    largest (or above ``tol`` when that is below 1)."""
    phi = square_matrix(phi, "phi")
    d = positive_int(d, "d")
    if phi.shape[0] % d:
        raise ValueError(f"`phi` size {phi.shape[0]} is not a multiple of d={d}")
    sv = np.linalg.svd(phi - shift_operator(phi.shape[0] // d, d), compute_uv=False)
    return int(np.sum(sv > tol * max(1.0, float(sv[0]) if sv.size else 0.0)))


# ----------------------------------------------------------------------------------------------------------- SBC


def _check_sbc(model: Any) -> Any:
    cfg = getattr(model, "config", None)
    if getattr(cfg, "model_type", None) != "wave_sbc" or not hasattr(model, "value_in"):
        raise TypeError(f"expected a WaveSBCForPrediction model; got {type(model).__name__}")
    if cfg.substrate_mode != "window":
        raise ValueError(f"the substrate loop is the window mode; got substrate_mode={cfg.substrate_mode!r}")
    if cfg.use_mlp:
        raise ValueError("the substrate loop is attention-only; got use_mlp=True")
    return cfg


def _rms(x: torch.Tensor, norm: Any, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * norm.weight.double()


def _age_bias(attn: Any, cfg: Any) -> torch.Tensor:
    """(H, S) bias over the age of a column (0 = the query's own column)."""
    H, S = cfg.num_heads, cfg.history_length
    if cfg.position_encoding == "age_bias":
        return attn.age_bias.detach().double()
    if cfg.position_encoding == "alibi":  # -m_h * age, m_h = 2^(-8 (h+1) / H)
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], dtype=torch.float64)
        return -slopes[:, None] * torch.arange(S, dtype=torch.float64)[None]
    return torch.zeros(H, S, dtype=torch.float64)


def _attention_block(block: Any, h: torch.Tensor, cfg: Any) -> torch.Tensor:
    """One block on a substrate h (B, n, hidden), n <= S columns oldest first: causal softmax attention of every
    column over the columns up to itself, biased by their age; residual and pre-norm as configured."""
    attn, H = block.attn, cfg.num_heads
    Dh = cfg.attention_head_dim
    z = _rms(h, block.attn_norm, cfg.rms_norm_eps) if cfg.use_norm else h
    B, n, _ = z.shape
    q, k, v = (
        (z @ lin.weight.detach().double().T).view(B, n, H, Dh).transpose(1, 2)
        for lin in (attn.q_proj, attn.k_proj, attn.v_proj)
    )
    scale = cfg.attention_scale if cfg.attention_scale is not None else 1.0 / math.sqrt(Dh)
    ages = torch.arange(n)[:, None] - torch.arange(n)[None, :]  # query i, key j: age i - j
    logits = (q @ k.transpose(-1, -2)) * scale + _age_bias(attn, cfg)[:, ages.clamp(min=0)][None]
    logits = logits.masked_fill(ages[None, None] < 0, float("-inf"))
    out = (torch.softmax(logits, dim=-1) @ v).transpose(1, 2).reshape(B, n, H * Dh)
    out = out @ attn.o_proj.weight.detach().double().T
    return h + out if cfg.residual else out


def _substrate_output(model: Any, substrate: list[torch.Tensor], cfg: Any) -> torch.Tensor:
    """The prediction (B, output_size) read from the newest column after the stack runs on the substrate."""
    h = torch.stack(substrate, dim=1)
    for block in model.model.layers:
        h = _attention_block(block, h, cfg)
    newest = h[:, -1]
    if cfg.use_norm:
        newest = _rms(newest, model.model.norm, cfg.rms_norm_eps)
    return newest @ model.value_out.weight.detach().double().T


def _embed(model: Any, x: torch.Tensor) -> torch.Tensor:
    return x.double() @ model.value_in.weight.detach().double().T


def sbc_substrate_loop(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    """A window-mode, attention-only ``WaveSBCForPrediction`` written as a loop over an explicit substrate.

    At step t the substrate is the list of the (at most) S newest embedded inputs ``x_{t-S+1} .. x_t``; the blocks
    run on it as a small causal transformer and the output at t is read from its newest column.

    Args:
        model: the model (its parameters are read in float64).
        inputs: (B, L, input_size).

    Returns:
        (B, L, output_size) float64: what ``model(input_values=inputs).predictions`` must equal.
    """
    cfg = _check_sbc(model)
    if inputs.ndim != 3 or inputs.shape[-1] != cfg.input_size:
        raise ValueError(f"`inputs` must have shape (B, L, input_size={cfg.input_size}); got {tuple(inputs.shape)}")
    x = _embed(model, inputs)
    substrate: list[torch.Tensor] = []
    outputs = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            substrate = ([*substrate, x[:, t]])[-cfg.history_length :]
            outputs.append(_substrate_output(model, substrate, cfg))
    return torch.stack(outputs, dim=1)


def sbc_substrate_rollout(model: Any, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """The autoregressive loop: the substrate holds the prompt's S newest inputs, then each prediction is written
    into the substrate as the next input (the oldest column falls off).

    Args:
        model: as for ``sbc_substrate_loop`` (``output_size == input_size``).
        prompt: (B, P, input_size), P >= 1.
        steps: number of predictions fed back.

    Returns:
        (B, steps, input_size) float64: what ``model.rollout(prompt, steps)`` must equal.
    """
    cfg = _check_sbc(model)
    steps = positive_int(steps, "steps")
    if prompt.ndim != 3 or prompt.shape[1] < 1 or prompt.shape[-1] != cfg.input_size:
        raise ValueError(f"`prompt` must have shape (B, P>=1, input_size={cfg.input_size}); got {tuple(prompt.shape)}")
    if cfg.prediction_size != cfg.input_size:
        raise ValueError("the rollout feeds predictions back as inputs, so output_size must equal input_size")
    S = cfg.history_length
    x = _embed(model, prompt)
    substrate = [x[:, t] for t in range(max(0, x.shape[1] - S), x.shape[1])]
    preds = []
    with torch.no_grad():
        for _ in range(steps):
            y = _substrate_output(model, substrate, cfg)
            preds.append(y)
            substrate = [*substrate, _embed(model, y[:, None])[:, 0]][-S:]
    return torch.stack(preds, dim=1)


# ----------------------------------------------------------------------------------------------------------- LBC


def shift_ssm_convolution(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    """H3's shift SSM as an explicit causal convolution, from the parameters of a one-layer linear
    ``WaveLBCForPrediction`` with ``boundary="none"`` and ``readout="fir"``.

    ``z = W_in value_in(x)`` split into H heads of D waves; per head and wave
    ``u_t = sum_{j=0}^{S-1} fir[h, j] z_{t-j}`` (``z_{<0} = 0``: the shift register starts empty);
    ``y = value_out(W_out u)`` (``W_in``/``W_out`` the mixer's projections, identities with
    ``mixer_projections=False``).

    Args:
        inputs: (B, L, input_size).

    Returns:
        (B, L, output_size) float64.
    """
    cfg = getattr(model, "config", None)
    if getattr(cfg, "model_type", None) != "wave_lbc" or not hasattr(model, "value_in"):
        raise TypeError(f"expected a WaveLBCForPrediction model; got {type(model).__name__}")
    bad = {k: v for k, v in dict(boundary=cfg.boundary != "none", readout=cfg.readout != "fir",
                                 num_hidden_layers=cfg.num_hidden_layers != 1, use_norm=cfg.use_norm,
                                 residual=cfg.residual, use_mlp=cfg.use_mlp, gating=cfg.gating != "none").items() if v}
    if bad:
        raise ValueError("shift_ssm_convolution needs a one-layer linear model with boundary='none' and readout='fir' "
                         f"(no norm, residual, MLP or gating); this config differs in {sorted(bad)}")
    if inputs.ndim != 3 or inputs.shape[-1] != cfg.input_size:
        raise ValueError(f"`inputs` must have shape (B, L, input_size={cfg.input_size}); got {tuple(inputs.shape)}")
    mixer = model.model.layers[0].mixer
    H, S, D = cfg.num_heads, cfg.history_length, cfg.head_dim

    def linear(module: Any, x: torch.Tensor) -> torch.Tensor:
        return x @ module.weight.detach().double().T if isinstance(module, torch.nn.Linear) else x

    z = linear(mixer.in_proj, _embed(model, inputs))  # (B, L, H*D)
    B, L, _ = z.shape
    z = z.view(B, L, H, D)
    fir = mixer.fir.detach().double()  # (H, S, D): fir[h, j] multiplies z_{t-j}
    u = torch.zeros_like(z)
    for j in range(min(S, L)):
        u[:, j:] += fir[:, j][None, None] * z[:, : L - j]
    y = linear(mixer.out_proj, u.reshape(B, L, H * D))
    return y @ model.value_out.weight.detach().double().T
