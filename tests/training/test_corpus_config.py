"""A run config that names a corpus (``dataset.corpus``): schema keys and errors, the vocabulary taken from the
tokenizer, the named corpus ``stdlib``, and the batches (a pure function of (seed, step))."""

from __future__ import annotations

import math
import os
import sysconfig

import pytest
import torch

from wave_hf.training import RunConfigError, load_run_config, prepare_run, trainer
from wave_hf.training.corpora import NAMED_CORPORA, CorpusSource
from wave_hf.training.modeling import takes_position_ids
from wave_hf.training.tasks import epoch_rows

from .conftest import corpus_config, tiny_config, write_tiny_corpus


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus") / "docs")


def test_corpus_keys_and_defaults(tmp_path):
    cfg = load_run_config(corpus_config(tmp_path / "run", "some/folder"))
    d = cfg.dataset
    assert d.is_corpus and (d.corpus, d.block_size, d.include) == ("some/folder", 16, ["*.txt"])
    base = tiny_config(tmp_path)
    defaults = load_run_config({**base, "dataset": {"corpus": "x"}}).dataset
    assert (defaults.tokenizer, defaults.block_size, defaults.validation_fraction, defaults.split_seed,
            defaults.text_column, defaults.include, defaults.exclude) == ("bytes", 1024, 0.01, 0, "text", None, None)
    # run_config.yaml holds only the keys of its kind, and parses back to the same config
    saved = cfg.to_dict()["dataset"]
    assert "params" not in saved and "name" not in saved and saved["block_size"] == 16
    assert load_run_config(cfg.to_dict()).to_dict() == cfg.to_dict()
    synthetic = load_run_config(base).to_dict()["dataset"]
    assert set(synthetic) == {"name", "params", "source", "build"}


@pytest.mark.parametrize("dataset, message", [
    ({"name": "linear_vb", "corpus": "x"}, r"`dataset` needs exactly one of `name` and `corpus`; got "
                                           r"name='linear_vb', corpus='x'"),
    ({}, r"`dataset.name` is required \(a dataset builder name of wave_hf.data\), or instead `dataset.corpus`"),
    ({"name": "linear_vb", "block_size": 8}, r"`dataset.block_size` only applies to a corpus"),
    ({"name": "linear_vb", "include": "*.py"}, r"`dataset.include` only applies to a corpus"),
    ({"corpus": "x", "params": {"d": 2}}, r"`dataset.params` only applies to a synthetic family"),
    ({"corpus": "x", "source": "build"}, r"`dataset.source` only applies to a synthetic family"),
    ({"corpus": "x", "block_size": 1}, r"`dataset.block_size` must be an int >= 2; got 1"),
    ({"corpus": "x", "split_seed": -1}, r"`dataset.split_seed` must be a non-negative int; got -1"),
    ({"corpus": "x", "num_proc": 0}, r"`dataset.num_proc` must be a positive int or None; got 0"),
    ({"corpus": "x", "validation_fraction": 1.0}, r"`dataset.validation_fraction` must be in \[0, 1\); got 1.0"),
    ({"corpus": "x", "block_size": "big"}, r"`dataset.block_size` must be an integer; got 'big'"),
    ({"corpus": "x", "blocksize": 8}, r"unknown key `dataset.blocksize` in `dataset`; valid keys are: .*block_size"),
    ({"corpus": "x", "include": ""}, r"`dataset.include` patterns must be non-empty; got ''"),
    ({"corpus": "x", "exclude": []}, r"`dataset.exclude` patterns must be non-empty; got \[\]"),
])
def test_bad_dataset_sections(tmp_path, dataset, message):
    with pytest.raises(RunConfigError, match=message):
        load_run_config({**tiny_config(tmp_path), "dataset": dataset})


def test_sections_that_do_not_apply_to_a_corpus(tmp_path):
    cfg = corpus_config(tmp_path, "x")
    with pytest.raises(RunConfigError, match="`curriculum` changes a parameter of a synthetic family"):
        load_run_config({**cfg, "curriculum": {"param": "horizon", "values": [4]}})
    with pytest.raises(RunConfigError, match="`evaluation.params` only applies to a synthetic family"):
        load_run_config(cfg, ["--evaluation.params={horizon: 4}"])


def test_vocab_size_comes_from_the_tokenizer(tmp_path, docs):
    run = prepare_run(corpus_config(tmp_path / "run", docs, model="wave_lbc"))
    assert run.model_config.vocab_size == 258 and run.task.info["vocab_size"] == 258
    assert run.task.metric == "bits_per_byte" and not run.task.higher_is_better
    assert run.task.info["corpus"]["rows"]["train"] > 0
    with pytest.raises(RunConfigError, match=r"`model.vocab_size`=300 conflicts with the tokenizer `bytes` of corpus "
                                             r"`docs` \(vocab_size=258\)"):
        prepare_run(corpus_config(tmp_path / "run", docs, model="wave_lbc"), ["--model.vocab_size=300"])


def test_bad_corpus_sources(tmp_path, docs):
    with pytest.raises(RunConfigError, match=r"`dataset.corpus` '.*nowhere': load_corpus: no such file or directory"):
        prepare_run(corpus_config(tmp_path / "run", tmp_path / "nowhere"), check_forward=False)
    with pytest.raises(RunConfigError, match=r"`dataset.tokenizer`: load_corpus: tokenizer '.*no_tokenizer' is "
                                             r"neither 'bytes' nor loadable locally"):
        prepare_run(corpus_config(tmp_path / "run", docs), [f"--dataset.tokenizer={tmp_path / 'no_tokenizer'}"])
    with pytest.raises(RunConfigError, match="`dataset.validation_fraction` is 0, so the corpus has no validation"):
        prepare_run(corpus_config(tmp_path / "run", docs), ["--dataset.validation_fraction=0"])
    # without evaluation a corpus needs no validation split
    prepare_run(corpus_config(tmp_path / "run", docs), ["--dataset.validation_fraction=0", "--evaluation.final=false"])
    with pytest.raises(RunConfigError, match=r"the corpus has \d+ training rows, fewer than `optim.batch_size`=4096"):
        prepare_run(corpus_config(tmp_path / "run", docs), ["--optim.batch_size=4096"])


