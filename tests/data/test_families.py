"""Independent checks of each family's target rule (recomputed here from the rows and the recorded ground truth)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import wave_hf.data as wd
from wave_hf.data import _detmath as dm
from wave_hf.data._base import get_family


def test_fibonacci_exact_integers():
    b = wd.sample_batch("fibonacci", 32, seed=1, d=3, s=3, seq_len=22, init_max=2, as_numpy=True)
    seq = np.concatenate([b["inputs"], b["targets"][:, -1:]], axis=1)
    np.testing.assert_array_equal(b["inputs"][:, 1:], b["targets"][:, :-1])
    assert np.all(seq == np.round(seq)) and np.abs(seq[:, :3]).max() <= 2
    ints = seq.astype(np.int64)
    np.testing.assert_array_equal(ints[:, 3:], ints[:, 2:-1] + ints[:, 1:-2] + ints[:, :-3])
    assert np.abs(ints).max() > 2**12  # it really grows
    np.testing.assert_array_equal(b["loss_mask"][:, :2], 0)
    np.testing.assert_array_equal(b["loss_mask"][:, 2:], 1)


def test_var_rows_satisfy_the_recorded_operator():
    p = dict(d=3, s=3, seq_len=40, spectral_radius=0.95, noise_std=0.0)
    b = wd.sample_batch("var", 16, seed=4, as_numpy=True, **p)
    gt = wd.ground_truth("var", seed=4, **p)
    a = gt["a"]
    x = np.concatenate([b["inputs"], b["targets"][:, -1:]], axis=1).astype(np.float64)
    pred = sum(np.einsum("ij,btj->bti", a[k - 1], x[:, 3 - k : x.shape[1] - k]) for k in range(1, 4))
    np.testing.assert_allclose(pred, x[:, 3:], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b["loss_mask"][:, :2], 0)
    eig = np.abs(np.linalg.eigvals(_companion(a)))
    assert abs(eig.max() - 0.95) < 1e-5 and abs(gt["spectral_radius"] - 0.95) < 1e-5
    np.testing.assert_array_equal(a, a.astype(np.float32))  # float32-exact, as recorded
    # F (oldest-first history operator) is the same map as a
    hist = x[:, 0:3].reshape(16, -1)
    np.testing.assert_allclose(hist @ gt["F"], pred[:, 0], rtol=1e-12)
    other = wd.ground_truth("var", seed=5, **p)["a"]
    assert not np.array_equal(a, other)


def _companion(a):
    s, d, _ = a.shape
    phi = np.zeros((s * d, s * d))
    phi[: (s - 1) * d, d:] = np.eye((s - 1) * d)
    phi[(s - 1) * d :] = np.concatenate([a[s - 1 - k] for k in range(s)], axis=1)
    return phi


def test_var_noise_level():
    p = dict(d=2, s=2, seq_len=64, noise_std=0.3)
    b = wd.sample_batch("var", 64, seed=0, as_numpy=True, **p)
    a = wd.ground_truth("var", **p)["a"]
    x = np.concatenate([b["inputs"], b["targets"][:, -1:]], axis=1).astype(np.float64)
    resid = x[:, 2:] - sum(np.einsum("ij,btj->bti", a[k - 1], x[:, 2 - k : x.shape[1] - k]) for k in (1, 2))
    assert abs(resid.std() - 0.3) < 0.02 and abs(resid.mean()) < 0.02


def test_nonlinear_hds_rows_satisfy_the_recorded_mlp():
    p = dict(d=2, s=3, hidden=8, seq_len=30)
    b = wd.sample_batch("nonlinear_hds", 8, seed=2, as_numpy=True, **p)
    g = wd.ground_truth("nonlinear_hds", seed=2, **p)
    x = np.concatenate([b["inputs"], b["targets"][:, -1:]], axis=1).astype(np.float64)
    for t in range(3, 31):
        z = x[:, t - 3 : t].reshape(8, -1)  # oldest first
        pred = np.tanh(g["W2"] @ np.tanh(g["W1"] @ z.T + g["b1"][:, None]) + g["b2"][:, None]).T
        np.testing.assert_allclose(x[:, t], pred, rtol=1e-5, atol=1e-6)
    assert x[:, 10:].std() > 0.05  # not collapsed to a fixed point


def test_copy_labels_are_the_data():
    info = wd.task_info("copy", delay=5, copy_len=6, num_categories=8)
    b = wd.sample_batch("copy", 10, seed=0, delay=5, copy_len=6, as_numpy=True)
    ids, labels = b["input_ids"], b["labels"]
    assert ids.shape[1] == info["seq_len"] == 6 + 5 + 1 + 6 and info["vocab_size"] == 10
    data = ids[:, :6]
    assert data.min() >= 1 and data.max() <= 8
    np.testing.assert_array_equal(ids[:, 6:11], 0)
    np.testing.assert_array_equal(ids[:, 11], 9)
    np.testing.assert_array_equal(ids[:, 12:], 0)
    np.testing.assert_array_equal(labels[:, 12:], data)  # HF shift: logits at the delimiter predict data[0]
    np.testing.assert_array_equal(labels[:, :12], -100)


def test_adding_target_is_the_marked_sum():
    b = wd.sample_batch("adding", 50, seed=3, seq_len=20, as_numpy=True)
    vals, marks = b["inputs"][..., 0], b["inputs"][..., 1]
    assert np.all(marks[:, :10].sum(1) == 1) and np.all(marks[:, 10:].sum(1) == 1)
    assert vals.min() >= 0 and vals.max() < 1
    expect = (vals * marks).sum(1, dtype=np.float32)
    np.testing.assert_array_equal(b["targets"][:, -1, 0], expect)
    np.testing.assert_array_equal(b["targets"][:, :-1], 0)
    np.testing.assert_array_equal(b["loss_mask"].sum(1), 1)
    np.testing.assert_array_equal(b["loss_mask"][:, -1], 1)


def test_induction_head_answer_follows_the_trigger():
    p = dict(vocab_size=12, input_seq_len=24, induction_len=2, num_triggers=3)
    b = wd.sample_batch("induction_head", 40, seed=1, as_numpy=True, **p)
    prefix = 10
    ids, labels = b["input_ids"], b["labels"]
    assert ids.shape[1] == 24 + 1 + 2
    for r in range(40):
        np.testing.assert_array_equal(ids[r, 24], prefix)
        first = int(np.flatnonzero(ids[r, :24] == prefix)[0])
        np.testing.assert_array_equal(ids[r, 25:], ids[r, first + 1 : first + 3])
        np.testing.assert_array_equal(labels[r, 25:], ids[r, 25:])
        assert np.all(labels[r, :25] == -100) and ids[r].max() <= prefix
    n_trig = [(ids[r, :24] == prefix).sum() for r in range(40)]
    assert min(n_trig) == 1 and max(n_trig) > 1


@pytest.mark.parametrize("allow_dot", [False, True])
def test_associative_recall_answer_is_the_value(allow_dot):
    p = dict(vocab_size=14, input_seq_len=20, num_keys=1, allow_dot=allow_dot)
    b = wd.sample_batch("associative_recall", 60, seed=2, as_numpy=True, **p)
    ids, labels = b["input_ids"], b["labels"]
    n_keys, noop, prefix = 6, 13, 12
    dots = 0
    for r in range(60):
        pairs = ids[r, :20].reshape(10, 2)
        assert np.all(pairs[:, 0] < n_keys) and np.all((pairs[:, 1] >= n_keys) & (pairs[:, 1] < 12))
        kv = {}
        for k, v in pairs:
            assert kv.setdefault(int(k), int(v)) == v  # a key always maps to the same value
        assert ids[r, 20] == prefix
        query, answer = int(ids[r, 21]), int(ids[r, 22])
        assert answer == kv.get(query, noop) == labels[r, -1]
        dots += answer == noop
        assert np.all(labels[r, :-1] == -100)
    assert (dots > 0) == allow_dot


@pytest.mark.parametrize("name", ["induction_head", "associative_recall"])
def test_label_all_labels_every_token_of_the_same_rows(name):
    """safari's training tensors: every next token labelled; the rows themselves do not change."""
    answers = wd.sample_batch(name, 16, seed=3, as_numpy=True)
    every = wd.sample_batch(name, 16, seed=3, as_numpy=True, label_all=True)
    np.testing.assert_array_equal(every["input_ids"], answers["input_ids"])
    np.testing.assert_array_equal(every["labels"], every["input_ids"])
    scored = answers["labels"] != -100
    assert scored.any() and np.array_equal(every["labels"][scored], answers["labels"][scored])
    assert np.all(every["loss_mask"][:, 1:] == 1)


