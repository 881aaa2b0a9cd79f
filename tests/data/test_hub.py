"""Parquet export / read-back, the dataset card, and push_dataset against the loopback fake Hub."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

import wave_hf.data as wd
import wave_hf.data.hub as wd_hub
from tests.data.helpers import as_numpy, same_columns
from tests.hub_fake import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {
        "var": wd.build_dataset("var", seed=3, num_train=40, num_validation=8, num_test=8, cache_dir=str(cache),
                                seq_len=12, d=2),
        "mqar": wd.build_dataset("mqar", seed=1, num_train=30, num_validation=6, num_test=6, cache_dir=str(cache)),
    }


@pytest.mark.parametrize("name", ["var", "mqar"])
def test_parquet_round_trip(built, name, tmp_path):
    dd = built[name]
    paths = wd.export_parquet(dd, tmp_path / "export")
    assert sorted(paths) == ["test", "train", "validation"]
    back = datasets.load_dataset("parquet", data_files=paths, cache_dir=str(tmp_path / "c"))
    for split in dd:
        assert back[split].features == dd[split].features
        assert same_columns(as_numpy(back[split]), as_numpy(dd[split]))
    rec = wd.generation_info(dd)
    assert wd.generation_info(paths["train"]) == rec
    assert wd.generation_info(tmp_path / "export") == rec
    # the README configs make the folder itself loadable
    folder = datasets.load_dataset(str(tmp_path / "export"), name, cache_dir=str(tmp_path / "c2"))
    assert same_columns(as_numpy(folder["test"]), as_numpy(dd["test"]))


def test_card_records_generator_params_and_seed(built, tmp_path):
    dd = built["var"]
    wd.export_parquet(dd, tmp_path / "export")
    card = DatasetCard.load(tmp_path / "export" / "README.md")
    assert "wave_hf" in card.data.tags and card.data.task_categories == ["time-series-forecasting"]
    assert card.data.configs[0]["config_name"] == "var"
    text = card.text
    rec = wd.generation_info(dd)
    assert "`wave_hf.data`" in text and "| seed | `3` |" in text and "`mse`" in text
    assert json.dumps(rec["params"], indent=2, sort_keys=True) in text
    assert "| train | 40 |\n| validation | 8 |\n| test | 8 |" in text and "`F`, `a`, `spectral_radius`" in text
    # the "Regenerate" snippet really regenerates these rows
    snippet = text.split("## Regenerate")[1].split("```python")[1].split("```")[0]
    scope: dict = {}
    exec(snippet, scope)
    assert same_columns(as_numpy(scope["ds"]["train"]), as_numpy(dd["train"]))


def test_card_template_ships_in_the_package(built, monkeypatch):
    rec = wd.generation_info(built["mqar"])
    template = Path(wd.__file__).parent / "templates" / "dataset_card.md"
    assert template.is_file() and not (REPO_ROOT / "model_cards" / "dataset_card.md").exists()
    text = wd.render_dataset_card(rec, repo_id="user/x", config_name="small", template_path=template)
    assert text == wd.render_dataset_card(rec, repo_id="user/x", config_name="small")
    assert 'load_dataset("user/x", "small")' in text and "vocab_size = 40" in text and "token_accuracy" in text
    assert DatasetCard(text).data.task_categories == ["text-generation"]
    # a missing template is an error, not a silent fallback
    monkeypatch.setattr(wd_hub, "_TEMPLATE_NAME", "no_such_card.md")
    with pytest.raises(FileNotFoundError, match="no_such_card.md is missing from the wave_hf package"):
        wd.render_dataset_card(rec, repo_id="user/x", config_name="small")


def test_push_refuses_a_mismatching_description(built, tmp_path):
    changed = datasets.DatasetDict({**built["var"], "train": built["var"]["train"].select(range(5))})
    for fn in (lambda: wd.export_parquet(changed, tmp_path), lambda: wd.push_dataset(changed, "user/x")):
        with pytest.raises(ValueError, match="differ from the generated ones"):
            fn()
    with pytest.raises(ValueError, match="does not match the dataset's generator name 'var'"):
        wd.push_dataset(built["var"], "user/x", name="lorenz")
    with pytest.raises(ValueError, match="seed=4 does not match the dataset's seed 3"):
        wd.push_dataset(built["var"], "user/x", seed=4)
    with pytest.raises(ValueError, match="do not match the dataset's parameters"):
        wd.push_dataset(built["var"], "user/x", params={"seq_len": 13, "d": 2})


_PUSH_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from huggingface_hub import HfApi

    # datasets deletes its temporary Parquet shards after preupload; the fake Hub takes every file as a "regular"
    # upload (no LFS), so hand it the bytes instead of the path
    _orig = HfApi.preupload_lfs_files
    def _preupload(self, repo_id, additions, *a, **k):
        for op in additions:
            if isinstance(op.path_or_fileobj, (str, os.PathLike)):
                with open(op.path_or_fileobj, "rb") as f:
                    op.path_or_fileobj = f.read()
        return _orig(self, repo_id, additions, *a, **k)
    HfApi.preupload_lfs_files = _preupload

    import datasets
    datasets.disable_progress_bars()
    import wave_hf.data as wd
    cache = sys.argv[1]
    dd = wd.build_dataset("copy", seed=2, num_train=20, num_validation=5, num_test=5, cache_dir=cache, delay=2)
    wd.push_dataset(dd, "user/wave-copy", config_name="copy_d2")
    back = datasets.load_dataset("user/wave-copy", "copy_d2", cache_dir=cache + "/dl")
    same = all(back[s].with_format("numpy")[:][k].tolist() == dd[s].with_format("numpy")[:][k].tolist()
               for s in dd for k in dd[s].column_names)
    print(json.dumps({"same": same, "features_equal": back["train"].features == dd["train"].features}))
    """
)


class _Hub(FakeHub):
    """The fake answers every repo-info request with sha "1"*40; datasets then lists the tree at that sha."""

    def repo_dir(self, repo_id: str, revision: str = "main") -> Path:
        return super().repo_dir(repo_id, "main" if revision == "1" * 40 else revision)


def test_push_dataset_to_a_fake_hub(tmp_path):
    with _Hub(tmp_path / "hub") as hub:
        env = hub.client_env()
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run([sys.executable, "-c", _PUSH_SCRIPT, str(tmp_path / "cache")], env=env,
                              capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)
        assert proc.returncode == 0, proc.stderr[-4000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        files = hub.files("user/wave-copy")
    assert result == {"same": True, "features_equal": True}
    assert "README.md" in files and "copy_d2/generation_info.json" in files
    assert any(f.startswith("copy_d2/train-") and f.endswith(".parquet") for f in files)
    card = DatasetCard.load(hub.repo_dir("user/wave-copy") / "README.md")
    assert card.data.configs[0]["config_name"] == "copy_d2" and "dataset_info" in card.data.to_dict()
    assert "| seed | `2` |" in card.text and '"delay": 2' in card.text
    rec = json.loads((hub.repo_dir("user/wave-copy") / "copy_d2" / "generation_info.json").read_text())
    assert rec["name"] == "copy" and rec["seed"] == 2 and rec["params"]["delay"] == 2
    assert hub.commits[-1]["summary"] == "wave_hf dataset card for copy_d2"
