"""load_corpus: every source kind, the packed row layout, exact byte counts, the document split, caching, num_proc
and the bad inputs (tiny in-memory tokenizers, temporary folders, no downloads)."""

import json
import os

import datasets
import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

import wave_hf.data as wd
from wave_hf.data import corpus, corpus_tokens
from wave_hf.data.corpus_tokens import token_bytes_from_offsets

DOCS = ["hello world\n", "ünïcödé — 漢字 and 🙂 emoji\n", "a", "third doc with some words\n", "x" * 40,
        "last one\r\nwith CRLF\r\n"]


def write_tree(root, docs=DOCS):
    """docs[i] -> root/d{i:02d}.txt (sorted order = list order)."""
    root.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(docs):
        (root / f"d{i:02d}.txt").write_bytes(text.encode("utf-8"))
    return root


def documents_of(split):
    """The documents a split's rows hold, cut at position_ids == 0 (byte tokenizer), padding removed."""
    ids = np.asarray(split["input_ids"]).ravel()
    pos = np.asarray(split["position_ids"]).ravel()
    real = np.asarray(split["labels"]).ravel() != -100
    real |= pos == 0
    keep = real & (ids < 256)
    starts = np.flatnonzero(pos == 0)
    bounds = list(starts) + [len(ids)]
    return [bytes(ids[a:b][keep[a:b]].astype(np.uint8)).decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]


