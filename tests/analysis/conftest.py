"""Shared fixtures of the analysis tests: the T-task operators (from wave_hf.data) and a random embedding basis."""

from __future__ import annotations

import numpy as np
import pytest

from wave_hf.analysis.operators import phi_from_task_operator
from wave_hf.data import task_operator

D = S = 8
N = 128


@pytest.fixture(scope="session")
def phis() -> dict[str, np.ndarray]:
    return {t: phi_from_task_operator(task_operator(t, D, S), D, S) for t in ("T1", "T2", "T3", "T4")}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def orthonormal(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((n, m)))
    return q
