"""The LBC/SBC hybrid (``WaveLBCConfig(attention_layers=[...])``): LBC wave layers with a few SBC stream-attention
layers in one stack. Config checks, the attention layers against ``WaveSBCModel`` in stream mode (an independent
implementation of the same layer), the cache (prefill, decoding, generate, padding, fixed size), packed documents,
the transformers conventions, save/load and PEFT. Save/load and the remote-code bundle of the hybrid are also covered
by tests/models/test_save_load.py and tests/models/test_remote_code.py (its ``EXTRA_VARIANTS``)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForTimeSeriesPrediction

from tests.models import hf_checks
from tests.models.test_packing import check_documents_run_alone
from wave_hf.layers.lbc import WaveLBCMixer
from wave_hf.layers.sbc import STREAM_STATE_NAMES, SBCStreamMixer
from wave_hf.models import PEFT_TARGET_MODULES, WaveCache
from wave_hf.models.wave_lbc import WaveLBCConfig, WaveLBCForCausalLM, WaveLBCForPrediction, WaveLBCModel
from wave_hf.models.wave_sbc import WaveSBCConfig, WaveSBCForCausalLM

V = 23
S = 4  # history_length of the wave layers
W = 3  # attention_window of the attention layers (differs from S, so a mix-up shows)


def tiny(**kw) -> WaveLBCConfig:
    cfg = dict(vocab_size=V, input_size=3, hidden_size=16, num_hidden_layers=3, num_heads=2, head_dim=4,
               history_length=S, intermediate_size=24, initializer_range=0.2, boundary_init_scale=0.5,
               memory_halflife_max=64.0, attention_layers=[1], attention_window=W)
    cfg.update(kw)
    return WaveLBCConfig(**cfg)


def make_lm(**kw) -> WaveLBCForCausalLM:
    torch.manual_seed(0)
    return WaveLBCForCausalLM(tiny(**kw)).eval()


@pytest.fixture
def ids():
    return torch.randint(1, V, (2, 9), generator=torch.Generator().manual_seed(3))


# -- config ---------------------------------------------------------------------------------------------------------


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match=r"`attention_layers` must lie in \[0, num_hidden_layers=3\); got \[3\]"):
        tiny(attention_layers=[0, 3])
    with pytest.raises(ValueError, match=r"got \[-1\]"):
        tiny(attention_layers=[-1])
    with pytest.raises(ValueError, match=r"`attention_layers` must be unique; \[1\] repeated in \[1, 2, 1\]"):
        tiny(attention_layers=[1, 2, 1])
    for bad in (1, [1.0], [True], "1"):
        with pytest.raises(ValueError, match="`attention_layers` must be a list of layer indices"):
            tiny(attention_layers=bad)
    with pytest.raises(ValueError, match="`attention_heads` must be an integer >= 1 or None; got 0"):
        tiny(attention_heads=0)
    with pytest.raises(ValueError, match="`attention_window` must be an integer >= 1 or None"):
        tiny(attention_window=2.5)
    with pytest.raises(ValueError, match="`attention_head_dim` must be an integer >= 1 or None"):
        tiny(attention_head_dim=-1)
    with pytest.raises(ValueError, match=r"`attention_position_encoding` must be one of \['age_bias', 'alibi',"):
        tiny(attention_position_encoding="rope")
    with pytest.raises(ValueError, match=r"`hidden_size` \(16\) must be divisible by the attention heads \(3"):
        tiny(attention_heads=3)
    assert tiny(attention_heads=3, attention_head_dim=5).attention_kwargs["head_dim"] == 5
    tiny(attention_layers=None, attention_heads=3)  # no attention layer: the head split is never used
    with pytest.raises(ValueError, match="unknown config key"):
        tiny(attention_layer=[1])


def test_config_defaults_cache_names_and_json_round_trip():
    cfg = tiny(attention_window=None, attention_layers=(2, 0))
    assert cfg.attention_layers == [2, 0]  # a tuple is stored as the list config.json holds
    assert cfg.attention_kwargs == dict(hidden_size=16, num_heads=2, head_dim=8, window=S,
                                              position_encoding="age_bias")
    gated = ("substrate", "memory")
    assert cfg.cache_state_names() == [STREAM_STATE_NAMES, gated, STREAM_STATE_NAMES]
    assert tiny(gating="none").cache_state_names()[0] == ("substrate",)
    again = WaveLBCConfig.from_dict(cfg.to_dict())
    assert again.attention_layers == [2, 0] and again.cache_state_names() == cfg.cache_state_names()
    assert WaveLBCConfig().attention_layers is None and WaveLBCConfig().attention_position_encoding == "age_bias"


def test_blocks_follow_attention_layers_and_their_state_names():
    model = WaveLBCModel(tiny(attention_layers=[0, 2], num_hidden_layers=4, attention_heads=4, attention_head_dim=3))
    kinds = [type(block.mixer) for block in model.layers]
    assert kinds == [SBCStreamMixer, WaveLBCMixer, SBCStreamMixer, WaveLBCMixer]
    for block, names in zip(model.layers, model.config.cache_state_names()):
        assert tuple(block.mixer.state_names) == names
    attn = model.layers[0].mixer.attn
    assert (attn.num_heads, attn.head_dim, attn.window) == (4, 3, W) and attn.q_proj.weight.shape == (12, 16)
    # no attention layers: exactly the plain LBC stack
    plain = WaveLBCModel(tiny(attention_layers=None)).state_dict()
    assert plain.keys() == WaveLBCModel(tiny(attention_layers=[])).state_dict().keys()
    assert not any(".attn." in k for k in plain)


def test_theory_accessors_refuse_the_attention_layers():
    model = make_lm()
    assert model.companion_matrix(0).shape == (S * 4, S * 4)
    with pytest.raises(ValueError, match="layer 1 is an SBC attention layer"):
        model.companion_matrix(1)
    linear = dict(num_hidden_layers=1, use_norm=False, residual=False, use_mlp=False, gating="none")
    with pytest.raises(ValueError, match=r"differs in \['attention_layers'\]"):
        WaveLBCForCausalLM(tiny(**linear, attention_layers=[0])).wave_operators()


# -- the attention layers are WaveSBC's stream layers ----------------------------------------------------------------


def sbc_twin(hybrid: WaveLBCForCausalLM) -> WaveSBCForCausalLM:
    """The WaveSBC stream model with the weights of an all-attention hybrid (same norms, MLP, attention)."""
    c = hybrid.config
    kw = c.attention_kwargs
    sbc = WaveSBCForCausalLM(WaveSBCConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_hidden_layers,
        num_heads=kw["num_heads"], head_dim=kw["head_dim"], history_length=kw["window"], substrate_mode="stream",
        position_encoding=kw["position_encoding"], use_mlp=True, intermediate_size=c.intermediate_size,
        rms_norm_eps=c.rms_norm_eps)).eval()
    renamed = {k.replace("mixer_norm", "attn_norm").replace("mixer.attn.", "attn."): v
               for k, v in hybrid.state_dict().items()}
    sbc.load_state_dict(renamed, strict=True)
    return sbc


@pytest.mark.parametrize("encoding", ["age_bias", "alibi", "none"])
def test_all_attention_hybrid_equals_wave_sbc_stream(encoding):
    """Every layer attention: outputs, attention weights and the cache equal those of WaveSBCModel (stream) with the
    same weights, on a left-padded batch longer than the window, then chunked decoding."""
    hybrid = make_lm(attention_layers=[0, 1, 2], attention_heads=3, attention_head_dim=5,
                     attention_position_encoding=encoding)
    with torch.no_grad():
        for p in hybrid.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # the learned age bias away from its ALiBi start
    sbc = sbc_twin(hybrid)
    ids = torch.randint(1, V, (2, 3 * W + 2))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    with torch.no_grad():
        got = hybrid(ids, attention_mask=mask, use_cache=True, output_attentions=True)
        ref = sbc(ids, attention_mask=mask, use_cache=True, output_attentions=True)
        torch.testing.assert_close(got.logits, ref.logits, rtol=0, atol=1e-6)
        for a, b in zip(got.attentions, ref.attentions, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        nxt = torch.randint(1, V, (2, 2))
        step_got = hybrid(nxt, cache=got.cache, use_cache=True).logits
        step_ref = sbc(nxt, cache=ref.cache, use_cache=True).logits
    torch.testing.assert_close(step_got, step_ref, rtol=0, atol=1e-6)


# -- cache, generate, padding --------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention_layers", [[1], [0, 2]])
@pytest.mark.parametrize("prompt_len", [1, W, 7])
def test_prefill_then_token_steps_equal_the_full_forward(attention_layers, prompt_len):
    """Cache prefill of ``prompt_len`` tokens, then token by token == one forward (odd attention head size)."""
    m = make_lm(attention_layers=attention_layers, attention_heads=3, attention_head_dim=5)
    ids = torch.randint(1, V, (2, 3 * S + 1))
    hf_checks.check_chunked_prefill(m, ids, splits=list(range(prompt_len, ids.shape[1])))


@pytest.mark.parametrize("L", [1, 7, 63, 64, 65])
def test_chunked_prefill_at_awkward_lengths(L):
    """Lengths around the ops' 64-position chunks and the attention's blocks of W queries: one chunked prefill (cut
    at W + 1 and 2/3 of the way) and a last token == the full forward."""
    m = make_lm(gating="qkv", boundary="dense", readout="fir")
    ids = torch.randint(1, V, (2, L))
    hf_checks.check_chunked_prefill(m, ids, splits=sorted({min(W + 1, L), 2 * L // 3, L - 1}))


@pytest.mark.parametrize("gating", ["qkv", "none"])
def test_generate_greedy_beam_sample_match_no_cache(gating, ids):
    hf_checks.check_generate_matches_no_cache(make_lm(gating=gating), ids)


def test_greedy_generate_equals_the_argmax_of_full_forwards(ids):
    m = make_lm()
    out = m.generate(ids, max_new_tokens=6, do_sample=False)
    with torch.no_grad():
        for t in range(ids.shape[1], out.shape[1]):
            assert torch.equal(m(out[:, :t], use_cache=False).logits[:, -1].argmax(-1), out[:, t]), t


def test_left_and_right_padding():
    m = make_lm()
    prompts = [torch.randint(1, V, (n,)) for n in (2, W + 4, S)]
    hf_checks.check_left_padding(m, prompts, pad_id=0)
    hf_checks.check_right_padding_prefill(m, prompts, torch.tensor([4, 5, 6]), pad_id=0)


@pytest.mark.parametrize("side", ["left", "right", "inside"])
def test_padding_never_enters_the_cache(side):
    """After a padded prefill every layer's cached state (wave substrate, memory, attention keys/values and their
    validity) equals that of the unpadded prompt, and the outputs at real positions equal the unpadded ones."""
    m = make_lm()
    lengths = (2, W + 3, 1)
    prompts = [torch.randint(1, V, (n,)) for n in lengths]
    n = max(lengths) + 2
    ids, mask = torch.zeros(3, n, dtype=torch.long), torch.zeros(3, n, dtype=torch.long)
    for i, p in enumerate(prompts):
        pos = {"left": torch.arange(n - len(p), n), "right": torch.arange(len(p)),
               "inside": torch.linspace(1, n - 1, len(p)).round().long()}[side]
        ids[i, pos], mask[i, pos] = p, 1
    with torch.no_grad():
        batched = m(ids, attention_mask=mask, use_cache=True)
        for i, p in enumerate(prompts):
            alone = m(p[None], use_cache=True)
            torch.testing.assert_close(batched.logits[i, mask[i].bool()], alone.logits[0], rtol=0, atol=1e-5)
            for layer, names in enumerate(m.config.cache_state_names()):
                for name in names:
                    got, ref = batched.cache.get_state(layer, name)[i], alone.cache.get_state(layer, name)[0]
                    if name == "key_valid":
                        assert torch.equal(got, ref), (i, layer)
                    else:
                        torch.testing.assert_close(got, ref, rtol=0, atol=1e-5, msg=f"{i} {layer} {name}")


def test_cache_is_fixed_size_and_holds_copies():
    """Per layer its own states: the wave substrate (and memory), or the attention's W newest keys/values; the
    same shapes and the same bytes of storage after 2 and 200 tokens (copies, not views of the prompt)."""
    m = make_lm()
    shapes, storage = [], []
    for L in (2, 200):
        with torch.no_grad():
            cache = m(torch.randint(1, V, (2, L)), use_cache=True).cache
        assert isinstance(cache, WaveCache) and cache.seen_tokens == L
        states = [t for layer in cache.layers for t in layer.recurrent_states.values()]
        shapes.append([tuple(t.shape) for t in states])
        storage.append(sum(t.untyped_storage().nbytes() for t in states))
    assert shapes[0] == shapes[1]
    assert shapes[0] == [(2, 2, S, 4), (2, 2, 4, 4), (2, 2, W, 8), (2, 2, W, 8), (2, W), (2, 2, S, 4), (2, 2, 4, 4)]
    assert storage[0] == storage[1]


# -- packed documents ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention_layers", [[1], [0, 2]])
def test_packed_documents_run_alone(attention_layers):
    """Each document equals its own run; the gradient across documents is exactly zero (documents of length 1 and
    one spanning several 64-position chunks and many attention blocks)."""
    check_documents_run_alone(make_lm(attention_layers=attention_layers))


def test_packing_refuses_the_cache(ids):
    with pytest.raises(ValueError, match="packed documents .* cannot be used with a cache"):
        make_lm()(ids, position_ids=torch.tensor([[0, 1, 2, 0, 1, 2, 3, 4, 5]] * 2), use_cache=True)


# -- transformers conventions ----------------------------------------------------------------------------------------


def test_return_dict_false_and_hidden_states(ids):
    m = make_lm()
    with torch.no_grad():
        ref = m(ids, labels=ids, use_cache=False, output_hidden_states=True)
        loss, logits, hidden = m(ids, labels=ids, use_cache=False, output_hidden_states=True, return_dict=False)
        assert torch.equal(loss, ref.loss) and torch.equal(logits, ref.logits)
        block_inputs = []
        hooks = [b.register_forward_pre_hook(lambda mod, args: block_inputs.append(args[0])) for b in m.model.layers]
        try:
            m(ids, use_cache=False)
        finally:
            for h in hooks:
                h.remove()
        last = m.model(ids, use_cache=False).last_hidden_state
    assert len(hidden) == m.config.num_hidden_layers + 1
    assert torch.equal(hidden[0], m.model.embed_tokens(ids))
    for i in range(1, m.config.num_hidden_layers):
        assert torch.equal(hidden[i], block_inputs[i])
    assert torch.equal(hidden[-1], last)


def test_output_attentions_one_entry_per_attention_layer():
    """(B, H, L, keys) per attention layer: rows sum to 1 over the W newest columns, padding has no weight and gets
    none, asking changes no output; continuing a cache adds the W cached columns; a plain LBC stack warns."""
    m = make_lm(attention_layers=[0, 2], attention_heads=3, attention_head_dim=5)
    ids = torch.randint(1, V, (2, 9))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    with torch.no_grad():
        plain = m(ids, attention_mask=mask, use_cache=False)
        out = m(ids, attention_mask=mask, use_cache=False, output_attentions=True)
        alone = m(ids[:1, 3:], use_cache=False, output_attentions=True).attentions
    torch.testing.assert_close(out.logits, plain.logits, rtol=0, atol=1e-6)
    assert len(out.attentions) == 2
    q, k = torch.arange(9)[:, None], torch.arange(9)[None]
    for w, a in zip(out.attentions, alone):
        assert w.shape == (2, 3, 9, 9)
        torch.testing.assert_close(w[1].sum(-1), torch.ones(3, 9))
        torch.testing.assert_close(w[0, :, 3:].sum(-1), torch.ones(3, 6))
        assert torch.count_nonzero(w[0, :, :3]) == 0 and torch.count_nonzero(w[0, :, :, :3]) == 0
        assert torch.count_nonzero(w[..., (k > q) | (q - k >= W)]) == 0  # the band of width W
        torch.testing.assert_close(w[0, :, 3:, 3:], a[0], rtol=0, atol=1e-6)
    with torch.no_grad():
        first = m(ids[:, :5], use_cache=True)
        more = m(ids[:, 5:], cache=first.cache, use_cache=True, output_attentions=True)
        from_config = make_lm(output_attentions=True)(ids, use_cache=False).attentions
    assert [tuple(w.shape) for w in more.attentions] == [(2, 3, 4, W + 4)] * 2
    assert len(from_config) == 1
    with pytest.warns(UserWarning, match="has no attention weights"):
        assert make_lm(attention_layers=None)(ids, output_attentions=True).attentions is None


def test_causality_and_gradient_checkpointing(ids):
    m = make_lm()
    hf_checks.check_causality(m, m.model.embed_tokens(ids).detach())
    hf_checks.check_gradient_checkpointing(lambda: make_lm().train(), {"input_ids": ids, "labels": ids})


def test_save_load_auto_and_bf16(ids, tmp_path):
    m = make_lm(attention_layers=[0, 2])
    with torch.no_grad():
        m.model.layers[2].mixer.attn.age_bias.add_(torch.randn(2, W))
    hf_checks.check_save_load_roundtrip(m, AutoModelForCausalLM, {"input_ids": ids})
    m.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.config.attention_layers == [0, 2]
    assert torch.equal(loaded.model.layers[2].mixer.attn.age_bias, m.model.layers[2].mixer.attn.age_bias)


def test_prediction_head_rollout_and_roundtrip():
    torch.manual_seed(0)
    p = WaveLBCForPrediction(tiny(vocab_size=None)).eval()
    x = torch.randn(2, 7, 3)
    hf_checks.check_save_load_roundtrip(p, AutoModelForTimeSeriesPrediction, {"input_values": x},
                                        output_key="predictions")
    rollout = p.rollout(x, 3)
    with torch.no_grad():
        seq = x
        for _ in range(3):  # the free-running loop recomputed from scratch
            seq = torch.cat([seq, p(seq, use_cache=False).predictions[:, -1:]], dim=1)
    torch.testing.assert_close(rollout, seq[:, 7:], rtol=0, atol=1e-5)


def test_peft_lora_targets_both_mixers():
    peft = pytest.importorskip("peft")
    targets = PEFT_TARGET_MODULES["wave_lbc"]
    assert {"in_proj", "out_proj", "q_proj", "k_proj", "v_proj", "o_proj"} <= set(targets)
    config = peft.LoraConfig(r=2, lora_alpha=4, target_modules=targets, init_lora_weights=False)
    model = peft.get_peft_model(make_lm().train(), config)
    wrapped = {name.rsplit(".", 1)[0] for name, _ in model.named_parameters() if "lora_A" in name}
    for layer, names in ((0, ("mixer.in_proj", "mixer.out_proj")), (1, ("mixer.attn.q_proj", "mixer.attn.o_proj")),
                         (1, ("mlp.gate_proj",))):
        for name in names:
            assert any(f"layers.{layer}.{name}.lora_A" in w for w in wrapped), (layer, name)


@pytest.mark.parametrize("attention_layers", [[1], [0, 2]])
def test_receptive_field_adds_the_layers_reaches(attention_layers):
    """With finite-memory wave layers (pure shift, FIR readout, no gating memory) each wave layer reaches S - 1
    positions back and each attention layer W - 1: output t depends on input j exactly when t - reach <= j <= t."""
    m = make_lm(attention_layers=attention_layers, boundary="none", gating="none")
    n_attn = len(attention_layers)
    reach = n_attn * (W - 1) + (m.config.num_hidden_layers - n_attn) * (S - 1)
    L = reach + 4
    x = torch.randn(1, L, 16, requires_grad=True)
    out = m(inputs_embeds=x, use_cache=False).logits
    for t in (L - 1, L - 3):
        (grad,) = torch.autograd.grad(out[0, t].sum(), x, retain_graph=True)
        depends = grad[0].abs().sum(-1) != 0
        assert depends.tolist() == [t - reach <= j <= t for j in range(L)], (t, depends.tolist())
