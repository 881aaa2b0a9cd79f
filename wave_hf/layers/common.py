"""Small building blocks shared by the LBC and SBC layers: RMSNorm and an MLP (gated or plain).

API:

    RMSNorm(hidden_size, eps=1e-6)                       -> y = x / rms(x) * weight   (weight init 1, fp32 math)
    MLP(hidden_size, intermediate_size, hidden_act="silu", gated=True, bias=False)
        gated=True : down(act(gate(x)) * up(x))   (SwiGLU-style; parameters gate_proj, up_proj, down_proj)
        gated=False: down(act(up(x)))             (parameters up_proj, down_proj)
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import ACT2FN

__all__ = ["RMSNorm", "MLP"]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (no mean subtraction, no bias). Normalises in float32, then casts back to the input
    dtype before the (learned) scale, as Llama does."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.hidden_size = hidden_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        x = hidden_states.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(input_dtype)

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}"


class MLP(nn.Module):
    """Position-wise feed-forward block, gated (GLU family) or plain."""

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        hidden_act: str = "silu",
        gated: bool = True,
        bias: bool = False,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.gated = gated
        if gated:
            self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=bias)
        self.act_fn = ACT2FN[hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.down_proj(self.act_fn(self.gate_proj(hidden_states)) * self.up_proj(hidden_states))
        return self.down_proj(self.act_fn(self.up_proj(hidden_states)))
