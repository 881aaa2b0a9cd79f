"""Packed sequences (several documents in one row, as transformers' ``DataCollatorWithFlattening`` builds them) in
every model: each document runs exactly as it would alone, in every form of the packing inputs."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
from transformers import DataCollatorWithFlattening, Trainer, TrainingArguments

from tests.models.test_conventions import V, build, elman_config, lbc_config, lstm_config, sbc_config
from wave_hf.models import WaveCache, WaveLBCForCausalLM, WaveLBCForPrediction, WaveSBCForCausalLM
from wave_hf.models import baselines as bl

DOCS = (1, 6, 140, 1, 9)  # documents of length 1, and one spanning several 64-position chunks


def packing_inputs(lengths) -> dict[str, dict]:
    """The four forms of the same packed row: position_ids, the flash kwargs, seq_idx, fla's cu_seqlens."""
    bounds = torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32)
    position_ids = torch.cat([torch.arange(n) for n in lengths])[None]
    seq_idx = torch.cat([torch.full((n,), i, dtype=torch.int32) for i, n in enumerate(lengths)])[None]
    flash = dict(cu_seq_lens_q=bounds, cu_seq_lens_k=bounds, max_length_q=max(lengths), max_length_k=max(lengths))
    return {"position_ids": {"position_ids": position_ids}, "flash": flash, "seq_idx": {"seq_idx": seq_idx},
            "cu_seqlens": {"cu_seqlens": bounds.long()}}


def check_documents_run_alone(model, lengths=DOCS, atol: float = 1e-5) -> None:
    """Each document's logits equal those of its own run (float32, ``atol``), and the gradient of one document's
    outputs with respect to another document's input embeddings is exactly zero."""
    model.eval()
    torch.manual_seed(2)
    embeds = torch.randn(1, sum(lengths), model.config.hidden_size)
    position_ids = packing_inputs(lengths)["position_ids"]["position_ids"]
    x = embeds.clone().requires_grad_(True)
    packed = model(inputs_embeds=x, use_cache=False, **{"position_ids": position_ids}).logits
    starts = [0, *itertools.accumulate(lengths)]
    for i, (lo, hi) in enumerate(zip(starts[:-1], starts[1:])):
        with torch.no_grad():
            alone = model(inputs_embeds=embeds[:, lo:hi], use_cache=False).logits
        torch.testing.assert_close(packed[:, lo:hi], alone, rtol=0, atol=atol, msg=f"document {i}")
        (grad,) = torch.autograd.grad((packed[:, lo:hi] * torch.randn_like(alone)).sum(), x, retain_graph=True)
        outside = torch.cat([grad[:, :lo], grad[:, hi:]], dim=1)
        assert torch.count_nonzero(outside) == 0, f"document {i} depends on another document"
        assert torch.count_nonzero(grad[:, lo:hi]) > 0


LBC_VARIANTS = list(itertools.product(("none", "diagonal", "dense"), ("boundary", "fir"), ("none", "qkv")))


@pytest.mark.parametrize("boundary,readout,gating", LBC_VARIANTS)
def test_lbc_documents_run_alone(boundary, readout, gating):
    torch.manual_seed(0)
    config = lbc_config(boundary=boundary, readout=readout, gating=gating, boundary_init_scale=0.5,
                        memory_halflife_max=64.0)
    check_documents_run_alone(WaveLBCForCausalLM(config))


@pytest.mark.parametrize("mode", ["window", "stream"])
def test_sbc_documents_run_alone(mode):
    torch.manual_seed(0)
    check_documents_run_alone(WaveSBCForCausalLM(sbc_config(mode)))


@pytest.mark.parametrize("make_config,cls", [(elman_config, bl.ElmanRNNForCausalLM), (lstm_config, bl.LSTMForCausalLM)])
def test_baseline_documents_run_alone(make_config, cls):
    torch.manual_seed(0)
    check_documents_run_alone(cls(make_config()), lengths=(1, 5, 30, 1, 7))


@pytest.mark.parametrize("family", ["lbc", "sbc_window", "sbc_stream", "elman"])
def test_every_packing_form_gives_the_same_outputs(family):
    model = build(family, "causal_lm")
    lengths = (3, 1, 12, 5)
    ids = torch.randint(0, V, (1, sum(lengths)))
    with torch.no_grad():
        outs = {name: model(ids, use_cache=False, **kw).logits for name, kw in packing_inputs(lengths).items()}
        unpacked = model(ids, use_cache=False).logits
    for name, logits in outs.items():
        torch.testing.assert_close(logits, outs["position_ids"], rtol=0, atol=1e-6, msg=name)
    assert not torch.allclose(outs["position_ids"][:, 4:], unpacked[:, 4:])  # the documents were separated


def test_prediction_head_and_base_model_take_packing_inputs():
    torch.manual_seed(0)
    model = WaveLBCForPrediction(lbc_config(boundary_init_scale=0.5)).eval()
    x = torch.randn(1, 11, 3)
    position_ids = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3]])
    with torch.no_grad():
        packed = model(x, position_ids=position_ids, use_cache=False).predictions
        for lo, hi in ((0, 4), (4, 7), (7, 11)):
            torch.testing.assert_close(packed[:, lo:hi], model(x[:, lo:hi], use_cache=False).predictions,
                                       rtol=0, atol=1e-5)
        hidden = model.model(inputs_embeds=model.value_in(x), position_ids=position_ids).last_hidden_state
    torch.testing.assert_close(model.value_out(hidden), packed, rtol=0, atol=1e-6)


