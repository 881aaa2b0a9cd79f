"""``load_corpus``: the users' own text as packed causal-LM blocks (``train`` and ``validation``), cached.

Rows (every column a fixed ``block_size`` except the two byte counts):

- ``input_ids`` int64: documents concatenated in document order and cut into blocks of ``block_size`` ids; only
  the last block of a split is padded, with the pad id (``ByteTokenizer``: 256; other tokenizers: their pad id,
  else their EOS id, else 0);
- ``position_ids`` int64: 0 exactly at each document's first token, counting up within the document (so a block
  that starts inside a document does not start at 0); padding continues the count of the last document;
- ``labels`` int64: ``input_ids`` with -100 at each document's first token (nothing before it in the document
  predicts it) and at padding (Hugging Face causal-LM convention: the model shifts);
- ``num_bytes`` int64: UTF-8 bytes of the text the row's tokens cover (``corpus_tokens`` says how they are charged to
  tokens); over a split the rows sum to the bytes of its tokenised documents exactly;
- ``num_scored_bytes`` int64: the bytes of the tokens a shifted causal-LM loss scores in this row (positions >= 1
  whose label is not -100): the exact bits-per-byte denominator of that loss.

The split is by document: ``max(1, round(validation_fraction * n))`` of the n non-empty documents (none when the
fraction is 0), drawn by ``numpy.random.default_rng(seed)``, form ``validation``; both splits keep document order.

Caching: the result lives in ``<cache_dir>/wave_hf_corpus/<key>``, where ``key`` is the ``datasets`` fingerprint
hash (``datasets.fingerprint.Hasher``) of every argument but ``num_proc``, of the source (each file's path, size and
modification time; a dataset's fingerprint), of the tokenizer (its full ``tokenizers`` JSON) and of this code. A
second call with the same key loads the stored rows; anything else builds them in a temporary folder next to it that
is renamed into place only when complete and is removed if the build fails. ``num_proc`` parallelises reading and
tokenising and never changes the rows.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets.arrow_writer import ArrowWriter
from datasets.fingerprint import Hasher

from ._base import IGNORE_INDEX
from .byte_tokenizer import ByteTokenizer
from .corpus_sources import (
    TableFile,
    TextFile,
    load_table,
    part_identity,
    read_text_files,
    resolve_source,
    text_column_of,
)
from .corpus_tokens import encoder_for, pad_id_of, resolve_tokenizer, tokenizer_identity

SPLIT_NAMES = ("train", "validation")
FORMAT_VERSION = "1"
_CODE_FILES = ("corpus.py", "corpus_sources.py", "corpus_tokens.py", "byte_tokenizer.py")
_BATCH_DOCS = 256


def _code_hash() -> str:
    here = Path(__file__).parent
    return Hasher.hash([(name, (here / name).read_bytes()) for name in _CODE_FILES])


class CorpusArgumentError(ValueError):
    """A bad argument of ``load_corpus``: ``arg`` names it, ``problem`` says what is wrong (``"must be ...; got
    ..."``), so that a caller such as the run-config schema can name it its own way."""

    def __init__(self, arg: str, problem: str):
        self.arg, self.problem = arg, problem
        super().__init__(f"load_corpus: {arg} {problem}")


def check_corpus_args(block_size: Any, validation_fraction: Any, seed: Any, text_column: Any,
                      num_proc: Any) -> None:
    """The range and type checks of ``load_corpus``'s scalar arguments (``CorpusArgumentError``)."""
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(block_size) or block_size < 2:
        raise CorpusArgumentError("block_size", f"must be an int >= 2; got {block_size!r}")
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)) or not (
            0 <= validation_fraction < 1):
        raise CorpusArgumentError("validation_fraction", f"must be in [0, 1); got {validation_fraction!r}")
    if not is_int(seed) or seed < 0:
        raise CorpusArgumentError("seed", f"must be a non-negative int; got {seed!r}")
    if not isinstance(text_column, str) or not text_column:
        raise CorpusArgumentError("text_column", f"must be a non-empty str; got {text_column!r}")
    if num_proc is not None and (not is_int(num_proc) or num_proc < 1):
        raise CorpusArgumentError("num_proc", f"must be a positive int or None; got {num_proc!r}")


def features_for(block_size: int) -> datasets.Features:
    """The row schema of a corpus split (see the module docstring)."""
    block = datasets.List(datasets.Value("int64"), length=block_size)
    return datasets.Features({"input_ids": block, "position_ids": block, "labels": block,
                              "num_bytes": datasets.Value("int64"), "num_scored_bytes": datasets.Value("int64")})