def test_mqar_answers_are_the_values_of_the_queried_keys():
    p = dict(vocab_size=64, input_seq_len=48, num_kv_pairs=6)
    b = wd.sample_batch("mqar", 30, seed=0, as_numpy=True, **p)
    ids, labels = b["input_ids"], b["labels"]
    for r in range(30):
        keys, values = ids[r, 0:12:2], ids[r, 1:12:2]
        assert len(set(keys)) == 6 and keys.min() >= 1 and keys.max() < 32 and values.min() >= 32
        kv = dict(zip(keys.tolist(), values.tolist()))
        scored = np.flatnonzero(labels[r] != -100)
        assert len(scored) == 6 and scored.min() > 12
        queried = ids[r, scored - 1]  # HF shift: the label sits one after the query
        assert sorted(queried.tolist()) == sorted(keys.tolist())
        assert [kv[q] for q in queried.tolist()] == labels[r, scored].tolist()
    plain = wd.sample_batch("mqar", 4, seed=0, as_numpy=True, random_non_queries=False, **p)
    filled = (plain["input_ids"][:, 12:] != 0).sum(1)
    np.testing.assert_array_equal(filled, 6)  # only the queries are non-empty


def test_lorenz_matches_a_high_accuracy_integration():
    p = dict(seq_len=150, normalize=False, burn_in=50)
    b = wd.sample_batch("lorenz", 3, seed=6, as_numpy=True, **p)
    x = np.concatenate([b["inputs"], b["targets"][:, -1:]], axis=1).astype(np.float64)

    def f(t, y):
        return [10 * (y[1] - y[0]), y[0] * (28 - y[2]) - y[1], y[0] * y[1] - 8 / 3 * y[2]]

    t_eval = 0.01 * np.arange(151)
    for r in range(3):
        sol = solve_ivp(f, (0, t_eval[-1]), x[r, 0], method="DOP853", rtol=1e-10, atol=1e-10, t_eval=t_eval)
        # the rows start from the float32-rounded state, so allow the chaotic growth of that rounding
        np.testing.assert_allclose(x[r], sol.y.T, atol=2e-4)
        assert np.abs(x[r] - sol.y.T)[:20].max() < 2e-5
    assert x[:, :, 2].min() > 0 and np.abs(x).max() < 60  # on the attractor