def tiny_wordlevel():
    words = sorted({w for d in DOCS for w in d.split()})
    vocab = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def tiny_bytelevel():
    """Byte-level BPE without merges: one token per UTF-8 byte, several tokens share a multi-byte character."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok = Tokenizer(models.BPE({c: i for i, c in enumerate(sorted(alphabet))}, []))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_rows_of_a_directory(tmp_path, cache):
    src = write_tree(tmp_path / "src")
    dd = wd.load_corpus(src, block_size=16, validation_fraction=0, cache_dir=cache)
    assert list(dd) == ["train", "validation"] and len(dd["validation"]) == 0
    tr = dd["train"]
    ids, pos, labels = (np.asarray(tr[c]) for c in ("input_ids", "position_ids", "labels"))
    assert ids.shape[1] == 16 and ids.dtype == np.int64
    total = sum(len(d.encode()) for d in DOCS)
    assert len(tr) == -(-total // 16)
    assert documents_of(tr) == DOCS  # document order, every byte once
    assert (pos == 0).sum() == len(DOCS)
    flat_pos = pos.ravel()
    # position_ids count up inside a document, also across a block boundary (row 1 starts inside document 1)
    assert pos[1, 0] != 0 and np.all(np.diff(flat_pos[:total])[flat_pos[1:total] != 0] == 1)
    pad = total % 16 and 16 - total % 16
    assert np.all(ids.ravel()[total:] == 256) and len(ids.ravel()) - total == pad
    assert np.all(labels.ravel()[total:] == -100) and np.all(labels[pos == 0] == -100)
    real = labels.ravel()[:total] != -100
    assert np.array_equal(labels.ravel()[:total][real], ids.ravel()[:total][real])
    # bytes: one per real token; scored bytes = tokens a shifted loss scores
    assert tr["num_bytes"] == [min(16, total - 16 * r) for r in range(len(tr))]
    assert tr["num_scored_bytes"] == list((labels[:, 1:] != -100).sum(1))
    assert json.loads(tr.info.description)["pad_id"] == 256


def test_every_source_kind_gives_the_same_documents(tmp_path, cache):
    src = write_tree(tmp_path / "src")
    ref = documents_of(wd.load_corpus(src, block_size=8, validation_fraction=0, cache_dir=cache)["train"])
    ds = datasets.Dataset.from_dict({"body": DOCS, "other": list(range(len(DOCS)))})
    ds.to_json(str(tmp_path / "docs.jsonl"))
    ds.to_parquet(str(tmp_path / "docs.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    half = len(DOCS) // 2
    dd_src = datasets.DatasetDict({"a": ds.select(range(half)), "b": ds.select(range(half, len(DOCS)))})
    dd_src.save_to_disk(str(tmp_path / "saved_dict"))
    cases = {
        "file list": [src / f"d{i:02d}.txt" for i in range(len(DOCS))],
        "glob": str(src / "d*.txt"),
        "jsonl": tmp_path / "docs.jsonl",
        "parquet": str(tmp_path / "docs.parquet"),
        "dataset": ds,
        "dataset dict": dd_src,
        "saved dataset": tmp_path / "saved",
        "saved dataset dict": str(tmp_path / "saved_dict"),
        "mixed list": [src / "d00.txt", datasets.Dataset.from_dict({"body": DOCS[1:3]}), str(src / "d0[3-9].txt")],
    }
    for name, source in cases.items():
        dd = wd.load_corpus(source, block_size=8, validation_fraction=0, text_column="body", cache_dir=cache)
        assert documents_of(dd["train"]) == ref, name


def test_directory_rules(tmp_path, cache):
    src = write_tree(tmp_path / "src", ["a\n", "b\n"])
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "m.pyc").write_bytes(b"\xa7\r\r\n\0\0")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("hidden\n")
    (src / ".hidden.txt").write_text("hidden\n")
    (src / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")  # binary: skipped in a directory
    (src / "test").mkdir()
    (src / "test" / "t.py").write_text("test\n")
    (src / "pkg").mkdir()
    (src / "pkg" / "m.py").write_text("code\n")
    (src / "pkg" / "notes.md").write_text("notes\n")
    def load(**kw):
        return documents_of(wd.load_corpus(src, block_size=4, validation_fraction=0, cache_dir=cache, **kw)["train"])

    assert load() == ["a\n", "b\n", "code\n", "notes\n", "test\n"]
    assert load(exclude="test") == ["a\n", "b\n", "code\n", "notes\n"]
    assert load(include="*.py", exclude=["test"]) == ["code\n"]
    assert load(exclude=["pkg/*.md", "d01.txt"]) == ["a\n", "code\n", "test\n"]
    with pytest.raises(ValueError, match="include must be a pattern"):
        load(include=[3])


@pytest.mark.parametrize("make", [tiny_wordlevel, tiny_bytelevel])
def test_num_bytes_is_exact_for_a_tokenizer(make, tmp_path, cache):
    tok = make()
    dd = wd.load_corpus(write_tree(tmp_path / "src"), tokenizer=tok, block_size=8, validation_fraction=0.2,
                        cache_dir=cache)
    total = 0
    for split in dd.values():
        total += sum(split["num_bytes"])
        ids, labels = np.asarray(split["input_ids"]), np.asarray(split["labels"])
        assert np.all(ids[labels == -100] >= 0) and np.all(ids < len(tok))
        assert all(s <= b for s, b in zip(split["num_scored_bytes"], split["num_bytes"]))
    assert total == sum(len(d.encode("utf-8")) for d in DOCS if tok(d, add_special_tokens=False)["input_ids"])
    pad_id = json.loads(dd["train"].info.description)["pad_id"]
    assert pad_id == (1 if make is tiny_wordlevel else 0)
    # without a validation split the rows are the documents' own ids, concatenated, cut and padded
    tr = wd.load_corpus(tmp_path / "src", tokenizer=tok, block_size=8, validation_fraction=0, cache_dir=cache)["train"]
    per_doc = [tok(d, add_special_tokens=False)["input_ids"] for d in DOCS]
    ids = [i for doc in per_doc for i in doc]
    pos = [p for doc in per_doc for p in range(len(doc))]
    pad = -len(ids) % 8
    assert np.array_equal(np.asarray(tr["input_ids"]).ravel(), ids + [pad_id] * pad)
    assert np.array_equal(np.asarray(tr["position_ids"]).ravel()[:len(ids)], pos)


def test_token_bytes_from_offsets():
    text = "héllo  wörld!"
    # tokens "héllo", "wörld", "!" (the double space is skipped by the tokenizer and charged to "wörld")
    assert token_bytes_from_offsets(text, np.array([5, 12, 13])).tolist() == [6, 8, 1]
    # two byte-pieces of "é" share its character: the first covers its 2 bytes, the second none
    assert token_bytes_from_offsets("é!", np.array([1, 1, 2])).tolist() == [2, 0, 1]
    # text after the last token goes to it; non-monotone ends (special tokens at 0) cover nothing
    assert token_bytes_from_offsets("ab c", np.array([2, 0, 3])).tolist() == [2, 0, 2]


def test_tokenizer_by_path_equals_the_object(tmp_path, cache):
    tok = tiny_wordlevel()
    tok.save_pretrained(str(tmp_path / "tok"))
    src = write_tree(tmp_path / "src")
    a = wd.load_corpus(src, tokenizer=tok, block_size=8, cache_dir=cache)
    b = wd.load_corpus(src, tokenizer=str(tmp_path / "tok"), block_size=8, cache_dir=cache)
    c = wd.load_corpus(src, tokenizer=tok.backend_tokenizer, block_size=8, cache_dir=cache)
    for split in a:
        assert a[split].to_dict() == b[split].to_dict()
        ids_a, ids_c = np.asarray(a[split]["input_ids"]), np.asarray(c[split]["input_ids"])
        padded = ids_a != ids_c  # a tokenizers.Tokenizer has no pad token: its padding id is 0, not "[PAD]" = 1
        assert np.all(ids_a[padded] == 1) and np.all(ids_c[padded] == 0) and padded[:-1].sum() == 0
        assert np.all(np.asarray(a[split]["labels"])[padded] == -100)
    with pytest.raises(ValueError, match="not-a-local-tokenizer.*no download"):
        wd.load_corpus(src, tokenizer=str(tmp_path / "not-a-local-tokenizer"), cache_dir=cache)


def test_transformers_byte_tokenizer_agrees_with_the_bytes_path(tmp_path, cache):
    """``byte_tokenizer()`` (an object, or a folder it was saved to) gives the rows of ``tokenizer="bytes"`` from the
    same cache entry; tokenising through its offsets instead of the direct UTF-8 encoding gives the same ids and
    each document's bytes."""
    src = write_tree(tmp_path / "src")
    tok = wd.byte_tokenizer()
    tok.save_pretrained(tmp_path / "tok")
    ref = wd.load_corpus(src, block_size=8, validation_fraction=0.3, cache_dir=cache)
    entries = set(os.listdir(cache / "wave_hf_corpus"))
    for other in (tok, str(tmp_path / "tok"), tmp_path / "tok"):
        got = wd.load_corpus(src, tokenizer=other, block_size=8, validation_fraction=0.3, cache_dir=cache)
        for split in ref:
            assert got[split].to_dict() == ref[split].to_dict()
            assert json.loads(got[split].info.description) == json.loads(ref[split].info.description)
    assert set(os.listdir(cache / "wave_hf_corpus")) == entries
    batch = {"text": DOCS}
    direct = corpus_tokens.ByteEncoder()(batch)
    offsets = corpus_tokens.OffsetsEncoder(tok)(batch)
    for text, a, b, counts in zip(DOCS, direct["input_ids"], offsets["input_ids"], offsets["token_bytes"]):
        assert list(a) == list(b) == list(text.encode("utf-8"))
        assert counts.sum() == len(text.encode("utf-8"))


