"""The LBC wave mixer (wave_hf.layers.lbc): H3 shift-SSM exactness, parallel == step, state continuation, padding,
the companion operator and the stable initialisation."""

from __future__ import annotations

import itertools

import pytest
import torch

from wave_hf.layers.common import MLP, RMSNorm
from wave_hf.layers.lbc import WaveLBCMixer
from wave_hf.layers.padding import TokenLayout, pack_tokens, unpack_tokens
from wave_hf.ops import wave_scan_reference

FORMS = list(itertools.product(("none", "qkv"), ("none", "diagonal", "dense"), ("boundary", "fir")))


def make(gating="none", boundary="diagonal", readout="fir", hidden=12, H=2, D=3, S=4, r=0.5) -> WaveLBCMixer:
    torch.manual_seed(0)
    m = WaveLBCMixer(hidden, H, D, S, boundary=boundary, readout=readout, gating=gating, boundary_init_scale=r)
    for p in m.parameters():  # well away from zero everywhere, so a wrong tap or lag shows
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.5)
    return m.double()


def _diff(a, b):
    return (a - b).abs().max().item()


def run_padded(m, x, mask, **kw):
    """The mixer on a padded batch the way the models run it: pack each row's real tokens first
    (wave_hf.layers.padding), run, put the outputs back (zero at padded positions)."""
    layout = TokenLayout.from_attention_mask(mask)
    y, state = m(pack_tokens(x, layout), layout=layout, **kw)
    return unpack_tokens(y, layout), state


def test_shift_ssm_is_an_explicit_causal_convolution():
    """boundary='none' + readout='fir' is H3's shift SSM: y_t = W_out sum_{j<S} c_j * (W_in x)_{t-j}."""
    m = make(boundary="none", readout="fir", S=5)
    x = torch.randn(2, 13, 12, dtype=torch.double)
    y, _ = m(x)
    u = m.in_proj(x).view(2, 13, 2, 3)
    conv = torch.zeros_like(u)
    for t in range(13):
        for j in range(5):
            if t - j >= 0:
                conv[:, t] += m.fir[:, j] * u[:, t - j]
    assert _diff(y, m.out_proj(conv.reshape(2, 13, 6))) < 1e-12


def test_boundary_readout_reads_the_start_column_of_the_scan():
    m = make(boundary="dense", readout="boundary")
    x = torch.randn(2, 9, 12, dtype=torch.double)
    z, _ = wave_scan_reference(m.in_proj(x).view(2, 9, 2, 3), m.boundary)
    assert _diff(m(x)[0], m.out_proj(z.reshape(2, 9, 6))) < 1e-12


@pytest.mark.parametrize("gating,boundary,readout", FORMS)
def test_parallel_step_and_split_agree(gating, boundary, readout):
    m = make(gating, boundary, readout)
    x = torch.randn(3, 11, 12, dtype=torch.double)
    y, st = m(x, output_state=True)
    assert set(st) == set(m.state_names)
    assert st["substrate"].shape == (3, 2, 4, 3)
    if gating == "qkv":
        assert st["memory"].shape == (3, 2, 3, 3)
    ys, ss = m(x, mode="step", output_state=True)
    y1, s1 = m(x[:, :4], output_state=True)
    y2, s2 = m(x[:, 4:], state=s1, output_state=True)
    assert _diff(ys, y) < 1e-12 and _diff(torch.cat([y1, y2], 1), y) < 1e-12
    for k in st:
        assert _diff(ss[k], st[k]) < 1e-12 and _diff(s2[k], st[k]) < 1e-12
    # a one-token chunk with a state takes the step path ("auto") and continues the same trajectory
    y3, _ = m(x[:, 4:5], state=s1, output_state=True)
    assert _diff(y3, y[:, 4:5]) < 1e-12


