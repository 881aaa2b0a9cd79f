"""Reusable Hugging Face integration checks for every wave_hf model family.

Each function takes a model (tiny, in eval mode unless stated) and asserts one part of the transformers 5.x contract.
Family test files call them with their own configs; ``tests/models/test_base.py`` runs them on a toy family so the
checks themselves are known to catch the failures they target.

Cache checks compare logits, never only tokens: a broken cache on a tiny random model can still emit the right
tokens.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence

import torch

ATOL = 1e-5


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def check_save_load_roundtrip(model, auto_class, model_inputs: dict, output_key: str = "logits") -> None:
    """save_pretrained writes safetensors only; the Auto class reloads the same class with identical outputs; a
    bf16 load gives a bf16 model whose outputs are close."""
    model.eval()
    with torch.no_grad():
        ref = getattr(model(**model_inputs, use_cache=False), output_key)
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        files = sorted(os.listdir(d))
        assert "model.safetensors" in files, files
        assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))], files
        loaded = auto_class.from_pretrained(d).eval()
        assert type(loaded) is type(model)
        with torch.no_grad():
            out = getattr(loaded(**model_inputs, use_cache=False), output_key)
        assert torch.equal(out, ref), _max_diff(out, ref)
        low = auto_class.from_pretrained(d, dtype=torch.bfloat16).eval()
        assert low.dtype == torch.bfloat16
        with torch.no_grad():
            out_bf16 = getattr(low(**model_inputs, use_cache=False), output_key)
        scale = ref.abs().max().item() + 1e-6
        assert _max_diff(out_bf16, ref) / scale < 0.1, _max_diff(out_bf16, ref)


def check_chunked_prefill(model, input_ids: torch.Tensor, splits: Sequence[int], atol: float = ATOL) -> None:
    """Prefill in chunks (cut at ``splits``) then token-by-token == one full forward (logits within ``atol``)."""
    model.eval()
    with torch.no_grad():
        full = model(input_ids, use_cache=False).logits
        bounds = [0, *splits, input_ids.shape[1]]
        cache, pieces = None, []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi == lo:
                continue
            out = model(input_ids[:, lo:hi], cache=cache, use_cache=True)
            cache = out.cache
            pieces.append(out.logits)
        got = torch.cat(pieces, dim=1)
    assert _max_diff(got, full) <= atol, _max_diff(got, full)


def check_generate_matches_no_cache(
    model, input_ids: torch.Tensor, max_new_tokens: int = 8, atol: float = ATOL
) -> None:
    """Greedy and beam search with the cache give the same logits/tokens as recomputing from scratch; sampling runs."""
    model.eval()
    kw = dict(max_new_tokens=max_new_tokens, do_sample=False, return_dict_in_generate=True, output_logits=True)
    with_cache = model.generate(input_ids, **kw)
    without = model.generate(input_ids, use_cache=False, **kw)
    assert type(with_cache.cache).__name__ == "WaveCache"
    assert torch.equal(with_cache.sequences, without.sequences)
    diff = max(_max_diff(a, b) for a, b in zip(with_cache.logits, without.logits))
    assert diff <= atol, diff
    beams = dict(max_new_tokens=max_new_tokens // 2, num_beams=3, do_sample=False)
    assert torch.equal(model.generate(input_ids, **beams), model.generate(input_ids, use_cache=False, **beams))
    sampled = model.generate(input_ids, max_new_tokens=3, do_sample=True, num_return_sequences=2)
    assert sampled.shape == (2 * input_ids.shape[0], input_ids.shape[1] + 3)


def _pad_batch(prompts: Sequence[torch.Tensor], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), n), pad_id, dtype=torch.long)
    mask = torch.zeros(len(prompts), n, dtype=torch.long)
    for i, p in enumerate(prompts):
        sl = slice(n - len(p), n) if side == "left" else slice(0, len(p))
        ids[i, sl], mask[i, sl] = p, 1
    return ids, mask


def check_left_padding(model, prompts: Sequence[torch.Tensor], pad_id: int, max_new_tokens: int = 6) -> None:
    """A left-padded batch generates the same tokens (and logits) as each prompt alone: padding never leaks."""
    model.eval()
    ids, mask = _pad_batch(prompts, pad_id, "left")
    kw = dict(max_new_tokens=max_new_tokens, do_sample=False, return_dict_in_generate=True, output_logits=True,
              pad_token_id=pad_id)
    batched = model.generate(ids, attention_mask=mask, **kw)
    for i, p in enumerate(prompts):
        alone = model.generate(p[None], **kw)
        assert torch.equal(batched.sequences[i, ids.shape[1]:], alone.sequences[0, len(p):]), i
        diff = max(_max_diff(a[i], b[0]) for a, b in zip(batched.logits, alone.logits))
        assert diff <= 1e-4, (i, diff)


def check_right_padding_prefill(model, prompts: Sequence[torch.Tensor], next_tokens: torch.Tensor, pad_id: int) -> None:
    """After a right-padded prefill, one decode step per sequence equals the unpadded prompt + that token.

    The cache must hold each sequence's state at its last real token (transformers#48256), not after the pads.
    """
    model.eval()
    ids, mask = _pad_batch(prompts, pad_id, "right")
    with torch.no_grad():
        pre = model(ids, attention_mask=mask, use_cache=True)
        step = model(next_tokens[:, None], cache=pre.cache, use_cache=True).logits[:, -1]
        for i, p in enumerate(prompts):
            alone = model(torch.cat([p, next_tokens[i : i + 1]])[None], use_cache=False).logits[0, -1]
            assert _max_diff(step[i], alone) <= 1e-4, (i, _max_diff(step[i], alone))
            # the prefill logits at real positions are unaffected by the pads too
            real = model(p[None], use_cache=False).logits[0]
            assert _max_diff(pre.logits[i, : len(p)], real) <= 1e-4, i


def build_word_tokenizer(vocab_size: int):
    """A local word-level tokenizer with tokens t0..t{V-1} (t0 doubles as pad/eos); nothing is downloaded."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(vocab_size)}
    tok = Tokenizer(WordLevel(vocab, unk_token="t1"))
    tok.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t1", pad_token="t0", eos_token="t0")


