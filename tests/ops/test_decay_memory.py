"""The decaying outer-product memory (wave_hf.ops.memory): chunked == reference loop (outputs, final memory and
all gradients), per-row lengths, step == scan, the decay range and the bad inputs."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import rel_err
from wave_hf.ops.memory import LOG_DECAY_MIN, decay_memory, decay_memory_reference, decay_memory_step


def inputs(B, L, H, K, V, dtype=torch.float64, initial=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(B, L, H, K, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(B, L, H, V, generator=g, dtype=dtype)
    # decays spread over the whole allowed range, the extremes included
    w = torch.linspace(LOG_DECAY_MIN, 0.0, H * K, dtype=dtype)[torch.randperm(H * K, generator=g)].view(H, K)
    m0 = torch.randn(B, H, K, V, generator=g, dtype=dtype) if initial else None
    return q, k, v, w, m0


def outputs_and_grads(fn, q, k, v, w, m0, seed=1):
    leaves = [x.detach().clone().requires_grad_() for x in (q, k, v, w) + ((m0,) if m0 is not None else ())]
    y, final = fn(*leaves[:4], leaves[4] if m0 is not None else None)
    g = torch.Generator().manual_seed(seed)
    loss = (y * torch.randn(y.shape, generator=g, dtype=torch.float64).to(y.dtype)).sum()
    loss = loss + (final * torch.randn(final.shape, generator=g, dtype=torch.float64).to(final.dtype)).sum()
    return [y.detach(), final.detach(), *torch.autograd.grad(loss, leaves)]


def chunked(q, k, v, w, m0):
    return decay_memory(q, k, v, w, m0, output_final_state=True)


@pytest.mark.parametrize("L", [1, 7, 31, 32, 33, 63, 64, 65, 200])
@pytest.mark.parametrize("initial", [False, True], ids=["zeros", "initial"])
def test_chunked_matches_reference_float64(L, initial):
    case = inputs(2, L, 3, 5, 3, initial=initial)
    got = outputs_and_grads(chunked, *case)
    ref = outputs_and_grads(decay_memory_reference, *case)
    names = ["y", "final", "grad q", "grad k", "grad v", "grad log_decay", "grad initial"]
    for name, x, r in zip(names, got, ref):
        assert rel_err(x, r) < 1e-12, (name, L)


@pytest.mark.parametrize("L", [7, 65])
def test_float32_and_bfloat16(L):
    case64 = inputs(2, L, 2, 4, 6)
    ref = outputs_and_grads(decay_memory_reference, *case64)
    got = outputs_and_grads(chunked, *(x.float() for x in case64))
    assert all(rel_err(x, r) < 1e-5 for x, r in zip(got, ref))
    # bf16 inputs accumulate in float32: the error is that of rounding the inputs, not of the long sums
    y16, _ = decay_memory(*(x.bfloat16() for x in case64[:4]), case64[4].bfloat16())
    y_rounded = decay_memory_reference(*(x.bfloat16().double() for x in case64[:4]), case64[4].bfloat16().double())[0]
    assert y16.dtype == torch.bfloat16 and rel_err(y16, y_rounded) < 1e-2


def test_lengths_pick_the_memory_after_each_rows_real_steps():
    q, k, v, w, m0 = inputs(3, 70, 2, 4, 3)
    lengths = torch.tensor([0, 33, 70])
    _, final = decay_memory(q, k, v, w, m0, output_final_state=True, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        ref = m0[b] if n == 0 else decay_memory_reference(q[b:b + 1, :n], k[b:b + 1, :n], v[b:b + 1, :n], w,
                                                          m0[b:b + 1])[1][0]
        assert rel_err(final[b], ref) < 1e-12, n


def test_scale_multiplies_the_readout_only():
    q, k, v, w, m0 = inputs(2, 70, 2, 4, 3)
    y, final = decay_memory(q, k, v, w, m0, output_final_state=True)
    ys, final_s = decay_memory(q, k, v, w, m0, output_final_state=True, scale=0.25)
    assert rel_err(ys, 0.25 * y) < 1e-14 and torch.equal(final_s, final)
    y_t, new = decay_memory_step(q[:, 0], k[:, 0], v[:, 0], w, m0)
    ys_t, new_s = decay_memory_step(q[:, 0], k[:, 0], v[:, 0], w, m0, scale=0.25)
    assert rel_err(ys_t, 0.25 * y_t) < 1e-14 and torch.equal(new_s, new)


def test_steps_equal_the_scan_and_split_scans_continue():
    q, k, v, w, m0 = inputs(2, 45, 2, 3, 5)
    y, final = decay_memory(q, k, v, w, m0, output_final_state=True)
    mem, ys = m0, []
    for t in range(45):
        y_t, mem = decay_memory_step(q[:, t], k[:, t], v[:, t], w, mem)
        ys.append(y_t)
    assert rel_err(torch.stack(ys, 1), y) < 1e-12 and rel_err(mem, final) < 1e-12
    y1, mid = decay_memory(q[:, :20], k[:, :20], v[:, :20], w, m0, output_final_state=True)
    y2, final2 = decay_memory(q[:, 20:], k[:, 20:], v[:, 20:], w, mid, output_final_state=True)
    assert rel_err(torch.cat([y1, y2], 1), y) < 1e-12 and rel_err(final2, final) < 1e-12


def test_long_sequence_at_the_strongest_decay_stays_finite_in_float32():
    q, k, v, w, m0 = inputs(1, 3000, 2, 4, 4, dtype=torch.float32)
    w = torch.full_like(w, LOG_DECAY_MIN)
    got = outputs_and_grads(chunked, q, k, v, w, m0)
    assert all(torch.isfinite(x).all() for x in got)
    ref = outputs_and_grads(decay_memory_reference, *(x.double() for x in (q, k, v, w, m0)))
    errors = [rel_err(x, r) for x, r in zip(got, ref)]
    # the log-decay gradient sums (t - m) and (m - s) parts of size up to e^62 that cancel: 6e-5 here vs 1e-6 for
    # the float32 loop; at ordinary decays it is as accurate as the rest (test_float32_and_bfloat16)
    assert max(errors[:5] + errors[6:]) < 1e-5 and errors[5] < 3e-4, errors


def test_autocast_does_not_reach_the_float32_arithmetic():
    q, k, v, w, m0 = (x.float() for x in inputs(2, 70, 2, 4, 3))
    plain = decay_memory(q, k, v, w, m0, output_final_state=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = decay_memory(q, k, v, w, m0, output_final_state=True)
    assert all(torch.equal(a, b) for a, b in zip(plain, mixed))
    assert mixed[1].dtype == torch.float32  # the memory stays float32


def test_bad_inputs_name_the_argument():
    q, k, v, w, m0 = inputs(2, 5, 2, 3, 4)
    with pytest.raises(ValueError, match=r"`k` must have the shape of `q`"):
        decay_memory(q, k[..., :2], v, w)
    with pytest.raises(ValueError, match=r"`v` must have shape \(2, 5, 2, 'V'\)"):
        decay_memory(q, k, v[:, :4], w)
    with pytest.raises(ValueError, match=r"`log_decay` must have shape \(H, K\) = \(2, 3\)"):
        decay_memory(q, k, v, w.T)
    with pytest.raises(ValueError, match=r"`initial_memory` must have shape \(B, H, K, V\) = \(2, 2, 3, 4\)"):
        decay_memory(q, k, v, w, m0[:, :, :2])
    for bad in (LOG_DECAY_MIN - 0.5, 0.1, float("nan")):
        with pytest.raises(ValueError, match=r"`log_decay` must lie in \[LOG_DECAY_MIN, 0\]"):
            decay_memory(q, k, v, torch.full_like(w, bad))
    with pytest.raises(ValueError, match="`lengths` must be an integer tensor"):
        decay_memory(q, k, v, w, lengths=torch.ones(2))
    for bad in ([-1, 2], [0, 6]):
        with pytest.raises(ValueError, match=r"`lengths` must lie in \[0, L = 5\]"):
            decay_memory(q, k, v, w, output_final_state=True, lengths=torch.tensor(bad))
    with pytest.raises(TypeError, match="`q` must be a floating-point tensor"):
        decay_memory(q.long(), k, v, w)
    with pytest.raises(ValueError, match=r"`memory` must have shape"):
        decay_memory_step(q[:, 0], k[:, 0], v[:, 0], w, m0[:1])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_matches_the_float64_reference(dtype):
    case = inputs(2, 130, 3, 16, 16)
    ref = outputs_and_grads(decay_memory_reference, *case)
    got = outputs_and_grads(chunked, *(x.cuda().to(dtype) for x in case))
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    names = ["y", "final", "grad q", "grad k", "grad v", "grad log_decay", "grad initial"]
    for name, x, r in zip(names, got, ref):
        assert rel_err(x.cpu(), r) < tol, name
