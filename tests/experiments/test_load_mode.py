"""Section 6's load-mode LBC: teacher forcing with the history loaded as the substrate recovers the task's boundary
(Theorem 3.1), where the additive model cannot."""

from __future__ import annotations

import numpy as np
import torch

from wave_hf.analysis import lbc_load_rollout
from wave_hf.data import sample_batch, task_boundary
from wave_hf.experiments.checks.load_mode import train_load_mode


def test_teacher_forcing_in_load_mode_recovers_the_boundary_of_t3():
    model, mse = train_load_mode("T3", seed=1, steps=300)
    learned = model.model.layers[0].mixer.boundary.detach()[0]  # (s, d, d), the one head
    np.testing.assert_allclose(learned.numpy(), task_boundary("T3", 8, 8).numpy(), atol=1e-3)
    assert mse < 1e-6
    b = sample_batch("linear_vb", 16, seed=3, split="test", task="T3", d=8, s=8, horizon=100, as_numpy=True)
    pred = lbc_load_rollout(model, torch.from_numpy(b["inputs"][:, :8]).double(), 100).numpy()
    assert np.array_equal(np.sign(pred), b["targets"][:, 8:])  # free-running, 100 steps past the prompt