def test_split_is_by_document_and_seeded(tmp_path, cache):
    docs = [f"document number {i}\n" for i in range(40)]
    src = write_tree(tmp_path / "src", docs)

    def split_docs(seed, fraction=0.1):
        dd = wd.load_corpus(src, block_size=16, validation_fraction=fraction, seed=seed, cache_dir=cache)
        return documents_of(dd["train"]), documents_of(dd["validation"])

    train, val = split_docs(0)
    assert len(val) == 4 and not set(train) & set(val) and sorted(train + val) == sorted(docs)
    assert train == sorted(train, key=docs.index) and val == sorted(val, key=docs.index)  # document order
    assert split_docs(0) == (train, val)
    assert split_docs(1)[1] != val
    assert len(split_docs(0, 0.001)[1]) == 1


def test_num_proc_gives_the_same_rows(tmp_path):
    docs = [f"doc {i} " * (i % 7 + 1) + "\n" for i in range(30)]
    src = write_tree(tmp_path / "src", docs)
    a = wd.load_corpus(src, block_size=32, cache_dir=tmp_path / "c1")
    b = wd.load_corpus(src, block_size=32, num_proc=2, cache_dir=tmp_path / "c2")
    for split in a:
        assert a[split].to_dict() == b[split].to_dict()


def test_cache_hit_and_misses(tmp_path, cache, monkeypatch):
    src = write_tree(tmp_path / "src")
    ds = datasets.Dataset.from_dict({"text": DOCS, "title": [d[::-1] for d in DOCS]})
    first = wd.load_corpus(src, block_size=8, cache_dir=cache)
    first_ds = wd.load_corpus(ds, block_size=8, cache_dir=cache)
    builds = []
    real_build = corpus._build
    monkeypatch.setattr(corpus, "_build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    again = wd.load_corpus(src, block_size=8, num_proc=2, cache_dir=cache)  # num_proc is not part of the key
    assert not builds and again["train"].cache_files == first["train"].cache_files
    assert wd.load_corpus(ds, block_size=8, cache_dir=cache)["train"].to_dict() == first_ds["train"].to_dict()
    assert not builds
    changes = [dict(block_size=9), dict(validation_fraction=0.3), dict(seed=5), dict(tokenizer=tiny_wordlevel())]
    for change in changes:
        wd.load_corpus(src, **{"block_size": 8, "cache_dir": cache, **change})
    wd.load_corpus(ds, block_size=8, text_column="title", cache_dir=cache)
    wd.load_corpus(src, block_size=8, exclude="d05.txt", cache_dir=cache)
    os.utime(src / "d00.txt", ns=(1, 1))  # an edited file (new modification time) is a new corpus
    wd.load_corpus(src, block_size=8, cache_dir=cache)
    assert len(builds) == len(changes) + 3
    assert len(list((cache / "wave_hf_corpus").iterdir())) == 2 + len(builds)


def test_bad_inputs_and_no_partial_cache(tmp_path, cache):
    src = write_tree(tmp_path / "src")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "bin.dat").write_bytes(b"abc\0def")
    bad_dir = write_tree(tmp_path / "bad_dir", ["ok\n"])
    (bad_dir / "z.txt").write_bytes(b"\xff\xfe broken\n")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "e.txt").write_text("")
    ds = datasets.Dataset.from_dict({"text": DOCS})
    cases = [
        (dict(source=tmp_path / "missing.txt"), FileNotFoundError, "missing.txt"),
        (dict(source=str(tmp_path / "nothing-*.txt")), FileNotFoundError, "matches no file"),
        (dict(source=[]), ValueError, "empty source"),
        (dict(source=tmp_path / "empty_dir"), ValueError, "empty source"),
        (dict(source=tmp_path / "blank"), ValueError, "no text"),
        (dict(source=tmp_path / "latin1.txt"), ValueError, "latin1.txt is not UTF-8"),
        (dict(source=tmp_path / "bin.dat"), ValueError, "bin.dat is not UTF-8.*binary"),
        (dict(source=bad_dir, num_proc=2), ValueError, "z.txt is not UTF-8"),
        (dict(source=src, block_size=1), ValueError, "block_size must be an int >= 2"),
        (dict(source=src, validation_fraction=1.0), ValueError, r"validation_fraction must be in \[0, 1\)"),
        (dict(source=src, validation_fraction=-0.1), ValueError, "validation_fraction"),
        (dict(source=ds, text_column="body"), ValueError, "no column 'body'.*'text'"),
        (dict(source=datasets.Dataset.from_dict({"text": [1, 2]})), ValueError, "not text"),
        (dict(source=src / "d00.txt"), ValueError, "at least 2 documents"),
        (dict(source=src, num_proc=0), ValueError, "num_proc"),
        (dict(source=src, tokenizer=object()), TypeError, "tokenizer must be"),
        (dict(source=42), TypeError, "source must be"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            wd.load_corpus(**{"cache_dir": cache, **kwargs})
        root = cache / "wave_hf_corpus"
        assert not root.exists() or not list(root.iterdir()), kwargs  # nothing half-written
    jsonl = tmp_path / "t.jsonl"
    datasets.Dataset.from_dict({"body": ["a b", "c d"]}).to_json(str(jsonl))
    with pytest.raises(ValueError, match="t.jsonl has no column 'text'"):
        wd.load_corpus(jsonl, cache_dir=cache)
    (tmp_path / "broken.jsonl").write_text('{"text": "a"}\n{not json\n')
    with pytest.raises(ValueError, match="broken.jsonl"):
        wd.load_corpus(tmp_path / "broken.jsonl", cache_dir=cache)
    assert not list((cache / "wave_hf_corpus").iterdir())
