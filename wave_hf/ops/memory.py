"""Decaying outer-product memory: the gating memory of the LBC mixer (H3's diagonal SSM with real poles, run on
``k v^T``; a linear attention with a fixed per-key-dimension decay).

    M_t = diag(lambda) M_{t-1} + k_t v_t^T,    y_t = M_t^T q_t        (lambda = exp(log_decay), per head and key dim)

``decay_memory`` (training / prefill) never materialises the (L, K, V) memories: time is cut into chunks of ``c``
steps and, for t in chunk [b, b + c),

    y_t = sum_{b <= s <= t} (q_t . (lambda^(t-s) * k_s)) v_s  +  (lambda^(t-b+1) * q_t)^T M_{b-1},
    M_{b+c-1} = lambda^c * M_{b-1} + sum_s (lambda^(b+c-1-s) * k_s) v_s^T.

The intra-chunk part is two batched matmuls after splitting lambda^(t-s) = lambda^(t-m) lambda^(m-s) about the chunk
middle m; the exponents stay within (c-1)/2 * |log_decay|, which is why ``log_decay`` must lie in
[``LOG_DECAY_MIN``, 0] (lambda >= 0.018: a half-life of at least 0.17 steps). The hand-off of the (K, V) memory
between chunks is a loop over the L / c chunks on (K, V) memories with a hand-written adjoint (``_ChunkHandOff``).
The final memory is computed straight from the inputs, so per-row ``lengths`` (right padding) cost nothing extra.
Packed rows (``reset``): the memory is emptied at each document start, so the intra-chunk scores are masked to
pairs of one document, a chunk adds to the memory only what follows its last document start, the hand-off drops the
memory across a chunk holding a start, and the entering memory is read only before the chunk's first start.
Only the chunks that hold a start are masked, by index (``_MaskChunks``, ``_RowsMatmul``, forward and backward);
the others take the matmuls of an unpacked row.
Other gradients come from autograd through these few large ops. Arithmetic runs in
float32 (float64 for float64 inputs), with autocast disabled (the factors lambda^(+-(c-1)/2) exceed float16's range),
and memories are returned in float32 (or float64): a bf16 memory would stop decaying for half-lives above ~200 steps.

``decay_memory_step`` is one step of the recurrence (decoding) and ``decay_memory_reference`` the plain loop the fast
path is tested against.
"""

from __future__ import annotations

import torch

from .validation import check_device, check_reset, check_tensor, compute_dtype

LOG_DECAY_MIN = -4.0
CHUNK = 32
# the largest intra-chunk factor, exp((CHUNK - 1) / 2 * |LOG_DECAY_MIN|) = e^62, must stay far below float32's e^88
assert (CHUNK - 1) / 2 * -LOG_DECAY_MIN < 80

__all__ = ["LOG_DECAY_MIN", "decay_memory", "decay_memory_reference", "decay_memory_step"]


def _check(fn: str, q, k, v, log_decay, memory, memory_name: str, has_time: bool, check_range: bool) -> tuple[int, ...]:
    lead = "(B, L, H, {})" if has_time else "(B, H, {})"
    q = check_tensor(fn, "q", q, lead.format("K"))
    k = check_tensor(fn, "k", k, lead.format("K"))
    v = check_tensor(fn, "v", v, lead.format("V"))
    rank = 4 if has_time else 3
    if q.dim() != rank:
        raise ValueError(f"{fn}: `q` must have shape {lead.format('K')}; got {tuple(q.shape)}")
    if k.shape != q.shape:
        raise ValueError(f"{fn}: `k` must have the shape of `q` {tuple(q.shape)}; got {tuple(k.shape)}")
    if v.dim() != rank or v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"{fn}: `v` must have shape {tuple(q.shape[:-1]) + ('V',)}; got {tuple(v.shape)}")
    H, K, V = q.shape[-2], q.shape[-1], v.shape[-1]
    log_decay = check_tensor(fn, "log_decay", log_decay, f"(H, K) = ({H}, {K})")
    if tuple(log_decay.shape) != (H, K):
        raise ValueError(f"{fn}: `log_decay` must have shape (H, K) = ({H}, {K}); got {tuple(log_decay.shape)}")
    for name, x in (("k", k), ("v", v), ("log_decay", log_decay)):
        check_device(fn, name, x, "q", q)
    if check_range and not torch.compiler.is_compiling():  # a host sync: callers that guarantee the range skip it
        low, high = log_decay.aminmax()
        if not (low >= LOG_DECAY_MIN and high <= 0):  # also catches nan
            raise ValueError(
                f"{fn}: `log_decay` must lie in [LOG_DECAY_MIN, 0] = [{LOG_DECAY_MIN}, 0] (decays in [0.018, 1]); "
                f"got values in [{low.item():.4g}, {high.item():.4g}]"
            )
    if memory is not None:
        memory = check_tensor(fn, memory_name, memory, f"(B, H, K, V) = ({q.shape[0]}, {H}, {K}, {V})")
        if tuple(memory.shape) != (q.shape[0], H, K, V):
            raise ValueError(
                f"{fn}: `{memory_name}` must have shape (B, H, K, V) = ({q.shape[0]}, {H}, {K}, {V}); "
                f"got {tuple(memory.shape)}"
            )
        check_device(fn, memory_name, memory, "q", q)
    return q.shape[0], H, K, V


