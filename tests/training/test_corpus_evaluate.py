"""``evaluate(model, corpus_split)``: loss, perplexity and bits per byte on packed corpus rows, checked against a
computation from the raw documents that shares nothing with ``load_corpus``'s bookkeeping or the trainer's loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from wave_hf.data import ByteTokenizer, load_corpus
from wave_hf.training import evaluate

from .conftest import write_tiny_corpus

B = 16  # block size


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    folder = write_tiny_corpus(root / "docs")
    docs = [p.read_bytes() for p in sorted(folder.glob("*.txt"))]
    split = load_corpus(folder, block_size=B, validation_fraction=0.0, include="*.txt",
                        cache_dir=root / "cache")["train"]
    return docs, split


@pytest.fixture(scope="module")
def llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=ByteTokenizer.vocab_size, hidden_size=16, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=32, num_hidden_layers=1, max_position_embeddings=64,
                         initializer_range=0.5)  # large weights: attention across documents changes the loss
    return LlamaForCausalLM(config).eval()


def _packed_by_hand(docs: list[bytes]):
    """Rows of the documents concatenated in order and cut every B bytes (last row padded with the pad id), the
    position of each byte in its document, and which bytes a causal LM scores: every byte that is not the first of
    its document, not padding, and not the first of its row (nothing before it in the row)."""
    stream = b"".join(docs)
    starts = set(np.cumsum([0] + [len(d) for d in docs[:-1]]).tolist())
    n_rows = math.ceil(len(stream) / B)
    ids = np.full(n_rows * B, ByteTokenizer.pad_token_id, dtype=np.int64)
    ids[:len(stream)] = np.frombuffer(stream, dtype=np.uint8)
    pos = np.zeros(n_rows * B, dtype=np.int64)
    for g in range(1, n_rows * B):
        pos[g] = 0 if g in starts else pos[g - 1] + 1
    scored = np.array([g < len(stream) and g not in starts and g % B != 0 for g in range(n_rows * B)])
    return ids.reshape(n_rows, B), pos.reshape(n_rows, B), scored.reshape(n_rows, B)


def _loss_sum_by_hand(model, ids, pos, scored, position_ids: bool = True) -> float:
    total = 0.0
    with torch.no_grad():
        for r in range(len(ids)):
            kwargs = {"position_ids": torch.as_tensor(pos[r:r + 1])} if position_ids else {}
            out = model(input_ids=torch.as_tensor(ids[r:r + 1]), use_cache=False, **kwargs)  # no cache: packed mask
            logp = torch.log_softmax(out.logits[0].double(), -1)
            for p in np.flatnonzero(scored[r]):
                total -= float(logp[p - 1, ids[r, p]])
    return total


def test_bits_per_byte_counts_exactly_the_scored_bytes(corpus, llama):
    docs, split = corpus
    ids, pos, scored = _packed_by_hand(docs)
    # the split's rows are the hand-packed rows (so the by-hand loss below scores the same inputs)
    assert np.array_equal(np.asarray(split["input_ids"]), ids)
    assert np.array_equal(np.asarray(split["position_ids"]), pos)
    n_scored = int(scored.sum())
    # every byte but the first of each document and of each row that starts inside a document
    rows_inside = sum(1 for r in range(1, len(ids)) if pos[r, 0] != 0)
    assert n_scored == sum(len(d) for d in docs) - len(docs) - rows_inside
    assert int(np.sum(split["num_scored_bytes"])) == n_scored

    res = evaluate(llama, split)
    loss_sum = _loss_sum_by_hand(llama, ids, pos, scored)
    assert res["num_bytes"] == res["num_tokens"] == n_scored  # one byte per token with the byte tokenizer
    assert res["num_sequences"] == len(ids)
    assert res["bits_per_byte"] == pytest.approx(loss_sum / math.log(2) / n_scored, rel=1e-5)
    assert res["loss"] == pytest.approx(loss_sum / n_scored, rel=1e-5)
    assert res["perplexity"] == pytest.approx(math.exp(res["loss"]), rel=1e-12)
    assert 0 <= res["token_accuracy"] <= 1
    # the rows' position_ids reach the model: without them Llama would attend across documents
    unpacked = _loss_sum_by_hand(llama, ids, pos, scored, position_ids=False)
    assert abs(unpacked - loss_sum) > 1e-3 * abs(loss_sum), (unpacked, loss_sum)


def test_batch_size_and_max_rows(corpus, llama):
    _, split = corpus
    full = evaluate(llama, split, batch_size=64)
    assert evaluate(llama, split, batch_size=3) == pytest.approx(full, rel=1e-6)
    head = evaluate(llama, split, max_rows=4, batch_size=3)
    assert head == pytest.approx(evaluate(llama, split.select(range(4))), rel=1e-6)
    assert head["num_sequences"] == 4 and head["num_bytes"] == int(np.sum(split.select(range(4))["num_scored_bytes"]))


def test_bad_corpus_arguments(corpus, llama):
    _, split = corpus
    with pytest.raises(ValueError, match=r"lacks the corpus column\(s\) \['position_ids'\]"):
        evaluate(llama, split.remove_columns("position_ids"))
    with pytest.raises(ValueError, match="`params` only applies to a synthetic family"):
        evaluate(llama, split, params={"horizon": 3})
    with pytest.raises(ValueError, match="max_rows must be >= 1"):
        evaluate(llama, split, max_rows=0)
    with pytest.raises(ValueError, match="`max_rows` only applies to a corpus split"):
        evaluate(llama, "linear_vb", max_rows=3)


def test_row_local_positions_restart_at_row_and_document_starts():
    from wave_hf.training.tasks import row_local_positions

    pos = torch.tensor([[5, 6, 0, 1, 2, 0, 1], [0, 1, 2, 3, 4, 5, 6], [9, 10, 11, 12, 13, 14, 15]])
    assert row_local_positions(pos).tolist() == [
        [0, 1, 0, 1, 2, 0, 1], [0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]]