def test_position_ids_pack_each_row_of_a_batch():
    """position_ids (B, L) describe each row's own documents (only the bounds forms need B == 1)."""
    model = build("lbc", "causal_lm", boundary_init_scale=0.5)
    ids = torch.randint(0, V, (2, 8))
    position_ids = torch.tensor([[0, 1, 2, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 0, 1]])
    with torch.no_grad():
        packed = model(ids, position_ids=position_ids, use_cache=False).logits
        for b, cut in ((0, 3), (1, 6)):
            for lo, hi in ((0, cut), (cut, 8)):
                alone = model(ids[b : b + 1, lo:hi], use_cache=False).logits[0]
                torch.testing.assert_close(packed[b, lo:hi], alone, rtol=0, atol=1e-5)


def test_position_ids_of_one_document_change_nothing():
    """Position ids that count up from 0 (or continue a cache, as generate passes them) describe one document."""
    model = build("lbc", "causal_lm", boundary_init_scale=0.5)
    ids = torch.randint(0, V, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[0, :2] = 0
    generate_style = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)  # 0 at the padding and the first token
    with torch.no_grad():
        plain = model(ids, attention_mask=mask).logits
        torch.testing.assert_close(model(ids, attention_mask=mask, position_ids=generate_style).logits, plain)
        first = model(ids[:, :5], use_cache=True)
        cont = model(ids[:, 5:], cache=first.cache, position_ids=torch.arange(5, 8).expand(2, 3)).logits
    torch.testing.assert_close(cont, model(ids, use_cache=False).logits[:, 5:], rtol=0, atol=1e-5)


def test_bad_packing_inputs():
    model = build("lbc", "causal_lm")
    ids = torch.randint(0, V, (1, 6))
    bounds = torch.tensor([0, 2, 6], dtype=torch.int32)
    two_docs = torch.tensor([[0, 1, 0, 1, 2, 3]])
    with pytest.raises(ValueError, match=r"need a batch of one row \(B == 1\); got B = 2"):
        model(ids.expand(2, 6), cu_seq_lens_q=bounds, cu_seq_lens_k=bounds, use_cache=False)
    with pytest.raises(ValueError, match=r"\['seq_idx'\] describe one packed row"):
        model(ids.expand(2, 6), seq_idx=torch.zeros(2, 6, dtype=torch.int32), use_cache=False)
    with pytest.raises(ValueError, match="packing inputs disagree: `cu_seq_lens_q` and `position_ids`"):
        model(ids, cu_seq_lens_q=torch.tensor([0, 3, 6]), position_ids=two_docs, use_cache=False)
    with pytest.raises(ValueError, match="disagree: `cu_seq_lens_q` and `cu_seq_lens_k`"):
        model(ids, cu_seq_lens_q=bounds, cu_seq_lens_k=torch.tensor([0, 3, 6]), use_cache=False)
    with pytest.raises(ValueError, match=r"`max_length_q` \(3\) disagrees"):
        model(ids, cu_seq_lens_q=bounds, max_length_q=3, use_cache=False)
    with pytest.raises(ValueError, match="`max_length_k` needs `cu_seq_lens_q`"):
        model(ids, max_length_k=3, use_cache=False)
    with pytest.raises(ValueError, match=r"`cu_seqlens` must rise from 0 to L = 6 \(non-decreasing\); got \[0, 2, 5\]"):
        model(ids, cu_seqlens=torch.tensor([0, 2, 5]), use_cache=False)
    with pytest.raises(ValueError, match="`cu_seqlens` must be a 1-D integer tensor"):
        model(ids, cu_seqlens=torch.tensor([0.0, 6.0]), use_cache=False)
    with pytest.raises(ValueError, match="count up by one"):
        model(ids, position_ids=torch.tensor([[0, 1, 0, 5, 6, 7]]), use_cache=False)
    with pytest.raises(ValueError, match=r"`position_ids` must have shape \(B, L\) = \(1, 6\)"):
        model(ids, position_ids=torch.zeros(1, 5, dtype=torch.long), use_cache=False)
    with pytest.raises(ValueError, match="cannot be combined with padding"):
        model(ids, attention_mask=torch.tensor([[1, 1, 1, 1, 1, 0]]), position_ids=two_docs, use_cache=False)
    with pytest.raises(ValueError, match="cannot be used with a cache"):
        model(ids, position_ids=two_docs, use_cache=True)
    with pytest.raises(ValueError, match="cannot be used with a cache"):
        model(ids, position_ids=two_docs, cache=WaveCache.from_config(model.config))
    # in eval mode the default (use_cache=None) simply builds no cache for a packed row
    assert model(ids, position_ids=two_docs).cache is None


@pytest.mark.parametrize("family", ["lbc", "sbc_stream"])
def test_trainer_with_data_collator_with_flattening(family, tmp_path):
    """transformers.Trainer + DataCollatorWithFlattening (padding-free packing) trains a tiny model."""
    datasets = pytest.importorskip("datasets")
    torch.manual_seed(0)
    model = build(family, "causal_lm").train()
    rows = [[(3 * i + j) % V for j in range(n)] for i, n in enumerate((7, 12, 3, 9, 15, 5, 11, 8))]
    dataset = datasets.Dataset.from_dict({"input_ids": rows})
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=6, learning_rate=3e-2,
                             report_to="none", logging_steps=1, save_strategy="no", use_cpu=True, disable_tqdm=True)
    before = [p.detach().clone() for p in model.parameters()]
    collator = DataCollatorWithFlattening(return_flash_attn_kwargs=True, return_seq_idx=True)
    seen = []
    forward = model.forward

    @functools.wraps(forward)  # the Trainer keeps the dataset columns the forward's signature names
    def recording_forward(*args, **kwargs):
        seen.append(sorted(kwargs))
        return forward(*args, **kwargs)

    model.forward = recording_forward
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0], losses
    assert {"position_ids", "cu_seq_lens_q", "seq_idx"} <= set(seen[0])
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
