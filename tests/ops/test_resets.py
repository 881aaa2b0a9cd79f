"""Document resets of packed rows in the ops (``reset`` / ``cu_seqlens``): the reference loops equal separate runs of
the documents, the chunked and Triton backends and the chunked decaying memory equal the float64 reference (outputs
and all gradients) with starts inside chunks, at chunk edges, documents of length 1 and documents over several chunks
(the chunk length is 64 for these shapes); no gradient crosses a document start; ``cu_seqlens`` is ``reset``."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import case_tensors, rel_err
from wave_hf.layers.padding import document_starts
from wave_hf.ops import decay_memory, decay_memory_reference, wave_scan, wave_scan_fir
from wave_hf.ops.memory import LOG_DECAY_MIN
from wave_hf.ops.resets import starts_from_bounds
from wave_hf.ops.triton_backend import triton_available

FORMS = [(3, 2, False), (5, 3, True), (33, 1, False)]  # (S, D, dense); S = 33: a document start within S of another


def packed_reset(B: int, L: int, seed: int = 0) -> torch.Tensor:
    """Random starts (about one in eight positions) plus, where L allows: documents of length 1 (starts at 1, 2),
    starts on both sides of the chunk edge 64 (63, 64), and row 1 starting a document at position 0."""
    g = torch.Generator().manual_seed(seed)
    reset = torch.rand(B, L, generator=g) < 0.12
    for p in (1, 2, 63, 64):
        if p < L:
            reset[0, p] = True
    if B > 1:
        reset[1, 0] = True
        reset[1, 70:] = False  # row 1: a last document over two chunks (for L = 130)
    return reset


def scan_outputs(backend, u, a, s0, gz, gf, reset=None, fir=None, **kw):
    """[z or y, final state or waves, grads of u, a (, fir) (, s0)] of a random linear loss, all detached."""
    inputs = (u, a) + ((fir,) if fir is not None else ()) + ((s0,) if s0 is not None else ())
    leaves = [t.clone().requires_grad_() for t in inputs]
    state = leaves[-1] if s0 is not None else None
    if fir is None:
        out, second = wave_scan(*leaves[:2], state, output_final_state=True, backend=backend, reset=reset, **kw)
        loss = (out * gz).sum() + (second * gf).sum()
    else:
        out, second = wave_scan_fir(*leaves[:3], state, output_waves=True, backend=backend, reset=reset, **kw)
        loss = (out * gz).sum() + (second * gz.flip(1)).sum()
    return [out.detach(), second.detach(), *torch.autograd.grad(loss, leaves)]


def documents(reset_row: torch.Tensor) -> list[tuple[int, int]]:
    starts = [0] + [p for p in reset_row.nonzero().flatten().tolist() if p > 0]
    return list(zip(starts, starts[1:] + [reset_row.shape[0]]))


@pytest.mark.parametrize("fir", [False, True], ids=["scan", "fir"])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_reference_equals_separate_runs(fir, dense):
    """The definition: each document of a packed row is its own run (the first one continues the initial state), and
    the final state is that of the last document."""
    L, S = 20, 3
    u, a, s0, _, _ = case_tensors(1, L, 2, S, 2, dense, True)
    taps = torch.randn(2, S, 2, dtype=torch.float64)
    reset = torch.zeros(1, L, dtype=torch.bool)
    reset[0, [4, 5, 13]] = True  # documents 0-3, 4, 5-12, 13-19

    def op(u, state, reset):
        if fir:
            return wave_scan_fir(u, a, taps, state, output_waves=True, backend="reference", reset=reset)
        return wave_scan(u, a, state, output_final_state=True, backend="reference", reset=reset)

    packed, second = op(u, s0, reset)
    for i, (start, end) in enumerate(documents(reset[0])):
        alone, alone_second = op(u[:, start:end], s0 if i == 0 else None, None)
        assert torch.equal(packed[:, start:end], alone)
        if fir:
            assert torch.equal(second[:, start:end], alone_second)
    if not fir:
        assert torch.equal(second, alone_second)  # the last document's final state


def test_decay_memory_reference_equals_separate_runs():
    q, k, v, w, m0 = memory_inputs(1, 20)
    reset = torch.zeros(1, 20, dtype=torch.bool)
    reset[0, [4, 5, 13]] = True
    y, final = decay_memory_reference(q, k, v, w, m0, reset=reset)
    for i, (start, end) in enumerate(documents(reset[0])):
        y_doc, final_doc = decay_memory_reference(q[:, start:end], k[:, start:end], v[:, start:end], w,
                                                  m0 if i == 0 else None)  # fmt: skip
        assert torch.equal(y[:, start:end], y_doc)
    assert torch.equal(final, final_doc)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero", "state"])
@pytest.mark.parametrize("S,D,dense", FORMS, ids=["diag", "dense", "diag-S33"])
@pytest.mark.parametrize("L", [1, 7, 63, 64, 65, 130])
@pytest.mark.parametrize("fir", [False, True], ids=["scan", "fir"])
def test_chunked_matches_reference(fir, L, S, D, dense, with_state, nan_empty):
    u, a, s0, gz, gf = case_tensors(2, L, 2, S, D, dense, with_state)
    taps = torch.randn(2, S, D, dtype=torch.float64) if fir else None
    reset = packed_reset(2, L, seed=L)
    want = scan_outputs("reference", u, a, s0, gz, gf, reset, taps)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 3e-5)):
        args = [None if t is None else t.to(dtype) for t in (u, a, s0, gz, gf)]
        got = scan_outputs("chunked", *args, reset, None if taps is None else taps.to(dtype))
        for i, (x, ref) in enumerate(zip(got, want)):
            assert x.dtype == dtype and rel_err(x, ref) < tol, f"{dtype} output {i}: {rel_err(x, ref):.2e}"


EXTREME = {
    "every-step": lambda r: r.fill_(True),  # documents of length 1 only: every chunk's hand-off is cut
    "last-step": lambda r: r[:, -1].fill_(True),  # a document of length 1 at the end, after one over every chunk
    "one-row": lambda r: r[0, ::5].fill_(True),  # row 1 has no start: it continues the initial state throughout
}


@pytest.mark.parametrize("kind", list(EXTREME))
@pytest.mark.parametrize("S,D,dense", FORMS + [(16, 4, True)], ids=["diag", "dense", "diag-S33", "dense-S16"])
@pytest.mark.parametrize("L", [2, 65, 130])
@pytest.mark.parametrize("fir", [False, True], ids=["scan", "fir"])
def test_chunked_extreme_packings(fir, L, S, D, dense, kind, nan_empty):
    """Packings at the edges: a start at every step, only at the last one, none in a row. Outputs and gradients in
    float64 match the reference to 1e-10 of their size (or absolutely, where the reference is zero: the gradients of
    a and of the taps are sums that cancel exactly when every document has length 1)."""
    u, a, s0, gz, gf = case_tensors(2, L, 2, S, D, dense, True)
    taps = torch.randn(2, S, D, dtype=torch.float64) if fir else None
    reset = torch.zeros(2, L, dtype=torch.bool)
    EXTREME[kind](reset)
    want = scan_outputs("reference", u, a, s0, gz, gf, reset, taps)
    got = scan_outputs("chunked", u, a, s0, gz, gf, reset, taps)
    for i, (x, ref) in enumerate(zip(got, want)):
        err = (x - ref).norm() / ref.norm().clamp_min(1.0)
        assert err < 1e-10, f"output {i}: {err:.2e}"


def test_chunked_without_resets_is_unchanged():
    """An all-False ``reset`` gives the values of no ``reset`` (up to the rounding of another summation order)."""
    u, a, s0, gz, gf = case_tensors(2, 130, 2, 5, 3, True, True)
    plain = scan_outputs("chunked", u, a, s0, gz, gf)
    none = scan_outputs("chunked", u, a, s0, gz, gf, torch.zeros(2, 130, dtype=torch.bool))
    assert all(rel_err(x, ref) < 1e-13 for x, ref in zip(none, plain))


def memory_inputs(B, L, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    H, K, V = 3, 4, 3
    q, k = (torch.randn(B, L, H, K, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(B, L, H, V, generator=g, dtype=dtype)
    w = torch.linspace(LOG_DECAY_MIN, 0.0, H * K, dtype=dtype)[torch.randperm(H * K, generator=g)].view(H, K)
    return q, k, v, w, torch.randn(B, H, K, V, generator=g, dtype=dtype)


def memory_outputs(fn, q, k, v, w, m0, **kw):
    leaves = [x.clone().requires_grad_() for x in (q, k, v, w) + ((m0,) if m0 is not None else ())]
    y, final = fn(*leaves[:4], leaves[4] if m0 is not None else None, **kw)
    g = torch.Generator().manual_seed(1)
    loss = (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum()
    loss = loss + (final * torch.randn(final.shape, generator=g, dtype=final.dtype)).sum()
    return [y.detach(), final.detach(), *torch.autograd.grad(loss, leaves)]


@pytest.mark.parametrize("initial", [False, True], ids=["zeros", "initial"])
@pytest.mark.parametrize("L", [1, 7, 31, 32, 33, 65, 130])  # the memory's chunk length is 32
def test_decay_memory_matches_reference(L, initial):
    q, k, v, w, m0 = memory_inputs(2, L)
    m0 = m0 if initial else None
    reset = packed_reset(2, L, seed=L)
    reset[0, 31 if L > 31 else 0] = True  # and the memory's chunk edge
    want = memory_outputs(decay_memory_reference, q, k, v, w, m0, reset=reset)
    got = memory_outputs(lambda *x: decay_memory(*x, output_final_state=True, reset=reset), q, k, v, w, m0)
    for i, (x, ref) in enumerate(zip(got, want)):
        assert rel_err(x, ref) < 1e-11, f"output {i}: {rel_err(x, ref):.2e}"


def test_decay_memory_lengths_with_resets():
    """The final memory after each row's first ``lengths[b]`` steps is that of the last document begun by then."""
    q, k, v, w, m0 = memory_inputs(3, 70)
    reset = packed_reset(3, 70)
    lengths = torch.tensor([0, 40, 64])
    _, final = decay_memory(q, k, v, w, m0, output_final_state=True, lengths=lengths, reset=reset)
    for b, n in enumerate(lengths.tolist()):
        rows = slice(b, b + 1)
        want = m0[b] if n == 0 else decay_memory_reference(q[rows, :n], k[rows, :n], v[rows, :n], w, m0[rows],
                                                           reset=reset[rows, :n])[1][0]  # fmt: skip
        assert rel_err(final[b], want) < 1e-12, n


