"""The SBC attention-only wave models (wave_hf.models.wave_sbc): the SBC equation, receptive fields of the two
substrate modes, cache == teacher forcing, padding, memory, and the HF contract through the shared hf_checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForTimeSeriesPrediction, DynamicCache

import wave_hf.models.wave_sbc  # noqa: F401  (registers the family until wave_hf/__init__ does)
from tests.models import hf_checks
from wave_hf.models import WaveCache
from wave_hf.models.wave_sbc import WaveSBCConfig, WaveSBCForCausalLM, WaveSBCForPrediction, WaveSBCModel
from wave_hf.training.resources import shipped_model_config

VOCAB = 99
S = 4
MODES = ("window", "stream")
CONFIGS = shipped_model_config("wave_lbc_paper").parent  # the model config files shipped in the package


def tiny(**kw) -> WaveSBCConfig:
    cfg = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, history_length=S,
               initializer_range=0.3, tie_word_embeddings=True)
    cfg.update(kw)
    return WaveSBCConfig(**cfg)


def make_lm(**kw) -> WaveSBCForCausalLM:
    torch.manual_seed(0)
    return WaveSBCForCausalLM(tiny(**kw)).eval()


def bare_sbc(mode: str, d: int, prediction: bool = False, **kw):
    """One layer, one head, no norm / residual / MLP / position bias, logit scale 1: the SBC equation itself."""
    fields = dict(vocab_size=None, input_size=d, hidden_size=d, num_hidden_layers=1, num_attention_heads=1,
                  history_length=S, substrate_mode=mode, use_norm=False, residual=False, use_mlp=False,
                  position_encoding="none", attention_scale=1.0)
    cfg = WaveSBCConfig(**{**fields, **kw})
    torch.manual_seed(0)
    model = (WaveSBCForPrediction if prediction else WaveSBCModel)(cfg).double().eval()
    return model


def set_sbc_matrices(attn, Q, K, V) -> None:
    """W_Q = Q, W_K = K^T (so k_i^T q = h_i^T K Q h), W_V = V, W_O = I."""
    with torch.no_grad():
        attn.q_proj.weight.copy_(Q)
        attn.k_proj.weight.copy_(K.T)
        attn.v_proj.weight.copy_(V)
        attn.o_proj.weight.copy_(torch.eye(Q.shape[0], dtype=Q.dtype))


def sbc_step(columns: list[torch.Tensor], Q, K, V, scale: float = 1.0, bias=None) -> torch.Tensor:
    """h_new = sum_i softmax_i(h_i^T K Q h_newest * scale + b[age_i]) V h_i over the substrate ``columns`` (oldest
    first), written as a plain loop."""
    newest = columns[-1]
    logits = []
    for i, h_i in enumerate(columns):
        age = len(columns) - 1 - i
        logits.append(h_i @ K @ Q @ newest * scale + (bias[age] if bias is not None else 0.0))
    weights = torch.softmax(torch.stack(logits), dim=0)
    return sum(w * (V @ h_i) for w, h_i in zip(weights, columns))


@pytest.fixture
def ids():
    return torch.randint(1, VOCAB, (2, 9))


# -- config ---------------------------------------------------------------------------------------------------------


def test_config_validation_names_field_and_allowed_values():
    with pytest.raises(ValueError, match=r"`substrate_mode` must be one of \['window', 'stream'\]; got 'full'"):
        tiny(substrate_mode="full")
    with pytest.raises(ValueError, match=r"`position_encoding` must be one of \['age_bias', 'alibi', 'none'\]"):
        tiny(position_encoding="rope")
    with pytest.raises(ValueError, match="`history_length` must be an integer >= 1"):
        tiny(history_length=0)
    with pytest.raises(ValueError, match="`num_heads` must be an integer >= 1"):  # the field behind the old name
        tiny(num_attention_heads=1.5)
    with pytest.raises(ValueError, match=r"`hidden_size` \(32\) must be divisible by `num_heads` \(3\)"):
        tiny(num_attention_heads=3)
    assert tiny(num_attention_heads=3, head_dim=5).attention_head_dim == 5
    with pytest.raises(ValueError, match="`use_mlp` must be True or False"):
        tiny(use_mlp="yes")
    with pytest.raises(ValueError, match="`residual` must be True or False"):
        tiny(residual=1)
    with pytest.raises(ValueError, match="`attention_scale` must be a positive number or None"):
        tiny(attention_scale=0.0)
    with pytest.raises(ValueError, match="`hidden_act` must be one of"):
        tiny(hidden_act="swishy")
    with pytest.raises(ValueError, match="`window_chunk_size` must be an integer >= 1 or None"):
        tiny(window_chunk_size=0)
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['histroy_length'\].*history_length"):
        tiny(histroy_length=3)


def test_config_defaults_cache_names_and_auto():
    cfg = WaveSBCConfig()
    assert cfg.model_type == "wave_sbc" and cfg.substrate_mode == "window" and cfg.use_mlp is False
    assert cfg.cache_state_names() == [("window", "window_valid")]
    assert tiny(substrate_mode="stream").cache_state_names() == [("key", "value", "key_valid")] * 2
    auto = AutoConfig.for_model("wave_sbc", history_length=5)
    assert isinstance(auto, WaveSBCConfig) and auto.history_length == 5
    assert type(AutoModel.from_config(tiny())) is WaveSBCModel
    assert type(AutoModelForCausalLM.from_config(tiny())) is WaveSBCForCausalLM
    assert type(AutoModelForTimeSeriesPrediction.from_config(tiny())) is WaveSBCForPrediction


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("wave_sbc_*.yaml")), ids=lambda p: p.stem)
def test_shipped_yaml_configs_build(path):
    fields = yaml.safe_load(path.read_text())
    cfg = AutoConfig.for_model(**fields)
    assert isinstance(cfg, WaveSBCConfig)
    if cfg.vocab_size is None:
        WaveSBCForPrediction(cfg)
    elif cfg.hidden_size <= 64:
        WaveSBCForCausalLM(cfg)


def test_paper_yaml_is_the_bare_sbc_equation():
    fields = yaml.safe_load((CONFIGS / "wave_sbc_paper.yaml").read_text())
    cfg = AutoConfig.for_model(**fields)
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size, cfg.history_length) == (1, 1, 8, 8)
    assert (cfg.use_norm, cfg.residual, cfg.use_mlp, cfg.position_encoding, cfg.attention_scale) == (
        False, False, False, "none", 1.0)


# -- the SBC equation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("matrices", ["identity", "random", "random+age_bias"])
def test_one_layer_equals_the_sbc_equation_loop(mode, matrices):
    d, L = 5, 11
    extra = dict(position_encoding="age_bias", attention_scale=0.6) if matrices == "random+age_bias" else {}
    model = bare_sbc(mode, d, **extra)
    g = torch.Generator().manual_seed(1)
    if matrices == "identity":
        Q = K = V = torch.eye(d, dtype=torch.float64)
    else:
        Q, K, V = (torch.randn(d, d, dtype=torch.float64, generator=g) / d**0.5 for _ in range(3))
    attn = model.layers[0].attn
    set_sbc_matrices(attn, Q, K, V)
    bias, scale = None, 1.0
    if extra:
        with torch.no_grad():
            attn.age_bias.copy_(torch.randn(1, S, dtype=torch.float64, generator=g))
        bias, scale = attn.age_bias[0].detach(), 0.6
    h = torch.randn(2, L, d, dtype=torch.float64, generator=g)
    with torch.no_grad():
        out = model(inputs_embeds=h, use_cache=False).last_hidden_state
    for b in range(2):
        for t in range(L):  # the substrate at step t: columns max(0, t-S+1) .. t
            ref = sbc_step([h[b, i] for i in range(max(0, t - S + 1), t + 1)], Q, K, V, scale, bias)
            assert torch.allclose(out[b, t], ref, atol=1e-12, rtol=0), (b, t)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("prompt_len", [2, S, S + 3])
def test_rollout_is_the_autonomous_sbc_loop(mode, prompt_len):
    """Prediction head with identity value maps: rollout = new column f_SBC(H), then H <- push(H, new)."""
    d = 3
    model = bare_sbc(mode, d, prediction=True)
    g = torch.Generator().manual_seed(2)
    Q, K, V = (torch.randn(d, d, dtype=torch.float64, generator=g) for _ in range(3))
    set_sbc_matrices(model.model.layers[0].attn, Q, K, V)
    with torch.no_grad():
        model.value_in.weight.copy_(torch.eye(d))
        model.value_out.weight.copy_(torch.eye(d))
    prompt = torch.randn(1, prompt_len, d, dtype=torch.float64, generator=g)
    got = model.rollout(prompt, steps=3 * S)
    columns = list(prompt[0])
    for k in range(3 * S):
        new = sbc_step(columns[-S:], Q, K, V)
        assert torch.allclose(got[0, k], new, atol=1e-12), k
        columns.append(new)


# -- receptive fields ---------------------------------------------------------------------------------------------


def input_gradients(model, L: int) -> torch.Tensor:
    """(L, L) matrix of |d output_t / d input_j| summed over batch and features (float64)."""
    x = torch.randn(2, L, model.config.hidden_size, dtype=torch.float64, requires_grad=True)
    out = model(inputs_embeds=x, use_cache=False).last_hidden_state
    rows = []
    for t in range(L):
        (grad,) = torch.autograd.grad(out[:, t].sum(), x, retain_graph=True)
        rows.append(grad.abs().sum(dim=(0, 2)))
    return torch.stack(rows)


@pytest.mark.parametrize("use_mlp", [False, True])
def test_window_mode_sees_only_the_last_S_inputs_at_every_depth(use_mlp):
    torch.manual_seed(0)
    cfg = tiny(vocab_size=None, hidden_size=16, num_attention_heads=2, num_hidden_layers=3, use_mlp=use_mlp)
    model = WaveSBCModel(cfg).double().eval()
    L = 3 * S + 2
    grads = input_gradients(model, L)
    t, j = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
    inside = (j <= t) & (j > t - S)
    assert torch.count_nonzero(grads[~inside]) == 0  # exactly zero for j <= t-S and j > t
    assert (grads[inside] > 0).all()


def test_stream_mode_receptive_field_grows_with_depth():
    torch.manual_seed(0)
    layers = 2
    model = WaveSBCModel(tiny(vocab_size=None, num_hidden_layers=layers, substrate_mode="stream")).double().eval()
    L = 3 * S + 2
    grads = input_gradients(model, L)
    t, j = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
    reach = layers * (S - 1)  # each layer looks S-1 columns further back
    inside = (j <= t) & (j >= t - reach)
    assert torch.count_nonzero(grads[~inside]) == 0  # in particular exactly zero for every j > t
    assert (grads[inside] > 0).all()
    assert (grads[(j <= t - S) & inside] > 0).any()  # beyond one substrate: unlike window mode


# -- cache == teacher forcing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("prompt_len", [1, S - 1, S, S + 1, 7])
def test_teacher_forced_equals_step_by_step_generation(mode, prompt_len):
    """Prefill a prompt shorter than, equal to or longer than S, then decode token by token (odd head size, MLP)."""
    m = make_lm(substrate_mode=mode, num_attention_heads=3, head_dim=5, use_mlp=True, intermediate_size=24)
    ids = torch.randint(1, VOCAB, (3, 3 * S + 1))
    hf_checks.check_chunked_prefill(m, ids, splits=list(range(prompt_len, ids.shape[1])), atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_chunked_prefill_longer_than_substrate(mode):
    m = make_lm(substrate_mode=mode)
    ids = torch.randint(1, VOCAB, (2, 6 * S + 3))
    hf_checks.check_chunked_prefill(m, ids, splits=[S + 2, 4 * S + 1, 4 * S + 2])


@pytest.mark.parametrize("mode", MODES)
def test_generate_greedy_beam_sample_match_no_cache(mode, ids):
    hf_checks.check_generate_matches_no_cache(make_lm(substrate_mode=mode), ids)


@pytest.mark.parametrize("mode", MODES)
def test_cache_size_is_independent_of_context_length(mode):
    m = make_lm(substrate_mode=mode)
    shapes = []
    for L in (2, 5 * S):
        cache = m(torch.randint(1, VOCAB, (2, L)), use_cache=True).cache
        assert isinstance(cache, WaveCache) and cache.seen_tokens == L
        shapes.append([tuple(t.shape) for layer in cache.layers for t in layer.recurrent_states.values()])
    assert shapes[0] == shapes[1]
    if mode == "window":
        assert shapes[0] == [(2, S, 32), (2, S)]
    else:
        assert shapes[0] == [(2, 4, S, 8), (2, 4, S, 8), (2, S)] * 2


def test_window_cache_holds_the_last_S_input_columns(ids):
    m = make_lm()
    cache = m(ids, use_cache=True).cache
    assert torch.equal(cache.get_state(0, "window"), m.model.embed_tokens(ids)[:, -S:])
    assert cache.get_state(0, "window_valid").all()
    short = m(ids[:, :2], use_cache=True).cache
    assert short.get_state(0, "window_valid").tolist() == [[False, False, True, True]] * 2
    assert torch.equal(short.get_state(0, "window")[:, -2:], m.model.embed_tokens(ids[:, :2]))


# -- memory: no (L, L) scores ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_no_length_squared_attention_is_materialised(mode, monkeypatch):
    calls = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        calls.append((tuple(q.shape), tuple(k.shape), None if attn_mask is None else attn_mask.numel()))
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    L = 16 * S
    m = make_lm(substrate_mode=mode, window_chunk_size=5 * S if mode == "window" else None)
    ids = torch.randint(1, VOCAB, (2, L))
    mask = torch.ones(2, L, dtype=torch.long)
    mask[1, :3] = 0
    with torch.no_grad():
        out = m(ids, attention_mask=mask, use_cache=True)
        m(ids[:, :1], cache=out.cache, use_cache=True)  # one decode step
    assert calls
    for q_shape, k_shape, mask_numel in calls:
        assert k_shape[-2] <= 2 * S, k_shape  # never more than 2S keys per query block
        assert mask_numel <= q_shape[0] * q_shape[1] * q_shape[2] * 2 * S
        if mode == "window":
            assert q_shape[0] <= 5 * S  # windows are processed in chunks of window_chunk_size


def test_window_chunking_gives_the_same_outputs(ids):
    full = make_lm()(ids, output_hidden_states=True, use_cache=False)
    chunked = make_lm(window_chunk_size=5)(ids, output_hidden_states=True, use_cache=False)
    assert torch.allclose(full.logits, chunked.logits, atol=1e-6)
    for a, b in zip(full.hidden_states, chunked.hidden_states):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_hidden_states(mode, ids):
    m = make_lm(substrate_mode=mode)
    mask = torch.ones_like(ids)
    mask[0, :2] = 0
    out = m.model(ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
    assert len(out.hidden_states) == 3 and all(h.shape == (2, 9, 32) for h in out.hidden_states)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)  # after the final norm, as in Llama
    assert torch.equal(out.hidden_states[0][1], m.model.embed_tokens(ids[1]))


# -- padding --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_left_and_right_padding(mode):
    m = make_lm(substrate_mode=mode)
    prompts = [torch.randint(1, VOCAB, (n,)) for n in (2, S + 3, S)]
    hf_checks.check_left_padding(m, prompts, pad_id=0)
    hf_checks.check_right_padding_prefill(m, prompts, torch.tensor([4, 5, 6]), pad_id=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("side", ["left", "right", "inside"])
def test_padding_never_enters_the_cached_substrate(mode, side):
    """After a padded prefill each sequence's cached state equals that of its unpadded prompt (the validity masks
    bit for bit), and the outputs at real positions equal the unpadded ones (padding is removed, wherever it is)."""
    m = make_lm(substrate_mode=mode)
    lengths = (2, S + 3, S)
    prompts = [torch.randint(1, VOCAB, (n,)) for n in lengths]
    n = max(lengths) + 2
    ids = torch.zeros(3, n, dtype=torch.long)
    mask = torch.zeros(3, n, dtype=torch.long)
    for i, p in enumerate(prompts):
        if side == "left":
            pos = torch.arange(n - len(p), n)
        elif side == "right":
            pos = torch.arange(len(p))
        else:  # holes: pads before, between and after the tokens
            pos = torch.linspace(1, n - 1, len(p)).round().long()
        ids[i, pos], mask[i, pos] = p, 1
    with torch.no_grad():
        batched = m(ids, attention_mask=mask, use_cache=True)
        for i, p in enumerate(prompts):
            alone = m(p[None], use_cache=True)
            real = mask[i].bool()
            assert torch.allclose(batched.logits[i, real], alone.logits[0], atol=1e-5), i
            for layer, names in enumerate(m.config.cache_state_names()):
                for name in names:
                    got, ref = batched.cache.get_state(layer, name)[i], alone.cache.get_state(layer, name)[0]
                    if name.endswith("valid"):
                        assert torch.equal(got, ref), (i, layer, name)
                    else:
                        assert torch.allclose(got, ref, atol=1e-6), (i, layer, name)


# -- the transformers contract, through the shared checks ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_save_load_auto_and_bf16(mode, ids):
    hf_checks.check_save_load_roundtrip(make_lm(substrate_mode=mode), AutoModelForCausalLM, {"input_ids": ids})


def test_prediction_head_roundtrip():
    torch.manual_seed(0)
    p = WaveSBCForPrediction(tiny(vocab_size=None, input_size=3, substrate_mode="stream"))
    hf_checks.check_save_load_roundtrip(p, AutoModelForTimeSeriesPrediction, {"input_values": torch.randn(2, 7, 3)},
                                        output_key="predictions")


def test_age_bias_is_saved_and_restored(tmp_path, ids):
    m = make_lm()
    with torch.no_grad():
        m.model.layers[1].attn.age_bias.copy_(torch.randn(4, S))
    m.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert torch.equal(loaded.model.layers[1].attn.age_bias, m.model.layers[1].attn.age_bias)


def test_tied_embeddings():
    m = make_lm()
    assert m.lm_head.weight is m.model.embed_tokens.weight
    untied = make_lm(tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight


def test_pipeline():
    hf_checks.check_pipeline(make_lm(), VOCAB)


@pytest.mark.parametrize("mode", MODES)
def test_causality(mode, ids):
    m = make_lm(substrate_mode=mode)
    hf_checks.check_causality(m, m.model.embed_tokens(ids).detach())


def test_compile_matches_eager():
    m = make_lm()
    ids = torch.randint(1, VOCAB, (2, 3 * S + 1))
    hf_checks.check_compile_matches_eager(m, {"input_ids": ids})


@pytest.mark.parametrize("mode", MODES)
def test_gradient_checkpointing(mode, ids):
    hf_checks.check_gradient_checkpointing(lambda: make_lm(substrate_mode=mode), {"input_ids": ids, "labels": ids})


def test_variants_run(ids):
    for kw in (dict(use_norm=False), dict(residual=False), dict(use_mlp=True), dict(position_encoding="alibi"),
               dict(position_encoding="none"), dict(history_length=1), dict(num_hidden_layers=1)):
        for mode in MODES:
            out = make_lm(substrate_mode=mode, **kw)(ids, labels=ids)
            assert out.logits.shape == (2, 9, VOCAB) and torch.isfinite(out.loss)


def test_bad_inputs(ids):
    m = make_lm(max_sequence_length=10)
    with pytest.raises(ValueError, match=r"`attention_mask` must contain only 0 \(padding\) and 1 \(token\)"):
        m(ids, attention_mask=torch.tensor([[0, 2] * 4 + [1]] * 2))
    with pytest.raises(ValueError, match=r"`attention_mask` must have shape \(B, L\)"):
        m(ids, attention_mask=torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="`input_ids` must be an integer tensor"):
        m(ids.float())
    with pytest.raises(ValueError, match=r"`input_ids` must lie in \[0, vocab_size=99\)"):
        m(ids + VOCAB)
    with pytest.raises(ValueError, match=r"`inputs_embeds` must have shape \(B, L, hidden_size=32\)"):
        m(inputs_embeds=torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"at least one position \(L >= 1\)"):
        m(ids[:, :0])
    with pytest.raises(TypeError, match="needs a WaveCache"):
        m(ids, cache=DynamicCache())
    with pytest.raises(ValueError, match="exceeds max_sequence_length=10"):
        m(torch.randint(0, VOCAB, (1, 11)))
    with pytest.raises(ValueError, match="assisted generation is not supported"):
        m.generate(ids, max_new_tokens=2, assistant_model=m)
    with pytest.raises(ValueError, match="needs `vocab_size`"):
        WaveSBCForCausalLM(tiny(vocab_size=None))
    p = WaveSBCForPrediction(tiny(vocab_size=None, input_size=3))
    with pytest.raises(ValueError, match=r"`input_values` must have shape \(B, L, input_size=3\)"):
        p(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="`steps` must be a non-negative integer"):
        p.rollout(torch.randn(1, 3, 3), steps=-1)


# -- prediction head ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_prediction_loss_mask_rollout_and_causality(mode):
    torch.manual_seed(0)
    p = WaveSBCForPrediction(tiny(vocab_size=None, input_size=3, substrate_mode=mode)).eval()
    x, y = torch.randn(2, 8, 3), torch.randn(2, 8, 3)
    mask = torch.zeros(2, 8)
    mask[:, 5:] = 1
    out = p(x, labels=y, loss_mask=mask)
    assert out.predictions.shape == (2, 8, 3)
    assert torch.allclose(out.loss, ((out.predictions - y) ** 2)[:, 5:].mean())
    p64, seq = p.double(), x[:, :3].double()  # float64: the feedback loop amplifies rounding differences
    roll = p64.rollout(seq, steps=2 * S)
    for k in range(2 * S):  # rollout == feeding each prediction back by hand, without a cache
        nxt = p64(seq, use_cache=False).predictions[:, -1:]
        assert torch.allclose(roll[:, k : k + 1], nxt, atol=1e-10), k
        seq = torch.cat([seq, nxt], dim=1)
    p = p64.float()
    hf_checks.check_causality(p, x, input_key="input_values", output_key="predictions")
