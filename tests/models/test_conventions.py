"""transformers' output conventions on every model class (issue: ship like a Hugging Face model): ``return_dict``,
``hidden_states`` as Llama returns them, ``output_attentions``, bf16 loading, ``GenerationMixin``, full-graph
compile, ``torch.export``, the cache's storage, PEFT (LoRA) and lm-evaluation-harness's ``HFLM``."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, GenerationMixin

from tests.models.hf_checks import build_word_tokenizer
from wave_hf.models import PEFT_TARGET_MODULES, WaveLBCConfig, WaveSBCConfig, wave_lbc, wave_sbc
from wave_hf.models import baselines as bl

V = 19


def lbc_config(**kw) -> WaveLBCConfig:
    cfg = dict(vocab_size=V, input_size=3, hidden_size=16, num_heads=2, head_dim=4, history_length=4,
               num_hidden_layers=2, initializer_range=0.2)
    return WaveLBCConfig(**{**cfg, **kw})


def sbc_config(mode: str, **kw) -> WaveSBCConfig:
    cfg = dict(vocab_size=V, input_size=3, hidden_size=16, num_heads=2, history_length=4, num_hidden_layers=2,
               substrate_mode=mode, use_mlp=True, initializer_range=0.2)
    return WaveSBCConfig(**{**cfg, **kw})


def elman_config(**kw) -> bl.ElmanRNNConfig:
    return bl.ElmanRNNConfig(**{**dict(vocab_size=V, input_size=3, hidden_size=8, num_hidden_layers=2), **kw})


def lstm_config(**kw) -> bl.LSTMConfig:
    return bl.LSTMConfig(**{**dict(vocab_size=V, input_size=3, hidden_size=8, num_hidden_layers=2), **kw})


FAMILIES = {  # name -> (config factory, Model, ForCausalLM, ForPrediction)
    "lbc": (lbc_config, wave_lbc.WaveLBCModel, wave_lbc.WaveLBCForCausalLM, wave_lbc.WaveLBCForPrediction),
    "lbc_hybrid": (lambda **kw: lbc_config(attention_layers=[1], **kw), wave_lbc.WaveLBCModel,
                   wave_lbc.WaveLBCForCausalLM, wave_lbc.WaveLBCForPrediction),
    "sbc_window": (lambda **kw: sbc_config("window", **kw), wave_sbc.WaveSBCModel, wave_sbc.WaveSBCForCausalLM,
                   wave_sbc.WaveSBCForPrediction),
    "sbc_stream": (lambda **kw: sbc_config("stream", **kw), wave_sbc.WaveSBCModel, wave_sbc.WaveSBCForCausalLM,
                   wave_sbc.WaveSBCForPrediction),
    "elman": (elman_config, bl.ElmanRNNModel, bl.ElmanRNNForCausalLM, bl.ElmanRNNForPrediction),
    "lstm": (lstm_config, bl.LSTMModel, bl.LSTMForCausalLM, bl.LSTMForPrediction),
}
KINDS = ("model", "causal_lm", "prediction")
CASES = [(family, kind) for family in FAMILIES for kind in KINDS]


def build(family: str, kind: str, **config_kw):
    make_config, *classes = FAMILIES[family]
    torch.manual_seed(0)
    return classes[KINDS.index(kind)](make_config(**config_kw)).eval()


def inputs_for(kind: str, B: int = 2, L: int = 9) -> dict:
    torch.manual_seed(1)
    if kind == "prediction":
        x = torch.randn(B, L, 3)
        return {"input_values": x, "labels": torch.randn(B, L, 3)}
    ids = torch.randint(0, V, (B, L))
    return {"input_ids": ids, "labels": ids} if kind == "causal_lm" else {"input_ids": ids}


def embeddings(model, inputs: dict) -> torch.Tensor:
    if "input_values" in inputs:
        return model.value_in(inputs["input_values"])
    return model.get_input_embeddings()(inputs["input_ids"])


@pytest.mark.parametrize("family,kind", CASES)
def test_return_dict_false_gives_the_tuple(family, kind):
    model, inputs = build(family, kind), inputs_for(kind)
    with torch.no_grad():
        ref = model(**inputs, use_cache=False)
        got = model(**inputs, use_cache=False, return_dict=False)
        assert isinstance(got, tuple) and len(got) == len(ref.to_tuple())
        for a, b in zip(got, ref.to_tuple()):
            assert torch.equal(a, b)
        if kind == "model":
            (last,) = got
            assert torch.equal(last, ref.last_hidden_state)
        else:
            loss, out = got  # `loss, logits = model(..., labels=..., return_dict=False)`
            assert torch.equal(loss, ref.loss) and torch.equal(out, ref[1])
        model.config.return_dict = False  # the config's switch (its older name `use_return_dict` is accepted too)
        assert isinstance(model(**inputs, use_cache=False), tuple)
        assert not type(model.config)(use_return_dict=False).return_dict


@pytest.mark.parametrize("family,kind", CASES)
def test_hidden_states_as_llama(family, kind):
    """num_hidden_layers + 1 entries: the input of every block (recorded by hooks), then the output after the final
    norm (== last_hidden_state); config.output_hidden_states is honoured."""
    model, inputs = build(family, kind, output_hidden_states=True), inputs_for(kind)
    base = model if kind == "model" else model.model
    block_inputs = []
    hooks = [layer.register_forward_pre_hook(lambda mod, args, kw: block_inputs.append(args[0] if args else
                                                                                        next(iter(kw.values()))),
                                             with_kwargs=True)
             for layer in base.layers]
    try:
        with torch.no_grad():
            out = model(**inputs, use_cache=False)
            last = base(inputs_embeds=embeddings(model, inputs), use_cache=False).last_hidden_state
    finally:
        for h in hooks:
            h.remove()
    hs = out.hidden_states
    assert len(hs) == model.config.num_hidden_layers + 1
    assert torch.equal(hs[-1], last)
    assert torch.equal(hs[0], embeddings(model, inputs))
    if family != "sbc_window":  # window mode runs every block on each window: its hidden states are per window
        for i in range(1, model.config.num_hidden_layers):
            assert torch.equal(hs[i], block_inputs[i])
    model.config.output_hidden_states = False
    with torch.no_grad():
        assert model(**inputs, use_cache=False).hidden_states is None
        assert len(model(**inputs, use_cache=False, output_hidden_states=True).hidden_states) == len(hs)


@pytest.mark.parametrize("family", ["lbc", "elman", "lstm"])
def test_models_without_attention_weights_warn(family):
    model, inputs = build(family, "causal_lm"), inputs_for("causal_lm")
    with pytest.warns(UserWarning, match="has no attention weights"):
        out = model(**inputs, output_attentions=True)
    assert out.attentions is None


def _band_violations(weights: torch.Tensor, S: int, num_prefix: int = 0) -> torch.Tensor:
    """Weights at keys a query cannot see: later columns, or S or more columns back."""
    T, K = weights.shape[-2:]
    q = torch.arange(T)[:, None] + num_prefix
    k = torch.arange(K)[None]
    outside = (k > q) | (q - k >= S)
    return weights[..., outside]


@pytest.mark.parametrize("mode", ["window", "stream"])
def test_sbc_attention_weights(mode):
    """(B, H, L, keys) per layer; each query's weights sum to 1 over the columns of its substrate; asking for them
    does not change the outputs; padding has no weight and gets none."""
    model = build(f"sbc_{mode}", "causal_lm")
    S = model.config.history_length
    ids = torch.randint(0, V, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[0, :3] = 0  # left padding
    with torch.no_grad():
        plain = model(ids, attention_mask=mask, use_cache=False)
        out = model(ids, attention_mask=mask, use_cache=False, output_attentions=True)
    torch.testing.assert_close(out.logits, plain.logits, rtol=0, atol=1e-5)
    assert len(out.attentions) == model.config.num_hidden_layers
    for w in out.attentions:
        assert w.shape == (2, model.config.num_heads, 9, 9)
        torch.testing.assert_close(w[1].sum(-1), torch.ones(2, 9))
        torch.testing.assert_close(w[0, :, 3:].sum(-1), torch.ones(2, 6))
        assert torch.count_nonzero(w[0, :, :3]) == 0 and torch.count_nonzero(w[0, :, :, :3]) == 0
        assert torch.count_nonzero(_band_violations(w, S)) == 0
        assert torch.count_nonzero(w[1, :, 8, 8 - S + 1 :]) == model.config.num_heads * S
    # weights over an unpadded row == those of the same tokens after the padding
    with torch.no_grad():
        alone = model(ids[:1, 3:], use_cache=False, output_attentions=True).attentions
    for w, a in zip(out.attentions, alone):
        torch.testing.assert_close(w[0, :, 3:, 3:], a[0], rtol=0, atol=1e-6)
    # continuing a cache: the keys are the cached columns read (stream: S, window: S - 1) and the new positions
    with torch.no_grad():
        first = model(ids[:, :5], use_cache=True)
        more = model(ids[:, 5:], cache=first.cache, use_cache=True, output_attentions=True)
    prefix = S if mode == "stream" else S - 1
    assert more.attentions[0].shape == (2, model.config.num_heads, 4, prefix + 4)
    with torch.no_grad():  # the config's switch (transformers' rule: it needs the eager attention implementation)
        from_config = build(f"sbc_{mode}", "causal_lm", output_attentions=True)(ids, use_cache=False).attentions
    assert len(from_config) == model.config.num_hidden_layers
    assert torch.count_nonzero(_band_violations(more.attentions[0], S, prefix)) == 0
    torch.testing.assert_close(more.attentions[-1][1].sum(-1), torch.ones(2, 4))


@pytest.mark.parametrize("family,kind", CASES)
def test_bfloat16_load_leaves_nothing_in_float32(family, kind, tmp_path):
    build(family, kind).save_pretrained(tmp_path)
    _, *classes = FAMILIES[family]
    low = classes[KINDS.index(kind)].from_pretrained(tmp_path, dtype=torch.bfloat16)
    tensors = list(low.named_parameters()) + list(low.named_buffers())
    wrong = [name for name, t in tensors if t.is_floating_point() and t.dtype != torch.bfloat16]
    assert not wrong, wrong


def test_causal_lm_classes_inherit_generation_mixin_directly():
    classes = [causal for _, _, causal, _ in FAMILIES.values()] + [bl.IRNNForCausalLM, bl.KellerWaveRNNForCausalLM]
    for cls in classes:
        assert GenerationMixin in cls.__bases__, cls.__name__
        assert cls.can_generate() and cls._can_compile_fullgraph, cls.__name__
        assert AutoModelForCausalLM._model_mapping[cls.config_class] is cls


def test_elman_compiles_fullgraph():
    """One full-graph compile per family: the wave families' compile tests (hf_checks.check_compile_matches_eager)
    use fullgraph=True; this is the baselines' (torch's fused RNN kernel)."""
    model, ids = build("elman", "causal_lm"), torch.randint(0, V, (2, 7))
    with torch.no_grad():
        eager = model(ids, use_cache=False).logits
        compiled = torch.compile(model, fullgraph=True)(ids, use_cache=False).logits
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-5)


class _Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits


@pytest.mark.parametrize("mode", ["window", "stream"])
def test_sbc_exports_with_a_dynamic_length(mode):
    """torch.export with a dynamic sequence length: any L in window mode, L a multiple of history_length (> S) in
    stream mode (the blocked attention cuts L into L / S blocks). The LBC and the baselines do not export with a
    dynamic length (their modelling docstrings say why)."""
    model = build(f"sbc_{mode}", "causal_lm")
    S = model.config.history_length
    k = torch.export.Dim("k", min=2, max=64)
    length = k if mode == "window" else S * k
    program = torch.export.export(_Logits(model), (torch.randint(0, V, (2, 2 * S)),), dynamic_shapes=({1: length},))
    for L in (3 * S, 5 * S):
        ids = torch.randint(0, V, (2, L))
        with torch.no_grad():
            torch.testing.assert_close(program.module()(ids), model(ids, use_cache=False).logits, rtol=0, atol=1e-5)


def _storage_bytes(cache) -> int:
    return sum(t.untyped_storage().nbytes() for layer in cache.layers for i, t in layer.recurrent_states.items()
               if layer.has_previous_state[i])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cache_keeps_copies_not_views_of_the_prompt(family):
    """The cache's tensor storage after a 10-token and a 200-token prompt is the same number of bytes."""
    model = build(family, "causal_lm")
    sizes = []
    for L in (10, 200):
        with torch.no_grad():
            cache = model(torch.randint(0, V, (1, L)), use_cache=True).cache
        sizes.append(_storage_bytes(cache))
    assert sizes[0] == sizes[1] > 0, sizes