def test_physics_normalisation_stats():
    raw = wd.sample_batch("lorenz", 4, seed=1, normalize=False, seq_len=20, burn_in=20, as_numpy=True)
    norm = wd.sample_batch("lorenz", 4, seed=1, normalize=True, seq_len=20, burn_in=20, as_numpy=True)
    gt = wd.ground_truth("lorenz", seed=1, seq_len=20, burn_in=20)
    np.testing.assert_allclose(norm["inputs"], (raw["inputs"] - gt["norm_mean"]) / gt["norm_std"], atol=1e-5)
    assert abs(gt["norm_mean"][2] - 23.5) < 3 and np.all((gt["norm_std"] > 5) & (gt["norm_std"] < 12))
    # the stats describe the system, not the sample: independent of seed and seq_len
    other = wd.ground_truth("lorenz", seed=9, seq_len=33, burn_in=20)
    np.testing.assert_array_equal(other["norm_std"], gt["norm_std"])
    big = wd.sample_batch("wave_ring", 32, seed=0, seq_len=64, as_numpy=True)
    assert abs(big["inputs"].mean()) < 0.1 and abs(big["inputs"].std() - 1) < 0.15


def test_observation_noise():
    kw = dict(seed=2, seq_len=30, num_points=8, num_modes=2, as_numpy=True)
    clean = wd.sample_batch("wave_ring", 16, obs_noise=0.0, **kw)
    noisy = wd.sample_batch("wave_ring", 16, obs_noise=0.2, **kw)
    diff = noisy["inputs"] - clean["inputs"]
    assert abs(diff.std() - 0.2) < 0.02
    np.testing.assert_array_equal(noisy["inputs"][:, 1:], noisy["targets"][:, :-1])


