"""The linear LBC model built from a task's boundary (Theorem 3.1): its forward is the additive linear TWM and its
run from a loaded substrate reproduces the task's targets exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wave_hf.analysis import lbc_from_boundary, lbc_load_rollout, linear_twm, phi_from_task_operator
from wave_hf.data import sample_batch, task_boundary, task_operator

from .conftest import D, S


@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_constructed_lbc_is_the_linear_twm(task):
    batch = sample_batch("linear_vb", 4, seed=3, split="test", task=task, d=D, s=S, horizon=7, as_numpy=True)
    model = lbc_from_boundary(task_boundary(task, D, S))
    assert next(model.parameters()).dtype == torch.float64 and not model.training
    phi = phi_from_task_operator(task_operator(task, D, S), D, S)
    x = torch.from_numpy(batch["inputs"]).double()
    with torch.no_grad():
        additive = model(input_values=x, use_cache=False).predictions.numpy()
    np.testing.assert_allclose(additive, linear_twm(phi, batch["inputs"], "additive"), atol=1e-9)
    loaded = lbc_load_rollout(model, x[:, :S], 7).numpy()
    assert loaded.shape == (4, 7, D)
    np.testing.assert_array_equal(loaded, batch["targets"][:, S:])


def test_constructed_lbc_odd_sizes_match_the_twm():
    """d = 3, s = 5 with a random boundary: forward = additive TWM, load rollout = autonomous TWM from the prompt."""
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.normal(scale=0.3, size=(5, 3, 3)))
    model = lbc_from_boundary(a)
    from wave_hf.analysis import phi_from_boundary

    phi = phi_from_boundary(a)
    x = rng.normal(size=(2, 7, 3))
    with torch.no_grad():
        out = model(input_values=torch.from_numpy(x), use_cache=False).predictions.numpy()
    np.testing.assert_allclose(out, linear_twm(phi, x, "additive"), atol=1e-9)
    prompt = rng.normal(size=(2, 5, 3))
    v = prompt.reshape(2, 15)  # vec h(0): oldest column first
    expected = []
    for _ in range(4):
        v = v @ phi.T
        expected.append(v[:, -3:])
    got = lbc_load_rollout(model, torch.from_numpy(prompt), 4).numpy()
    np.testing.assert_allclose(got, np.stack(expected, axis=1), atol=1e-9)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`boundary` must have shape"):
        lbc_from_boundary(torch.zeros(8, 8))
    model = lbc_from_boundary(torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="`prompt` must have shape"):
        lbc_load_rollout(model, torch.zeros(1, 3, 3, dtype=torch.float64), 4)
    with pytest.raises(ValueError, match="horizon"):
        lbc_load_rollout(model, torch.zeros(1, 2, 3, dtype=torch.float64), 0)
