"""The byte tokenizer in both forms: ``ByteTokenizer`` and the ``transformers`` tokenizer ``byte_tokenizer()`` give
the UTF-8 bytes as ids for any text, character offsets and the text back; the saved tokenizer loads with transformers
alone in a process where wave_hf cannot be imported."""

import json

import numpy as np
import pytest
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

import wave_hf.data as wd
from tests.no_wave_hf import run_without_wave_hf
from wave_hf.data.byte_tokenizer import EOS_TOKEN, PAD_TOKEN, _backend, byte_alphabet
from wave_hf.data.corpus_tokens import char_to_byte_offsets

TEXTS = [
    "hello world",
    " leading space",
    "  two leading spaces and trailing  ",
    "\n\nnewlines\r\nand\ttabs\n",
    "ünïcödé — 漢字 and 🙂 emoji, 👩‍👩‍👧 (a ZWJ sequence), e\u0301 (combining)",
    "text with the special strings <|endoftext|> and <|pad|> inside",
    "".join(map(chr, range(128))),  # every ASCII byte, NUL and DEL included
    "a",
    "",
]


def random_texts(n: int, seed: int = 0) -> list[str]:
    """Texts of random code points from 1-, 2-, 3- and 4-byte UTF-8 ranges (no surrogates)."""
    rng = np.random.default_rng(seed)
    ranges = [(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    texts = []
    for _ in range(n):
        picks = rng.integers(0, len(ranges), size=int(rng.integers(1, 40)))
        texts.append("".join(chr(int(rng.integers(ranges[p][0], ranges[p][1] + 1))) for p in picks))
    return texts


@pytest.fixture(scope="module")
def tok():
    return wd.byte_tokenizer()


def test_plain_byte_tokenizer():
    bt = wd.ByteTokenizer()
    assert (bt.vocab_size, bt.pad_token_id, bt.eos_token_id) == (258, 256, 257)
    text = "ünï 🙂\n"
    ids = bt.encode(text)
    assert ids == list(text.encode("utf-8")) and max(ids) < 256
    assert bt.decode(ids + [256, 257]) == text
    with pytest.raises(ValueError, match="ids must be in 0..257"):
        bt.decode([258])
    with pytest.raises(TypeError, match="takes a str"):
        bt.encode(b"bytes")


def test_vocabulary_and_special_ids(tok):
    assert isinstance(tok, PreTrainedTokenizerFast) and tok.is_fast
    assert len(tok) == wd.ByteTokenizer.vocab_size == 258
    assert (tok.pad_token, tok.pad_token_id, tok.eos_token, tok.eos_token_id) == (PAD_TOKEN, 256, EOS_TOKEN, 257)
    assert tok.bos_token_id is None and tok.unk_token_id is None
    alphabet = byte_alphabet()
    assert len(set(alphabet)) == 256 and set(alphabet) == set(pre_tokenizers.ByteLevel.alphabet())
    assert tok.convert_ids_to_tokens(list(range(258))) == alphabet + [PAD_TOKEN, EOS_TOKEN]
    # the pre-tokenizer maps each byte to the character the vocabulary gives that byte's id
    ascii_text = "".join(map(chr, range(128)))
    (piece, _), = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(ascii_text)
    assert piece == "".join(alphabet[:128])


@pytest.mark.parametrize("text", TEXTS + random_texts(20))
def test_ids_are_the_utf8_bytes(tok, text):
    want = list(text.encode("utf-8"))
    assert tok(text)["input_ids"] == want  # add_special_tokens=True (the default) adds nothing
    assert tok.encode(text, add_special_tokens=False) == want
    assert wd.ByteTokenizer().encode(text) == want


def test_batches_and_padding(tok):
    enc = tok(TEXTS, padding=True, return_tensors="np")
    width = max(len(t.encode()) for t in TEXTS)
    assert enc["input_ids"].shape == (len(TEXTS), width)
    for row, mask, text in zip(enc["input_ids"], enc["attention_mask"], TEXTS):
        n = len(text.encode())
        assert list(row[:n]) == list(text.encode()) and np.all(row[n:] == 256) and mask.sum() == n


@pytest.mark.parametrize("text", TEXTS + random_texts(10, seed=1))
def test_offsets_are_character_spans(tok, text):
    """Every byte's token spans the character it belongs to (the characters' UTF-8 widths give the expectation)."""
    offsets = tok(text, return_offsets_mapping=True)["offset_mapping"]
    bounds = char_to_byte_offsets(text)
    expected = [(c, c + 1) for c in range(len(text)) for _ in range(bounds[c + 1] - bounds[c])]
    assert [tuple(o) for o in offsets] == expected


@pytest.mark.parametrize("text", TEXTS + random_texts(10, seed=2))
def test_decode_gives_the_text_back(tok, text):
    ids = list(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert tok.decode([256] + ids + [257], skip_special_tokens=True) == text
    assert tok.decode(ids + [257]) == text + EOS_TOKEN


def test_decode_of_invalid_utf8_agrees_with_byte_tokenizer(tok):
    for ids in ([0xC3], [0xFF, 0x41], [0x41, 0xE6, 0xBC], list("é".encode()[::-1])):
        assert tok.decode(ids) == wd.ByteTokenizer().decode(ids) and "\ufffd" in tok.decode(ids)


def test_is_byte_tokenizer(tok, tmp_path):
    assert wd.is_byte_tokenizer(tok) and wd.is_byte_tokenizer(wd.ByteTokenizer())
    tok.save_pretrained(tmp_path / "tok")
    assert wd.is_byte_tokenizer(AutoTokenizer.from_pretrained(tmp_path / "tok"))
    # the same pipeline matching the special strings inside text encodes differently: not the byte tokenizer
    matching = PreTrainedTokenizerFast(tokenizer_object=_backend(), pad_token=PAD_TOKEN, eos_token=EOS_TOKEN)
    assert matching("<|pad|>")["input_ids"] == [256] and not wd.is_byte_tokenizer(matching)
    gpt2_like = PreTrainedTokenizerFast(tokenizer_object=_backend())
    gpt2_like.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    assert not wd.is_byte_tokenizer(gpt2_like) and not wd.is_byte_tokenizer("bytes")


def test_saved_tokenizer_loads_without_wave_hf(tmp_path):
    """``save_pretrained`` (both forms write the same files) -> ``AutoTokenizer.from_pretrained`` in a process where
    importing wave_hf raises gives the same ids, offsets, special ids and decoding."""
    wd.byte_tokenizer().save_pretrained(tmp_path / "a")
    wd.ByteTokenizer().save_pretrained(tmp_path / "b")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    assert "wave_hf" not in (tmp_path / "a" / "tokenizer_config.json").read_text()
    texts = TEXTS + random_texts(5, seed=3)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    work = tmp_path / "child"
    work.mkdir()
    run_without_wave_hf(f'''
import json
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained({str(tmp_path / "a")!r})
texts = json.load(open({str(tmp_path / "texts.json")!r}))
enc = tok(texts, return_offsets_mapping=True)
json.dump({{"class": type(tok).__name__, "len": len(tok), "pad": tok.pad_token_id, "eos": tok.eos_token_id,
           "bos": tok.bos_token_id, "ids": enc["input_ids"], "offsets": enc["offset_mapping"],
           "decoded": [tok.decode(ids) for ids in enc["input_ids"]]}}, open("out.json", "w"))
''', work)
    out = json.loads((work / "out.json").read_text())
    ref = wd.byte_tokenizer()(texts, return_offsets_mapping=True)
    assert (out["len"], out["pad"], out["eos"], out["bos"]) == (258, 256, 257, None)
    assert out["ids"] == [list(t.encode("utf-8")) for t in texts]
    assert out["offsets"] == [[list(o) for o in offs] for offs in ref["offset_mapping"]]
    assert out["decoded"] == texts
