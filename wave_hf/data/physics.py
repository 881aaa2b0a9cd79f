"""Physical systems: Lorenz-63, the damped driven pendulum, and the 1-D wave equation on a ring.

Trajectories start from random initial conditions and are sampled at a fixed ``dt``. Lorenz and the pendulum are
integrated with classical RK4 at the internal step ``dt / substeps``; the wave equation is sampled from its exact
d'Alembert solution (random Fourier modes travelling left and right), so it has no integration error at all.
Forecasting layout: ``inputs[t] = obs(t)``, ``targets[t] = obs(t+1)``, every step scored.

Normalisation: per-dimension mean and std (one shared pair for the ring) are computed from ``STATS_ROWS``
reference trajectories of ``STATS_LEN`` steps drawn from a fixed, seed-independent stream, so they depend on the
physical parameters only (not on the seed or ``seq_len``). They are stored in the info (``ground_truth``) and applied
when ``normalize=True``. ``obs_noise`` adds Gaussian noise of that many stds to the observed series (inputs and
targets are the same noisy series, shifted by one step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._base import (
    STATS_LEN,
    STATS_ROWS,
    STATS_STREAM,
    Columns,
    Family,
    Param,
    Params,
    forecast_columns,
    freeze,
    register,
)
from ._detmath import det_sincos

_STATS_CACHE: dict[tuple, dict[str, np.ndarray]] = {}


def rk4(f: Callable[[int, np.ndarray, np.ndarray], None], y: np.ndarray, h: float, n_steps: int, *, m0: int = 0,
        every: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Integrate ``y' = f(m, y)`` (y of shape (k, n): k state components of n rows) with classical RK4,
    ``n_steps`` steps of size h; returns the final state. ``f(m, y, dy)`` writes the derivative into ``dy``.

    ``m`` is the time in half steps (the stages use m, m+1, m+1, m+2, starting at ``m0``), so a time-dependent
    forcing can be tabulated. With ``out`` (n, samples, k) given, the state is written to ``out[:, j]`` after
    every ``every`` steps (j = 0, 1, ...).
    """
    y = np.array(y, dtype=np.float64)
    k1, k2, k3, k4, tmp = (np.empty_like(y) for _ in range(5))
    half, sixth = 0.5 * h, h / 6.0
    for i in range(n_steps):
        m = m0 + 2 * i
        f(m, y, k1)
        np.multiply(k1, half, out=tmp)
        tmp += y
        f(m + 1, tmp, k2)
        np.multiply(k2, half, out=tmp)
        tmp += y
        f(m + 1, tmp, k3)
        np.multiply(k3, h, out=tmp)
        tmp += y
        f(m + 2, tmp, k4)
        k2 += k3  # y += h/6 (k1 + 2 k2 + 2 k3 + k4)
        k2 *= 2.0
        k2 += k1
        k2 += k4
        k2 *= sixth
        y += k2
        if out is not None and (i + 1) % every == 0:
            out[:, (i + 1) // every - 1] = y.T
    return y


class _PhysicsFamily(Family):
    kind = "real"
    metric = "mse"
    prefetch_rows = 2048
    obs_dim_param: str | None = None
    obs_dim_fixed: int = 0
    shared_stats = False
    common_params = {
        "seq_len": Param(256, "number of input/target steps", "int", minimum=1),
        "normalize": Param(True, "standardise with the stored mean/std", "bool"),
        "obs_noise": Param(0.0, "observation noise, in units of the per-dimension std", "float", minimum=0.0),
    }

    def obs_dim(self, p: Params) -> int:
        return p[self.obs_dim_param] if self.obs_dim_param else self.obs_dim_fixed

    def seq_len(self, p: Params) -> int:
        return p["seq_len"]

    def sizes(self, p: Params) -> dict[str, int | None]:
        d = self.obs_dim(p)
        return {"input_size": d, "output_size": d, "vocab_size": None}

    def draw_ic(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        raise NotImplementedError

    def observe(self, p: Params, draws: Columns) -> np.ndarray:
        """Raw observations (n, seq_len + 1, obs_dim) float64 of the rows' initial conditions."""
        raise NotImplementedError

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        out = self.draw_ic(p, rng, n)
        if p["obs_noise"] > 0:
            out["noise"] = rng.standard_normal((n, p["seq_len"] + 1, self.obs_dim(p)))
        return out

    def norm_stats(self, p: Params) -> dict[str, np.ndarray]:
        ref = {**p, "seq_len": STATS_LEN, "obs_noise": 0.0, "normalize": False}
        key = (self.name, freeze(ref))
        if key not in _STATS_CACHE:
            draws = self.draw_ic(ref, self.rng(0, STATS_STREAM, 0), STATS_ROWS)
            obs = self.observe(ref, draws)
            flat = obs.reshape(-1, obs.shape[-1])
            cols = [flat.ravel()] if self.shared_stats else [flat[:, i] for i in range(flat.shape[1])]
            mean = np.array([math.fsum(c) / c.size for c in cols])
            std = np.array([math.sqrt(math.fsum((c - m) ** 2) / c.size) for c, m in zip(cols, mean)])
            if self.shared_stats:
                mean, std = np.repeat(mean, flat.shape[1]), np.repeat(std, flat.shape[1])
            _STATS_CACHE[key] = {"norm_mean": mean, "norm_std": np.maximum(std, 1e-12)}
        return _STATS_CACHE[key]

    def make_constants(self, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        return dict(self.norm_stats(p))

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        obs = self.observe(p, draws)
        mean, std = consts["norm_mean"], consts["norm_std"]
        if p["normalize"]:
            obs = (obs - mean) / std
            if "noise" in draws:
                obs = obs + p["obs_noise"] * draws["noise"]
        elif "noise" in draws:
            obs = obs + (p["obs_noise"] * std) * draws["noise"]
        return forecast_columns(obs, 0)


@register
class Lorenz(_PhysicsFamily):
    name = "lorenz"
    summary = ("Lorenz-63 (sigma, rho, beta) from random initial conditions after a burn-in onto the attractor, "
               "RK4 at dt/substeps, sampled every dt; forecast the next state. Metric: mse.")
    obs_dim_fixed = 3
    params = {
        "sigma": Param(10.0, "Lorenz sigma", "float"),
        "rho": Param(28.0, "Lorenz rho", "float"),
        "beta": Param(8.0 / 3.0, "Lorenz beta", "float"),
        "dt": Param(0.01, "sampling interval", "float", minimum=0.0, exclusive_minimum=True),
        "substeps": Param(10, "RK4 steps per sample", "int", minimum=1),
        "burn_in": Param(200, "samples discarded before the first observation (one RK4 step of dt each)", "int",
                         minimum=0),
        **_PhysicsFamily.common_params,
    }

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"state": ["x", "y", "z"], "dt": p["dt"]}

    def draw_ic(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        lo, hi = np.array([-20.0, -20.0, 0.0]), np.array([20.0, 20.0, 40.0])
        return {"x0": lo + (hi - lo) * rng.random((n, 3))}

    def observe(self, p: Params, draws: Columns) -> np.ndarray:
        x0 = draws["x0"]
        sigma, rho, beta = p["sigma"], p["rho"], p["beta"]

        def f(m, Y, dY):
            x, y, z = Y
            np.subtract(y, x, out=dY[0])
            dY[0] *= sigma
            np.subtract(rho, z, out=dY[1])
            dY[1] *= x
            dY[1] -= y
            np.multiply(x, y, out=dY[2])
            dY[2] -= beta * z

        out = np.empty((x0.shape[0], p["seq_len"] + 1, 3))
        k = p["substeps"]
        state = rk4(f, x0.T, p["dt"], p["burn_in"])  # burn-in: only has to reach the attractor, one step/sample
        out[:, 0] = state.T
        rk4(f, state, p["dt"] / k, p["seq_len"] * k, every=k, out=out[:, 1:])
        return out


@register
class Pendulum(_PhysicsFamily):
    name = "pendulum"
    summary = ("Damped driven pendulum theta'' = -damping theta' - omega0^2 sin(theta) + A cos(drive_freq t + phi), "
               "random (theta, theta', phi); observed as (cos theta, sin theta, theta'); RK4 at dt/substeps. "
               "Forecast the next observation. Metric: mse.")
    obs_dim_fixed = 3
    params = {
        "omega0": Param(1.0, "natural frequency sqrt(g/l)", "float", minimum=0.0),
        "damping": Param(0.5, "linear damping coefficient", "float", minimum=0.0),
        "drive_amplitude": Param(1.5, "drive amplitude A", "float", minimum=0.0),
        "drive_freq": Param(2.0 / 3.0, "drive angular frequency", "float", minimum=0.0),
        "dt": Param(0.1, "sampling interval", "float", minimum=0.0, exclusive_minimum=True),
        "substeps": Param(10, "RK4 steps per sample", "int", minimum=1),
        "burn_in": Param(0, "samples discarded before the first observation", "int", minimum=0),
        **_PhysicsFamily.common_params,
    }

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"state": ["cos_theta", "sin_theta", "theta_dot"], "dt": p["dt"]}

    def draw_ic(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        u = rng.random((n, 3))
        return {"theta": math.pi * (2 * u[:, 0] - 1), "theta_dot": 2.0 * (2 * u[:, 1] - 1),
                "phase": 2 * math.pi * u[:, 2]}

    def states(self, p: Params, theta: np.ndarray, theta_dot: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """(cos theta, sin theta, theta') at the samples 0..seq_len after the burn-in, shape (n, seq_len + 1, 3).

        Integrated in the variables (c, s, w) = (cos theta, sin theta, theta'), where the system is polynomial:
        c' = -s w, s' = c w, w' = A cos(drive_freq t + phase) - damping w - omega0^2 s (no sine in the loop; the
        drift off the unit circle is an O(h^4) integration error like any other)."""
        k = p["substeps"]
        h = p["dt"] / k
        burn = p["burn_in"] * k
        sd, cd = det_sincos(p["drive_freq"] * (0.5 * h) * np.arange(2 * (burn + p["seq_len"] * k) + 1))
        sp, cp = det_sincos(phase)
        acp, asp = p["drive_amplitude"] * cp, p["drive_amplitude"] * sp
        w2, gam = p["omega0"] ** 2, p["damping"]

        def f(m, Y, dY):
            c, s, w = Y
            np.multiply(s, w, out=dY[0])
            np.negative(dY[0], out=dY[0])
            np.multiply(c, w, out=dY[1])
            np.multiply(acp, cd[m], out=dY[2])  # A cos(drive_freq t + phase) = A (cos wt cos ph - sin wt sin ph)
            dY[2] -= sd[m] * asp
            dY[2] -= gam * w
            dY[2] -= w2 * s

        out = np.empty((theta.shape[0], p["seq_len"] + 1, 3))
        st, ct = det_sincos(theta)
        state = rk4(f, np.stack([ct, st, theta_dot]), h, burn)
        out[:, 0] = state.T
        rk4(f, state, h, p["seq_len"] * k, m0=2 * burn, every=k, out=out[:, 1:])
        return out

    def observe(self, p: Params, draws: Columns) -> np.ndarray:
        return self.states(p, draws["theta"], draws["theta_dot"], draws["phase"])


@register
class WaveRing(_PhysicsFamily):
    name = "wave_ring"
    summary = ("1-D wave equation u_tt = c^2 u_xx on a ring of num_points cells, sampled from the exact d'Alembert "
               "solution: random Fourier modes 1..num_modes moving right and/or left at `speed` cells per step "
               "(traveling waves). Forecast the next snapshot. Metric: mse.")
    obs_dim_param = "num_points"
    shared_stats = True
    prefetch_rows = 0  # closed form: the cost is proportional to the data, nothing to amortise
    params = {
        "num_points": Param(32, "grid cells on the ring (= state dimension)", "int", minimum=4),
        "num_modes": Param(3, "highest Fourier mode of the initial condition", "int", minimum=1),
        "speed": Param(0.5, "wave speed in cells per time step", "float", minimum=0.0),
        "direction": Param("both", "travel direction(s)", "str", choices=("both", "right", "left")),
        **{**_PhysicsFamily.common_params, "seq_len": Param(128, "number of input/target steps", "int", minimum=1)},
    }

    def check(self, p: Params) -> None:
        if p["num_modes"] >= p["num_points"] / 2:
            raise ValueError(f"wave_ring: num_modes={p['num_modes']} must be < num_points/2 = {p['num_points'] / 2} "
                             "(modes at or above the Nyquist limit alias)")

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"speed": p["speed"], "direction": p["direction"]}

    def draw_ic(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        scale = 1.0 / np.arange(1, p["num_modes"] + 1)
        return {k: rng.standard_normal((n, p["num_modes"])) * scale for k in ("rc", "rs", "lc", "ls")}

    def observe(self, p: Params, draws: Columns) -> np.ndarray:
        K, N, L = p["num_modes"], p["num_points"], p["seq_len"]
        rc, rs, lc, ls = (draws[k] for k in ("rc", "rs", "lc", "ls"))
        if p["direction"] == "right":
            lc, ls = 0.0 * lc, 0.0 * ls
        elif p["direction"] == "left":
            rc, rs = 0.0 * rc, 0.0 * rs
        modes = np.arange(1, K + 1, dtype=np.float64)
        dx = 2 * math.pi / N
        st, ct = det_sincos((p["speed"] * dx) * np.arange(L + 1)[:, None] * modes)  # (L+1, K) phase k*c*t
        sx, cx = det_sincos(dx * modes[:, None] * np.arange(N))  # (K, N)
        # u = sum_k cos(k x) alpha_k(t) + sin(k x) beta_k(t)  (expansion of f(x - ct) + g(x + ct))
        alpha = (rc + lc)[:, None, :] * ct + (ls - rs)[:, None, :] * st
        beta = (rs + ls)[:, None, :] * ct + (rc - lc)[:, None, :] * st
        u = alpha[..., 0:1] * cx[0] + beta[..., 0:1] * sx[0]
        for k in range(1, K):
            u += alpha[..., k : k + 1] * cx[k] + beta[..., k : k + 1] * sx[k]
        return u
