"""Read what the analysis needs out of a trained model: its linear operators and its hidden trajectory."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._checks import to_numpy

__all__ = ["hidden_trajectory", "rnn_operators"]


def rnn_operators(model: Any, layer_idx: int = 0) -> dict[str, np.ndarray]:
    """``{"W_hh", "W_uh", "W_hy"}`` (float64 numpy) of a one-layer linearised recurrent model.

    Elman / iRNN / Wave-RNN baselines: ``recurrent_weights()`` (tanh with no bias linearises to W_hh at the
    origin). Linear LBC models: ``wave_operators()`` (``phi``, ``write``, ``read``).
    """
    if hasattr(model, "recurrent_weights"):
        w = model.recurrent_weights(layer_idx)
        out = {k: w.get(k) for k in ("W_hh", "W_uh", "W_hy")}
    elif hasattr(model, "wave_operators"):
        w = model.wave_operators()
        out = {"W_hh": w["phi"], "W_uh": w["write"], "W_hy": w["read"]}
    else:
        raise TypeError(f"{type(model).__name__} has neither `recurrent_weights()` nor `wave_operators()`")
    missing = [k for k, v in out.items() if v is None]
    if missing:
        raise ValueError(f"{type(model).__name__} layer {layer_idx} does not define {missing} (use a prediction head)")
    return {k: to_numpy(v, k) for k, v in out.items()}


@torch.no_grad()
def hidden_trajectory(model: Any, input_values: Any) -> np.ndarray:
    """Hidden states of the last layer, (B, L, n) float64, for ``input_values`` (B, L, d) or one sequence (L, d)
    (then (L, n)): ``model(..., output_hidden_states=True).hidden_states[-1]``."""
    x = torch.as_tensor(np.asarray(input_values) if not isinstance(input_values, torch.Tensor) else input_values)
    single = x.dim() == 2
    if single:
        x = x[None]
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        out = model(input_values=x.to(param.dtype), use_cache=False, output_hidden_states=True)
    finally:
        model.train(was_training)
    if out.hidden_states is None:
        raise ValueError(f"{type(model).__name__} returned no hidden_states")
    h = out.hidden_states[-1].double().cpu().numpy()
    return h[0] if single else h
