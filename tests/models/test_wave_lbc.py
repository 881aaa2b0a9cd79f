"""The LBC wave-RNN models (wave_hf.models.wave_lbc): config validation, the HF contract (through the shared
hf_checks), cache contents, the prediction head and the paper-faithful configuration."""

from __future__ import annotations

import itertools

import pytest
import torch
import yaml
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForTimeSeriesPrediction

import wave_hf.models.wave_lbc  # noqa: F401  (registers the family until wave_hf/__init__ does)
from tests.models import hf_checks
from wave_hf.layers.lbc import WaveLBCMixer
from wave_hf.models import WaveCache
from wave_hf.models.wave_lbc import (
    WaveLBCConfig,
    WaveLBCForCausalLM,
    WaveLBCForPrediction,
    WaveLBCModel,
)
from wave_hf.ops import wave_scan_reference
from wave_hf.training.resources import shipped_model_config

VOCAB = 99
CONFIGS = shipped_model_config("wave_lbc_paper").parent  # the model config files shipped in the package
FORMS = list(itertools.product(("none", "diagonal", "dense"), ("boundary", "fir")))


def tiny(**kw) -> WaveLBCConfig:
    cfg = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_heads=2, head_dim=8, history_length=4,
               intermediate_size=64, initializer_range=0.2, boundary_init_scale=0.5, tie_word_embeddings=True)
    cfg.update(kw)
    return WaveLBCConfig(**cfg)


def make_lm(**kw) -> WaveLBCForCausalLM:
    torch.manual_seed(0)
    return WaveLBCForCausalLM(tiny(**kw)).eval()


@pytest.fixture
def ids():
    return torch.randint(1, VOCAB, (2, 9))


# -- config ---------------------------------------------------------------------------------------------------------


def test_config_validation_names_field_and_allowed_values():
    with pytest.raises(ValueError, match=r"`boundary` must be one of \['none', 'diagonal', 'dense'\]; got 'full'"):
        tiny(boundary="full")
    with pytest.raises(ValueError, match=r"`readout` must be one of \['boundary', 'fir'\]"):
        tiny(readout="all")
    with pytest.raises(ValueError, match=r"`gating` must be one of \['none', 'qkv'\]"):
        tiny(gating="h3")
    with pytest.raises(ValueError, match="`history_length` must be an integer >= 1"):
        tiny(history_length=0)
    with pytest.raises(ValueError, match="`num_heads` must be an integer >= 1"):
        tiny(num_heads=2.5)
    with pytest.raises(ValueError, match="`use_mlp` must be True or False"):
        tiny(use_mlp="yes")
    with pytest.raises(ValueError, match=r"`boundary_init_scale` must be a number in \[0.0, 1.0\)"):
        tiny(boundary_init_scale=1.5)
    with pytest.raises(ValueError, match="`hidden_act` must be one of"):
        tiny(hidden_act="swishy")
    with pytest.raises(ValueError, match="`mixer_projections=False` needs gating='none' and hidden_size"):
        tiny(mixer_projections=False, gating="none")  # hidden 32 != 2 * 8
    with pytest.raises(ValueError, match="`mixer_projections=False` needs gating='none'"):
        tiny(mixer_projections=False, hidden_size=16)  # gating="qkv" needs its projections
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['histroy_length'\].*history_length"):
        tiny(histroy_length=3)


def test_config_defaults_cache_names_and_auto():
    cfg = WaveLBCConfig()
    assert cfg.model_type == "wave_lbc" and cfg.layer_types == ["linear_attention"] * cfg.num_hidden_layers
    assert cfg.cache_state_names() == [("substrate", "memory")] * cfg.num_hidden_layers
    assert tiny(gating="none").cache_state_names() == [("substrate",)] * 2
    auto = AutoConfig.for_model("wave_lbc", history_length=5)
    assert isinstance(auto, WaveLBCConfig) and auto.history_length == 5
    assert type(AutoModel.from_config(tiny())) is WaveLBCModel
    assert type(AutoModelForCausalLM.from_config(tiny())) is WaveLBCForCausalLM
    assert type(AutoModelForTimeSeriesPrediction.from_config(tiny())) is WaveLBCForPrediction


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("wave_lbc_*.yaml")), ids=lambda p: p.stem)
def test_shipped_yaml_configs_build(path):
    fields = yaml.safe_load(path.read_text())
    cfg = AutoConfig.for_model(**fields)
    assert isinstance(cfg, WaveLBCConfig)
    if cfg.vocab_size is None:
        WaveLBCForPrediction(cfg)
    elif cfg.hidden_size <= 64:
        WaveLBCForCausalLM(cfg)


# -- forward / backward over every boundary form and readout ------------------------------------------------------


