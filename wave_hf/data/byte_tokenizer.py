"""The built-in byte tokenizer: UTF-8 bytes are the token ids, no vocabulary file, no download.

Ids: byte ``b`` is id ``b`` (0-255); the special ids follow the bytes: ``PAD_ID = 256`` (``PAD_TOKEN``; fills the
last block of a corpus split, never scored) and ``EOS_ID = 257`` (``EOS_TOKEN``; end of text for generation;
``load_corpus`` inserts none, since ``position_ids`` mark the document starts). ``VOCAB_SIZE = 258`` is the
``vocab_size`` a model config needs.

Two forms of the same mapping:

- ``ByteTokenizer``: a plain object (``encode`` / ``decode``, the ids as attributes), what ``load_corpus`` uses to
  tokenise (UTF-8 encoding directly, no tokenizer pipeline);
- ``byte_tokenizer()``: a ``transformers`` ``PreTrainedTokenizerFast`` (a ``tokenizers`` pipeline) that gives the
  same ids, character offsets, and the text back. ``save_pretrained`` writes a plain ``tokenizer.json``, so a
  checkpoint folder holding it loads with ``AutoTokenizer.from_pretrained`` in an environment with transformers
  alone (no wave_hf, no custom code), e.g. for ``lm_eval --model hf``. ``ByteTokenizer.save_pretrained`` writes it.

The ``tokenizers`` pipeline: a ``ByteLevel`` pre-tokenizer without its splitting regex (``use_regex=False``: the
whole text is one piece, so no whitespace splitting changes ids) maps each UTF-8 byte to one printable character
(GPT-2's byte alphabet) and keeps character offsets; a ``BPE`` model without merges maps that character to the
byte's value; the ``ByteLevel`` decoder turns the characters back into bytes and decodes them as UTF-8 (invalid
UTF-8 becomes U+FFFD). The two special tokens are never matched inside text (``split_special_tokens=True``): text
containing ``"<|endoftext|>"`` is encoded as its bytes like any other text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

NUM_BYTE_IDS = 256
PAD_ID = 256
EOS_ID = 257
VOCAB_SIZE = 258
PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"


def byte_alphabet() -> list[str]:
    """(256,) the printable character that stands for byte ``b`` at index ``b`` (GPT-2's byte-to-unicode table,
    which ``tokenizers.pre_tokenizers.ByteLevel`` uses): printable Latin-1 bytes stand for themselves, the other 68
    bytes for the characters U+0100 onward, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(NUM_BYTE_IDS) if b not in printable]
    chars = {b: chr(b) for b in printable} | {b: chr(NUM_BYTE_IDS + i) for i, b in enumerate(others)}
    return [chars[b] for b in range(NUM_BYTE_IDS)]


def _backend() -> Any:
    """The ``tokenizers.Tokenizer`` of the byte tokenizer (see the module docstring)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {char: b for b, char in enumerate(byte_alphabet())}
    backend = Tokenizer(models.BPE(vocab, [], ignore_merges=True))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    added = backend.add_special_tokens([AddedToken(PAD_TOKEN, special=True, normalized=False),
                                        AddedToken(EOS_TOKEN, special=True, normalized=False)])
    if added != 2 or backend.token_to_id(PAD_TOKEN) != PAD_ID or backend.token_to_id(EOS_TOKEN) != EOS_ID:
        raise RuntimeError("byte_tokenizer: the tokenizers library gave the special tokens unexpected ids")
    return backend


def byte_tokenizer() -> Any:
    """The byte tokenizer as a ``transformers.PreTrainedTokenizerFast`` (``len == VOCAB_SIZE``, ``pad_token_id ==
    PAD_ID``, ``eos_token_id == EOS_ID``, no BOS; encoding adds no special token): ``tok(text)["input_ids"] ==
    list(text.encode("utf-8"))`` for every text, offsets are character offsets (every byte of a multi-byte
    character has that character's span), ``tok.decode(ids, skip_special_tokens=True)`` gives the text back.
    Saved with ``save_pretrained``, it loads with ``AutoTokenizer.from_pretrained`` without wave_hf."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=_backend(), pad_token=PAD_TOKEN, eos_token=EOS_TOKEN,
                                   split_special_tokens=True, clean_up_tokenization_spaces=False)


_PIPELINE_PARTS = ("normalizer", "pre_tokenizer", "model", "decoder")


def _pipeline(tokenizers_json: str) -> dict[str, Any]:
    """What decides a ``tokenizers`` JSON's ids: its normalizer, pre-tokenizer, model, decoder and added tokens."""
    spec = json.loads(tokenizers_json)
    added = sorted((t["id"], t["content"], t["special"]) for t in spec.get("added_tokens") or [])
    return {**{part: spec.get(part) for part in _PIPELINE_PARTS}, "added_tokens": added}


def is_byte_tokenizer(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` encodes exactly as the byte tokenizer: a ``ByteTokenizer``, or a fast ``transformers``
    tokenizer with the byte tokenizer's pipeline, special ids and ``split_special_tokens`` (e.g. ``byte_tokenizer()``
    or one loaded from a folder it was saved to)."""
    if isinstance(tokenizer, ByteTokenizer):
        return True
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not getattr(tokenizer, "split_special_tokens", False):
        return False
    if (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)) != (PAD_ID, EOS_ID):
        return False
    return _pipeline(backend.to_str()) == _pipeline(_backend().to_str())


class ByteTokenizer:
    """UTF-8 bytes as ids 0-255, padding 256, end of text 257 (see the module docstring).

    ``encode(text)`` -> list of ids (one per UTF-8 byte); ``decode(ids)`` -> text, special ids dropped and invalid
    UTF-8 replaced by U+FFFD; ``save_pretrained(folder)`` writes the ``transformers`` form (``byte_tokenizer()``).
    Stateless: every instance is equal to every other.
    """

    vocab_size = VOCAB_SIZE
    pad_token_id = PAD_ID
    eos_token_id = EOS_ID
    bos_token_id = None

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of ``text`` as ids (no special ids added)."""
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer.encode takes a str; got {type(text).__name__}")
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: special ids (>= 256) are dropped, invalid UTF-8 becomes U+FFFD; an id outside
        0..vocab_size-1 is a ``ValueError``."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < VOCAB_SIZE]
        if bad:
            raise ValueError(f"ByteTokenizer.decode: ids must be in 0..{VOCAB_SIZE - 1}; got {bad[:5]}")
        return bytes(i for i in ids if i < NUM_BYTE_IDS).decode("utf-8", errors="replace")

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> tuple[str, ...]:
        """Write ``byte_tokenizer()`` to ``save_directory`` (``tokenizer.json``, ``tokenizer_config.json``; keyword
        arguments go to ``PreTrainedTokenizerFast.save_pretrained``); returns the written files."""
        return byte_tokenizer().save_pretrained(save_directory, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByteTokenizer)

    def __hash__(self) -> int:
        return hash(ByteTokenizer)

    def __repr__(self) -> str:
        return f"ByteTokenizer(vocab_size={VOCAB_SIZE}, pad_token_id={PAD_ID}, eos_token_id={EOS_ID})"