def test_stdlib_names_the_standard_library_source(tmp_path):
    stdlib = NAMED_CORPORA["stdlib"]
    assert stdlib.root() == sysconfig.get_paths()["stdlib"]
    assert stdlib.include == ("*.py",) and {"test", "tests", "idle_test", "site-packages"} <= set(stdlib.exclude)
    # a small include keeps it fast: two top-level modules, one per split; exclude adds to the test folders
    run = prepare_run(corpus_config(tmp_path / "run", "stdlib"),
                      ["--dataset.include=[abc.py, bisect.py]", "--dataset.validation_fraction=0.5",
                       "--dataset.exclude=[zipfile]"])
    info = run.task.info["corpus"]
    assert run.task.name == "stdlib" and info["source"] == sysconfig.get_paths()["stdlib"]
    assert info["include"] == ["abc.py", "bisect.py"] and info["exclude"][-1] == "zipfile"
    assert set(stdlib.exclude) <= set(info["exclude"])
    # the bytes of every abc.py / bisect.py below the stdlib folder outside the excluded folders (a pattern without
    # "/" matches the name at any depth, so importlib/abc.py counts too)
    total = 0
    for folder, dirs, files in os.walk(sysconfig.get_paths()["stdlib"]):
        dirs[:] = [d for d in dirs if d not in info["exclude"] and d != "__pycache__" and not d.startswith(".")]
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files if f in ("abc.py", "bisect.py"))
    assert info["num_bytes"]["train"] + info["num_bytes"]["validation"] == total > 0


def test_batches_are_a_function_of_seed_and_step(tmp_path, docs):
    run = prepare_run(corpus_config(tmp_path / "run", docs), check_forward=False)
    splits = {"train": run.source.train, "validation": run.source.validation}
    a, b, other = CorpusSource(splits, seed=0), CorpusSource(splits, seed=0), CorpusSource(splits, seed=1)
    n, bs = len(splits["train"]), 4
    per_epoch = n // bs
    for s in (0, 3, per_epoch + 1):
        x, y = a.train_batch(s, bs), b.train_batch(s, bs)
        assert x.keys() == {"input_ids", "labels", "position_ids", "num_scored_bytes"}
        assert all(torch.equal(x[k], y[k]) for k in x)
    # batch s holds the rows epoch_rows(n, s, ...) names; one epoch draws distinct rows, the next a new order
    index = [epoch_rows(n, s, bs, seed=0) for s in range(2 * per_epoch)]
    assert len({i for idx in index[:per_epoch] for i in idx}) == per_epoch * bs
    assert index[per_epoch] != index[0]
    for s in (1, per_epoch):
        assert torch.equal(a.train_batch(s, bs)["input_ids"], splits["train"][index[s]]["input_ids"])
    assert not torch.equal(other.train_batch(0, bs)["input_ids"], a.train_batch(0, bs)["input_ids"])
    # evaluation reads the validation rows in order, the last batch short
    m = len(splits["validation"])
    assert a.eval_batch_count(10, 3) == -(-m // 3) and a.eval_batch_count(1, 3) == 1
    last = a.eval_batch(a.eval_batch_count(10, 3) - 1, 3)
    assert len(last["input_ids"]) == m - 3 * (a.eval_batch_count(10, 3) - 1)


def test_position_ids_go_only_to_models_whose_forward_names_them(tmp_path, docs, monkeypatch):
    class KwargsOnly(torch.nn.Module):
        def forward(self, input_ids, **kwargs):
            return input_ids

    class Named(torch.nn.Module):
        def forward(self, input_ids, position_ids=None, **kwargs):
            return input_ids

    assert not takes_position_ids(KwargsOnly()) and takes_position_ids(Named())
    run = prepare_run(corpus_config(tmp_path / "run", docs), check_forward=False)  # Llama names them
    assert takes_position_ids(run.model)
    # a corpus run of a model that cannot separate the packed documents says so
    monkeypatch.setattr(trainer, "takes_position_ids", lambda model: False)
    with pytest.warns(UserWarning, match="forward takes no `position_ids`, so the documents packed in one corpus row "
                                         "are not separated"):
        prepare_run(corpus_config(tmp_path / "run", docs))


def test_a_local_tokenizer_sets_the_vocabulary_and_bytes_stay_the_denominator(tmp_path, docs):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from wave_hf.training import evaluate

    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator([p.read_text() for p in sorted(docs.glob("*.txt"))], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["[UNK]", "[PAD]"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="[PAD]", unk_token="[UNK]")
    fast.save_pretrained(tmp_path / "tok")
    run = prepare_run(corpus_config(tmp_path / "run", docs, model="wave_lbc"),
                      [f"--dataset.tokenizer={tmp_path / 'tok'}", "--dataset.block_size=4"])
    assert run.model_config.vocab_size == len(fast) == run.task.info["vocab_size"]
    validation = run.source.validation
    res = evaluate(run.model, validation)
    # merged tokens cover several bytes: the denominator is the bytes of the scored tokens, not their number
    assert res["num_bytes"] == int(sum(validation["num_scored_bytes"])) > res["num_tokens"] > 0
    assert res["bits_per_byte"] == pytest.approx(res["loss"] * res["num_tokens"] / math.log(2) / res["num_bytes"])