@pytest.mark.parametrize("gating", ["none", "qkv"])
@pytest.mark.parametrize("boundary,readout", FORMS)
def test_forward_backward_shapes(boundary, readout, gating, ids):
    m = make_lm(boundary=boundary, readout=readout, gating=gating).train()
    out = m(ids, labels=ids, output_hidden_states=True)
    assert out.logits.shape == (2, 9, VOCAB)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1].shape == (2, 9, 32)
    out.loss.backward()
    mixer = m.model.layers[0].mixer
    for p in (mixer.boundary, mixer.fir, mixer.in_proj.weight, mixer.memory_logit):
        if p is not None:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    # the causal-LM loss ignores -100 labels
    labels = ids.clone()
    labels[:, :5] = -100
    masked = m(ids, labels=labels).loss
    ref = torch.nn.functional.cross_entropy(m(ids).logits[:, 4:-1].reshape(-1, VOCAB), ids[:, 5:].reshape(-1))
    assert torch.allclose(masked, ref, atol=1e-6)


def test_variants_without_norm_residual_or_mlp_run(ids):
    for kw in (dict(use_norm=False), dict(residual=False), dict(use_mlp=False), dict(mlp_gated=False)):
        assert make_lm(**kw)(ids).logits.shape == (2, 9, VOCAB)


# -- the transformers contract, through the shared checks ---------------------------------------------------------


@pytest.mark.parametrize("gating", ["none", "qkv"])
@pytest.mark.parametrize("boundary,readout", FORMS)
def test_cache_prefill_generate_and_padding(boundary, readout, gating, ids):
    m = make_lm(boundary=boundary, readout=readout, gating=gating)
    hf_checks.check_chunked_prefill(m, ids, splits=[1, 4, 5])
    hf_checks.check_generate_matches_no_cache(m, ids)
    prompts = [torch.randint(1, VOCAB, (n,)) for n in (3, 7, 5)]
    hf_checks.check_left_padding(m, prompts, pad_id=0)
    hf_checks.check_right_padding_prefill(m, prompts, torch.tensor([4, 5, 6]), pad_id=0)


@pytest.mark.parametrize("gating", ["none", "qkv"])
def test_save_load_auto_and_bf16(gating, ids):
    hf_checks.check_save_load_roundtrip(make_lm(gating=gating, boundary="dense"), AutoModelForCausalLM,
                                        {"input_ids": ids})


def test_prediction_head_roundtrip():
    torch.manual_seed(0)
    p = WaveLBCForPrediction(tiny(vocab_size=None, input_size=3))
    hf_checks.check_save_load_roundtrip(p, AutoModelForTimeSeriesPrediction, {"input_values": torch.randn(2, 7, 3)},
                                        output_key="predictions")


