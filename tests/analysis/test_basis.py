"""Basis recovery on RNNs with a known embedded wave (W_hh = Psi Phi Psi^+, a dense RNN that holds a wave): the
recovered basis must be the embedding basis up to column scaling, and Psi* W_hh Psi must be the theory Phi."""

from __future__ import annotations

import numpy as np
import pytest

from wave_hf.analysis.basis import (
    active_cells,
    grounded_bases,
    krylov_basis,
    recovery_error,
    structure_energy_fraction,
    structure_mask,
    structure_report,
    with_residual_components,
)
from wave_hf.analysis.constructions import embedded_rnn
from wave_hf.analysis.waves import bitmap_315, wave_frames, wave_shift_score

from .conftest import D, N, S, orthonormal


def _embed(phi: np.ndarray, psi: np.ndarray):
    """W_hh = Psi Phi Psi^+, W_uh = Psi E_s, W_hy = E_s^T Psi^+ (a wave embedded in a dense RNN, B = C = I)."""
    return embedded_rnn(phi, psi, D)


def _column_match(got: np.ndarray, true: np.ndarray) -> float:
    """max over columns of 1 - |cos| (0 when every column is the true one up to scale and sign)."""
    g = got / np.linalg.norm(got, axis=0)
    t = true / np.linalg.norm(true, axis=0)
    return float(np.max(1 - np.abs(np.sum(g * t, axis=0))))


def test_active_cells_match_the_cycle_structure(phis):
    assert len(active_cells(phis["T1"])) == 64
    cells = active_cells(phis["T3"])
    assert len(cells) == 36
    # T3: component j is read at lag s - j, i.e. from 1-based column j + 1: its cycle holds columns j+1 .. s
    # (0-based j .. s-1), the other j cells are fall-off (cells that never reach the boundary)
    expected = sorted(k * D + j for j in range(D) for k in range(j, S))
    np.testing.assert_array_equal(cells, expected)
    for task in ("T2", "T4"):
        assert len(active_cells(phis[task])) == 36


@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_readout_grounded_recovery_returns_the_embedding(phis, rng, task):
    phi = phis[task]
    psi = orthonormal(rng, N, S * D)
    W, _, W_hy = _embed(phi, psi)
    basis = grounded_bases(W, S, W_hy=W_hy, phi=phi)
    assert _column_match(basis.psi, psi[:, basis.cells]) < 1e-10
    emp = basis.empirical_phi(W)
    theory = phi[np.ix_(basis.cells, basis.cells)]
    np.testing.assert_allclose(emp, theory, atol=1e-9)
    mask = structure_mask(phi, basis)
    assert structure_energy_fraction(emp, mask) == pytest.approx(1.0, abs=1e-12)
    rep = structure_report(emp, phi, basis)
    assert rep["relative_error"] < 1e-9 and rep["boundary_fraction"] == pytest.approx(1.0)
    assert rep["boundary_sign_agreement"] == 1.0 and rep["shift_mean"] == pytest.approx(1.0)


def test_input_grounding_with_a_random_full_rank_basis(phis, rng):
    """Non-orthonormal Psi: input grounding recovers Psi exactly on T1 (no boundary term re-enters any column)."""
    phi = phis["T1"]
    psi = rng.standard_normal((N, S * D))
    W, W_uh, W_hy = _embed(phi, psi)
    basis = grounded_bases(W, S, W_uh=W_uh, phi=phi, ground="input")
    assert _column_match(basis.psi, psi) < 1e-9
    # unit-norm columns: Psi_rec = Psi diag(1/c), so Psi* W Psi = diag(c) Phi diag(1/c)
    c = np.linalg.norm(psi, axis=0)
    np.testing.assert_allclose(basis.empirical_phi(W), c[:, None] * phi / c[None, :], atol=1e-8)


@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_input_grounding_recovers_a_known_non_orthonormal_basis(phis, rng, task):
    """W = P Phi P^+ with a random (not orthonormal) P: the input-grounded basis is P on the active cells, up to the
    documented ambiguity (column scale and sign). (Psi* W Psi equals Phi on those cells only for T1 or an orthonormal
    P, tested above: with pruned cells and a non-orthonormal P the dual of the kept columns also sees the dropped
    ones.)"""
    phi = phis[task]
    P = rng.standard_normal((N, S * D)) * rng.uniform(0.2, 5.0, S * D)
    W, W_uh, _ = embedded_rnn(phi, P, D)
    basis = grounded_bases(W, S, W_uh=W_uh, phi=phi, ground="input")
    err = recovery_error(basis, P)
    assert err["column_mismatch"] < 1e-9 and err["subspace_angle"] < 1e-7
    # a different basis is told apart
    other = grounded_bases(embedded_rnn(phi, rng.standard_normal((N, S * D)), D)[0], S, W_uh=W_uh, phi=phi,
                           ground="input")
    wrong = recovery_error(other, P)
    assert wrong["column_mismatch"] > 0.1 and wrong["subspace_angle"] > 0.1


