"""Tokenizers for ``load_corpus``: which ones are accepted, and how each token's UTF-8 bytes are counted.

``num_bytes`` needs the bytes of text that each token covers, so that the bytes of all tokens of a document sum to
the document's UTF-8 bytes exactly:

- the byte tokenizer: one byte per token;
- a Hugging Face fast tokenizer: from its character offsets. Token i covers the characters from the end of token
  i-1 (0 for the first) to its own end (ends made non-decreasing), and the last token of a document also covers
  whatever follows it; the characters are then counted in UTF-8 bytes. Text a tokenizer skips (e.g. whitespace
  between words) is thus charged to the next token; tokens without text (special tokens) and all but the first of
  several tokens that share one character (pieces of a multi-byte character) cover 0 bytes.

Documents are tokenised without special tokens (``add_special_tokens=False``): document starts are marked by
``position_ids``, not by BOS/EOS ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .byte_tokenizer import ByteTokenizer, is_byte_tokenizer


def resolve_tokenizer(tokenizer: Any) -> Any:
    """``"bytes"`` -> ``ByteTokenizer``; a ``tokenizers.Tokenizer`` -> ``PreTrainedTokenizerFast``; another string
    or path -> ``AutoTokenizer.from_pretrained(..., local_files_only=True)``; a fast tokenizer object as is. A
    tokenizer that encodes exactly as the byte tokenizer (``byte_tokenizer()``, or a folder it was saved to) becomes
    ``ByteTokenizer``: the same rows, the same cache entry, the direct UTF-8 encoding."""
    if isinstance(tokenizer, ByteTokenizer) or (isinstance(tokenizer, str) and tokenizer == "bytes"):
        return ByteTokenizer()
    from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

    if isinstance(tokenizer, str) or hasattr(tokenizer, "__fspath__"):
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
        except Exception as e:  # transformers raises OSError/ValueError/... for names it cannot resolve locally
            raise ValueError(f"load_corpus: tokenizer {str(tokenizer)!r} is neither 'bytes' nor loadable locally by "
                             f"AutoTokenizer.from_pretrained (no download is tried): {e}") from e
    else:
        import tokenizers

        if isinstance(tokenizer, tokenizers.Tokenizer):
            tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokenizer)
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError("load_corpus: tokenizer must be 'bytes', a ByteTokenizer, a transformers tokenizer, a "
                        f"tokenizers.Tokenizer or a local path/name for AutoTokenizer; got {type(tokenizer).__name__}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"load_corpus: {type(tokenizer).__name__} gives no character offsets "
                         "(return_offsets_mapping), which num_bytes needs; use a fast (tokenizers-backed) tokenizer")
    return ByteTokenizer() if is_byte_tokenizer(tokenizer) else tokenizer


def tokenizer_identity(tokenizer: Any) -> tuple:
    """What the cache key hashes for a tokenizer: its class and its full ``tokenizers`` JSON."""
    if isinstance(tokenizer, ByteTokenizer):
        return ("bytes", ByteTokenizer.vocab_size, ByteTokenizer.pad_token_id)
    return (type(tokenizer).__qualname__, tokenizer.backend_tokenizer.to_str(), pad_id_of(tokenizer))


def pad_id_of(tokenizer: Any) -> int:
    """The id that fills the last block of a split: the tokenizer's pad id, else its EOS id, else 0 (padding is
    marked by ``labels == -100`` and ``num_bytes``, never by the id)."""
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


def char_to_byte_offsets(text: str) -> np.ndarray:
    """(len(text) + 1,) int64: the UTF-8 byte offset of every character boundary of ``text``."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    width = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    return np.concatenate([[0], np.cumsum(width)])


def token_bytes_from_offsets(text: str, ends: np.ndarray) -> np.ndarray:
    """Bytes covered by each token (see the module docstring) from the tokens' character end offsets."""
    if len(ends) == 0:
        return np.zeros(0, dtype=np.int32)
    ends = np.minimum(np.maximum.accumulate(np.asarray(ends, dtype=np.int64)), len(text))
    ends[-1] = len(text)
    if len(text.encode("utf-8")) != len(text):
        ends = char_to_byte_offsets(text)[ends]
    return np.diff(ends, prepend=0).astype(np.int32)


class ByteEncoder:
    """Batched ``map`` function of the byte tokenizer: texts -> ``input_ids`` (uint8), one byte per token."""

    id_dtype = "uint8"
    counts_bytes = False

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        return {"input_ids": [np.frombuffer(t.encode("utf-8"), dtype=np.uint8) for t in batch["text"]]}


class OffsetsEncoder:
    """Batched ``map`` function of a fast tokenizer: texts -> ``input_ids`` and ``token_bytes`` per token."""

    id_dtype = "int32"
    counts_bytes = True

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        texts = batch["text"]
        enc = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                             return_attention_mask=False, return_token_type_ids=False, verbose=False)
        counts = [token_bytes_from_offsets(text, np.asarray([e for _, e in offsets], dtype=np.int64))
                  for text, offsets in zip(texts, enc["offset_mapping"])]
        return {"input_ids": [np.asarray(ids, dtype=np.int32) for ids in enc["input_ids"]], "token_bytes": counts}


def encoder_for(tokenizer: Any) -> ByteEncoder | OffsetsEncoder:
    """The batched tokenization function of a resolved tokenizer."""
    return ByteEncoder() if isinstance(tokenizer, ByteTokenizer) else OffsetsEncoder(tokenizer)
