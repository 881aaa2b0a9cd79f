"""TWM simulators (Theorem 3.1, load vs additive input), gradient-propagation curves and the figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from wave_hf.analysis.basis import grounded_bases
from wave_hf.analysis.gradients import gradient_propagation, state_gradient_propagation
from wave_hf.analysis.plots import (
    plot_gradient_curves,
    plot_learning_curves,
    plot_phi_heatmap,
    plot_spectrum_overlay,
    plot_wave_frames,
    save_wave_gif,
)
from wave_hf.analysis.twm import additive_floor, linear_twm, twm_rollout
from wave_hf.analysis.waves import bitmap_315, wave_frames
from wave_hf.data import sample_batch, task_operator
from wave_hf.models.baselines import ElmanRNNConfig, ElmanRNNForPrediction, LSTMConfig, LSTMForPrediction

from .conftest import D, S


def test_theorem_3_1_with_a_nonlinear_boundary(rng):
    """The start column of the TWM traces the HDS x(t+1) = f(x(t-s+1..t)) exactly (a random MLP f)."""
    s, d, B = 5, 3, 4
    W1, W2 = rng.standard_normal((16, s * d)), rng.standard_normal((d, 16)) / 4

    def f(z):
        return np.tanh(np.tanh(z @ W1.T) @ W2.T)

    x = [rng.uniform(-1, 1, (B, d)) for _ in range(s)]
    for _ in range(30):  # the HDS recursion on an explicit history list (oldest first)
        x.append(f(np.concatenate(x[-s:], axis=1)))
    got = twm_rollout(f, np.stack(x[:s], axis=1), 30)
    np.testing.assert_array_equal(got, np.stack(x[s:], axis=1))


@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_load_input_is_exact_and_additive_only_for_T1(phis, task):
    b = sample_batch("linear_vb", 32, seed=5, task=task, d=D, s=S, horizon=300)
    x, y, m = b["inputs"].numpy(), b["targets"].numpy(), b["loss_mask"].numpy().astype(bool)
    assert np.array_equal(linear_twm(phis[task], x, "load")[m], y[m])
    additive_exact = np.array_equal(linear_twm(phis[task], x, "additive")[m], y[m])
    assert additive_exact == (task == "T1")


def test_twm_errors():
    with pytest.raises(ValueError, match="`initial` must have shape"):
        twm_rollout(lambda z: z, np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="`boundary` must map"):
        twm_rollout(lambda z: z, np.zeros((2, 3, 1)), 1)
    with pytest.raises(ValueError, match="`mode`"):
        linear_twm(np.eye(4), np.zeros((1, 2, 2)), "overwrite")


class _LinearChain(torch.nn.Module):
    """Prediction-head stand-in with a known Jacobian: h_t = a h_{t-1} + x_t, y_t = h_t (scalar per dim)."""

    def __init__(self, a: float):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def forward(self, input_values, use_cache=False):
        h, outs = torch.zeros_like(input_values[:, 0]), []
        for t in range(input_values.shape[1]):
            h = self.a * h + input_values[:, t]
            outs.append(h)
        return type("Out", (), {"predictions": torch.stack(outs, 1)})()


def test_gradient_propagation_matches_the_analytic_decay():
    """dC/dx(T-1-i) = 2 (y_T - target) a^(i+1): normalised by i = 0 the curve is a^i exactly."""
    torch.manual_seed(0)
    x = torch.randn(5, 12, 2, dtype=torch.float64)
    labels = torch.randn(5, 12, 2, dtype=torch.float64)
    for a in (0.5, 1.0, 1.3):
        curve = gradient_propagation(_LinearChain(a).double(), x, labels, cost_step=8)
        np.testing.assert_allclose(curve, a ** np.arange(8), rtol=1e-10)
    raw = gradient_propagation(_LinearChain(0.5).double(), x, labels, cost_step=8, max_distance=3, normalize="max")
    assert raw.shape == (4,) and raw.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`cost_step`"):
        gradient_propagation(_LinearChain(0.5), x, labels, cost_step=12)
    with pytest.raises(ValueError, match="`labels`"):
        gradient_propagation(_LinearChain(0.5), x, labels[:, :3], cost_step=4)


@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_additive_floor_is_the_least_squares_fit_of_a_time_invariant_filter(task):
    """Fit the impulse response K(lag) of an additive model by least squares on sampled sequences (one shared weight
    per lag and component pair) and compare its error with the analytic floor."""
    horizon = 12
    b = sample_batch("linear_vb", 3000, seed=5, split="train", task=task, d=D, s=S, horizon=horizon, as_numpy=True)
    x, y = b["inputs"][:, :S].astype(np.float64), b["targets"][:, S:].astype(np.float64)  # (n, s, d), (n, H, d)
    lags = S + horizon - 1  # 1 .. s + H - 1
    # y(s+j)[o] = sum_k sum_i K(s+j-k)[o, i] x(k)[i]: features per lag, shared over j
    rows, targets = [], []
    for j in range(horizon):
        feats = np.zeros((x.shape[0], lags, D))
        for k in range(S):
            feats[:, S + j - k - 1] = x[:, k]
        rows.append(feats.reshape(x.shape[0], -1))
        targets.append(y[:, j])
    A, Y = np.concatenate(rows), np.concatenate(targets)
    K, *_ = np.linalg.lstsq(A, Y, rcond=None)
    empirical = float(((A @ K - Y) ** 2).mean())
    floor = additive_floor(task_operator(task, D, S).numpy(), D, S, horizon)
    if task == "T1":
        assert floor == 0.0 and empirical < 1e-20
    else:
        assert floor > 0.1
        assert empirical == pytest.approx(floor, rel=0.05)  # in-sample fit of 3000 sequences: a little below
    with pytest.raises(ValueError, match="`operator` must have shape"):
        additive_floor(np.zeros((S * D, D + 1)), D, S, horizon)


def _elman(seed: int = 0) -> ElmanRNNForPrediction:
    torch.manual_seed(seed)
    cfg = ElmanRNNConfig(hidden_size=16, input_size=3, output_size=2, vocab_size=None)
    return ElmanRNNForPrediction(cfg).double().eval()


def test_state_gradient_propagation_is_the_product_of_jacobians():
    """||dC/dh(T-i)|| from explicit Jacobians J(t) = diag(1 - h(t)^2) W_hh of the model's own recurrence."""
    model = _elman()
    w = model.recurrent_weights()
    W, U, V = (w[k].numpy() for k in ("W_hh", "W_uh", "W_hy"))
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 11, 3)), rng.standard_normal((4, 11, 2))
    T = 9
    hs, h = [], np.zeros((4, 16))
    for t in range(T + 1):
        h = np.tanh(h @ W.T + x[:, t] @ U.T)
        hs.append(h)
    g = 2 * (hs[T] @ V.T - labels[:, T]) @ V  # dC/dh(T)
    expected = []
    for i in range(T):
        expected.append(np.linalg.norm(g, axis=-1).mean())
        g = (g * (1 - hs[T - i] ** 2)) @ W  # back through h(T-i) = tanh(W h(T-i-1) + U x)
    curve = state_gradient_propagation(model, torch.from_numpy(x), torch.from_numpy(labels), cost_step=T,
                                       normalize="none")
    np.testing.assert_allclose(curve, expected, rtol=1e-10)
    normed = state_gradient_propagation(model.float(), torch.from_numpy(x), torch.from_numpy(labels), cost_step=T)
    np.testing.assert_allclose(normed, np.array(expected) / expected[0], rtol=1e-4)


