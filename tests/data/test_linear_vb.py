"""linear_vb against the task definitions: the rule table of T1..T4, the eigenvalue counts and cycle structure of
Phi, the Phi layout, general task ids and the two input modes."""

import cmath
import math

import numpy as np
import pytest
import torch

import wave_hf.data as wd
from wave_hf.data.linear_vb import task_selection

# the task rules: output component j = sign * x(t - lag)[src], as (lag, src, sign) per j (d = s = 8, 0-based)
RULES = {
    "T1": [(8, j, 1) for j in range(8)],
    "T2": [(4, 4, -1), (5, 3, 1), (6, 2, -1), (8, 0, -1), (7, 1, -1), (3, 5, -1), (1, 7, 1), (2, 6, -1)],
    "T3": [(8 - j, j, 1) for j in range(8)],
    "T4": [(3, 5, -1), (2, 6, 1), (8, 0, 1), (7, 1, 1), (6, 2, -1), (5, 3, 1), (4, 4, 1), (1, 7, -1)],
}
CYCLES = {  # (components as a set, summed lag, sign)
    "T1": [({j}, 8, 1) for j in range(8)],
    "T2": [({0, 4, 1, 3}, 24, -1), ({2}, 6, -1), ({5}, 3, -1), ({6, 7}, 3, -1)],
    "T3": [({j}, 8 - j, 1) for j in range(8)],
    "T4": [({0, 5, 3, 1, 6, 4, 2}, 35, 1), ({7}, 1, -1)],
}
UNIT_EIGS = {"T1": 64, "T2": 36, "T3": 36, "T4": 36}


def full_sequence(batch, s):
    """Prompt (inputs of the first s steps) followed by the targets: the whole +-1 sequence."""
    seq = batch["targets"].copy()
    seq[:, :s] = batch["inputs"][:, :s]
    return seq


@pytest.mark.parametrize("task", sorted(RULES))
def test_rows_follow_the_rule_table(task):
    b = wd.sample_batch("linear_vb", 16, seed=7, step=0, task=task, horizon=30, as_numpy=True)
    s = 8
    assert np.all(np.abs(b["inputs"][:, :s]) == 1) and np.all(b["inputs"][:, s:] == 0)
    assert np.all(b["targets"][:, :s] == 0)
    assert np.all(b["loss_mask"][:, :s] == 0) and np.all(b["loss_mask"][:, s:] == 1)
    seq = full_sequence(b, s)
    for t in range(s, s + 30):
        for j, (lag, src, sign) in enumerate(RULES[task]):
            np.testing.assert_array_equal(seq[:, t, j], sign * seq[:, t - lag, src], err_msg=f"{task} t={t} j={j}")


@pytest.mark.parametrize("task", sorted(RULES))
def test_phi_unit_eigenvalue_counts(task):
    eig = np.linalg.eigvals(wd.task_phi(task, 8, 8).numpy())
    big = eig[np.abs(eig) > 0.5]
    assert len(big) == UNIT_EIGS[task]
    np.testing.assert_allclose(np.abs(big), 1.0, atol=1e-8)
    assert np.all(np.abs(eig[np.abs(eig) <= 0.5]) < 0.05)  # the rest is the nilpotent fall-off part (0)


def _roots(cycles):
    out = []
    for c in cycles:
        phase = 0.0 if c["sign"] == 1 else math.pi
        out += [cmath.exp(1j * (phase + 2 * math.pi * k) / c["lag"]) for k in range(c["lag"])]
    return out


def _match(eigs, roots, tol=1e-6):
    roots = list(roots)
    for e in eigs:
        i = int(np.argmin([abs(e - r) for r in roots]))
        assert abs(e - roots[i]) < tol, (e, roots[i])
        roots.pop(i)
    assert not roots


@pytest.mark.parametrize("task", sorted(RULES))
def test_cycle_structure_and_spectrum(task):
    cycles = wd.cycle_structure(task, 8, 8)
    got = sorted((frozenset(c["components"]), c["lag"], c["sign"]) for c in cycles)
    want = sorted((frozenset(c), lag, sign) for c, lag, sign in CYCLES[task])
    assert got == want
    eig = np.linalg.eigvals(wd.task_phi(task).numpy())
    _match(eig[np.abs(eig) > 0.5], _roots(cycles))


