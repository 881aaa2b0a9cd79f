"""Publish a trained model folder to the Hugging Face Hub.

``train_and_push(run_config)`` trains (``wave_hf.training.train``) and, when the run config says
``hub.push_to_hub: true``, pushes the trained ``model/`` folder at the end; ``wave-hf train`` runs it.
``push_model(model_dir, repo_id)`` uploads exactly the files of a trainer output (weights, config, generation config,
README.md card, plots, run config, training info) in **one commit** through ``HfApi.create_commit``. It deliberately
does not use ``model.push_to_hub``, which would replace README.md with transformers' generic card. The card is
re-rendered for the target repo id (its loading snippet names the repo) and sent from memory: the local folder is only
read, never written, so a failed push leaves it exactly as it was. A failure names the stage that failed and which
files are, or are not, on the Hub.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .training import RunConfig, TrainResult

__all__ = ["PushError", "PushResult", "model_folder_files", "push_model", "resolve_model_dir", "train_and_push"]

_WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json")
_UPLOAD_SUFFIXES = (".json", ".safetensors", ".md", ".png", ".yaml", ".txt", ".py")  # .py: the remote-code bundle


class PushError(RuntimeError):
    """A push failed or was refused; ``uploaded`` / ``not_uploaded`` list repo paths."""

    def __init__(self, message: str, uploaded: list[str] | None = None, not_uploaded: list[str] | None = None):
        super().__init__(message)
        self.uploaded = uploaded or []
        self.not_uploaded = not_uploaded or []


@dataclass
class PushResult:
    repo_id: str
    revision: str
    commit_url: str
    files: list[str] = field(default_factory=list)


def resolve_model_dir(path: str | Path) -> Path:
    """Accept the ``model/`` folder itself or a run's output folder (which contains ``model/``)."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if (path / "model" / "config.json").is_file():
        return path / "model"
    raise PushError(f"{path} is not a saved model folder (no config.json in it or in {path / 'model'})")


def model_folder_files(model_dir: Path) -> list[str]:
    """The files to publish (relative paths, sorted); refuses a folder without config, weights or card."""
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(model_dir).parts)
                   and p.name.endswith(_UPLOAD_SUFFIXES))
    missing = []
    if "config.json" not in files:
        missing.append("config.json")
    if not any(f.endswith(_WEIGHT_SUFFIXES) for f in files):
        missing.append("model.safetensors (weights)")
    if "README.md" not in files:
        missing.append("README.md (model card)")
    if missing:
        raise PushError(f"{model_dir} lacks {', '.join(missing)}; push a folder written by `wave-hf train`")
    return files


def _card_bytes(model_dir: Path, repo_id: str) -> bytes:
    """The README.md to publish: re-rendered for ``repo_id`` when training_info.json is there, else the file."""
    from huggingface_hub import ModelCard

    from .training.cards import TRAINING_INFO, render_card

    info_path = model_dir / TRAINING_INFO
    if info_path.is_file():
        card = render_card(json.loads(info_path.read_text()), repo_id=repo_id)
        text = str(card)
    else:
        text = (model_dir / "README.md").read_text()
    try:
        card = ModelCard(text)
    except Exception as e:
        raise PushError(f"the model card of {model_dir} has invalid metadata: {e}") from None
    if not card.data.to_dict():
        raise PushError(f"the model card of {model_dir} has no YAML metadata block")
    return text.encode()


def push_model(model_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
               token: str | None = None, commit_message: str | None = None) -> PushResult:
    """Create ``repo_id`` if needed (and the branch ``revision``) and upload the model folder in one commit.

    Raises:
        PushError: the folder is incomplete, or a Hub call failed. The message says which stage failed and which
            files are / are not on the Hub; the local folder is unchanged.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    model_dir = resolve_model_dir(model_dir)
    files = model_folder_files(model_dir)
    readme = _card_bytes(model_dir, repo_id)
    if commit_message is None:
        config = json.loads((model_dir / "config.json").read_text())
        commit_message = f"Upload {config.get('model_type', 'model')} trained with wave_hf"
    api = HfApi(token=token)
    branch = revision or "main"
    stage = "create the repository"
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            stage = f"create the branch {revision!r}"
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        stage = "commit the files"
        ops = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=readme if f == "README.md" else str(model_dir / f))
               for f in files]
        info = api.create_commit(repo_id, operations=ops, commit_message=commit_message, revision=revision)
    except Exception as e:  # httpx2/HfHubHTTPError/OfflineModeIsEnabled/ValueError: report all the same way
        remote = _remote_files(api, repo_id, revision)
        uploaded = sorted(set(files) & set(remote)) if remote is not None else []
        pending = sorted(set(files) - set(uploaded))
        on_hub = ("unknown (the repository could not be listed)" if remote is None else
                  (", ".join(uploaded) if uploaded else "none of them"))
        raise PushError(
            f"push to {repo_id}@{branch} failed while trying to {stage}: {type(e).__name__}: {e}\n"
            f"  files of this model already on the Hub: {on_hub}\n"
            f"  not uploaded: {', '.join(pending) if pending else 'none'}\n"
            f"  the local folder {model_dir} is unchanged; run `wave-hf push` again to retry",
            uploaded=uploaded, not_uploaded=pending,
        ) from e
    return PushResult(repo_id=repo_id, revision=branch, commit_url=str(info.commit_url), files=files)


def _remote_files(api, repo_id: str, revision: str | None) -> list[str] | None:
    try:
        return list(api.list_repo_files(repo_id, revision=revision))
    except Exception:
        return None


def train_and_push(run_config: RunConfig | dict | str | Path, overrides: list[str] | None = None, *,
                   resume: bool | str | Path = False, overwrite: bool = False) -> TrainResult:
    """``wave_hf.training.train`` (same arguments), then, when the run config has ``hub.push_to_hub: true``, the
    upload of the trained ``model/`` folder to ``hub.repo_id`` (main process only).

    A failed push does not raise (the trained model stays in the output folder, ``wave-hf push`` retries): the
    returned ``TrainResult`` has ``hub_error`` set, and ``hub_url`` after a successful push; ``result.json`` is
    rewritten with them.
    """
    from accelerate import PartialState

    from .training import load_run_config, train
    from .training.trainer import write_result

    cfg = load_run_config(run_config, overrides)
    result = train(cfg, resume=resume, overwrite=overwrite)
    if not (cfg.hub.push_to_hub and PartialState().is_main_process):
        return result
    try:
        result.hub_url = push_model(result.model_dir, cfg.hub.repo_id, private=cfg.hub.private,
                                    revision=cfg.hub.revision).commit_url
    except PushError as e:
        result.hub_error = str(e)
        print(f"[wave_hf] push to the Hub failed: {e}", file=sys.stderr)
    write_result(result)
    return result
