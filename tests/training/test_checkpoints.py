"""CheckpointManager: atomic folders, rotation, partial/corrupt checkpoints, accelerate's save counter."""

from __future__ import annotations

import pytest
import torch

from wave_hf.training.checkpoints import TRAINER_STATE, CheckpointError, CheckpointManager


def _prepared():
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model, opt = acc.prepare(model, opt)
    return acc, model, opt


def _train_step(model, opt):
    model(torch.randn(4, 3)).pow(2).mean().backward()
    opt.step()
    opt.zero_grad()


def test_save_rotate_and_load_restore_weights_and_counter(tmp_path):
    acc, model, opt = _prepared()
    mgr = CheckpointManager(tmp_path / "ck", keep_last=2)
    saved = {}
    for step in (1, 2, 3):
        _train_step(model, opt)
        mgr.save(acc, step, {"curriculum": {}})
        saved[step] = model.weight.detach().clone()
    assert [s for s, _ in mgr.complete()] == [2, 3]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["step_00000002", "step_00000003"]
    assert acc.project_configuration.iteration == 3
    _train_step(model, opt)
    acc.project_configuration.iteration = 0  # what a fresh process has after load_state()
    state = mgr.load(acc, mgr.latest())
    assert state["step"] == 3 and acc.project_configuration.iteration == 3
    assert torch.equal(model.weight.detach(), saved[3])


def test_partial_and_incomplete_folders_are_never_picked(tmp_path):
    acc, model, opt = _prepared()
    mgr = CheckpointManager(tmp_path / "ck", keep_last=3)
    mgr.save(acc, 1, {})
    # what a SIGKILL during save leaves: a temp folder with some files, and a renamed folder without the state file
    tmp = tmp_path / "ck" / ".tmp-step_00000002"
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"\0" * 10)
    (tmp_path / "ck" / "step_00000003").mkdir()
    assert mgr.latest().name == "step_00000001"
    with pytest.raises(CheckpointError, match=f"not a complete wave_hf checkpoint \\(no {TRAINER_STATE}\\)"):
        mgr.load(acc, tmp_path / "ck" / "step_00000003")
    assert mgr.cleanup_partial() == [tmp] and not tmp.exists()
    assert (tmp_path / "ck" / "step_00000001" / "model.safetensors").is_file()


def test_corrupt_checkpoint_gives_a_clear_error_and_names_the_older_one(tmp_path):
    acc, model, opt = _prepared()
    mgr = CheckpointManager(tmp_path / "ck", keep_last=2)
    mgr.save(acc, 1, {})
    mgr.save(acc, 2, {})
    latest = mgr.latest()
    weights = latest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])  # truncated
    with pytest.raises(CheckpointError) as exc:
        mgr.load(acc, latest)
    msg = str(exc.value)
    assert str(latest) in msg and "step_00000001" in msg and "--resume=" in msg
    (latest / TRAINER_STATE).write_text("{not json")
    assert mgr.latest().name == "step_00000001"  # an unreadable state file disqualifies the folder
    with pytest.raises(CheckpointError, match="unreadable"):
        mgr.load(acc, latest)
    with pytest.raises(CheckpointError, match="does not exist"):
        mgr.load(acc, tmp_path / "ck" / "step_00000009")


def test_resaving_a_step_swaps_instead_of_deleting_first(tmp_path):
    acc, model, opt = _prepared()
    mgr = CheckpointManager(tmp_path / "ck", keep_last=2)
    mgr.save(acc, 5, {"tag": "first"})
    mgr.save(acc, 5, {"tag": "second"})
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["step_00000005"]
    assert mgr.read_state(mgr.latest())["tag"] == "second"
