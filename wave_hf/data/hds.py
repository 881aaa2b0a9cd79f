"""History-dependent dynamical systems (the next state depends on the last s): random stable VAR(s), random-MLP HDS.

Both use the forecasting layout (``inputs[t] = x(t)``, ``targets[t] = x(t+1)``, scored from t = s-1 on, when the
whole history is visible). The operator (VAR) or the MLP weights are drawn once per (params, seed) from the
constant stream, rounded to float32 (so the stored values are exactly the ones that generated the data, and the
eigenvalue routine used to set the spectral radius cannot leak machine-dependent bits) and recorded in the info.

Conventions (as ``wave_hf.ops.companion``): ``a[k-1]`` (d, d) multiplies the value k steps back,
``x(t+1) = sum_k a[k-1] x(t+1-k)``; the equivalent ``F`` (s*d, d) acts on the history flattened oldest first,
``x(t+1) = F^T vec(x(t-s+1), ..., x(t))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Columns, Family, Param, Params, forecast_columns, register
from ._detmath import det_matmul, det_tanh


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def boundary_to_operator(a: np.ndarray) -> np.ndarray:
    """Op-convention boundary a (s, d, d) -> F (s*d, d) acting on the oldest-first history."""
    s, d, _ = a.shape
    # F^T = [A_1 ... A_s] with A_i = a[s - i] (column i = offset i-1, oldest first)
    return np.concatenate([a[s - 1 - k].T for k in range(s)], axis=0)


def spectral_radius(a: np.ndarray) -> float:
    """Spectral radius of the companion matrix of the boundary a (s, d, d)."""
    import torch

    from wave_hf.ops.companion import companion_matrix

    phi = companion_matrix(torch.from_numpy(np.asarray(a, dtype=np.float64)))
    return float(np.abs(np.linalg.eigvals(phi.numpy())).max())


class _HDSFamily(Family):
    """Shared parts: history check, sizes, forecasting layout and the rollout loop."""

    kind = "real"
    metric = "mse"
    prefetch_rows = 1024

    def check(self, p: Params) -> None:
        if p["s"] >= p["seq_len"]:
            raise ValueError(f"{self.name}: history s={p['s']} must be shorter than seq_len={p['seq_len']}")

    def seq_len(self, p: Params) -> int:
        return p["seq_len"]

    def sizes(self, p: Params) -> dict[str, int | None]:
        return {"input_size": p["d"], "output_size": p["d"], "vocab_size": None}

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"d": p["d"], "s": p["s"], "first_scored_step": p["s"] - 1}

    def step(self, consts: Mapping[str, Any], history: np.ndarray) -> np.ndarray:
        """Next state from the (n, s*d) oldest-first history, without noise."""
        raise NotImplementedError

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        s, L, d = p["s"], p["seq_len"], p["d"]
        x0 = draws["x0"]
        n = x0.shape[0]
        states = np.zeros((n, L + 1, d), dtype=np.float64)
        states[:, :s] = x0
        for t in range(s, L + 1):
            nxt = self.step(consts, states[:, t - s : t].reshape(n, s * d))
            if "noise" in draws:
                nxt = nxt + p["noise_std"] * draws["noise"][:, t - s]
            states[:, t] = nxt
        return forecast_columns(states, s - 1)


@register
class VAR(_HDSFamily):
    name = "var"
    summary = ("Random stable vector autoregression VAR(s): x(t+1) = sum_k a[k-1] x(t+1-k) + noise, the "
               "companion matrix has the given spectral radius; the operator is recorded. Forecast the next "
               "state. Metric: mse.")
    params = {
        "d": Param(4, "state dimension", "int", minimum=1),
        "s": Param(2, "history length (VAR order)", "int", minimum=1),
        "seq_len": Param(64, "number of input/target steps", "int", minimum=2),
        "spectral_radius": Param(0.9, "spectral radius of the companion matrix", "float", minimum=0.0,
                                 exclusive_minimum=True, maximum=1.0),
        "noise_std": Param(0.1, "std of the Gaussian innovation", "float", minimum=0.0),
        "init_std": Param(1.0, "std of the Gaussian initial history", "float", minimum=0.0, exclusive_minimum=True),
    }

    def make_constants(self, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        s, d = p["s"], p["d"]
        raw = rng.standard_normal((s, d, d)) / np.sqrt(s * d)
        # scaling lag k by c**k scales every root of det(lambda^s - sum_k a_k lambda^(s-k)) by c
        c = p["spectral_radius"] / spectral_radius(raw)
        a = _f32(raw * (c ** np.arange(1, s + 1))[:, None, None])
        return {"a": a, "F": boundary_to_operator(a), "spectral_radius": spectral_radius(a)}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        out = {"x0": p["init_std"] * rng.standard_normal((n, p["s"], p["d"]))}
        if p["noise_std"] > 0:
            out["noise"] = rng.standard_normal((n, p["seq_len"] + 1 - p["s"], p["d"]))
        return out

    def step(self, consts: Mapping[str, Any], history: np.ndarray) -> np.ndarray:
        return det_matmul(history, consts["F"])


@register
class NonlinearHDS(_HDSFamily):
    name = "nonlinear_hds"
    summary = ("Nonlinear history-dependent system x(t+1) = f(x(t-s+1..t)) + noise with a random one-hidden-layer "
               "MLP f(z) = tanh(W2 tanh(W1 z + b1) + b2), z oldest first; weights recorded. Forecast the next "
               "state. Metric: mse.")
    params = {
        "d": Param(3, "state dimension", "int", minimum=1),
        "s": Param(2, "history length", "int", minimum=1),
        "hidden": Param(16, "hidden width of the MLP", "int", minimum=1),
        "gain": Param(2.0, "weight scale (W ~ N(0, gain^2 / fan_in)); > 1 gives rich dynamics", "float",
                      minimum=0.0, exclusive_minimum=True),
        "seq_len": Param(64, "number of input/target steps", "int", minimum=2),
        "noise_std": Param(0.0, "std of additive Gaussian noise on each new state", "float", minimum=0.0),
    }

    def make_constants(self, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        s, d, h, g = p["s"], p["d"], p["hidden"], p["gain"]
        return {
            "W1": _f32(g * rng.standard_normal((h, s * d)) / np.sqrt(s * d)),
            "b1": _f32(0.1 * rng.standard_normal(h)),
            "W2": _f32(g * rng.standard_normal((d, h)) / np.sqrt(h)),
            "b2": _f32(0.1 * rng.standard_normal(d)),
        }

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        out = {"x0": rng.uniform(-1.0, 1.0, size=(n, p["s"], p["d"]))}
        if p["noise_std"] > 0:
            out["noise"] = rng.standard_normal((n, p["seq_len"] + 1 - p["s"], p["d"]))
        return out

    def step(self, consts: Mapping[str, Any], history: np.ndarray) -> np.ndarray:
        hid = det_tanh(det_matmul(history, consts["W1"].T) + consts["b1"])
        return det_tanh(det_matmul(hid, consts["W2"].T) + consts["b2"])
