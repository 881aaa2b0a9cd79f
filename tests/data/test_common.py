"""Properties every family must have: schema, shapes, dtypes, masks, determinism, seed sensitivity, agreement of
the three generation paths (sample_batch, stream_dataset, builders) and independence from num_proc."""

import glob
import os

import datasets
import numpy as np
import pytest
import torch

import wave_hf.data as wd
from tests.data.helpers import REAL_KEYS, SMALL, TOKEN_KEYS, as_numpy, same_columns

NAMES = sorted(SMALL)


def test_registry_matches_the_issue():
    assert sorted(wd.list_datasets()) == NAMES
    for name, desc in wd.list_datasets().items():
        assert desc["params"], name
        for spec in desc["params"].values():
            assert {"default", "allowed", "doc"} <= set(spec)
        assert desc["metric"] in desc["summary"]


def test_metrics():
    metric = {n: wd.task_info(n)["metric"] for n in NAMES}
    assert metric.pop("linear_vb") == "bit_accuracy"
    for n in ("copy", "induction_head", "associative_recall", "mqar"):
        assert metric.pop(n) == "token_accuracy"
    assert set(metric.values()) == {"mse"}


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtypes_masks(name):
    info = wd.task_info(name, **SMALL[name])
    batch = wd.sample_batch(name, 5, seed=3, step=2, **SMALL[name])
    L = info["seq_len"]
    if info["kind"] == "tokens":
        assert tuple(batch) == TOKEN_KEYS
        for k in ("input_ids", "labels"):
            assert batch[k].dtype == torch.int64 and batch[k].shape == (5, L)
        ids, labels = batch["input_ids"], batch["labels"]
        assert 0 <= ids.min() and ids.max() < info["vocab_size"]
        scored = labels != info["ignore_index"]
        assert torch.equal(batch["loss_mask"], scored.float())
        assert labels[scored].min() >= 0 and labels[scored].max() < info["vocab_size"]
        assert info["input_size"] == info["output_size"] == info["vocab_size"]
    else:
        assert tuple(batch) == REAL_KEYS
        assert batch["inputs"].shape == (5, L, info["input_size"]) and batch["inputs"].dtype == torch.float32
        assert batch["targets"].shape == (5, L, info["output_size"]) and batch["targets"].dtype == torch.float32
        assert torch.isfinite(batch["inputs"]).all() and torch.isfinite(batch["targets"]).all()
        assert info["vocab_size"] is None
    mask = batch["loss_mask"]
    assert mask.dtype == torch.float32 and mask.shape == (5, L)
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and (mask.sum(1) > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_seed_sensitive(name):
    p = SMALL[name]
    a = wd.sample_batch(name, 6, seed=0, step=1, as_numpy=True, **p)
    assert same_columns(a, wd.sample_batch(name, 6, seed=0, step=1, as_numpy=True, **p))
    key = "inputs" if "inputs" in a else "input_ids"
    for other in (dict(seed=1, step=1), dict(seed=0, step=2), dict(seed=0, step=1, split="validation")):
        b = wd.sample_batch(name, 6, as_numpy=True, **other, **p)
        assert not np.array_equal(a[key], b[key]), other
    # rows differ from each other within a batch
    assert len({a[key][i].tobytes() for i in range(6)}) == 6


@pytest.mark.parametrize("name", NAMES)
def test_paths_agree(name):
    p = SMALL[name]
    batch = wd.sample_batch(name, 7, seed=5, step=1, as_numpy=True, **p)
    rows = wd.sample_rows(name, 7, 14, seed=5, **p)
    assert same_columns(batch, rows)
    # row ranges that cut through blocks give the same rows (what makes the builders independent of num_proc)
    whole = wd.sample_rows(name, 0, 150, seed=5, **p)
    parts = [wd.sample_rows(name, a, b, seed=5, **p) for a, b in ((0, 1), (1, 70), (70, 150))]
    assert same_columns(whole, {k: np.concatenate([q[k] for q in parts]) for k in whole})
    for step in (2, 3):  # later steps (served from the sampler's prefetched rows where the family uses it)
        assert same_columns(wd.sample_batch(name, 7, seed=5, step=step, as_numpy=True, **p),
                            wd.sample_rows(name, 7 * step, 7 * step + 7, seed=5, **p))
    stream = wd.stream_dataset(name, seed=5, num_rows=14, chunk_rows=5, **p)
    assert stream.n_shards == 3
    got = list(stream.with_format("numpy").iter(batch_size=7))
    assert len(got) == 2 and same_columns(got[1], rows)
    assert len(list(stream)) == 14  # plain (python) iteration
    assert wd.generation_info(stream)["params"] == wd.task_info(name, **p)["params"]
    infinite = wd.stream_dataset(name, seed=5, chunk_rows=4, **p).with_format("numpy")
    first = next(iter(infinite.iter(batch_size=14)))
    assert same_columns(first, wd.sample_rows(name, 0, 14, seed=5, **p))


@pytest.mark.parametrize("name", NAMES)
def test_builder_independent_of_num_proc(name, tmp_path):
    p = SMALL[name]
    sizes = dict(num_train=150, num_validation=20, num_test=10)
    one = wd.build_dataset(name, seed=2, num_proc=1, cache_dir=str(tmp_path / "one"), **sizes, **p)
    two = wd.build_dataset(name, seed=2, num_proc=2, chunk_rows=64, cache_dir=str(tmp_path / "two"), **sizes, **p)
    train_files = glob.glob(str(tmp_path / "two" / "**" / f"{name}-train-*.arrow"), recursive=True)
    assert len(train_files) == 2, "num_proc=2 should have written one file per job"
    for split, n in (("train", 150), ("validation", 20), ("test", 10)):
        a, b = as_numpy(one[split]), as_numpy(two[split])
        assert len(a[next(iter(a))]) == n
        assert same_columns(a, b), split
        assert same_columns(a, wd.sample_rows(name, 0, n, seed=2, split=split, **p)), split
    feats = one["train"].features
    if "inputs" in feats:
        assert isinstance(feats["inputs"], datasets.Array2D) and feats["inputs"].dtype == "float32"
        assert isinstance(feats["targets"], datasets.Array2D)
    else:
        assert feats["input_ids"].feature.dtype == "int64" and feats["labels"].feature.dtype == "int64"
    assert feats["loss_mask"].feature.dtype == "float32"
    rec = wd.generation_info(one)
    assert rec["seed"] == 2 and rec["name"] == name and rec["splits"] == {"train": 150, "validation": 20, "test": 10}
    assert rec["params"] == wd.task_info(name, **p)["params"]
    assert rec["task_info"]["metric"] == wd.task_info(name)["metric"]
    torch_batch = one["train"].with_format("torch")[:4]
    assert all(isinstance(v, torch.Tensor) for v in torch_batch.values())


def test_builder_class_caches_by_config(tmp_path):
    cls = wd.get_builder_class("linear_vb")
    kw = dict(cache_dir=str(tmp_path), num_train=64, num_validation=8, num_test=8)
    b = cls(config_name="T2", **kw)
    b.download_and_prepare()
    ds = b.as_dataset()
    assert wd.generation_info(ds)["params"]["task"] == "T2"
    again = cls(config_name="T2", **kw)
    assert again.cache_dir == b.cache_dir
    again.download_and_prepare()  # served from the cache
    assert as_numpy(again.as_dataset(split="train"))["targets"].tobytes() == as_numpy(ds["train"])["targets"].tobytes()
    other = cls(config_name="T2", horizon=10, **kw)
    assert other.cache_dir != b.cache_dir
    other.download_and_prepare()
    assert other.as_dataset(split="test").features["targets"].shape == (18, 8)
    assert {c.name for c in cls.BUILDER_CONFIGS} == {"default", "T1", "T2", "T3", "T4"}
    assert os.path.isdir(b.cache_dir) and os.path.isdir(other.cache_dir)


def test_record_survives_save_to_disk(tmp_path):
    dd = wd.build_dataset("var", seed=4, num_train=8, num_validation=4, num_test=4, cache_dir=str(tmp_path / "c"),
                          seq_len=12)
    dd.save_to_disk(str(tmp_path / "saved"))
    back = datasets.load_from_disk(str(tmp_path / "saved"))
    assert wd.generation_info(back) == wd.generation_info(dd)
    np.testing.assert_array_equal(np.array(wd.generation_info(back)["ground_truth"]["a"]),
                                  wd.ground_truth("var", seed=4, seq_len=12)["a"])


def test_curriculum_keeps_rows():
    short = wd.sample_batch("linear_vb", 8, seed=1, step=3, horizon=5, task="T3", as_numpy=True)
    long = wd.sample_batch("linear_vb", 8, seed=1, step=3, horizon=12, task="T3", as_numpy=True)
    assert long["inputs"].shape[1] == 8 + 12 and wd.task_info("linear_vb", horizon=12)["seq_len"] == 20
    for k in REAL_KEYS:
        np.testing.assert_array_equal(long[k][:, :13], short[k])


def test_compute_metric_follows_the_data_conventions():
    b = wd.sample_batch("linear_vb", 8, seed=0, task="T2", horizon=10)
    perfect = b["targets"] * 0.3  # right sign everywhere; the masked prompt steps must not count
    perfect[:, :8] = -b["targets"][:, :8] - 1.0
    assert wd.compute_metric("bit_accuracy", perfect, b) == 1.0
    half = perfect.clone()
    half[:, 8:, :4] *= -1
    assert wd.compute_metric("bit_accuracy", half, b) == 0.5
    r = wd.sample_batch("var", 4, seed=0, seq_len=10)
    out = r["targets"] + 0.5
    out[:, 0] += 100.0  # step 0 is not scored for s = 2
    assert abs(wd.compute_metric("mse", out, r) - 0.25) < 1e-6
    t = wd.sample_batch("mqar", 6, seed=0)
    logits = torch.zeros(6, t["labels"].shape[1], wd.task_info("mqar")["vocab_size"])
    nxt = t["labels"][:, 1:].clamp_min(0)
    logits[:, :-1].scatter_(2, nxt[..., None], 1.0)  # predicts labels[t+1] from position t
    assert wd.compute_metric("token_accuracy", logits, t) == 1.0
    assert wd.compute_metric("token_accuracy", torch.roll(logits, 1, dims=1), t) < 0.2
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        wd.compute_metric("f1", logits, t)
