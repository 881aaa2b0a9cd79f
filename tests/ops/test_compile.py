"""torch.compile(fullgraph=True) of a function calling wave_scan: no graph break, same values and gradients."""

from __future__ import annotations

import torch

from tests.ops.helpers import case_tensors, rel_err
from wave_hf.ops import wave_scan


def test_compile_fullgraph_forward_and_backward():
    u, a, s0, gz, gf = case_tensors(2, 20, 2, 3, 4, False, True, dtype=torch.float32)

    def loss(u, a, s0):
        z, final = wave_scan(u, a, s0, output_final_state=True)
        return (torch.tanh(z) * gz).sum() + (final * gf).sum()

    compiled = torch.compile(loss, fullgraph=True)
    results = []
    for fn in (loss, compiled):
        leaves = [t.clone().requires_grad_() for t in (u, a, s0)]
        value = fn(*leaves)
        results.append([value.detach(), *torch.autograd.grad(value, leaves)])
    for eager, comp in zip(*results):
        assert rel_err(comp, eager) < 1e-6