@pytest.mark.parametrize("gating,boundary,readout", FORMS)
def test_padding_never_reaches_state_or_outputs(gating, boundary, readout):
    m = make(gating, boundary, readout)
    x = torch.randn(3, 8, 12, dtype=torch.double)
    y, st = m(x, output_state=True)
    junk = 100 * torch.randn(3, 3, 12, dtype=torch.double)
    ones, zeros = torch.ones(3, 8), torch.zeros(3, 3)
    cases = {
        "left": (torch.cat([junk, x], 1), torch.cat([zeros, ones], 1), slice(3, None)),
        "right": (torch.cat([x, junk], 1), torch.cat([ones, zeros], 1), slice(0, 8)),
    }
    for side, (xp, mask, real) in cases.items():
        for mode in ("parallel", "step"):
            yp, sp = run_padded(m, xp, mask, output_state=True, mode=mode)
            assert _diff(yp[:, real], y) < 1e-11, (side, mode)
            assert yp[mask == 0].abs().max() == 0, (side, mode)
            for k in st:
                assert _diff(sp[k], st[k]) < 1e-11, (side, mode, k)
    # interior padding in a continued chunk (a state already exists)
    _, s1 = m(x[:, :4], output_state=True)
    xi = torch.cat([x[:, 4:6], junk, x[:, 6:]], 1)
    mi = torch.cat([torch.ones(3, 2), zeros, torch.ones(3, 2)], 1)
    yi, si = run_padded(m, xi, mi, state=s1, output_state=True)
    assert _diff(yi[:, [0, 1, 5, 6]], y[:, 4:]) < 1e-11
    for k in st:
        assert _diff(si[k], st[k]) < 1e-11


@pytest.mark.parametrize("gating,boundary", [("none", "dense"), ("qkv", "diagonal"), ("none", "none")])
def test_long_fir_readout_over_many_scan_chunks(gating, boundary):
    """S = 40 over L = 300 (several chunks of the scan, whose hand-off the FIR readout reads): parallel == steps,
    a split continues, and right padding never reaches the state."""
    m = make(gating, boundary, "fir", S=40, r=0.9)
    x = torch.randn(2, 300, 12, dtype=torch.double)
    y, st = m(x, output_state=True)
    ys, ss = m(x, mode="step", output_state=True)
    y1, s1 = m(x[:, :130], output_state=True)
    y2, s2 = m(x[:, 130:], state=s1, output_state=True)
    xp = torch.cat([x, 100 * torch.randn(2, 9, 12, dtype=torch.double)], 1)
    yp, sp = run_padded(m, xp, torch.cat([torch.ones(2, 300), torch.zeros(2, 9)], 1), output_state=True)
    scale = y.abs().max().item()
    assert _diff(ys, y) < 1e-10 * scale and _diff(torch.cat([y1, y2], 1), y) < 1e-10 * scale
    assert _diff(yp[:, :300], y) < 1e-10 * scale
    for k in st:
        assert _diff(ss[k], st[k]) < 1e-9 and _diff(s2[k], st[k]) < 1e-9 and _diff(sp[k], st[k]) < 1e-9


def test_gating_memory_over_many_chunks_with_padding_and_state():
    """L = 75 spans several chunks of the decaying memory (wave_hf.ops.memory.CHUNK = 32): parallel == steps, a
    split continues, and right padding never reaches the memory."""
    m = make("qkv", "diagonal", "fir")
    x = torch.randn(2, 75, 12, dtype=torch.double)
    y, st = m(x, output_state=True)
    ys, ss = m(x, mode="step", output_state=True)
    y1, s1 = m(x[:, :40], output_state=True)
    y2, s2 = m(x[:, 40:], state=s1, output_state=True)
    assert _diff(ys, y) < 1e-11 and _diff(torch.cat([y1, y2], 1), y) < 1e-11
    xp = torch.cat([x, 100 * torch.randn(2, 30, 12, dtype=torch.double)], 1)
    mask = torch.cat([torch.ones(2, 75), torch.zeros(2, 30)], 1)
    yp, sp = run_padded(m, xp, mask, output_state=True)
    assert _diff(yp[:, :75], y) < 1e-11
    for k in st:
        assert _diff(ss[k], st[k]) < 1e-11 and _diff(s2[k], st[k]) < 1e-11 and _diff(sp[k], st[k]) < 1e-11
    assert st["memory"].dtype == torch.float64
    assert m.bfloat16()(x.bfloat16(), output_state=True)[1]["memory"].dtype == torch.float32  # not bf16


def test_a_row_without_tokens_keeps_its_state():
    m = make("qkv", "dense", "fir")
    x = torch.randn(2, 5, 12, dtype=torch.double)
    _, s0 = m(x, output_state=True)
    mask = torch.tensor([[1, 1, 0, 0, 1], [0, 0, 0, 0, 0]])
    _, s1 = run_padded(m, x, mask, state=s0, output_state=True)
    for k in s0:
        assert torch.equal(s1[k][1], s0[k][1])


