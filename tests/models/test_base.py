"""The shared model machinery (configuration_utils, cache, modeling_utils, heads of wave_hf.models) and the reusable
HF checks, on a toy family."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForTimeSeriesPrediction,
    GenerationConfig,
)

from tests.models import hf_checks
from tests.models.toy_family import ToyConfig, ToyForCausalLM, ToyForPrediction, ToyModel
from wave_hf.models import WaveCache, masked_mse

VOCAB = 23


def make_lm(**kw) -> ToyForCausalLM:
    torch.manual_seed(0)
    cfg = dict(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, initializer_range=0.5, tie_word_embeddings=True)
    cfg.update(kw)
    return ToyForCausalLM(ToyConfig(**cfg)).eval()


@pytest.fixture
def ids():
    return torch.randint(1, VOCAB, (2, 9))


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['hidden_sise'\].*hidden_size"):
        ToyConfig(hidden_sise=3)
    with pytest.raises(ValueError, match="`hidden_size` must be an integer >= 1"):
        ToyConfig(hidden_size=0)
    with pytest.raises(ValueError, match="`max_sequence_length`"):
        ToyConfig(max_sequence_length=-2)
    cfg = AutoConfig.for_model("wave_toy_test", hidden_size=12)
    assert isinstance(cfg, ToyConfig) and cfg.hidden_size == 12


def test_auto_classes_resolve():
    cfg = ToyConfig(vocab_size=VOCAB)
    assert type(AutoModel.from_config(cfg)) is ToyModel
    assert type(AutoModelForCausalLM.from_config(cfg)) is ToyForCausalLM
    assert type(AutoModelForTimeSeriesPrediction.from_config(cfg)) is ToyForPrediction


def test_tied_embeddings():
    m = make_lm()
    assert m.lm_head.weight is m.model.embed_tokens.weight
    assert make_lm(tie_word_embeddings=False).lm_head.weight is not make_lm().model.embed_tokens.weight


def test_roundtrip(ids):
    hf_checks.check_save_load_roundtrip(make_lm(), AutoModelForCausalLM, {"input_ids": ids})


def test_chunked_prefill_and_generate(ids):
    m = make_lm()
    hf_checks.check_chunked_prefill(m, ids, splits=[1, 4, 5])
    hf_checks.check_generate_matches_no_cache(m, ids)


def test_padding_checks_pass_and_catch_leaks():
    m = make_lm()
    prompts = [torch.randint(1, VOCAB, (n,)) for n in (3, 7, 5)]
    hf_checks.check_left_padding(m, prompts, pad_id=0)
    hf_checks.check_right_padding_prefill(m, prompts, torch.tensor([4, 5, 6]), pad_id=0)
    for block in m.model.layers:  # a model that lets padding drive its state must fail the check
        block.mask_padding = False
    with pytest.raises(AssertionError):
        hf_checks.check_left_padding(m, prompts, pad_id=0)


def test_pipeline():
    hf_checks.check_pipeline(make_lm(), VOCAB)


def test_gradient_checkpointing(ids):
    hf_checks.check_gradient_checkpointing(lambda: make_lm(), {"input_ids": ids, "labels": ids})


def test_causality(ids):
    m = make_lm()
    hf_checks.check_causality(m, m.model.embed_tokens(ids).detach())


def test_cache_contract(ids):
    m = make_lm()
    out = m(ids, use_cache=True)
    assert isinstance(out.cache, WaveCache) and out.cache.seen_tokens == ids.shape[1]
    state = out.cache.get_state(0, "substrate")
    assert state.shape == (2, 1, 3, 16)  # (B, H, S, D): independent of the context length
    with pytest.raises(ValueError, match="batch of 2 sequences but the input has 1"):
        m(ids[:1], cache=out.cache)
    with pytest.raises(TypeError, match="needs a WaveCache"):
        m(ids, cache=object())
    with pytest.raises(NotImplementedError, match="cannot be rolled back"):
        out.cache.crop(-1)


def test_bad_inputs(ids):
    m = make_lm(max_sequence_length=10)
    with pytest.raises(TypeError, match="`input_ids` must be an integer tensor"):
        m(ids.float())
    with pytest.raises(ValueError, match=r"`input_ids` must lie in \[0, vocab_size=23\)"):
        m(ids + VOCAB)
    with pytest.raises(ValueError, match="exceeds max_sequence_length=10"):
        m(torch.randint(0, VOCAB, (1, 11)))
    with pytest.raises(ValueError, match="`attention_mask` must have shape"):
        m(ids, attention_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="must contain only 0 \\(padding\\) and 1"):
        m(ids, attention_mask=torch.full_like(ids, 2))
    with pytest.raises(ValueError, match=r"at least one position \(L >= 1\)"):
        m(ids[:, :0])
    with pytest.raises(ValueError, match="assisted generation is not supported"):
        m.generate(ids, max_new_tokens=2, assistant_model=m)
    with pytest.raises(ValueError, match=r"assisted generation is not supported \(asked for by \['prompt_lookup"):
        m.generate(ids, max_new_tokens=2, prompt_lookup_num_tokens=2)
    with pytest.raises(ValueError, match="cannot be rolled back"):
        m.generate(ids, generation_config=GenerationConfig(max_new_tokens=2, prompt_lookup_num_tokens=2))


def test_prediction_head_loss_mask_and_rollout():
    torch.manual_seed(0)
    p = ToyForPrediction(ToyConfig(vocab_size=None, input_size=3, hidden_size=8, initializer_range=0.3)).eval()
    x, y = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    mask = torch.zeros(2, 6)
    mask[:, 3:] = 1
    out = p(x, labels=y, loss_mask=mask)
    expected = ((out.predictions - y) ** 2)[:, 3:].mean()
    assert torch.allclose(out.loss, expected)
    assert torch.allclose(masked_mse(out.predictions, y, None), ((out.predictions - y) ** 2).mean())
    # rollout == feeding each prediction back by hand, without a cache
    roll = p.rollout(x[:, :4], steps=3)
    seq = x[:, :4]
    for k in range(3):
        nxt = p(seq, use_cache=False).predictions[:, -1:]
        assert torch.allclose(roll[:, k : k + 1], nxt, atol=1e-6)
        seq = torch.cat([seq, nxt], dim=1)
    hf_checks.check_causality(p, x, input_key="input_values", output_key="predictions")
    with pytest.raises(ValueError, match="input_size=3"):
        p(torch.randn(2, 6, 4))
    with pytest.raises(TypeError, match="floating-point"):
        p(torch.ones(2, 6, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="`labels` must have shape"):
        p(x, labels=y[:, :2])