def decay_memory(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_decay: torch.Tensor,
    initial_memory: torch.Tensor | None = None,
    *,
    output_final_state: bool = False,
    lengths: torch.Tensor | None = None,
    scale: float = 1.0,
    reset: torch.Tensor | None = None,
    cu_seqlens: torch.Tensor | None = None,
    check_range: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Chunked decaying memory (module docstring); returns ``scale * y``.

    Args:
        q, k: (B, L, H, K); v: (B, L, H, V); log_decay: (H, K) in [LOG_DECAY_MIN, 0];
        initial_memory: (B, H, K, V) memory before the sequence (None: zeros);
        lengths: (B,) integers in [0, L]: the final memory of row b is the one after its first ``lengths[b]`` steps
            (right padding never reaches it); None: all L steps.
        scale: multiplies the readout y (e.g. K**-0.5), folded into q's decay factors at no extra cost.
        reset: (B, L) bool, True at the first position of each document of a packed row: the memory is empty there
            (``reset[:, 0]`` True: ``initial_memory`` is not read for that row); the final memory is that of the last
            document. cu_seqlens: 1-D integer document bounds [0, l_1, ..., L] (B == 1), converted to ``reset``.
        check_range: verify that ``log_decay`` (and ``lengths``) lie in range (a host sync; skip it when the caller
            guarantees the range, as ``WaveLBCMixer`` does).
    Returns:
        scale * y (B, L, H, V) in q's dtype and, with ``output_final_state``, the final memory (B, H, K, V) in float32
        (float64 for float64 inputs).
    """
    B, H, K, V = _check("decay_memory", q, k, v, log_decay, initial_memory, "initial_memory", True, check_range)
    L = q.shape[1]
    if L == 0:
        raise ValueError("decay_memory: the sequence length of `q` must be at least 1")
    if lengths is not None:
        if lengths.dim() != 1 or lengths.shape[0] != B or lengths.is_floating_point():
            raise ValueError(f"decay_memory: `lengths` must be an integer tensor of shape (B,) = ({B},); got "
                             f"{lengths.dtype} {tuple(lengths.shape)}")
        if check_range and not torch.compiler.is_compiling() and not bool(((lengths >= 0) & (lengths <= L)).all()):
            raise ValueError(f"decay_memory: `lengths` must lie in [0, L = {L}]; got {lengths.tolist()}")
    reset = check_reset("decay_memory", reset, cu_seqlens, B, L, q)
    with torch.autocast(q.device.type, enabled=False):
        return _chunked(q, k, v, log_decay, initial_memory, output_final_state, lengths, scale, reset)


class _ChunkHandOff(torch.autograd.Function):
    """The memory entering each chunk from the memory each chunk adds: E_0 = 0, E_i = d_{i-1} * E_{i-1} + kv_{i-1}.

    kv: (B, H, n, K, V); d: (B or 1, H, n or 1, K, 1), the factor lambda^c per head and key dim (times 0 across a
    chunk that holds a document start). A loop over the n chunks on (B, H, K, V) slices, forward and adjoint
    (A_i = g_i + d_i * A_{i+1}, grad kv_{i-1} = A_i, grad d_{i-1} = sum A_i E_{i-1}), which moves far less memory than
    a log-depth scan of full-size tensors under autograd.
    """

    @staticmethod
    def forward(ctx, kv: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        entering = torch.empty_like(kv)
        entering[:, :, 0].zero_()
        per_chunk = d.shape[2] > 1
        for i in range(1, kv.shape[2]):
            factor = d[:, :, i - 1] if per_chunk else d[:, :, 0]
            torch.addcmul(kv[:, :, i - 1], factor, entering[:, :, i - 1], out=entering[:, :, i])
        ctx.save_for_backward(d, entering)
        return entering

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d, entering = ctx.saved_tensors
        per_chunk = d.shape[2] > 1
        grad_kv = torch.empty_like(entering)
        grad_kv[:, :, -1].zero_()  # the last chunk's kv enters no chunk (the final memory is computed apart)
        adjoint = grad[:, :, -1]
        for i in range(entering.shape[2] - 1, 0, -1):  # adjoint of E_i, then of E_{i-1}
            grad_kv[:, :, i - 1] = adjoint
            adjoint = torch.addcmul(grad[:, :, i - 1], d[:, :, i - 1] if per_chunk else d[:, :, 0], adjoint)
        products = (grad_kv[:, :, :-1] * entering[:, :, :-1]).sum(-1, keepdim=True)  # (B, H, n-1, K, 1)
        grad_d = torch.zeros_like(d)
        if per_chunk:
            grad_d[:, :, :-1] = products.sum(0, keepdim=True) if d.shape[0] == 1 else products
        else:
            grad_d[:, :, 0] = products.sum(2).sum(0, keepdim=True) if d.shape[0] == 1 else products.sum(2)
        return grad_kv, grad_d


class _MaskChunks(torch.autograd.Function):
    """In place, x[b, :, i] *= mask for the listed chunks (b, i) of x (B, H, n, c, c): the intra-chunk scores of the
    chunks that hold a document start, kept for the pairs of one document. mask: (R, c, c), in x's dtype.

    The backward masks the incoming gradient in place: it is the fresh product of the score matmul's backward
    (``scores @ vc``), which nothing else reads.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, b: torch.Tensor, i: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x[b, :, i] *= mask[:, None]
        ctx.mark_dirty(x)
        ctx.save_for_backward(b, i, mask)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        b, i, mask = ctx.saved_tensors
        grad[b, :, i] *= mask[:, None]
        return grad, None, None, None


class _RowsMatmul(torch.autograd.Function):
    """Per chunk, base + (keep * x) @ y, or (keep * x)^T @ y (``transpose``), where keep (R, c) bool zeroes rows of x
    only in the listed chunks (b, i) (``rows`` = (b, i, keep); None: no rows are dropped).

    x: (B, H, n, c, K); y: (B, H, n, K, V), or (B, H, n, c, V) for ``transpose``; base: None or the output's shape.
    The other chunks take one batched matmul as without document starts; the listed ones are computed again from
    their masked rows and written over (forward and both gradients), so no full-size mask is built or applied.
    """

    @staticmethod
    def forward(ctx, x, y, base, transpose: bool, rows) -> torch.Tensor:
        xt = x.transpose(-1, -2) if transpose else x
        out = xt @ y if base is None else torch.baddbmm(base.flatten(0, 2), xt.flatten(0, 2), y.flatten(0, 2))
        out = out.view(*x.shape[:3], *out.shape[-2:])
        ctx.transpose, ctx.has_rows = transpose, rows is not None
        if rows is None:
            ctx.save_for_backward(x, y)
            return out
        b, i, keep = rows
        keep = keep.to(x.dtype)[:, None, :, None]  # (R, 1, c, 1)
        fixed = _product(x[b, :, i] * keep, y[b, :, i], transpose)
        out[b, :, i] = fixed if base is None else fixed + base[b, :, i]
        ctx.save_for_backward(x, y, b, i, keep)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y = ctx.saved_tensors[:2]
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:  # d/dx of x @ y is grad @ y^T, of x^T @ y is y @ grad^T
            grad_x = y @ grad.transpose(-1, -2) if ctx.transpose else grad @ y.transpose(-1, -2)
        if ctx.needs_input_grad[1]:  # d/dy of x @ y and of x^T @ y is x^T @ grad and x @ grad
            grad_y = _product(x, grad, not ctx.transpose)
        if ctx.has_rows:
            b, i, keep = ctx.saved_tensors[2:]
            if grad_x is not None:
                grad_x[b, :, i] *= keep
            if grad_y is not None:
                grad_y[b, :, i] = _product(x[b, :, i] * keep, grad[b, :, i], not ctx.transpose)
        return grad_x, grad_y, (grad if ctx.needs_input_grad[2] else None), None, None


def _product(x: torch.Tensor, y: torch.Tensor, transpose: bool) -> torch.Tensor:
    """x^T @ y if ``transpose`` else x @ y, over the last two dims."""
    return (x.transpose(-1, -2) if transpose else x) @ y


def _chunked(q, k, v, log_decay, initial_memory, output_final_state, lengths, scale, reset):
    B, L, H, K = q.shape
    V = v.shape[-1]
    dtype = compute_dtype(q, k, v, log_decay, initial_memory)  # also the memory's dtype
    c = min(CHUNK, L)
    n = -(-L // c)

    def chunks(x: torch.Tensor) -> torch.Tensor:  # (B, L, H, F) -> contiguous (B, H, n, c, F), zero-padded at the end
        x = x.to(dtype).transpose(1, 2)
        if n * c != L:
            x = torch.cat([x, x.new_zeros(B, H, n * c - L, x.shape[-1])], dim=2)
        return x.contiguous().view(B, H, n, c, x.shape[-1])

    qc, kc, vc = chunks(q), chunks(k), chunks(v)
    w = log_decay.to(dtype)[:, None, None, :]  # (H, 1, 1, K)
    pos = torch.arange(c, device=q.device, dtype=dtype)[:, None]  # (c, 1)
    half = (pos - (c - 1) / 2) * w  # (H, 1, c, K): (t - m) log lambda
    q_half = qc * (half.exp() * scale)  # scale * lambda^(t-m) q_t
    k_half = kc * (-half).exp()  # lambda^(m-s) k_s
    scores = q_half @ k_half.transpose(-1, -2)  # (B, H, n, c, c): scale * q_t . lambda^(t-s) k_s
    per_key = w[:, 0, 0, :, None]  # (H, K, 1)
    hand_off = (c * per_key).exp()[None, :, None]  # (1, H, 1, K, 1): lambda^c
    read_rows = kv_rows = None  # (chunks (b, i), rows kept) of the chunks that hold a document start
    if reset is None:
        scores.tril_()
    else:  # document ids (count of starts so far) per position, and per chunk the id it enters with
        padded = torch.cat([reset, reset.new_zeros(B, n * c - L)], 1)
        doc = padded.cumsum(1).view(B, n, c)
        entering_doc = doc[:, :, :1] - reset[:, ::c, None].long()  # (B, n, 1)
        hand_off = hand_off * (doc[:, :, -1] == entering_doc[:, :, 0])[:, None, :, None, None]
        # tril_ first (the pairs above the diagonal may hold lambda^-(c-1) = inf), then a product by the finite rest
        scores.tril_()
        same_doc = doc[:, :, :, None] == doc[:, :, None, :]
        if torch.compiler.is_compiling():  # no host sync in a graph: full-size masks on every chunk
            scores.mul_(same_doc.to(dtype)[:, None])
            k_half = k_half * (doc == doc[:, :, -1:])[:, None, :, :, None]
            q_half = q_half * (doc == entering_doc)[:, None, :, :, None]
        else:  # only the chunks that hold a start differ from a single document's: fixed up by index
            b, i = padded.view(B, n, c).any(2).nonzero(as_tuple=True)
            held = doc[b, i]  # (R, c)
            scores = _MaskChunks.apply(scores, b, i, same_doc[b, i].to(dtype))
            kv_rows = (b, i, held == held[:, -1:])  # only the chunk's last document stays in the memory
            read_rows = (b, i, held == entering_doc[b, i])  # the entering memory is read before the first start
    y = scores @ vc
    # what each chunk adds to the memory, sum_s lambda^(c-1-s) k_s v_s^T, with lambda^(c-1-s) = lambda^((c-1)/2) *
    # lambda^(m-s); the memory entering each chunk, and its contribution lambda^(t+1) q_t . M_{b-1} with
    # lambda^(t+1) = lambda^(t-m) * lambda^((c+1)/2): the constant factors go on the (K, V) memories
    chunk_kv = ((c - 1) / 2 * per_key).exp()[:, None] * _RowsMatmul.apply(k_half, vc, None, True, kv_rows)
    entering = _ChunkHandOff.apply(chunk_kv, hand_off)  # M_{b-1} for every chunk start b
    if initial_memory is not None:
        chunk_start = torch.arange(n, device=q.device, dtype=dtype)[:, None]
        carried = (c * chunk_start * w[:, 0]).exp()[..., None] * initial_memory.to(dtype)[:, :, None]
        if reset is not None:  # read only by the chunks before the row's first document start
            carried = carried * (entering_doc[:, :, 0] == 0)[:, None, :, None, None]
        entering = entering + carried
    y = _RowsMatmul.apply(q_half, ((c + 1) / 2 * per_key).exp()[:, None] * entering, y, False, read_rows)
    y = y.view(B, H, n * c, V)[:, :, :L].transpose(1, 2).to(q.dtype)
    if not output_final_state:
        return y, None
    # M after n_b steps = lambda^n_b M_0 + sum_{s < n_b} lambda^(n_b-1-s) k_s v_s^T, straight from the inputs (with
    # documents: s from the last start before n_b on, and M_0 only if there is none)
    steps = torch.full((B,), L, device=q.device) if lengths is None else lengths.to(q.device)
    time = torch.arange(L, device=q.device)
    age = (steps[:, None] - 1 - time).to(dtype)  # (B, L): n_b - 1 - s
    counted = age >= 0
    if reset is not None:
        last_start = torch.where(reset & counted, time, -1).amax(1, keepdim=True)  # -1: no start
        counted = counted & (time >= last_start)
    weight = (age.clamp(min=0)[:, None, :, None] * w[None, :, 0]).exp() * counted[:, None, :, None]
    kw = kc.reshape(B, H, n * c, K)[:, :, :L] * weight  # (B, H, L, K)
    final = kw.transpose(-1, -2) @ vc.reshape(B, H, n * c, V)[:, :, :L]
    if initial_memory is not None:
        carried = (steps.to(dtype)[:, None, None] * w[None, :, 0, 0]).exp()[..., None] * initial_memory.to(dtype)
        if reset is not None:
            carried = carried * (last_start < 0)[:, :, None, None]
        final = final + carried
    return y, final


def decay_memory_step(
    q_t: torch.Tensor,
    k_t: torch.Tensor,
    v_t: torch.Tensor,
    log_decay: torch.Tensor,
    memory: torch.Tensor,
    *,
    scale: float = 1.0,
    check_range: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step: q_t, k_t (B, H, K), v_t (B, H, V), memory (B, H, K, V) -> (scale * y_t (B, H, V) in q_t's dtype, new
    memory in float32 (float64 for float64 inputs)); ``scale`` and ``check_range`` as in ``decay_memory``."""
    _check("decay_memory_step", q_t, k_t, v_t, log_decay, memory, "memory", False, check_range)
    dtype = compute_dtype(q_t, k_t, v_t, log_decay, memory)
    q, k, v, w, mem = (x if x.dtype == dtype else x.to(dtype) for x in (q_t, k_t, v_t, log_decay, memory))
    new = torch.addcmul(w.exp()[..., None] * mem, k[..., None], v[..., None, :])
    y = (q[..., None, :] @ new).squeeze(-2) * scale
    return (y if y.dtype == q_t.dtype else y.to(q_t.dtype)), new


def decay_memory_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_decay: torch.Tensor,
    initial_memory: torch.Tensor | None = None,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The definition, a loop over time in the inputs' dtype: (y (B, L, H, V), final memory (B, H, K, V)); with
    ``reset`` (B, L) bool the memory is emptied before each document's first step."""
    B, H, K, V = _check("decay_memory_reference", q, k, v, log_decay, initial_memory, "initial_memory", True, True)
    lam = log_decay.exp()[..., None]
    mem = q.new_zeros(B, H, K, V) if initial_memory is None else initial_memory
    ys = []
    for t in range(q.shape[1]):
        if reset is not None:
            mem = mem * (~reset[:, t]).to(mem.dtype)[:, None, None, None]
        mem = lam * mem + k[:, t, :, :, None] * v[:, t, :, None, :]
        ys.append(torch.einsum("bhk,bhkv->bhv", q[:, t], mem))
    return torch.stack(ys, dim=1), mem
