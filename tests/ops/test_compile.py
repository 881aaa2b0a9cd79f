"""torch.compile(fullgraph=True) of a function calling wave_scan: no graph break, same values and gradients."""

from __future__ import annotations

import torch

from tests.ops.helpers import case_tensors, rel_err
from wave_hf.ops import wave_scan, wave_scan_fir


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


def test_compile_fullgraph_scan_fir():
    """The scan with its FIR readout (and the waves it returns) compiles to one graph, same values and gradients."""
    u, a, s0, gz, _ = case_tensors(2, 20, 2, 3, 4, False, True, dtype=torch.float32)
    fir = torch.randn(2, 3, 4)

    def loss(u, a, fir, s0):
        y, z = wave_scan_fir(u, a, fir, s0, output_waves=True)
        return (torch.tanh(y) * gz).sum() + (z * z).sum()

    compiled = torch.compile(loss, fullgraph=True)
    results = []
    for fn in (loss, compiled):
        leaves = [t.clone().requires_grad_() for t in (u, a, fir, s0)]
        value = fn(*leaves)
        results.append([value.detach(), *torch.autograd.grad(value, leaves)])
    for eager, comp in zip(*results):
        assert rel_err(comp, eager) < 1e-6


def test_compile_fullgraph_with_document_starts():
    """``reset`` flows through the registered ops (torch.ops.wave_hf.*) as a tensor: one graph, same values and
    gradients, for the scan and the scan with its FIR readout."""
    u, a, s0, gz, gf = case_tensors(2, 70, 2, 3, 4, False, True, dtype=torch.float32)
    fir = torch.randn(2, 3, 4)
    reset = torch.zeros(2, 70, dtype=torch.bool)
    reset[0, [5, 6, 64]] = True
    reset[1, 0] = True

    def loss(u, a, fir, s0, reset):
        z, final = wave_scan(u, a, s0, output_final_state=True, reset=reset)
        y, _ = wave_scan_fir(u, a, fir, s0, reset=reset)
        return (torch.tanh(z) * gz).sum() + (final * gf).sum() + (y * y).sum()

    compiled = torch.compile(loss, fullgraph=True)
    results = []
    for fn in (loss, compiled):
        leaves = [t.clone().requires_grad_() for t in (u, a, fir, s0)]
        value = fn(*leaves, reset)
        results.append([value.detach(), *torch.autograd.grad(value, leaves)])
    for eager, comp in zip(*results):
        assert rel_err(comp, eager) < 1e-6
