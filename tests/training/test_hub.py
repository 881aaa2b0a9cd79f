"""Publishing without the network: the real huggingface_hub client talks to a loopback fake Hub (tests/hub_fake.py)
started by the test. Checked: the exact file list and bytes, the commit message, private/branch handling, the card's
Hub metadata, a download through from_pretrained, the run-config push option (``wave_hf.hub.train_and_push``, what
``wave-hf train`` runs), and a push that fails half-way."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.hub_fake import FakeHub
from wave_hf.training import train

from .conftest import reset_accelerate, run_py, subprocess_env, tiny_config


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "run"
    train(tiny_config(out, steps=2, evaluation={"every": 0, "batches": 1, "batch_size": 8}))
    reset_accelerate()
    return out


CLIENT = r"""
import json, sys
import torch
from wave_hf.cli import main
from wave_hf.hub import train_and_push
args = json.loads(sys.argv[1])
out = {}
if args.get("config"):
    result = train_and_push(args["config"])
    out["train_hub_url"], out["train_hub_error"] = result.hub_url, result.hub_error
out["rc"] = main(["push", args["dir"], "--repo-id", args["repo"], *args["flags"]])
if args.get("download"):
    import wave_hf
    from transformers import AutoModelForTimeSeriesPrediction
    remote = AutoModelForTimeSeriesPrediction.from_pretrained(args["repo"], revision=args.get("revision"),
                                                              cache_dir=args["cache"])
    local = AutoModelForTimeSeriesPrediction.from_pretrained(args["dir"] + "/model")
    x = torch.randn(2, 5, local.config.input_size)
    out["same_outputs"] = bool(torch.equal(remote(input_values=x).predictions, local(input_values=x).predictions))
print("RESULT" + json.dumps(out))
"""


def _client(hub, args, check=True):
    proc = run_py(["-c", CLIENT, json.dumps(args)], env=hub.client_env(subprocess_env()), check=check, timeout=180)
    return proc, (json.loads(proc.stdout.split("RESULT", 1)[1]) if "RESULT" in proc.stdout else None)


def test_push_uploads_the_model_folder_card_and_plots(tmp_path, trained):
    from huggingface_hub import ModelCard

    model_dir = trained / "model"
    before = _snapshot(model_dir)
    cfg = tiny_config(tmp_path / "cfgrun", steps=2, hub={"push_to_hub": True, "repo_id": "user/from-config"},
                      evaluation={"every": 0, "batches": 1, "batch_size": 8})
    with FakeHub(tmp_path / "hub") as hub:
        proc, res = _client(hub, {"config": cfg, "dir": str(trained), "repo": "user/tiny-elman",
                                  "flags": ["--private", "--revision", "dev"], "download": True,
                                  "revision": "dev", "cache": str(tmp_path / "cache")})
        assert res["rc"] == 0 and res["same_outputs"], proc.stderr[-3000:]
        # the run-config push option
        assert res["train_hub_error"] is None and res["train_hub_url"].startswith(hub.url)
        assert "config.json" in hub.files("user/from-config") and "README.md" in hub.files("user/from-config")
        # wave-hf push: the exact file set, byte for byte, on the requested branch of a private repo
        assert hub.files("user/tiny-elman", "dev") == sorted(before)
        assert hub.files("user/tiny-elman", "main") == []
        assert ("user/tiny-elman", "dev") in hub.branches
        created = [c for c in hub.created if c["name"] == "tiny-elman"]
        assert created and created[-1].get("visibility") == "private", created
        commit = [c for c in hub.commits if c["repo_id"] == "user/tiny-elman"][-1]
        assert commit["summary"] == "Upload elman_rnn trained with wave_hf" and commit["revision"] == "dev"
        assert commit["files"] == sorted(before) and not commit["failed"]
        remote = hub.repo_dir("user/tiny-elman", "dev")
        for name, digest in before.items():
            if name != "README.md":
                assert hashlib.sha256((remote / name).read_bytes()).hexdigest() == digest, name
        card = ModelCard((remote / "README.md").read_text())
        assert card.data.library_name == "transformers" and "elman_rnn" in card.data.tags
        assert card.data.eval_results[0].metric_type == "accuracy"
        assert card.data.model_name == "tiny-elman"
        assert 'from_pretrained("user/tiny-elman")' in card.text and "training_curves.png" in card.text
        assert ("POST", "/api/validate-yaml") in hub.log  # the card went through the server-side YAML check
    assert _snapshot(model_dir) == before  # pushing only reads the local folder


def test_push_that_fails_half_way_reports_and_leaves_the_folder_alone(tmp_path, trained):
    model_dir = trained / "model"
    before = _snapshot(model_dir)
    with FakeHub(tmp_path / "hub") as hub:
        hub.fail_commit = (403, "fake hub: storage quota exceeded")
        proc, res = _client(hub, {"dir": str(model_dir), "repo": "user/broken", "flags": []}, check=False)
        assert res["rc"] == 1
        err = proc.stderr
        assert "push to user/broken@main failed while trying to commit the files" in err, err[-3000:]
        assert "storage quota exceeded" in err
        assert "files of this model already on the Hub: none of them" in err
        assert "not uploaded: " + ", ".join(sorted(before)) in err
        assert f"the local folder {model_dir} is unchanged" in err
        assert hub.created and hub.commits[-1]["failed"] and hub.files("user/broken") == []
    assert _snapshot(model_dir) == before


def test_push_refuses_an_incomplete_folder(tmp_path, trained):
    from wave_hf.hub import PushError, push_model

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((trained / "model" / "config.json").read_text())
    with pytest.raises(PushError, match=r"lacks model.safetensors \(weights\), README.md \(model card\)"):
        push_model(partial, "user/x")
    with pytest.raises(PushError, match="not a saved model folder"):
        push_model(tmp_path, "user/x")
