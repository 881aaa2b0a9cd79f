"""Atomic training checkpoints on top of ``accelerator.save_state`` / ``load_state``.

Layout: ``OUTPUT/checkpoints/step_00000010/`` = accelerate's state (model.safetensors, optimizer.bin, scheduler.bin,
random_states_<rank>.pkl) plus ``trainer_state.json`` (step, curriculum, counters) written last.

A checkpoint is first written to ``.tmp-step_XXXXXXXX`` and renamed into place (``os.replace``) only once complete, so
a process killed while saving (even by SIGKILL) leaves at most a stray temp folder; the previous checkpoint is never
touched until the new one exists. ``latest()`` only ever returns renamed folders whose ``trainer_state.json`` parses.
Rotation deletes the oldest complete checkpoints beyond ``keep_last`` after the new one is in place.

Why not accelerate's own naming and rotation (``ProjectConfiguration(automatic_checkpoint_naming=True,
total_limit=N)``): ``save_state`` then deletes the oldest checkpoints *before* writing the new one, and writes the new
``checkpoint_<i>`` folder in place, so a kill during a save can leave a half-written newest folder (which
``load_state()`` would pick) and fewer complete checkpoints than ``total_limit``; its folders are also numbered by
save count, not by optimizer step. This module keeps accelerate's ``save_state`` / ``load_state`` for the contents
and adds the temp-folder-and-rename protocol around them.

accelerate's ``load_state`` does not restore ``project_configuration.iteration`` (its save counter); it is stored in
trainer_state.json and set back on load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

__all__ = ["CheckpointError", "CheckpointManager", "TRAINER_STATE"]

TRAINER_STATE = "trainer_state.json"
_NAME = re.compile(r"^step_(\d{8})$")
_FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or unreadable. The message names the folder."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_json_durable(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


class CheckpointManager:
    """Save, find, load and rotate checkpoints under ``root`` (``OUTPUT/checkpoints``)."""

    def __init__(self, root: str | Path, keep_last: int = 2):
        self.root = Path(root)
        self.keep_last = keep_last

    # -- discovery ----------------------------------------------------------------------------------------------

    def complete(self) -> list[tuple[int, Path]]:
        """(step, folder) of every complete checkpoint, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_dir() and self.read_state(p, strict=False) is not None:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def latest(self) -> Path | None:
        done = self.complete()
        return done[-1][1] if done else None

    @staticmethod
    def read_state(path: Path, strict: bool = True) -> dict[str, Any] | None:
        """The parsed trainer_state.json of checkpoint ``path`` (None, or CheckpointError when ``strict``)."""
        state_file = Path(path) / TRAINER_STATE
        try:
            state = json.loads(state_file.read_text())
            if not isinstance(state, dict) or "step" not in state:
                raise ValueError("no `step` entry")
            return state
        except FileNotFoundError:
            if strict and not Path(path).is_dir():
                raise CheckpointError(f"checkpoint folder {path} does not exist") from None
            if strict:
                raise CheckpointError(f"{path} is not a complete wave_hf checkpoint (no {TRAINER_STATE})") from None
        except (ValueError, OSError) as e:
            if strict:
                raise CheckpointError(f"{state_file} is unreadable ({e}); the checkpoint is corrupt") from None
        return None

    def cleanup_partial(self) -> list[Path]:
        """Delete temp folders left by a process that died while saving; returns what was removed."""
        removed = []
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.name.startswith((".tmp-step_", ".old-step_")) and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p)
        return removed

    # -- save / load --------------------------------------------------------------------------------------------

    def save(self, accelerator, step: int, trainer_state: dict[str, Any]) -> Path:
        """Collective: every process must call it. Returns the final folder."""
        name = f"step_{step:08d}"
        final, tmp = self.root / name, self.root / f".tmp-{name}"
        if accelerator.is_main_process:
            self.root.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            state = dict(trainer_state, step=step, format_version=_FORMAT_VERSION,
                         accelerate_iteration=accelerator.project_configuration.iteration)
            _write_json_durable(tmp / TRAINER_STATE, state)
            _fsync_dir(tmp)
            if final.exists():  # re-saving the same step (e.g. after a resume at the end): swap, never delete first
                old = self.root / f".old-{name}"
                if old.exists():
                    shutil.rmtree(old)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            _fsync_dir(self.root)
            self._rotate()
        accelerator.wait_for_everyone()
        return final

    def _rotate(self) -> None:
        done = self.complete()
        for _, path in done[: max(0, len(done) - self.keep_last)]:
            shutil.rmtree(path, ignore_errors=True)

    def load(self, accelerator, path: str | Path) -> dict[str, Any]:
        """Restore model/optimizer/scheduler/RNG from ``path``; returns its trainer state."""
        path = Path(path)
        state = self.read_state(path, strict=True)
        try:
            accelerator.load_state(str(path))
        except Exception as e:  # torch/safetensors raise many types for truncated or foreign files
            older = [p for _, p in self.complete() if p != path]
            hint = f"; an older checkpoint exists: {older[-1]} (pass --resume={older[-1]})" if older else ""
            raise CheckpointError(f"cannot load checkpoint {path}: {type(e).__name__}: {e}{hint}") from e
        # load_state() leaves accelerate's save counter at 0; put back the value it had when this was saved
        accelerator.project_configuration.iteration = int(state.get("accelerate_iteration", 0))
        return state
