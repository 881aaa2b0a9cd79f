"""Generalised Fibonacci: each d-dim vector is the sum of the previous s vectors.

The first s vectors are random integers in ``[-init_max, init_max]``; the sequence is computed in int64 and stored
as float32, which is exact because the parameters are checked so that every value stays below 2**24. The system
diverges (growth rate = the s-bonacci constant), so it is an exactness test rather than a training task.
Forecasting layout: ``inputs[t] = x(t)``, ``targets[t] = x(t+1)``, scored from t = s-1 on (full history).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Columns, Family, Param, Params, forecast_columns, register

_FLOAT32_EXACT = 2**24


def max_abs_value(s: int, init_max: int, length: int) -> int:
    """Largest |x(t)| over t < length (attained when every initial entry equals init_max)."""
    b = [1] * s
    while len(b) < length:
        b.append(sum(b[-s:]))
    return init_max * max(b[:length])


@register
class Fibonacci(Family):
    name = "fibonacci"
    kind = "real"
    metric = "mse"
    summary = ("Generalised Fibonacci: x(t+1) = x(t) + ... + x(t-s+1), random integer seeds, exact integers. "
               "Forecast the next vector. Metric: mse.")
    params = {
        "d": Param(4, "vector dimension", "int", minimum=1),
        "s": Param(3, "history length (number of summed vectors)", "int", minimum=1),
        "seq_len": Param(20, "number of input/target steps", "int", minimum=2),
        "init_max": Param(3, "initial entries are uniform integers in [-init_max, init_max]", "int", minimum=1),
    }

    def check(self, p: Params) -> None:
        s, L = p["s"], p["seq_len"]
        if s >= L:
            raise ValueError(f"fibonacci: history s={s} must be shorter than seq_len={L}")
        if max_abs_value(s, p["init_max"], L + 1) >= _FLOAT32_EXACT:
            longest = max(n for n in range(s, L + 1) if max_abs_value(s, p["init_max"], n + 1) < _FLOAT32_EXACT)
            raise ValueError(
                f"fibonacci: values would exceed 2**24 (no longer exact in float32) for s={s}, "
                f"init_max={p['init_max']}, seq_len={L}; allowed seq_len <= {longest} for these s and init_max"
            )

    def seq_len(self, p: Params) -> int:
        return p["seq_len"]

    def sizes(self, p: Params) -> dict[str, int | None]:
        return {"input_size": p["d"], "output_size": p["d"], "vocab_size": None}

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"d": p["d"], "s": p["s"], "first_scored_step": p["s"] - 1}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        m = p["init_max"]
        return {"x0": rng.integers(-m, m + 1, size=(n, p["s"], p["d"]), dtype=np.int64)}

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        s, L = p["s"], p["seq_len"]
        x0 = draws["x0"]
        seq = np.zeros((x0.shape[0], L + 1, p["d"]), dtype=np.int64)
        seq[:, :s] = x0
        for t in range(s, L + 1):
            seq[:, t] = seq[:, t - s : t].sum(axis=1)
        return forecast_columns(seq, s - 1)