def _documents(parts: list, text_column: str, num_proc: int | None, work: Path, key: str) -> datasets.Dataset:
    """All parts as one dataset with a ``text`` column, one row per document, in order."""
    pieces: list[datasets.Dataset] = []
    files: list[TextFile] = []

    def flush_files() -> None:
        if not files:
            return
        listing = datasets.Dataset.from_dict({"path": [f.path for f in files],
                                              "in_directory": [f.in_directory for f in files]})
        pieces.append(listing.map(read_text_files, batched=True, batch_size=16, num_proc=num_proc,
                                  remove_columns=listing.column_names, features=datasets.Features(
                                      {"text": datasets.Value("string")}), desc="Reading files",
                                  cache_file_name=str(work / f"files-{len(pieces)}.arrow"),
                                  new_fingerprint=f"{key}-files-{len(pieces)}"))
        files.clear()

    for part in parts:
        if isinstance(part, TextFile):
            files.append(part)
            continue
        flush_files()
        if isinstance(part, TableFile):
            pieces.append(load_table(part, text_column, str(work / "tables")))
        else:
            pieces.append(text_column_of(part, text_column, f"the dataset {part.split or ''}".rstrip()))
    flush_files()
    return pieces[0] if len(pieces) == 1 else datasets.concatenate_datasets(pieces)


def _nonempty_indices(docs: datasets.Dataset) -> np.ndarray:
    lengths = [pc.fill_null(pc.binary_length(t["text"]), 0).to_numpy(zero_copy_only=False)
               for t in docs.with_format("arrow").iter(batch_size=10_000)]
    return np.flatnonzero(np.concatenate(lengths)) if lengths else np.zeros(0, dtype=np.int64)