@pytest.mark.parametrize("boundary", ["none", "diagonal", "dense"])
def test_companion_matrix_layout_and_spectrum(boundary):
    m = make(boundary=boundary, S=4, D=3, r=0.9)
    phi = m.companion_matrix(head=1)
    assert phi.shape == (12, 12)
    assert torch.equal(phi[:9, 3:], torch.eye(9))  # column i receives column i + 1
    if boundary != "none":
        a = m.boundary[1].float().detach()
        dense = torch.diag_embed(a) if boundary == "diagonal" else a
        for i in range(4):  # last block row [A_1 ... A_s], A_i = a[s - i] (column 1 = oldest = lag s)
            assert torch.allclose(phi[9:, 3 * i : 3 * i + 3], dense[3 - i])
    rho = torch.linalg.eigvals(phi.double()).abs().max().item()
    assert rho <= 0.9 ** (1 / 4) + 1e-9
    with pytest.raises(ValueError, match="`head` must lie in"):
        m.companion_matrix(head=2)


def test_initialisation_is_stable_and_trainable():
    for boundary in ("diagonal", "dense"):
        m = WaveLBCMixer(8, 2, 4, 6, boundary=boundary)
        assert torch.count_nonzero(m.boundary) == 0  # the pure shift: Phi nilpotent
        assert torch.linalg.eigvals(m.companion_matrix().double()).abs().max() < 1e-6
        x = torch.randn(2, 10, 8)
        m(x)[0].pow(2).sum().backward()
        assert m.boundary.grad.abs().sum() > 0  # ... and the boundary gets a gradient at once
    torch.manual_seed(0)
    for r in (0.3, 0.99):
        for boundary in ("diagonal", "dense"):
            m = WaveLBCMixer(8, 3, 4, 6, boundary=boundary, boundary_init_scale=r)
            for h in range(3):
                rho = torch.linalg.eigvals(m.companion_matrix(h).double()).abs().max().item()
                assert 0 < rho <= r ** (1 / 6) + 1e-6 < 1


def test_gating_memory_decays_inside_the_unit_interval():
    m = WaveLBCMixer(8, 4, 2, 3, gating="qkv", memory_halflife_min=4.0, memory_halflife_max=64.0)
    lam = torch.sigmoid(m.memory_logit)
    assert torch.allclose(lam[:, 0], torch.exp2(-1.0 / torch.tensor([4.0, 10.079, 25.398, 64.0])), atol=1e-4)


def test_bad_arguments():
    # the choices (boundary, readout, gating, boundary_init_scale, projections) are checked once, by WaveLBCConfig
    # (tests/models/test_wave_lbc.py::test_config_validation_names_field_and_allowed_values); the mode is a call's
    with pytest.raises(ValueError, match="`mode`"):
        WaveLBCMixer(8, 1, 2, 3)(torch.randn(1, 2, 8), mode="fft")


def test_common_blocks():
    x = torch.randn(2, 3, 8) * 5
    y = RMSNorm(8)(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(2, 3), atol=1e-4)
    assert RMSNorm(8).bfloat16()(x.bfloat16()).dtype == torch.bfloat16
    gated, plain = MLP(8, 16), MLP(8, 16, "gelu", gated=False)
    assert gated(x).shape == plain(x).shape == x.shape
    assert not hasattr(plain, "gate_proj")


@pytest.mark.parametrize("gating,boundary,readout", FORMS)
def test_packed_documents_parallel_step_and_state(gating, boundary, readout):
    """With document starts (layout.reset) the parallel and the step paths agree, each document equals its own run,
    and the state returned is that of the last document alone."""
    m = make(gating, boundary, readout)
    x = torch.randn(1, 11, 12, dtype=torch.float64)
    reset = torch.zeros(1, 11, dtype=torch.bool)
    reset[0, [0, 1, 6]] = True  # documents of 1, 5 and 5 tokens
    layout = TokenLayout(reset=reset)
    par, state = m(x, layout=layout, output_state=True, mode="parallel")
    step, step_state = m(x, layout=layout, output_state=True, mode="step")
    assert _diff(par, step) < 1e-10
    for name in state:
        assert _diff(state[name], step_state[name]) < 1e-10, name
    for lo, hi in ((0, 1), (1, 6), (6, 11)):
        alone, alone_state = m(x[:, lo:hi], output_state=True, mode="parallel")
        assert _diff(par[:, lo:hi], alone) < 1e-10
    for name in state:
        assert _diff(state[name], alone_state[name]) < 1e-10, name
