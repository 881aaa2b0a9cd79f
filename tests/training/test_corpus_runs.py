"""Training on a corpus: the logs (train loss, validation bits per byte, tokens/s), result.json and the model card,
the rows' position_ids reaching the model, resume, the shipped stdlib run configs, and FSDP on CPU."""

from __future__ import annotations

import functools
import gc
import json

import pytest
import torch
from transformers import LlamaForCausalLM

from wave_hf.training import RunConfigError, evaluate, load_run_config, prepare_run, train
from wave_hf.training.corpora import corpus_splits
from wave_hf.training.loading import load_trained_model
from wave_hf.training.logs import read_csv

from .conftest import corpus_config, reset_accelerate, write_tiny_corpus


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus") / "docs")


def test_a_corpus_run_logs_and_reports_bits_per_byte(tmp_path, docs, monkeypatch):
    seen = []
    forward = LlamaForCausalLM.forward

    @functools.wraps(forward)
    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("position_ids"))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "forward", spy)
    out = tmp_path / "run"
    cfg = corpus_config(out, docs, steps=3, evaluation={"every": 2, "batches": 2, "batch_size": 2},
                        optim={"batch_size": 4})
    res = train(cfg)
    # every forward (check, training, evaluation) got the rows' position_ids, which restart at document starts
    assert seen and all(p is not None for p in seen) and any(bool((p[:, 1:] == 0).any()) for p in seen)
    rows = read_csv(out / "logs" / "train.csv")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [r["tokens"] for r in rows] == [4 * 16, 8 * 16, 12 * 16] and all(r["tokens_per_s"] > 0 for r in rows)
    assert all(0 < r["bits_per_byte"] < 20 and r["loss"] > 0 for r in rows)
    evals = read_csv(out / "logs" / "eval.csv")
    assert [e["step"] for e in evals] == [2, 3]
    assert all(e["perplexity"] == pytest.approx(torch.tensor(e["loss"]).exp().item(), rel=1e-6) for e in evals)
    # result.json carries the final validation bits per byte, which evaluate() on the saved model reproduces
    saved = json.loads((out / "result.json").read_text())
    assert saved["metric"] == "bits_per_byte" == res.metric
    assert saved["test_metrics"]["bits_per_byte"] == pytest.approx(evals[-1]["bits_per_byte"], rel=1e-12)
    model = load_trained_model(out)
    validation = corpus_splits(cfg["dataset"])["validation"]
    again = evaluate(model, validation, max_rows=4, batch_size=2)
    assert again["bits_per_byte"] == pytest.approx(saved["test_metrics"]["bits_per_byte"], rel=1e-5)
    # the model card: Hub metadata and the snippet that reproduces the number
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "model" / "README.md")
    (result,) = card.data.eval_results
    assert (result.metric_type, result.dataset_split, result.dataset_type) == (
        "bits_per_byte", "validation", "wave_hf/corpus/docs")
    assert result.metric_value == pytest.approx(saved["test_metrics"]["bits_per_byte"])
    assert card.data.pipeline_tag == "text-generation"
    assert "corpus_splits(" in card.text and "max_rows=4" in card.text and "| validation |" in card.text


def test_resume_continues_with_the_same_rows(tmp_path, docs):
    def cfg(out):
        return corpus_config(out, docs, steps=4, optim={"batch_size": 4}, checkpointing={"every": 2})

    train(cfg(tmp_path / "straight"))
    train(cfg(tmp_path / "resumed"), ["--steps=2"])
    reset_accelerate()
    gc.collect()  # releases the first run's output-folder lock (held by the finished run's objects)
    train(cfg(tmp_path / "resumed"), resume=True)
    a, b = (read_csv(tmp_path / name / "logs" / "train.csv") for name in ("straight", "resumed"))
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6) and ra["tokens"] == rb["tokens"]


TINY = {  # shrink the ~10M-parameter models of the shipped configs to a few thousand parameters
    "lm_stdlib_lbc": ["--model.num_heads=2", "--model.head_dim=16", "--model.history_length=4"],
    "lm_stdlib_sbc": ["--model.num_attention_heads=2", "--model.history_length=8"],
    "lm_stdlib_llama": ["--model.num_attention_heads=2", "--model.num_key_value_heads=2"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_shipped_stdlib_configs(tmp_path, docs, name):
    data = [f"--dataset.corpus={docs}", "--dataset.include='*.txt'", "--dataset.block_size=16",
            f"--dataset.cache_dir={tmp_path / 'cache'}"]
    assert load_run_config(name).dataset.corpus == "stdlib"
    full = prepare_run(name, data, check_forward=False)
    assert 9.5e6 < sum(p.numel() for p in full.model.parameters()) < 11.5e6
    assert full.model_config.vocab_size == 258
    small = ["--model.hidden_size=32", "--model.num_hidden_layers=1", "--model.intermediate_size=64", *TINY[name]]
    run = [f"--output_dir={tmp_path / 'run'}", "--steps=2", "--optim.batch_size=2", "--evaluation.batches=1",
           "--evaluation.batch_size=2", "--checkpointing.every=0", "--logging.progress_bar=false",
           "--logging.tensorboard=off", "--logging.every=1", "--num_threads=1"]
    res = train(name, data + small + run)
    assert res.steps == 2 and 0 < res.test_metrics["bits_per_byte"] < 20
    assert len(read_csv(tmp_path / "run" / "logs" / "train.csv")) == 2


def test_fsdp_is_refused_where_accelerate_cannot_shard(tmp_path, docs, monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(RunConfigError, match=r"FSDP was requested .* accelerate shards only on GPUs/accelerators, "
                                             r"not on CPU"):
        train(corpus_config(tmp_path / "run", docs, steps=1))