BACKENDS = ["reference", "chunked"] + (["triton"] if triton_available() else [])


@pytest.mark.parametrize("op", ["scan", "fir", "memory"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_gradient_crosses_a_document_start(op, backend):
    """The outputs of one document do not depend on another's inputs (nor on the initial state, which belongs to the
    first document): their gradients are exactly zero, also when the documents share a chunk."""
    if op == "memory" and backend == "triton":
        pytest.skip("the decaying memory has no Triton backend (reference and chunked only)")
    L, p = 40, 23  # documents [0, 23) and [23, 40)
    reset = torch.zeros(1, L, dtype=torch.bool)
    reset[:, p] = True
    if op == "memory":
        inputs = memory_inputs(1, L, dtype=torch.float32)
        leaves = [x.clone().requires_grad_() for x in inputs]
        memory = decay_memory_reference if backend == "reference" else decay_memory
        y, _ = memory(*leaves, reset=reset)
        per_position = leaves[:3]
    else:
        u, a, s0, _, _ = case_tensors(1, L, 2, 3, 2, False, True, dtype=torch.float32)
        leaves = [u.clone().requires_grad_(), s0.clone().requires_grad_()]
        if op == "scan":
            y, _ = wave_scan(leaves[0], a, leaves[1], backend=backend, reset=reset)
        else:
            y, _ = wave_scan_fir(leaves[0], a, torch.randn(2, 3, 2), leaves[1], backend=backend, reset=reset)
        per_position = leaves[:1]
    second = torch.autograd.grad(y[:, p:].square().sum(), leaves, retain_graph=True)
    first = torch.autograd.grad(y[:, :p].sum(), leaves, allow_unused=True, materialize_grads=True)
    for g in second[: len(per_position)]:
        assert torch.count_nonzero(g[:, :p]) == 0 and torch.count_nonzero(g[:, p:]) > 0
    assert torch.count_nonzero(second[-1]) == 0  # the initial state reaches the first document only
    for g in first[: len(per_position)]:
        assert torch.count_nonzero(g[:, p:]) == 0


@pytest.mark.skipif(not triton_available(), reason="triton is not installed")
@pytest.mark.parametrize("fir", [False, True], ids=["scan", "fir"])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_triton_matches_reference(fir, dense):
    """Under TRITON_INTERPRET=1 on CPU (tiny shapes): L = 40 runs as two segments of 32, with starts inside both, at
    the segment edge (32) and documents of length 1."""
    u, a, s0, gz, gf = case_tensors(1, 40, 2, 3, 2, dense, True)
    taps = torch.randn(2, 3, 2, dtype=torch.float64) if fir else None
    reset = torch.zeros(1, 40, dtype=torch.bool)
    reset[0, [1, 2, 9, 31, 32, 37]] = True
    want = scan_outputs("reference", u, a, s0, gz, gf, reset, taps)
    for i, (x, ref) in enumerate(zip(scan_outputs("triton", u, a, s0, gz, gf, reset, taps), want)):
        assert rel_err(x, ref) < 1e-10, f"output {i}: {rel_err(x, ref):.2e}"


@pytest.mark.skipif(not triton_available(), reason="triton is not installed")
@pytest.mark.parametrize("T,S", [(8, 3), (3, 5)], ids=["T>S", "T<S"])
def test_triton_short_segments(T, S):
    """Many segments, some shorter than the substrate, with starts in them."""
    from tests.ops.test_triton import segmented

    u, a, s0, gz, gf = case_tensors(1, 19, 1, S, 2, False, True)
    reset = torch.zeros(1, 19, dtype=torch.bool)
    reset[0, [4, 5, 11, 16]] = True
    want = scan_outputs("reference", u, a, s0, gz, gf, reset)
    scan = segmented(T, reset)
    leaves = [t.clone().requires_grad_() for t in (u, a, s0)]
    z, final = scan(*leaves)
    got = [z.detach(), final.detach(), *torch.autograd.grad((z * gz).sum() + (final * gf).sum(), leaves)]
    for i, (x, ref) in enumerate(zip(got, want)):
        assert rel_err(x, ref) < 1e-10, f"output {i}: {rel_err(x, ref):.2e}"


@pytest.mark.parametrize("op", ["scan", "fir", "memory"])
def test_cu_seqlens_is_reset(op):
    L = 50
    bounds = torch.tensor([0, 1, 20, 20, 47, 50])  # an empty document is allowed
    reset = torch.zeros(1, L, dtype=torch.bool)
    reset[0, [0, 1, 20, 47]] = True
    if op == "memory":
        args = memory_inputs(1, L)
        run = lambda **kw: decay_memory(*args, output_final_state=True, **kw)  # noqa: E731
    else:
        u, a, s0, _, _ = case_tensors(1, L, 2, 3, 2, False, True)
        if op == "scan":
            run = lambda **kw: wave_scan(u, a, s0, output_final_state=True, **kw)  # noqa: E731
        else:
            taps = torch.randn(2, 3, 2, dtype=torch.float64)
            run = lambda **kw: wave_scan_fir(u, a, taps, s0, output_waves=True, **kw)  # noqa: E731
    for x, y in zip(run(cu_seqlens=bounds), run(reset=reset)):
        assert torch.equal(x, y)


BAD = {
    "both": (dict(reset=torch.zeros(1, 6, dtype=torch.bool), cu_seqlens=torch.tensor([0, 6])), ValueError,
             r"either `reset` or `cu_seqlens`, not both"),
    "reset not bool": (dict(reset=torch.zeros(1, 6)), TypeError, r"`reset` must be a bool tensor .* got torch.float32"),
    "reset shape": (dict(reset=torch.zeros(6, dtype=torch.bool)), ValueError,
                    r"`reset` must have shape \(B, L\) = \(1, 6\); got \(6,\)"),
    "reset device": (dict(reset=torch.zeros(1, 6, dtype=torch.bool, device="meta")), ValueError, r"`reset` is on meta"),
    "cu_seqlens float": (dict(cu_seqlens=torch.tensor([0.0, 6.0])), ValueError, r"`cu_seqlens` must be a 1-D integer"),
    "cu_seqlens 2-D": (dict(cu_seqlens=torch.tensor([[0, 6]])), ValueError, r"`cu_seqlens` must be a 1-D integer"),
    "cu_seqlens falls": (dict(cu_seqlens=torch.tensor([0, 4, 2, 6])), ValueError, r"must rise from 0 to L = 6"),
    "cu_seqlens short": (dict(cu_seqlens=torch.tensor([0, 4])), ValueError, r"must rise from 0 to L = 6 .* \[0, 4\]"),
    "cu_seqlens not from 0": (dict(cu_seqlens=torch.tensor([1, 6])), ValueError, r"must rise from 0"),
}  # fmt: skip


@pytest.mark.parametrize("op", ["scan", "fir", "memory"])
@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_packing_inputs(op, case):
    kwargs, error, match = BAD[case]
    u, a, s0, _, _ = case_tensors(1, 6, 2, 3, 2, False, True, dtype=torch.float32)
    q, k, v, w, _ = memory_inputs(1, 6, dtype=torch.float32)
    calls = {
        "scan": lambda **kw: wave_scan(u, a, s0, **kw),
        "fir": lambda **kw: wave_scan_fir(u, a, torch.randn(2, 3, 2), s0, **kw),
        "memory": lambda **kw: decay_memory(q, k, v, w, **kw),
    }
    name = {"scan": "wave_scan", "fir": "wave_scan_fir", "memory": "decay_memory"}[op]
    with pytest.raises(error, match=match) as info:
        calls[op](**kwargs)
    assert str(info.value).startswith(f"{name}: ")


def test_cu_seqlens_needs_one_row():
    u, a, _, _, _ = case_tensors(2, 6, 2, 3, 2, False, False)
    with pytest.raises(ValueError, match=r"`cu_seqlens` describes one packed row and needs B == 1; got B = 2"):
        wave_scan(u, a, cu_seqlens=torch.tensor([0, 3, 6]))


def test_bounds_to_starts_is_one_rule_for_ops_and_models():
    """``starts_from_bounds`` serves the ops' ``cu_seqlens`` and the models' ``cu_seqlens`` / ``cu_seq_lens_q``: a
    repeated bound (an empty document) starts nothing; the bounds must rise from 0 to L."""
    got = starts_from_bounds("`b`", torch.tensor([0, 2, 2, 6]), 6, torch.device("cpu"))
    assert got.tolist() == [[True, False, True, False, False, False]]
    assert torch.equal(got, starts_from_bounds("`b`", torch.tensor([0, 2, 6]), 6, torch.device("cpu")))
    assert torch.equal(document_starts(1, 6, cu_seqlens=torch.tensor([0, 2, 2, 6])), got)
    for bad in ([0, 4, 2, 6], [1, 6], [0, 5], [0]):
        with pytest.raises(ValueError, match=r"`b` must rise from 0 to L = 6 \(non-decreasing\)"):
            starts_from_bounds("`b`", torch.tensor(bad), 6, torch.device("cpu"))
    with pytest.raises(ValueError, match="`b` must be a 1-D integer tensor"):
        starts_from_bounds("`b`", torch.tensor([[0, 6]]), 6, torch.device("cpu"))