def test_state_gradient_propagation_refuses_other_recurrences():
    torch.manual_seed(0)
    lstm = LSTMForPrediction(LSTMConfig(hidden_size=8, input_size=3, output_size=2, vocab_size=None))
    x = torch.randn(2, 6, 3)
    with pytest.raises(ValueError, match="not an Elman RNN"):
        state_gradient_propagation(lstm, x, torch.randn(2, 6, 2), cost_step=4)
    biased = ElmanRNNForPrediction(ElmanRNNConfig(hidden_size=8, input_size=3, output_size=2, vocab_size=None,
                                                  use_bias=True))
    with torch.no_grad():
        for p in biased.parameters():
            if p.ndim == 1:
                p.fill_(0.5)
    with pytest.raises(ValueError, match="not an Elman RNN"):
        state_gradient_propagation(biased, x, torch.randn(2, 6, 2), cost_step=4)


def test_plots_write_images(tmp_path, phis, rng):
    q, _ = np.linalg.qr(rng.standard_normal((96, S * D)))
    W = q @ phis["T2"] @ q.T
    W_hy = np.eye(S * D)[-D:] @ q.T
    basis = grounded_bases(W, S, W_hy=W_hy, phi=phis["T2"])
    paths = [
        plot_spectrum_overlay(phis["T2"], W + 0.01 * rng.standard_normal(W.shape), tmp_path / "spec.png", "T2"),
        plot_phi_heatmap(basis.empirical_phi(W), basis, tmp_path / "phi.png", "T2"),
        plot_gradient_curves({0: 0.5 ** np.arange(8), 100: np.ones(8)}, tmp_path / "grad.png"),
        plot_learning_curves({"a": ([1, 2, 3], [1.0, 0.5, 0.2])}, tmp_path / "lc.png"),
    ]
    v, hidden = np.zeros(S * D), []
    for t in range(12):
        v = phis["T1"] @ v
        if t < S:
            v[-D:] = bitmap_315()[t]
        hidden.append(q @ v)
    basis1 = grounded_bases(q @ phis["T1"] @ q.T, S, W_hy=np.eye(S * D)[-D:] @ q.T, phi=phis["T1"])
    frames, mask = wave_frames(basis1, np.asarray(hidden))
    paths.append(plot_wave_frames(frames, mask, [4, 5, 6, 7, 9], tmp_path / "frames.png"))
    gif = save_wave_gif(frames, mask, tmp_path / "wave.gif")
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 12
    with pytest.raises(ValueError, match="`times`"):
        plot_wave_frames(frames, mask, [99], tmp_path / "none.png")
