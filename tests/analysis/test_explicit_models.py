"""The model classes against the paper's statements written out by hand: Phi of a multi-head LBC over all heads, the
LBC as shift + boundary of rank <= d, boundary="none" as H3's shift SSM (an explicit convolution), and the SBC as the
autoregressive loop of an attention-only transformer over an explicit substrate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wave_hf.analysis.explicit_models import (
    boundary_rank,
    sbc_substrate_loop,
    sbc_substrate_rollout,
    shift_operator,
    shift_ssm_convolution,
)
from wave_hf.analysis.operators import phi_from_model
from wave_hf.analysis.spectra import cycle_roots, spectral_comparison
from wave_hf.models import WaveLBCConfig, WaveLBCForPrediction, WaveSBCConfig, WaveSBCForPrediction


def _lbc(**kw) -> WaveLBCForPrediction:
    base = dict(vocab_size=None, input_size=3, output_size=3, hidden_size=8, num_hidden_layers=1, num_heads=2,
                head_dim=4, history_length=6, boundary="dense", readout="fir", gating="none", use_mlp=False,
                use_norm=False, residual=False)
    return WaveLBCForPrediction(WaveLBCConfig(**{**base, **kw})).double().eval()


def _sbc(**kw) -> WaveSBCForPrediction:
    base = dict(vocab_size=None, input_size=3, output_size=3, hidden_size=12, num_hidden_layers=2, num_heads=2,
                head_dim=5, history_length=5, substrate_mode="window")
    model = WaveSBCForPrediction(WaveSBCConfig(**{**base, **kw})).double().eval()
    with torch.no_grad():  # move the norms and age biases away from their initial values
        for block in model.model.layers:
            if hasattr(block.attn_norm, "weight"):
                block.attn_norm.weight.uniform_(0.5, 1.5)
            if getattr(block.attn, "age_bias", None) is not None:
                block.attn.age_bias.normal_()
    return model


def test_phi_from_model_covers_every_head():
    """Two heads with known spectra: head 0 returns its oldest column (lambda^s = 1), head 1 negates it
    (lambda^s = -1). Phi of the model is block-diagonal and its spectrum is the union; head 0 alone has half of it."""
    s, d = 3, 2
    model = _lbc(num_heads=2, head_dim=d, hidden_size=2 * d, history_length=s, boundary="dense",
                 readout="boundary", mixer_projections=False)
    a = torch.zeros(2, s, d, d, dtype=torch.float64)
    a[0, s - 1], a[1, s - 1] = torch.eye(d), -torch.eye(d)
    with torch.no_grad():
        model.model.layers[0].mixer.boundary.copy_(a)
    phi = phi_from_model(model)
    n = s * d
    assert phi.shape == (2 * n, 2 * n)
    np.testing.assert_array_equal(phi[n:, :n], 0)
    np.testing.assert_array_equal(phi[:n, n:], 0)
    np.testing.assert_allclose(phi[:n, :n], model.companion_matrix(0, 0).double().numpy())
    np.testing.assert_allclose(phi, model.wave_operators()["phi"].double().numpy(), atol=1e-7)
    expected = cycle_roots([(s, 1)] * d + [(s, -1)] * d)
    cmp = spectral_comparison(phi, expected, threshold=0.9)
    assert cmp.counts_equal and cmp.n_first == 2 * n and cmp.error < 1e-6
    one_head = spectral_comparison(model.companion_matrix(0, 0).double().numpy(), expected, threshold=0.9)
    assert not one_head.counts_equal and one_head.n_first == n


def test_phi_from_model_errors():
    class NoConfig:
        def companion_matrix(self, layer_idx=0, head=0):
            return torch.eye(2)

    with pytest.raises(TypeError, match="config.num_heads"):
        phi_from_model(NoConfig())


@pytest.mark.parametrize("boundary", ["dense", "diagonal"])
def test_lbc_is_shift_plus_rank_d_boundary(boundary):
    H, s, d = 3, 6, 4
    model = _lbc(num_heads=H, head_dim=d, hidden_size=H * d, history_length=s, boundary=boundary,
                 boundary_init_scale=0.5)
    for h in range(H):
        phi = model.companion_matrix(0, h).double().numpy()
        np.testing.assert_array_equal(phi[: (s - 1) * d], shift_operator(s, d)[: (s - 1) * d])
        assert boundary_rank(phi, d) == d  # a random boundary row has full rank d, never more
    none = _lbc(num_heads=H, head_dim=d, hidden_size=H * d, history_length=s, boundary="none")
    for h in range(H):
        assert boundary_rank(none.companion_matrix(0, h).double().numpy(), d) == 0
    rng = np.random.default_rng(0)
    assert boundary_rank(rng.standard_normal((s * d, s * d)), d) > d  # the rank test can fail
    with pytest.raises(ValueError, match="not a multiple of d"):
        boundary_rank(np.eye(6), 4)


def test_shift_operator_layout():
    sh = shift_operator(3, 2)
    x = np.arange(6.0)  # columns [0, 1], [2, 3], [4, 5], oldest first
    np.testing.assert_array_equal(sh @ x, [2, 3, 4, 5, 0, 0])


@pytest.mark.parametrize("projections,L", [(False, 1), (False, 7), (True, 13)])
def test_boundary_none_is_h3s_shift_ssm(projections, L):
    H, d, s = 2, 3, 5
    model = _lbc(num_heads=H, head_dim=d, hidden_size=H * d, history_length=s, boundary="none",
                 mixer_projections=projections)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    x = torch.randn(2, L, 3, dtype=torch.float64)
    with torch.no_grad():
        got = model(input_values=x, use_cache=False).predictions
    ref = shift_ssm_convolution(model, x)
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9)
    if L > s:  # the explicit convolution forgets after s steps: the first input no longer matters
        x2 = x.clone()
        x2[:, 0] += 1.0
        with torch.no_grad():
            got2 = model(input_values=x2, use_cache=False).predictions
        torch.testing.assert_close(got2[:, s:], got[:, s:], rtol=1e-9, atol=1e-9)
        assert (got2[:, :s] - got[:, :s]).abs().max() > 1e-3


def test_shift_ssm_convolution_rejects_other_models():
    with pytest.raises(ValueError, match="boundary"):
        shift_ssm_convolution(_lbc(boundary="dense"), torch.zeros(1, 2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="WaveLBCForPrediction"):
        shift_ssm_convolution(_sbc(), torch.zeros(1, 2, 3))


@pytest.mark.parametrize("position_encoding", ["age_bias", "alibi", "none"])
@pytest.mark.parametrize("L", [1, 7, 13])
def test_sbc_is_the_loop_over_an_explicit_substrate(position_encoding, L):
    torch.manual_seed(0)
    model = _sbc(position_encoding=position_encoding)
    x = torch.randn(2, L, 3, dtype=torch.float64)
    with torch.no_grad():
        got = model(input_values=x).predictions
    ref = sbc_substrate_loop(model, x)
    assert ref.abs().max() > 1e-2
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    with torch.no_grad():
        rolled = model.rollout(x, 6)
    torch.testing.assert_close(rolled, sbc_substrate_rollout(model, x, 6), rtol=0, atol=1e-6)


def test_sbc_loop_is_discriminative_and_checks_its_model():
    torch.manual_seed(0)
    model = _sbc(num_hidden_layers=1, use_norm=False, residual=False, attention_scale=1.0, position_encoding="none")
    x = torch.randn(1, 9, 3, dtype=torch.float64)
    with torch.no_grad():
        got = model(input_values=x).predictions
    torch.testing.assert_close(got, sbc_substrate_loop(model, x), rtol=0, atol=1e-9)
    short, longer = _sbc(position_encoding="none"), _sbc(position_encoding="none", history_length=6)
    longer.load_state_dict(short.state_dict())
    with torch.no_grad():  # a substrate one column wider is a different model: the loop of width 5 must not match it
        assert (longer(input_values=x).predictions - sbc_substrate_loop(short, x)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="window mode"):
        sbc_substrate_loop(_sbc(substrate_mode="stream"), x)
    with pytest.raises(ValueError, match="attention-only"):
        sbc_substrate_loop(_sbc(use_mlp=True), x)
    with pytest.raises(ValueError, match="input_size=3"):
        sbc_substrate_loop(model, torch.zeros(1, 2, 4))
    with pytest.raises(TypeError, match="WaveSBCForPrediction"):
        sbc_substrate_loop(_lbc(), x)
