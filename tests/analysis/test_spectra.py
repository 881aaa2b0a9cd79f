"""Theory operators, spectra, the roots predicted by a task's cycles and the spectral comparison metric."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from wave_hf.analysis.operators import phi_from_boundary, phi_from_model, phi_from_task_operator, task_operator_from_phi
from wave_hf.analysis.spectra import (
    count_above,
    count_unit_modulus,
    cycle_roots,
    eigenvalues,
    spectral_comparison,
    unit_circle_angles,
)
from wave_hf.data import cycle_structure, task_operator

from .conftest import D, S


def test_phi_layout_and_inverse(phis):
    F = task_operator("T2", D, S).numpy()
    phi = phis["T2"]
    # shift: column i receives column i+1; the last block row is F^T (the linear TWM of the paper's section 3)
    np.testing.assert_array_equal(phi[: (S - 1) * D, D:], np.eye((S - 1) * D))
    np.testing.assert_array_equal(phi[: (S - 1) * D, :D], 0)
    np.testing.assert_array_equal(phi[(S - 1) * D :], F.T)
    np.testing.assert_array_equal(task_operator_from_phi(phi, D), F)
    with pytest.raises(ValueError, match="`F` must have 64 rows"):
        phi_from_task_operator(F[:-1], D, S)


@pytest.mark.parametrize("task,count", [("T1", 64), ("T2", 36), ("T3", 36), ("T4", 36)])
def test_unit_circle_counts_and_angles(phis, task, count):
    phi = phis[task]
    assert count_unit_modulus(phi, tol=1e-6) == count
    assert count_above(phi, 0.8) == count
    predicted = cycle_roots((c["lag"], c["sign"]) for c in cycle_structure(task, D, S))
    assert len(predicted) == count
    cmp = spectral_comparison(phi, predicted, threshold=0.9)
    assert cmp.counts_equal and cmp.error < 1e-6


def test_comparison_is_basis_free_and_discriminates(phis, rng):
    """Phi vs a similarity transform of itself: ~0; vs another task: large (cannot pass by luck)."""
    P = rng.standard_normal((S * D, S * D))
    for task, phi in phis.items():
        similar = P @ phi @ np.linalg.inv(P)
        res = spectral_comparison(similar, phi, threshold=0.9)
        assert res.n_first == res.n_second and res.error < 1e-6, task
    cross = spectral_comparison(phis["T2"], phis["T4"], threshold=0.9)
    assert cross.counts_equal  # 36 vs 36: the angles themselves differ
    assert cross.error > 0.01


def test_unequal_counts_are_finite_and_penalised(phis):
    res = spectral_comparison(phis["T1"], phis["T3"], threshold=0.9)
    assert (res.n_first, res.n_second, res.n_matched) == (64, 36, 36)
    assert np.isfinite(res.error) and np.isfinite(res.matched_error)
    # 28 unmatched eigenvalues count pi each, over 64 terms
    assert res.error >= 28 * np.pi / 64
    expected = (res.matched_error * 36 + 28 * np.pi) / 64
    assert res.error == pytest.approx(expected)
    # one side empty: matched_error is pi, error is pi; both empty: 0
    empty = spectral_comparison(np.zeros((4, 4)), phis["T1"])
    assert empty.error == pytest.approx(np.pi) and empty.matched_error == pytest.approx(np.pi)
    assert spectral_comparison(np.zeros((3, 3)), np.zeros((5, 5))).error == 0.0


def test_greedy_matching_uses_circular_distance():
    a = np.array([np.exp(1j * (np.pi - 0.01))])
    b = np.array([np.exp(-1j * (np.pi - 0.02))])  # 0.03 rad away across the -pi/pi cut
    assert spectral_comparison(a, b).error == pytest.approx(0.03)
    # magnitudes above the threshold are ignored, only the angle counts
    assert spectral_comparison(1.5 * a, 0.95 * a).error == pytest.approx(0.0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="`W_first` must be a square matrix"):
        spectral_comparison(np.zeros((3, 4)), np.eye(3))
    with pytest.raises(ValueError, match="`threshold`"):
        spectral_comparison(np.eye(2), np.eye(2), threshold=-1)
    with pytest.raises(ValueError, match="`W` contains NaN"):
        eigenvalues(np.full((2, 2), np.nan))
    with pytest.raises(TypeError, match="exposes no Phi accessor"):
        phi_from_model(object())


def test_phi_from_boundary_and_model_accessor(phis):
    from wave_hf.data import task_boundary

    np.testing.assert_array_equal(phi_from_boundary(task_boundary("T4", D, S)), phis["T4"])

    class WithAccessor:
        config = SimpleNamespace(num_heads=1)

        def companion_matrix(self, layer_idx=0, head=0):
            return torch.from_numpy(phis["T3"]).float()

    np.testing.assert_array_equal(phi_from_model(WithAccessor()), phis["T3"])
    angles = unit_circle_angles(phis["T1"], 0.5)
    assert len(angles) == 64 and np.all(np.diff(angles) >= 0)


def test_cycle_roots_solve_their_equation():
    roots = cycle_roots([(3, -1), (1, 1), (2, 1)])
    assert roots.dtype == np.complex128 and roots.shape == (6,)
    np.testing.assert_allclose(roots[:3] ** 3, -1, atol=1e-12)
    np.testing.assert_allclose(roots[3], 1, atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(roots[4:]), [-1, 1], atol=1e-12)
    # the three roots of lambda^3 = -1 are distinct: -1 and exp(+-i pi/3)
    np.testing.assert_allclose(np.sort(np.angle(roots[:3])), [-np.pi / 3, np.pi / 3, np.pi], atol=1e-12)
    assert cycle_roots([]).shape == (0,)


@pytest.mark.parametrize("cycles,match", [([(0, 1)], "lag"), ([(2.5, 1)], "lag"), ([(3, 0)], "sign")])
def test_cycle_roots_rejects_bad_cycles(cycles, match):
    with pytest.raises(ValueError, match=match):
        cycle_roots(cycles)