def test_embedded_rnn_checks_its_arguments(phis):
    with pytest.raises(ValueError, match="full column rank"):
        embedded_rnn(phis["T1"], np.zeros((N, S * D)), D)
    with pytest.raises(ValueError, match="`P` must have 64 columns"):
        embedded_rnn(phis["T1"], np.zeros((N, 3)), D)


def test_a_wrong_basis_is_detected(phis, rng):
    """A random W_hh, or the T2 wave read with T4's structure, fails the structure report. (The grounded basis puts
    the shift entries on the superdiagonal for any W, so only their size and the boundary rows carry evidence.)"""
    W = rng.standard_normal((N, N)) / np.sqrt(N)
    W_hy = rng.standard_normal((D, N))
    basis = grounded_bases(W, S, W_hy=W_hy, phi=phis["T1"])
    rep = structure_report(basis.empirical_phi(W), phis["T1"], basis)
    assert rep["boundary_fraction"] < 0.2 and rep["relative_error"] > 0.5
    psi = orthonormal(rng, N, S * D)
    W2, _, W_hy2 = _embed(phis["T2"], psi)
    basis = grounded_bases(W2, S, W_hy=W_hy2, phi=phis["T4"])
    rep = structure_report(basis.empirical_phi(W2), phis["T4"], basis)
    assert rep["boundary_fraction"] < 0.5 and rep["relative_error"] > 0.5


def test_krylov_canonical_form_is_basis_free(phis, rng):
    """The wave canonical form of Psi Phi Psi^+ (V = Psi E_s) equals that of Phi itself (V = E_s), for a random
    full-rank Psi; on T1 it is Phi with its blocks in reverse order."""
    E_s = np.eye(S * D)[:, -D:]
    for task, phi in phis.items():
        psi = rng.standard_normal((N, S * D))
        W, W_uh, _ = _embed(phi, psi)
        kb = krylov_basis(W, W_uh)
        ref = krylov_basis(phi, E_s)
        assert kb.basis.shape[1] == ref.basis.shape[1] == S * D, task
        np.testing.assert_array_equal(kb.power, ref.power)
        np.testing.assert_allclose(kb.canonical_form(W), ref.canonical_form(phi), atol=1e-7)
        # W B = B C: the columns of power p map to those of power p + 1 (subdiagonal identity blocks)
        C = kb.canonical_form(W)
        for c in range(S * D - D):
            assert C[c + D, c] == pytest.approx(1.0, abs=1e-7)
    rev = np.arange(S * D).reshape(S, D)[::-1].ravel()
    t1 = krylov_basis(phis["T1"], E_s)
    np.testing.assert_allclose(t1.canonical_form(phis["T1"]), phis["T1"][np.ix_(rev, rev)], atol=1e-12)


def test_residual_components_and_wave_coordinates(phis, rng):
    """Hidden states = Psi vec h(t) + orthogonal noise directions: wave coordinates recover the substrate exactly,
    the residual block finds the extra directions, and the T1 substrate shifts one column per step."""
    phi = phis["T1"]
    psi = orthonormal(rng, N, S * D + 3)
    extra, psi = psi[:, -3:], psi[:, :-3]
    W, _, W_hy = _embed(phi, psi)
    basis = grounded_bases(W, S, W_hy=W_hy, phi=phi)
    x = bitmap_315()
    v = np.zeros(S * D)
    traj, hidden = [], []
    for t in range(24):
        v = phi @ v
        if t < S:
            v[-D:] = x[t]  # load the bitmap
        traj.append(v.reshape(S, D).copy())
        hidden.append(psi @ v + extra @ rng.standard_normal(3))
    hidden = np.asarray(hidden)
    sub, mask = basis.substrate(hidden)
    signs = np.sign(np.sum(basis.psi * psi[:, basis.cells], axis=0)).reshape(S, D)
    np.testing.assert_allclose(sub * signs, np.asarray(traj), atol=1e-9)
    ext = with_residual_components(basis, hidden, k=3)
    assert ext.n_extra == 3
    assert _column_match(ext.psi[:, -3:] @ (ext.psi[:, -3:].T @ extra), extra) < 1e-9  # spans the extra space
    frames, mask = wave_frames(basis, hidden)
    score = wave_shift_score(frames * signs[None], mask, start=S)
    assert score["shifted"] > 0.999 and score["shifted"] > score["static"] + 0.2


def test_errors_name_the_argument(phis):
    with pytest.raises(ValueError, match="`W_hh` must be a square matrix"):
        grounded_bases(np.zeros((4, 5)), 2, W_hy=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="needs `W_hy`"):
        grounded_bases(np.eye(4), 2)
    with pytest.raises(ValueError, match="`W_hy` must have 4 columns"):
        grounded_bases(np.eye(4), 2, W_hy=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="s\\*d = 64 directions .* n = 16"):
        grounded_bases(np.eye(16), 8, W_hy=np.ones((8, 16)))
    with pytest.raises(ValueError, match="`phi` must be"):
        grounded_bases(np.eye(128), 8, W_hy=np.ones((8, 128)) + np.arange(128), phi=np.eye(8))
    with pytest.raises(ValueError, match="`ground`"):
        grounded_bases(np.eye(4), 2, W_hy=np.zeros((2, 4)), ground="middle")