def test_tied_embeddings():
    m = make_lm()
    assert m.lm_head.weight is m.model.embed_tokens.weight
    untied = make_lm(tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight


def test_pipeline():
    hf_checks.check_pipeline(make_lm(), VOCAB)


@pytest.mark.parametrize("gating", ["none", "qkv"])
def test_causality(gating, ids):
    m = make_lm(gating=gating, boundary="dense", readout="fir")
    hf_checks.check_causality(m, m.model.embed_tokens(ids).detach())


def test_compile_matches_eager(ids):
    hf_checks.check_compile_matches_eager(make_lm(), {"input_ids": ids})


def test_gradient_checkpointing(ids):
    hf_checks.check_gradient_checkpointing(lambda: make_lm(), {"input_ids": ids, "labels": ids})


def test_cache_holds_fixed_size_substrate(ids):
    m = make_lm()
    out = m(ids, use_cache=True)
    assert isinstance(out.cache, WaveCache) and out.cache.seen_tokens == 9
    sub, mem = out.cache.get_state(0, "substrate"), out.cache.get_state(0, "memory")
    assert sub.shape == (2, 2, 4, 8) and mem.shape == (2, 2, 8, 8)  # (B, H, S, D), (B, H, D, D)
    longer = m(torch.randint(1, VOCAB, (2, 40)), use_cache=True).cache
    assert longer.get_state(1, "substrate").shape == sub.shape and longer.get_state(1, "memory").shape == mem.shape
    # the substrate is the last S values of the layer's wave (the scan's start column at each step)
    mixer = m.model.layers[0].mixer
    h = m.model.layers[0].mixer_norm(m.model.embed_tokens(ids))
    k = mixer.in_proj(h).view(2, 9, 3, 2, 8)[:, :, 1]
    z, _ = wave_scan_reference(k, mixer.boundary)
    assert torch.allclose(sub, z[:, -4:].flip(1).transpose(1, 2), atol=1e-6)


def test_bad_inputs(ids):
    m = make_lm(max_sequence_length=10)
    with pytest.raises(TypeError, match="`input_ids` must be an integer tensor"):
        m(ids.float())
    with pytest.raises(ValueError, match="exceeds max_sequence_length=10"):
        m(torch.randint(0, VOCAB, (1, 11)))
    out = m(ids, use_cache=True)  # 9 cached + 2 new > 10
    with pytest.raises(ValueError, match=r"sequence of 11 tokens \(9 cached \+ 2 new\) exceeds max_sequence_length"):
        m(ids[:, :2], cache=out.cache)
    with pytest.raises(ValueError, match="assisted generation is not supported"):
        m.generate(ids, max_new_tokens=2, assistant_model=m)
    p = WaveLBCForPrediction(tiny(vocab_size=None, input_size=3))
    with pytest.raises(ValueError, match=r"`input_values` must have shape \(B, L, input_size=3\)"):
        p(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="needs `vocab_size`"):
        WaveLBCForCausalLM(tiny(vocab_size=None))


# -- prediction head ------------------------------------------------------------------------------------------------


def test_prediction_loss_mask_rollout_and_causality():
    torch.manual_seed(0)
    p = WaveLBCForPrediction(tiny(vocab_size=None, input_size=3)).eval()
    x, y = torch.randn(2, 8, 3), torch.randn(2, 8, 3)
    mask = torch.zeros(2, 8)
    mask[:, 5:] = 1
    out = p(x, labels=y, loss_mask=mask)
    assert out.predictions.shape == (2, 8, 3)
    assert torch.allclose(out.loss, ((out.predictions - y) ** 2)[:, 5:].mean())
    roll = p.rollout(x[:, :4], steps=4)
    seq = x[:, :4]
    for k in range(4):  # rollout == feeding each prediction back by hand, without a cache
        nxt = p(seq, use_cache=False).predictions[:, -1:]
        assert torch.allclose(roll[:, k : k + 1], nxt, atol=1e-5)
        seq = torch.cat([seq, nxt], dim=1)
    hf_checks.check_causality(p, x, input_key="input_values", output_key="predictions")


# -- the paper-faithful configuration ---------------------------------------------------------------------------------


def paper_model(**kw) -> WaveLBCForPrediction:
    fields = yaml.safe_load((CONFIGS / "wave_lbc_paper.yaml").read_text())
    fields.update(kw)
    torch.manual_seed(0)
    return WaveLBCForPrediction(WaveLBCConfig(**fields)).eval()


def test_paper_config_is_the_linear_twm():
    """Its parameters are Phi's boundary row one-to-one, and the model is vec h(t+1) = Phi vec h(t) + write x_t."""
    m = paper_model(boundary_init_scale=0.9)
    mixer = m.model.layers[0].mixer
    assert (m.config.num_hidden_layers, m.config.num_heads, m.config.head_dim, m.config.history_length) == (1, 1, 8, 8)
    # three parameters: the write B (W_uh), the boundary row of Phi, the read C (W_hy)
    assert {n: tuple(p.shape) for n, p in m.named_parameters()} == {
        "value_in.weight": (8, 8), "model.layers.0.mixer.boundary": (1, 8, 8, 8), "value_out.weight": (8, 8)}
    phi = m.companion_matrix()
    assert phi.shape == (64, 64) and torch.equal(phi[:56, 8:], torch.eye(56))
    for i in range(8):  # boundary row [A_1 ... A_8]; A_i = a[8 - i] acts on column i (1 = oldest)
        assert torch.equal(phi[56:, 8 * i : 8 * i + 8], mixer.boundary[0, 7 - i].detach())
    ops = m.wave_operators()
    x = torch.randn(3, 20, 8)
    with torch.no_grad():
        pred = m(x, use_cache=False).predictions
    h = torch.zeros(3, 64)
    for t in range(20):
        h = h @ ops["phi"].T + x[:, t] @ ops["write"].T
        assert torch.allclose(h @ ops["read"].T, pred[:, t], atol=1e-5), t
    # writes land in the start column (s) only, reads come from it only (boundary readout)
    assert torch.count_nonzero(ops["write"][:56]) == 0 and torch.count_nonzero(ops["read"][:, :56]) == 0
    assert torch.equal(ops["write"][56:], m.value_in.weight) and torch.equal(ops["read"][:, 56:], m.value_out.weight)


def test_wave_operators_with_fir_readout_and_heads():
    m = paper_model(readout="fir", num_heads=2, head_dim=4, boundary="diagonal", boundary_init_scale=0.5)
    ops = m.wave_operators()
    x = torch.randn(2, 12, 8)
    with torch.no_grad():
        pred = m(x, use_cache=False).predictions
    h = torch.zeros(2, ops["phi"].shape[0])
    for t in range(12):
        h = h @ ops["phi"].T + x[:, t] @ ops["write"].T
        assert torch.allclose(h @ ops["read"].T, pred[:, t], atol=1e-5)
    with pytest.raises(ValueError, match="one-layer linear model"):
        make_lm().wave_operators()


def test_generalised_fibonacci_exact():
    """Theorem 3.1's example: all A_i = I (s = 3) on a ones seed gives 1, 1, 1, 3, 5, 9, 17, 31, ... exactly."""
    m = paper_model(history_length=3).double()
    mixer = m.model.layers[0].mixer
    with torch.no_grad():
        mixer.boundary.copy_(torch.eye(8, dtype=torch.double).expand(1, 3, 8, 8))
        for lin in (m.value_in, m.value_out):
            lin.weight.copy_(torch.eye(8, dtype=torch.double))
    # seed the substrate with three ones through the (additive) drive: z_0 = 1, z_1 = 0 + z_0, z_2 = -1 + z_1 + z_0
    x = torch.zeros(1, 10, 8, dtype=torch.double)
    x[0, 0], x[0, 2] = 1.0, -1.0
    with torch.no_grad():
        z = m(x, use_cache=False).predictions[0, :, 0]
    assert z.tolist() == [1, 1, 1, 3, 5, 9, 17, 31, 57, 105]


def test_value_init_identity_is_theorem_3_1_write_and_read(tmp_path):
    paper = dict(vocab_size=None, input_size=8, output_size=8, hidden_size=8, num_heads=1, head_dim=8,
                 history_length=8, boundary="dense", readout="boundary", gating="none", mixer_projections=False,
                 use_mlp=False, use_norm=False, residual=False)
    model = WaveLBCForPrediction(WaveLBCConfig(**paper, value_init="identity"))
    assert torch.equal(model.value_in.weight, torch.eye(8)) and torch.equal(model.value_out.weight, torch.eye(8))
    assert not torch.equal(WaveLBCForPrediction(WaveLBCConfig(**paper)).value_in.weight, torch.eye(8))
    with torch.no_grad():
        model.value_in.weight.mul_(2.0)  # trained weights must survive loading (no re-initialisation)
    model.save_pretrained(tmp_path)
    assert torch.equal(WaveLBCForPrediction.from_pretrained(tmp_path).value_in.weight, 2.0 * torch.eye(8))
    with pytest.raises(ValueError, match=r"`value_init='identity'` needs input_size == hidden_size == output_size"):
        WaveLBCConfig(**{**paper, "input_size": 3}, value_init="identity")
    with pytest.raises(ValueError, match="`value_init` must be one of"):
        WaveLBCConfig(**paper, value_init="eye")


@pytest.mark.parametrize("boundary", ["diagonal", "dense"])
def test_boundary_max_norm_keeps_phi_stable_at_every_step(boundary, ids):
    """boundary_max_norm = c: the wave uses the boundary rescaled to norm c tanh(n / c) <= c, so Phi's spectral radius
    stays at most c^(1/S) whatever the parameter; small boundaries pass (almost) unchanged; gradients are finite at
    the pure shift; prefill + decode still equals the full forward."""
    S, D, c = 4, 3, 0.9
    mixer = WaveLBCMixer(6, 2, D, S, boundary=boundary, boundary_max_norm=c)
    with torch.no_grad():
        mixer.boundary.normal_(0, 3.0)  # far outside the stable region
    a = mixer.effective_boundary()
    norms = (a.square().sum(dim=(-2, -1)).sqrt().sum(1) if boundary == "dense" else a.abs().sum(1))
    assert (norms <= c * (1 + 1e-6)).all() and (norms > 0.99 * c).all()  # saturated, not clipped to zero
    for head in range(2):
        radius = torch.linalg.eigvals(mixer.companion_matrix(head).double()).abs().max()
        assert radius <= c ** (1 / S) * (1 + 1e-6)
    with torch.no_grad():
        mixer.boundary.mul_(1e-4 / mixer.boundary.abs().max())
    torch.testing.assert_close(mixer.effective_boundary(), mixer.boundary, rtol=1e-6, atol=0)
    with torch.no_grad():
        mixer.boundary.zero_()
    mixer.effective_boundary().sum().backward()
    assert torch.isfinite(mixer.boundary.grad).all()
    m = make_lm(boundary=boundary, readout="fir", gating="qkv", boundary_max_norm=0.5)
    with torch.no_grad():
        for layer in m.model.layers:
            layer.mixer.boundary.normal_(0, 3.0)
    hf_checks.check_chunked_prefill(m, ids, splits=[1, 4, 5])
    hf_checks.check_generate_matches_no_cache(m, ids)
    with pytest.raises(ValueError, match=r"`boundary_max_norm` must be None or in \(0, 1\]; got 1.5"):
        tiny(boundary_max_norm=1.5)
    with pytest.raises(ValueError, match="`boundary_max_norm`"):
        tiny(boundary_max_norm=0.0)