def split_documents(n: int, validation_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Document indices of each split (sorted): ``max(1, round(f * n))`` random ones for validation when f > 0."""
    n_val = 0 if validation_fraction == 0 else max(1, round(validation_fraction * n))
    if n_val >= n:
        raise ValueError(f"load_corpus: a split by document needs at least 2 documents for validation_fraction="
                         f"{validation_fraction}; the source has {n}. Pass validation_fraction=0 or more documents")
    in_val = np.zeros(n, dtype=bool)
    in_val[np.random.default_rng(seed).permutation(n)[:n_val]] = True
    return {"train": np.flatnonzero(~in_val), "validation": np.flatnonzero(in_val)}


def _blocks(tokens: datasets.Dataset, block_size: int, pad_id: int) -> Iterator[pa.Table]:
    """Pack the tokenised documents (in order) into rows; the last row is padded."""
    B = block_size
    carry_ids = carry_pos = carry_bytes = np.zeros(0, dtype=np.int64)
    batches = tokens.with_format("arrow").iter(batch_size=_BATCH_DOCS)
    last = False
    while not last:
        batch = next(batches, None)
        last = batch is None
        if not last:
            ids_col = batch["input_ids"].combine_chunks()
            lengths = ids_col.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
            ids = ids_col.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
            nbytes = (batch["token_bytes"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
                      .astype(np.int64) if "token_bytes" in batch.column_names else np.ones_like(ids))
            starts = np.cumsum(lengths) - lengths
            pos = np.arange(len(ids), dtype=np.int64) - np.repeat(starts, lengths)
            carry_ids = np.concatenate([carry_ids, ids])
            carry_pos = np.concatenate([carry_pos, pos])
            carry_bytes = np.concatenate([carry_bytes, nbytes])
        n_rows = len(carry_ids) // B
        if last and len(carry_ids) % B:
            pad = B - len(carry_ids) % B
            next_pos = carry_pos[-1] + 1
            carry_ids = np.concatenate([carry_ids, np.full(pad, pad_id, dtype=np.int64)])
            carry_pos = np.concatenate([carry_pos, np.arange(next_pos, next_pos + pad, dtype=np.int64)])
            carry_bytes = np.concatenate([carry_bytes, np.zeros(pad, dtype=np.int64)])
            real = np.concatenate([np.ones(len(carry_ids) - pad, dtype=bool), np.zeros(pad, dtype=bool)])
            n_rows += 1
        else:
            real = np.ones(len(carry_ids), dtype=bool)
        if n_rows == 0:
            continue
        cut = n_rows * B
        ids, pos, nbytes, real = (a[:cut].reshape(n_rows, B) for a in (carry_ids, carry_pos, carry_bytes, real))
        carry_ids, carry_pos, carry_bytes = carry_ids[cut:], carry_pos[cut:], carry_bytes[cut:]
        labels = np.where(real & (pos != 0), ids, IGNORE_INDEX)
        scored = labels != IGNORE_INDEX
        scored[:, 0] = False
        yield pa.table({
            "input_ids": pa.FixedSizeListArray.from_arrays(pa.array(ids.ravel()), B),
            "position_ids": pa.FixedSizeListArray.from_arrays(pa.array(pos.ravel()), B),
            "labels": pa.FixedSizeListArray.from_arrays(pa.array(labels.ravel()), B),
            "num_bytes": pa.array((nbytes * real).sum(axis=1)),
            "num_scored_bytes": pa.array((nbytes * scored).sum(axis=1)),
        })


def _build(parts: list, tok: Any, *, block_size: int, validation_fraction: float, seed: int, text_column: str,
           num_proc: int | None, work: Path, key: str) -> dict[str, Any]:
    """Write ``<split>.arrow`` for both splits into ``work / "out"``; returns the corpus record."""
    docs = _documents(parts, text_column, num_proc, work, key)
    nonempty = _nonempty_indices(docs)
    if len(nonempty) == 0:
        raise ValueError(f"load_corpus: the source has no text ({len(docs)} documents, all empty)")
    docs = docs.select(nonempty)
    encoder = encoder_for(tok)
    tok_features = {"input_ids": datasets.List(datasets.Value(encoder.id_dtype))}
    if encoder.counts_bytes:
        tok_features["token_bytes"] = datasets.List(datasets.Value("int32"))
    out = work / "out"
    out.mkdir()
    pad_id = pad_id_of(tok)
    record: dict[str, Any] = {"format_version": FORMAT_VERSION, "block_size": block_size, "pad_id": pad_id,
                              "tokenizer": repr(tok) if isinstance(tok, ByteTokenizer) else tok.name_or_path,
                              "validation_fraction": validation_fraction, "seed": seed, "splits": {}}
    for split, indices in split_documents(len(docs), validation_fraction, seed).items():
        tokens = docs.select(indices).map(
            encoder, batched=True, batch_size=64, num_proc=num_proc, remove_columns=["text"],
            features=datasets.Features(tok_features), desc=f"Tokenizing ({split})",
            cache_file_name=str(work / f"tokens-{split}.arrow"), new_fingerprint=f"{key}-tokens-{split}")
        rows = num_bytes = 0
        with ArrowWriter(path=str(out / f"{split}.arrow"), features=features_for(block_size)) as writer:
            for table in _blocks(tokens, block_size, pad_id):
                writer.write_table(table)
                rows += table.num_rows
                num_bytes += int(pc.sum(table["num_bytes"]).as_py())
            writer.finalize()
        record["splits"][split] = {"documents": len(indices), "rows": rows, "num_bytes": num_bytes}
    (out / "corpus_info.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def _load(folder: Path) -> datasets.DatasetDict:
    description = (folder / "corpus_info.json").read_text()
    return datasets.DatasetDict({
        split: datasets.Dataset.from_file(str(folder / f"{split}.arrow"),
                                          info=datasets.DatasetInfo(description=description),
                                          split=datasets.NamedSplit(split))
        for split in SPLIT_NAMES})


def load_corpus(source: Any, *, tokenizer: Any = "bytes", block_size: int = 1024, validation_fraction: float = 0.01,
                seed: int = 0, text_column: str = "text", num_proc: int | None = None,
                include: str | Sequence[str] | None = None, exclude: str | Sequence[str] | None = None,
                cache_dir: str | os.PathLike | None = None) -> datasets.DatasetDict:
    """Splits ``train`` and ``validation`` of ``source`` as packed causal-LM rows (see the module docstring).

    source: a text file, a directory, a glob, JSON Lines / Parquet files, a ``datasets.Dataset`` / ``DatasetDict``,
        a ``save_to_disk`` folder, or a list of these (``wave_hf.data.corpus_sources`` gives the rules).
    tokenizer: ``"bytes"`` (``ByteTokenizer``), a fast ``transformers`` tokenizer, a ``tokenizers.Tokenizer``, or a
        local path / name for ``AutoTokenizer.from_pretrained`` (no download).
    block_size: ids per row (>= 2). validation_fraction: in [0, 1). seed: the document split's seed.
    text_column: the column holding the text of table and dataset sources. num_proc: workers for reading and
        tokenising (same rows for any value). include / exclude: file patterns for directory sources.
    cache_dir: where ``wave_hf_corpus/`` lives (default: the ``datasets`` cache, ``HF_DATASETS_CACHE``).

    Each split has the columns ``input_ids``, ``position_ids``, ``labels`` (each (block_size,)), ``num_bytes`` and
    ``num_scored_bytes``; ``json.loads(split.info.description)`` is the corpus record (pad id, tokenizer, sizes).
    """
    check_corpus_args(block_size, validation_fraction, seed, text_column, num_proc)
    parts = resolve_source(source, include, exclude)
    if not parts:
        raise ValueError(f"load_corpus: the source {source!r} holds no file or dataset (empty source)")
    tok = resolve_tokenizer(tokenizer)
    key = Hasher.hash([FORMAT_VERSION, _code_hash(), [part_identity(p) for p in parts], tokenizer_identity(tok),
                       int(block_size), float(validation_fraction), int(seed), text_column])
    root = Path(cache_dir if cache_dir is not None else datasets.config.HF_DATASETS_CACHE) / "wave_hf_corpus"
    final = root / key
    if not final.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
        try:
            _build(parts, tok, block_size=int(block_size), validation_fraction=float(validation_fraction),
                   seed=int(seed), text_column=text_column, num_proc=num_proc, work=work, key=key)
            try:
                os.rename(work / "out", final)
            except OSError:
                if not final.is_dir():  # another process may have finished the same key first: keep its copy
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return _load(final)
