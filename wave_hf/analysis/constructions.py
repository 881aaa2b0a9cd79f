"""Wave models built from a known boundary, with no training: the constructions behind Theorem 3.1 of the paper.

``lbc_from_boundary(a)`` is the paper-faithful linear LBC model (one layer, one head, no projections, norms, MLP or
residual; write and read maps set to the identity) whose boundary is ``a``, so that it is exactly the linear TWM
``vec h(t+1) = Phi vec h(t) + E_s x(t)``, ``y(t) = h_s(t+1)`` with ``Phi = companion_matrix(a)``.
``lbc_load_rollout(model, prompt, horizon)`` runs it from Theorem 3.1's initial condition: the substrate loaded with
the prompt, then autonomous steps (zero input). ``embedded_rnn(phi, P, d)`` is a dense RNN holding a known wave
(``W_hh = P Phi P^+``): the known answer of the basis-recovery tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wave_hf.models import WaveCache, WaveLBCConfig, WaveLBCForPrediction

from ._checks import matrix, positive_int, square_matrix

__all__ = ["embedded_rnn", "lbc_from_boundary", "lbc_load_rollout"]


def embedded_rnn(phi: Any, P: Any, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An RNN that holds the wave Phi in the basis P: ``W_hh = P Phi P^+``, ``W_uh = P E_s``, ``W_hy = E_s^T P^+``
    (write into and read from the start column, B = C = I), with ``E_s`` the last d cells.

    Args:
        phi: (s*d, s*d) Phi. P: (n, s*d) basis of full column rank (any, not necessarily orthonormal). d: wave count.

    Returns:
        ``W_hh`` (n, n), ``W_uh`` (n, d), ``W_hy`` (d, n), float64.
    """
    phi = square_matrix(phi, "phi")
    P = matrix(P, "P", cols=phi.shape[0])
    d = positive_int(d, "d")
    if phi.shape[0] % d:
        raise ValueError(f"`phi` size {phi.shape[0]} is not a multiple of d={d}")
    if np.linalg.matrix_rank(P) < P.shape[1]:
        raise ValueError(f"`P` must have full column rank {P.shape[1]}")
    pinv = np.linalg.pinv(P)
    E_s = np.eye(phi.shape[0])[:, -d:]
    return P @ phi @ pinv, P @ E_s, E_s.T @ pinv


def lbc_from_boundary(boundary: Any) -> WaveLBCForPrediction:
    """The linear LBC model (float64, eval mode) with identity write/read maps and the given dense boundary.

    Args:
        boundary: (s, d, d) op-convention boundary (``boundary[k-1]`` multiplies the value k steps back), e.g.
            ``wave_hf.data.task_boundary(task, d, s)``.

    Returns:
        ``WaveLBCForPrediction`` with ``input_size = output_size = hidden_size = head_dim = d``, ``history_length =
        s``: its forward on inputs (B, L, d) equals ``linear_twm(companion_matrix(boundary), inputs, "additive")``.
    """
    a = torch.as_tensor(boundary)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"`boundary` must have shape (s, d, d) with s, d >= 1; got {tuple(a.shape)}")
    s, d = int(a.shape[0]), int(a.shape[1])
    config = WaveLBCConfig(
        vocab_size=None, input_size=d, output_size=d, hidden_size=d, num_hidden_layers=1, num_heads=1, head_dim=d,
        history_length=s, boundary="dense", readout="boundary", gating="none", mixer_projections=False,
        use_mlp=False, use_norm=False, residual=False, boundary_init_scale=0.0, initializer_range=0.35,
    )
    model = WaveLBCForPrediction(config).double().eval()
    mixer = model.model.layers[0].mixer
    with torch.no_grad():
        for lin in (model.value_in, model.value_out, mixer.in_proj, mixer.out_proj):
            if isinstance(lin, torch.nn.Linear):
                lin.weight.copy_(torch.eye(d, dtype=torch.float64))
        mixer.boundary.copy_(a.to(torch.float64)[None])
    return model


def lbc_load_rollout(model: WaveLBCForPrediction, prompt: torch.Tensor, horizon: int,
                     keep_graph: bool = False) -> torch.Tensor:
    """Theorem 3.1's initial condition through the model's cache: the substrate holds the prompt (newest value in
    the start column), then the model runs ``horizon`` steps on zero inputs.

    Args:
        model: a one-layer, one-head LBC model with ``head_dim = d`` and ``history_length = s`` (as built by
            ``lbc_from_boundary``).
        prompt: (B, s, d), oldest first, in the model's dtype.
        horizon: number of autonomous steps.
        keep_graph: keep the predictions in the autograd graph (to train through the load, e.g. teacher forcing
            with ``horizon = 1``); by default they are computed without gradients.

    Returns:
        The predictions (B, horizon, d): for a task boundary, the task's targets after the prompt.
    """
    horizon = positive_int(horizon, "horizon")
    cfg = model.config
    s, d = cfg.history_length, cfg.head_dim
    if prompt.ndim != 3 or tuple(prompt.shape[1:]) != (s, d):
        raise ValueError(f"`prompt` must have shape (B, s, d) = (B, {s}, {d}); got {tuple(prompt.shape)}")
    if cfg.num_hidden_layers != 1 or cfg.num_heads != 1:
        raise ValueError("`model` must have one layer and one head (the load sets that head's substrate); got "
                         f"{cfg.num_hidden_layers} layer(s) and {cfg.num_heads} head(s)")
    cache = WaveCache.from_config(cfg)
    B = prompt.shape[0]
    cache.set_state(0, "substrate", prompt.flip(1).reshape(B, 1, s, d).clone())
    zeros = torch.zeros(B, horizon, d, dtype=prompt.dtype)
    with torch.set_grad_enabled(keep_graph and torch.is_grad_enabled()):
        return model(input_values=zeros, cache=cache, use_cache=True).predictions