def check_pipeline(model, vocab_size: int) -> None:
    """pipeline("text-generation") runs end to end with a locally built tokenizer and extends the prompt."""
    from transformers import pipeline

    tok = build_word_tokenizer(vocab_size)
    pipe = pipeline("text-generation", model=model.eval(), tokenizer=tok, device="cpu")
    out = pipe("t3 t5 t7 t2", max_new_tokens=4, do_sample=False)
    text = out[0]["generated_text"]
    assert text.startswith("t3 t5 t7 t2") and len(text.split()) > 4, text


def check_compile_matches_eager(model, model_inputs: dict, output_key: str = "logits", atol: float = 1e-4) -> None:
    """torch.compile(fullgraph=True) of the forward runs (no graph break) and matches eager."""
    model.eval()
    with torch.no_grad():
        eager = getattr(model(**model_inputs, use_cache=False), output_key)
        compiled = torch.compile(model, fullgraph=True)
        out = getattr(compiled(**model_inputs, use_cache=False), output_key)
    assert _max_diff(out, eager) <= atol, _max_diff(out, eager)


def check_gradient_checkpointing(make_model: Callable[[], torch.nn.Module], model_inputs: dict) -> None:
    """Activation checkpointing recomputes the blocks and gives the same gradients."""
    torch.manual_seed(0)
    plain = make_model().train()
    torch.manual_seed(0)
    ckpt = make_model().train()
    ckpt.load_state_dict(plain.state_dict())
    ckpt.activation_checkpointing_enable()
    assert ckpt.is_activation_checkpointing

    blocks = [m for m in ckpt.modules() if getattr(m, "gradient_checkpointing", False)]
    assert blocks, "no GradientCheckpointingLayer found"
    for model in (plain, ckpt):
        model(**model_inputs).loss.backward()

    # Count calls of each block's first sub-module in a second pass: a recomputed block runs it twice. (The block's
    # own forward cannot be patched: transformers detects the outermost call by identity.)
    calls = {"n": 0}
    firsts = [next(block.children()) for block in blocks]
    originals = [m.forward for m in firsts]

    def counting(fn):
        def wrapped(*a, **k):
            calls["n"] += 1
            return fn(*a, **k)

        return wrapped

    ckpt.zero_grad()
    try:
        for m, fn in zip(firsts, originals):
            m.forward = counting(fn)
        ckpt(**model_inputs).loss.backward()
    finally:
        for m in firsts:
            del m.forward
    assert calls["n"] == 2 * len(blocks), (calls["n"], len(blocks))
    for (name, p1), (_, p2) in zip(plain.named_parameters(), ckpt.named_parameters()):
        if p1.grad is None:
            assert p2.grad is None, name
            continue
        assert torch.allclose(p1.grad, p2.grad, atol=1e-6, rtol=1e-5), name


def check_causality(
    model, inputs: torch.Tensor, input_key: str = "inputs_embeds", output_key: str = "logits"
) -> None:
    """d output_t / d input_j == 0 exactly for every j > t, and != 0 for j = t (gradients through ``input_key``:
    ``inputs_embeds`` for token models, ``input_values`` for prediction models)."""
    model.eval()
    L = inputs.shape[1]
    for t in range(L):
        x = inputs.detach().clone().requires_grad_(True)
        out = getattr(model(**{input_key: x}, use_cache=False), output_key)
        out[:, t].sum().backward()
        future = x.grad[:, t + 1 :]
        assert torch.count_nonzero(future) == 0, f"output {t} depends on a later input"
        assert torch.count_nonzero(x.grad[:, t]) > 0, f"output {t} does not depend on input {t}"