@pytest.mark.parametrize("family", ["lbc", "lbc_hybrid", "sbc_stream"])
def test_peft_lora_train_save_load_merge(family, tmp_path):
    peft = pytest.importorskip("peft")
    model_type = FAMILIES[family][0]().model_type
    make = lambda: build(family, "causal_lm")  # noqa: E731
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=PEFT_TARGET_MODULES[model_type],
                             init_lora_weights=False)
    model = peft.get_peft_model(make().train(), config)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    ids = torch.randint(0, V, (2, 12))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(4):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        assert all((p.grad is not None) == (n in trainable) for n, p in model.named_parameters())
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    model.eval()
    with torch.no_grad():
        ref = model(input_ids=ids, use_cache=False).logits
    model.save_pretrained(tmp_path)
    loaded = peft.PeftModel.from_pretrained(make(), tmp_path).eval()
    merged = loaded.merge_and_unload()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(ids, use_cache=False).logits, ref, rtol=0, atol=1e-5)
        torch.testing.assert_close(make()(ids, use_cache=False).logits.ne(ref).any(), torch.tensor(True))


def test_lm_eval_hflm_loglikelihood_matches_the_model():
    huggingface = pytest.importorskip("lm_eval.models.huggingface")
    from lm_eval.api.instance import Instance

    model = build("lbc", "causal_lm")
    tokenizer = build_word_tokenizer(V)
    lm = huggingface.HFLM(pretrained=model, tokenizer=tokenizer, device="cpu", batch_size=1)
    requests = [("t3 t5 t7", " t2 t9"), ("t1 t4", " t11")]
    instances = [Instance(request_type="loglikelihood", doc={}, arguments=req, idx=i) for i, req in enumerate(requests)]
    results = lm.loglikelihood(instances)
    for (context, continuation), (logprob, _) in zip(requests, results):
        ctx = tokenizer(context)["input_ids"]
        cont = tokenizer(continuation.strip())["input_ids"]
        ids = torch.tensor([ctx + cont])
        with torch.no_grad():
            logp = model(ids, use_cache=False).logits.float().log_softmax(-1)[0]
        expected = sum(logp[len(ctx) - 1 + j, tok].item() for j, tok in enumerate(cont))
        assert math.isclose(logprob, expected, rel_tol=0, abs_tol=1e-4), (logprob, expected)
