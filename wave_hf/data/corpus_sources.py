"""Where a corpus comes from: resolving ``load_corpus``'s ``source`` into documents (one ``text`` column).

Source kinds, each a list of documents in a fixed order (a list of sources concatenates them in list order):

- a text file: one document (its whole UTF-8 text, bytes as stored: no newline translation);
- a JSON Lines (``.jsonl``) or Parquet (``.parquet``) file: one document per row, from the text column;
- a directory: every file below it, one document per file, in sorted relative-path order. Rules: entries whose name
  starts with ``.`` and ``__pycache__`` folders are skipped; ``include`` keeps only the files matching one of its
  patterns; ``exclude`` drops the files and prunes the folders matching one of its. A pattern without ``/`` matches
  the name at any depth (``"*.py"``, ``"test"``), one with ``/`` the path relative to the directory (``fnmatch``, so
  ``*`` also crosses ``/``). A binary file (a NUL byte in its first 8 KiB, git's rule) is skipped in a
  directory; a ``save_to_disk`` folder is loaded as a dataset instead;
- a glob (``str`` with ``*``, ``?`` or ``[`` that is not an existing path): its matches in sorted order, each taken
  as if named (``recursive=True``, so ``**`` works);
- a ``datasets.Dataset`` / ``DatasetDict`` (every split, in the dict's order): one document per row.

A named file (or glob match) that is binary or not UTF-8 is an error naming it, and so is a non-UTF-8 text file in a
directory. Empty or missing texts are no documents.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

TABLE_SUFFIXES = {".jsonl": "json", ".parquet": "parquet"}
SKIPPED_DIR_NAMES = frozenset({"__pycache__"})
SNIFF_BYTES = 8192  # git's binary sniff: a NUL byte in the first 8000-odd bytes
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class TextFile:
    """A text file, one document; ``in_directory``: found by a directory walk (binary files are then skipped)."""

    path: str
    in_directory: bool


@dataclass(frozen=True)
class TableFile:
    """A JSON Lines or Parquet file, one document per row."""

    path: str
    loader: str  # "json" or "parquet"


Part = TextFile | TableFile | datasets.Dataset


def _patterns(value: str | Sequence[str] | None, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(p, str) and p for p in items):
        raise ValueError(f"load_corpus: {name} must be a pattern string or a list of them; got {value!r}")
    return tuple(items)


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in patterns)


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file())


def _file_part(path: Path, in_directory: bool) -> TextFile | TableFile:
    loader = TABLE_SUFFIXES.get(path.suffix.lower())
    return TableFile(str(path), loader) if loader else TextFile(str(path), in_directory)


def _walk(root: Path, include: tuple[str, ...] | None, exclude: tuple[str, ...] | None) -> list[Part]:
    parts: list[Part] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d not in SKIPPED_DIR_NAMES and not (exclude and _matches(prefix + d, exclude))
        )
        for name in sorted(filenames):
            rel = prefix + name
            if name.startswith(".") or (exclude and _matches(rel, exclude)) or (include and not _matches(rel, include)):
                continue
            parts.append(_file_part(Path(dirpath) / name, in_directory=True))
    return parts


def resolve_source(source: Any, include: str | Sequence[str] | None = None,
                   exclude: str | Sequence[str] | None = None) -> list[Part]:
    """The parts of ``source`` in document order (files are listed, not read; see the module docstring)."""
    inc, exc = _patterns(include, "include"), _patterns(exclude, "exclude")
    if isinstance(source, (datasets.Dataset, datasets.DatasetDict)):
        return list(source.values()) if isinstance(source, datasets.DatasetDict) else [source]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_dir():
            if is_saved_dataset(path):
                return resolve_source(datasets.load_from_disk(str(path)))
            return _walk(path, inc, exc)
        if path.is_file():
            return [_file_part(path, in_directory=False)]
        text = os.fspath(source)
        if _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                raise FileNotFoundError(f"load_corpus: the glob {text!r} matches no file")
            return [p for m in matches for p in resolve_source(m, include, exclude)]
        raise FileNotFoundError(f"load_corpus: no such file or directory: {text!r}")
    if isinstance(source, (list, tuple)):
        return [p for s in source for p in resolve_source(s, include, exclude)]
    raise TypeError("load_corpus: source must be a path, a glob, a datasets.Dataset/DatasetDict or a list of these; "
                    f"got {type(source).__name__}")


def part_identity(part: Part) -> tuple:
    """What the cache key hashes for a part: a file's path, size and modification time; a dataset's fingerprint."""
    if isinstance(part, datasets.Dataset):
        return ("dataset", part._fingerprint)
    st = os.stat(part.path)
    kind = "text" if isinstance(part, TextFile) else part.loader
    return (kind, os.path.abspath(part.path), st.st_size, st.st_mtime_ns, getattr(part, "in_directory", False))


def read_text_files(batch: dict[str, list]) -> dict[str, list]:
    """Batched ``map`` function: paths -> texts (binary files found in a directory are dropped)."""
    texts = []
    for path, in_directory in zip(batch["path"], batch["in_directory"]):
        data = Path(path).read_bytes()
        if b"\0" in data[:SNIFF_BYTES]:
            if in_directory:
                continue
            raise ValueError(f"load_corpus: {path} is not UTF-8 text (it has NUL bytes: a binary file)")
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(f"load_corpus: {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    return {"text": texts}


def text_column_of(ds: datasets.Dataset, text_column: str, what: str) -> datasets.Dataset:
    """``ds`` reduced to its text column, renamed ``text``; an unknown or non-string column is a ``ValueError``."""
    if text_column not in ds.column_names:
        raise ValueError(f"load_corpus: {what} has no column {text_column!r} (text_column); its columns: "
                         f"{ds.column_names}")
    feature = ds.features[text_column]
    if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
        raise ValueError(f"load_corpus: column {text_column!r} of {what} holds {feature}, not text")
    ds = ds.select_columns([text_column])
    if text_column != "text":
        ds = ds.rename_column(text_column, "text")
    if feature.dtype == "large_string":
        ds = ds.cast_column("text", datasets.Value("string"))
    return ds


def load_table(part: TableFile, text_column: str, cache_dir: str) -> datasets.Dataset:
    """A JSON Lines / Parquet file as a dataset of its text column (read into ``cache_dir``)."""
    try:
        reader = datasets.Dataset.from_json if part.loader == "json" else datasets.Dataset.from_parquet
        ds = reader(part.path, cache_dir=cache_dir)
    except Exception as e:  # datasets wraps parse errors in its own types; name the file
        raise ValueError(f"load_corpus: cannot read {part.path} as {part.loader}: {e}") from e
    return text_column_of(ds, text_column, part.path)