def test_phi_layout_and_data():
    F = wd.task_operator("T4")
    phi = wd.task_phi("T4")
    d, s = 8, 8
    torch.testing.assert_close(phi[(s - 1) * d :], F.T)
    torch.testing.assert_close(phi[: (s - 1) * d, d:], torch.eye((s - 1) * d, dtype=torch.float64))
    assert phi[: (s - 1) * d, :d].abs().sum() == 0
    b = wd.sample_batch("linear_vb", 4, seed=2, task="T4", horizon=12, as_numpy=True)
    seq = full_sequence(b, s).astype(np.float64)
    for t in range(s, s + 11):
        window = seq[:, t - s : t].reshape(4, -1)
        np.testing.assert_array_equal(window @ phi.numpy().T, seq[:, t - s + 1 : t + 1].reshape(4, -1))


def test_general_task_id_matches_hand_decoding():
    d, s = 3, 2
    # cells k*d + i: id1 bits {1, 3, 5}; id2 base-3 digits (2, 1): swap 0<->2 then 1<->2 -> cells [5, 1, 3];
    # id3 = 0b101: outputs 0 and 2 negated
    tid = (2 + 8 + 32, 2 + 1 * 3, 5)
    F = torch.zeros(s * d, d, dtype=torch.float64)
    for j, (cell, sign) in enumerate(zip([5, 1, 3], [-1, 1, -1])):
        F[cell, j] = sign
    torch.testing.assert_close(wd.task_operator(tid, d, s), F)
    b = wd.sample_batch("linear_vb", 8, seed=0, d=d, s=s, task_id=tid, horizon=10, as_numpy=True)
    seq = full_sequence(b, s).astype(np.float64)
    for t in range(s, s + 10):
        np.testing.assert_array_equal(seq[:, t], seq[:, t - s : t].reshape(8, -1) @ F.numpy())
    lags, src, signs = task_selection(tid, d, s)
    assert list(lags) == [1, 2, 1] and list(src) == [2, 1, 0] and list(signs) == [-1, 1, -1]


def test_general_sizes_t1_t3():
    for d, s in ((3, 5), (5, 5), (6, 2)):
        eig = np.linalg.eigvals(wd.task_phi("T1", d, s).numpy())
        assert (np.abs(eig) > 0.5).sum() == d * s
    eig = np.linalg.eigvals(wd.task_phi("T3", 3, 5).numpy())
    assert (np.abs(eig) > 0.5).sum() == 5 + 4 + 3
    b = wd.sample_batch("linear_vb", 4, d=6, s=2, horizon=5, as_numpy=True)  # T1 = repeat copy with lag s
    seq = full_sequence(b, 2)
    np.testing.assert_array_equal(seq[:, 2:], seq[:, :-2])


def test_autoregressive_mode():
    kw = dict(task="T2", horizon=9, seed=3, step=4)
    z = wd.sample_batch("linear_vb", 5, input_mode="zeros", as_numpy=True, **kw)
    a = wd.sample_batch("linear_vb", 5, input_mode="autoregressive", as_numpy=True, **kw)
    np.testing.assert_array_equal(a["targets"], z["targets"])
    np.testing.assert_array_equal(a["loss_mask"], z["loss_mask"])
    seq = full_sequence(z, 8)
    np.testing.assert_array_equal(a["inputs"][:, 0], 0)
    np.testing.assert_array_equal(a["inputs"][:, 1:], seq[:, :-1])


def test_ground_truth_recorded():
    gt = wd.ground_truth("linear_vb", task="T2")
    np.testing.assert_array_equal(gt["F"], wd.task_operator("T2").numpy())
    rec = wd.generation_info(wd.stream_dataset("linear_vb", task="T2", num_rows=2))
    np.testing.assert_array_equal(np.array(rec["ground_truth"]["F"]), gt["F"])
    assert rec["params"]["task_id"] == [9241421688590303745, 262676, 189]
    assert wd.task_info("linear_vb", task_id=(255, 0, 0))["task_id"] == [255, 0, 0]
