"""Gradient propagation: normalised ||dC/dx(i)|| against the distance i (the paper's vanishing-gradient
argument and its gradient figure)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["gradient_propagation"]


def gradient_propagation(
    model: Any,
    input_values: torch.Tensor,
    labels: torch.Tensor,
    cost_step: int,
    max_distance: int | None = None,
    normalize: str = "first",
) -> np.ndarray:
    """Norm of the gradient of the cost at one step with respect to the inputs further and further back.

    The cost is ``C = sum_b ||y_b(T) - labels_b(T)||^2`` at ``T = cost_step`` (the first scored step of a T-task is
    ``T = s``: the cost ``C(y(s+1), x(s+1))`` of the paper's gradient argument). Distance ``i`` is the input
    ``x(T - 1 - i)`` (i = 0: the last input before the cost step; i = s - 1: x(0) for ``T = s``). For each i the
    per-sequence norm ``||dC/dx_b(T-1-i)||`` is averaged over the batch, then divided by the value at i = 0
    (``normalize="first"``), by the maximum (``"max"``), or left as is (``"none"``).

    Args:
        model: a ``...ForPrediction`` model (``model(input_values=...).predictions``, (B, L, d_out)).
        input_values: (B, L, d_in); labels: (B, L, d_out).
    Returns: float64 array (max_distance + 1,), default ``max_distance = cost_step - 1``.
    """
    if not isinstance(input_values, torch.Tensor) or input_values.dim() != 3:
        raise ValueError(f"`input_values` must be a tensor (B, L, d); got {getattr(input_values, 'shape', None)}")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 3 or labels.shape[:2] != input_values.shape[:2]:
        raise ValueError(
            f"`labels` must be (B, L, d_out) with B, L of `input_values` {tuple(input_values.shape[:2])}; "
            f"got {getattr(labels, 'shape', None)}"
        )
    L = input_values.shape[1]
    if isinstance(cost_step, bool) or not isinstance(cost_step, int) or not 1 <= cost_step < L:
        raise ValueError(f"`cost_step` must be an integer in [1, L={L}); got {cost_step!r}")
    max_distance = cost_step - 1 if max_distance is None else max_distance
    if isinstance(max_distance, bool) or not isinstance(max_distance, int) or not 0 <= max_distance < cost_step:
        raise ValueError(f"`max_distance` must be an integer in [0, cost_step={cost_step}); got {max_distance!r}")
    if normalize not in ("first", "max", "none"):
        raise ValueError(f"`normalize` must be 'first', 'max' or 'none'; got {normalize!r}")
    param = next(model.parameters())
    x = input_values.detach().to(param.dtype).clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            pred = model(input_values=x[:, : cost_step + 1], use_cache=False).predictions
            cost = (pred[:, cost_step] - labels[:, cost_step].to(pred.dtype)).pow(2).sum()
            (grad,) = torch.autograd.grad(cost, x)
    finally:
        model.train(was_training)
    steps = cost_step - 1 - torch.arange(max_distance + 1)
    norms = grad[:, steps].double().norm(dim=-1).mean(dim=0).cpu().numpy()
    if normalize == "first":
        ref = norms[0]
    elif normalize == "max":
        ref = norms.max()
    else:
        return norms
    return norms / ref if ref > 0 else np.zeros_like(norms)
