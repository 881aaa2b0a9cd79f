"""Gradient propagation against the distance i (the paper's vanishing-gradient argument and its gradient figure):
normalised ||dC/dx(i)|| with respect to the inputs, and ||dC/dh(T-i)|| with respect to the hidden states of an
Elman RNN (the product of Jacobians the argument bounds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["gradient_propagation", "state_gradient_propagation"]


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
    max_distance = _check_args(input_values, labels, cost_step, max_distance, normalize)
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
    return _normalised(grad[:, steps].double().norm(dim=-1).mean(dim=0).cpu().numpy(), normalize)


def state_gradient_propagation(
    model: Any,
    input_values: torch.Tensor,
    labels: torch.Tensor,
    cost_step: int,
    max_distance: int | None = None,
    normalize: str = "first",
) -> np.ndarray:
    """Norm of the gradient of the cost at one step with respect to the hidden state further and further back, for an
    Elman RNN ``h(t) = tanh(W_hh h(t-1) + W_uh x(t))``, ``y(t) = W_hy h(t)`` (the paper's RNN: tanh, no bias).

    The cost is that of ``gradient_propagation``, ``C = sum_b ||y_b(T) - labels_b(T)||^2`` at ``T = cost_step``.
    Distance ``i`` is the state ``h(T - i)`` (i = 0: the state the cost reads), so the curve is
    ``||(J(T) ... J(T-i+1))^T dC/dh(T)||`` with ``J(t) = diag(1 - h(t)^2) W_hh``: the product of Jacobians whose
    decay is the vanishing gradient. The recurrence is rerun in float64 from the model's own operators
    (``rnn_operators``), each state kept in the graph; its predictions must match the model's (else ``ValueError``:
    the model is not such an RNN). Per-sequence norms are averaged over the batch, then divided by the value at i = 0
    (``"first"``), by the maximum (``"max"``) or left as is (``"none"``).

    Returns: float64 array (max_distance + 1,), default ``max_distance = cost_step - 1``.
    """
    from .probes import rnn_operators

    max_distance = _check_args(input_values, labels, cost_step, max_distance, normalize)
    ops = {k: torch.from_numpy(v) for k, v in rnn_operators(model).items()}
    n = ops["W_hh"].shape[0]
    if ops["W_hh"].shape != (n, n) or ops["W_uh"].shape[0] != n or ops["W_hy"].shape[1] != n:
        raise ValueError(f"{type(model).__name__} is not an Elman RNN: W_hh {tuple(ops['W_hh'].shape)}, W_uh "
                         f"{tuple(ops['W_uh'].shape)}, W_hy {tuple(ops['W_hy'].shape)}")
    x = input_values.detach().double().cpu()
    # h(0) = 0 as a leaf that requires grad, so that every later state is in the graph
    h = torch.zeros(x.shape[0], n, dtype=torch.float64, requires_grad=True)
    states = []
    with torch.enable_grad():
        for t in range(cost_step + 1):
            h = torch.tanh(h @ ops["W_hh"].T + x[:, t] @ ops["W_uh"].T)
            states.append(h)
        pred = h @ ops["W_hy"].T
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                param = next(model.parameters())
                ours = model(input_values=x[:, : cost_step + 1].to(param.dtype), use_cache=False).predictions
        finally:
            model.train(was_training)
        gap = float((ours[:, cost_step].double().cpu() - pred.detach()).abs().max())
        if gap > 1e-4 * (1.0 + float(pred.detach().abs().max())):
            raise ValueError(f"{type(model).__name__} is not an Elman RNN h(t) = tanh(W_hh h(t-1) + W_uh x(t)), "
                             f"y(t) = W_hy h(t): its prediction differs from that recurrence by {gap:.3g}")
        cost = (pred - labels[:, cost_step].double().cpu()).pow(2).sum()
        grads = torch.autograd.grad(cost, [states[cost_step - i] for i in range(max_distance + 1)])
    return _normalised(np.array([float(g.norm(dim=-1).mean()) for g in grads]), normalize)


def _check_args(input_values: Any, labels: Any, cost_step: Any, max_distance: Any, normalize: str) -> int:
    """Validate the shared arguments; returns ``max_distance`` (default ``cost_step - 1``)."""
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
    return max_distance


def _normalised(norms: np.ndarray, normalize: str) -> np.ndarray:
    if normalize == "none":
        return norms
    ref = norms[0] if normalize == "first" else norms.max()
    return norms / ref if ref > 0 else np.zeros_like(norms)