def test_pendulum_integrator_matches_solve_ivp():
    fam = get_family("pendulum")
    p = fam.resolve(dict(seq_len=100, normalize=False))
    theta, theta_dot, phase = np.array([0.3, -2.5]), np.array([0.0, 1.7]), np.array([0.0, 2.0])
    st = fam.states(p, theta, theta_dot, phase)

    for r in range(2):
        def f(t, y, ph=phase[r]):
            return [y[1], 1.5 * np.cos(2 / 3 * t + ph) - 0.5 * y[1] - np.sin(y[0])]

        sol = solve_ivp(f, (0, 10.0), [theta[r], theta_dot[r]], method="DOP853", rtol=1e-11, atol=1e-11,
                        t_eval=0.1 * np.arange(101))
        want = np.stack([np.cos(sol.y[0]), np.sin(sol.y[0]), sol.y[1]], axis=-1)
        np.testing.assert_allclose(st[r], want, atol=1e-7)
    b = wd.sample_batch("pendulum", 8, normalize=False, seq_len=40, as_numpy=True)
    np.testing.assert_allclose(b["inputs"][..., 0] ** 2 + b["inputs"][..., 1] ** 2, 1.0, atol=1e-5)


@pytest.mark.parametrize("direction,shift", [("right", 1), ("left", -1)])
def test_wave_ring_travels_one_cell_per_step(direction, shift):
    b = wd.sample_batch("wave_ring", 6, seed=1, direction=direction, speed=1.0, num_points=16, seq_len=20,
                        as_numpy=True)
    np.testing.assert_allclose(b["targets"], np.roll(b["inputs"], shift, axis=-1), atol=1e-5)
    both = wd.sample_batch("wave_ring", 6, seed=1, direction="both", speed=1.0, num_points=16, seq_len=20,
                           as_numpy=True)
    assert not np.allclose(both["targets"], np.roll(both["inputs"], shift, axis=-1), atol=1e-2)


def test_wave_ring_solves_the_wave_equation():
    """Second differences: u(t+1) + u(t-1) - 2u(t) = c^2 (u(x+1) + u(x-1) - 2u(x)) up to O(dx^2) terms, which
    vanish as the modes get smoother; with speed = 1 the lattice relation is exact (d'Alembert on the grid)."""
    b = wd.sample_batch("wave_ring", 4, seed=3, speed=1.0, num_points=32, seq_len=20, normalize=False, as_numpy=True)
    u = np.concatenate([b["inputs"], b["targets"][:, -1:]], axis=1).astype(np.float64)
    utt = u[:, 2:] + u[:, :-2] - 2 * u[:, 1:-1]
    uxx = np.roll(u, 1, -1) + np.roll(u, -1, -1) - 2 * u
    np.testing.assert_allclose(utt, uxx[:, 1:-1], atol=1e-5)


def test_detmath_matches_numpy():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-30, 30, 4000), rng.uniform(-1e-3, 1e-3, 100), [0.0, np.pi, -np.pi / 2]])
    s, c = dm.det_sincos(x)
    np.testing.assert_allclose(s, np.sin(x), rtol=0, atol=2e-16 * 30)
    np.testing.assert_allclose(c, np.cos(x), rtol=0, atol=2e-16 * 30)
    y = rng.uniform(-50, 50, 4000)
    np.testing.assert_allclose(dm.det_exp(y), np.exp(y), rtol=4e-16)
    np.testing.assert_allclose(dm.det_tanh(y / 10), np.tanh(y / 10), rtol=0, atol=4e-16)
    a, w = rng.standard_normal((5, 7, 9)), rng.standard_normal((9, 4))
    np.testing.assert_allclose(dm.det_matmul(a, w), a @ w, rtol=1e-13)
    with pytest.raises(ValueError, match="det_sin"):
        dm.det_sin(np.array([1e7]))
