"""The linear-boundary-condition (LBC) traveling-wave token mixer (the paper's linear boundary condition).

Per head ``h`` the memory is a wave substrate of ``S`` columns of ``D`` waves. Every step the waves move one column
toward the open end (the oldest column is dropped) and the start column receives the drive plus a linear function of
the whole substrate (the boundary):

    z_t = u_t + sum_{k=1..S} a_k z_{t-k}           (``wave_hf.ops.wave_scan``; substrate = [z_t, ..., z_{t-S+1}])

``boundary`` chooses the form of ``a``: ``"none"`` (``a = 0``: the pure shift, i.e. H3's shift SSM), ``"diagonal"``
(``a`` of shape (H, S, D): every wave has its own AR(S) boundary) or ``"dense"`` ((H, S, D, D): the boundary mixes the D
waves of a head). ``readout`` chooses what is read out of the substrate: ``"boundary"`` reads the start column
``z_t`` only (the paper's figure, ``y = C z_new`` with ``C`` folded into the output projection), ``"fir"`` reads all S
columns with a learned per-wave filter ``y_t = sum_{j<S} c_j * z_{t-j}`` (H3's shift-SSM ``C``). With
``boundary="none"`` and ``readout="fir"`` the wave is exactly H3's shift SSM: a causal convolution of length S.

``gating`` adds H3's multiplicative structure, ``W_O [q * SSM_diag(shift(k) * v)]`` with the wave substrate in the
place of the shift SSM: ``q, k, v = W_q x, W_k x, W_v x``; ``kbar = readout(wave(k))``; a per-head first-order decaying
memory ``M_t = diag(lambda) M_{t-1} + kbar_t v_t^T`` (H3's diagonal SSM with real poles, one decay per key
dimension; ``wave_hf.ops.memory`` computes it in chunks without materialising the memories); output
``q_t^T M_t / sqrt(D)``. Without gating the mixer is
``W_out readout(wave(W_in x))``; with ``projections=False`` (needs ``hidden_size = H * D``) it is
``readout(wave(x))``, so that a one-layer model's input and output maps are the paper's write and read operators and
nothing else.

Stability and initialisation: ``a`` is an unconstrained parameter, initialised at the pure shift (``a = 0``; the
companion operator Phi is then nilpotent, spectral radius 0) or, with ``boundary_init_scale = r`` in (0, 1), at a random
boundary rescaled so that ``sum_k ||a_k||_2 = r`` per head (per wave for the diagonal form). The nonzero eigenvalues of
Phi solve ``det(I - sum_k a_k lambda^-k) = 0``; for ``|lambda| > r^(1/S)`` we have ``||sum_k a_k lambda^-k|| <
sum_k ||a_k|| / r = 1``, so the spectral radius is at most ``r^(1/S) < 1``. The parameter is left unconstrained
afterwards by default: the paper's tasks (T1-T4) need eigenvalues exactly on the unit circle, which a squashing
parameterisation only approaches asymptotically; and the gradient with respect to ``a`` at the shift is
``dz_t/da_k = z_{t-k}``, not zero, so training moves it at once (unlike a product parameterisation started at zero).
A language model over thousands of tokens needs the opposite: Adam moves each of the S coefficients of a wave by about
the learning rate per step, so ``sum_k |a_k|`` passes 1 within tens of steps and the waves grow without bound over a
long row. ``boundary_max_norm = c`` in (0, 1] bounds it: the wave uses ``a * c tanh(n / c) / n`` with ``n`` the
parameter's norm (``sum_k |a_k|`` per wave for the diagonal form, ``sum_k ||a_k||_F >= sum_k ||a_k||_2`` per head for
the dense one), so the norm the wave uses stays at most c and the spectral radius at most ``c^(1/S)`` at every step of
training, and small boundaries are left as they are (``tanh(x) / x -> 1``).
The gating memory's decay is ``sigmoid(logit)``, kept in [exp(LOG_DECAY_MIN), 1) (the range the chunked memory
is exact for; a half-life of at least 0.17 tokens), initialised at half-lives spread log-uniformly over the heads.

Modes: ``forward`` on a chunk runs the parallel path (``wave_scan``, or ``wave_scan_fir`` for the FIR readout, which
reads out inside the scan): training and prefill. A one-token chunk with a state runs
``step`` (``wave_step``): decoding, at a cost independent of the context length. ``mode=`` forces either.

Padding: the mixer runs on packed rows (``wave_hf.layers.padding``: each row's real tokens first, ``layout.lengths``
of them, padding after), so the scans' outputs at real positions never see padding, and the state returned is the
substrate (and memory) after each row's last real token. The model packs and unpacks once around all its layers.
Packed documents (``layout.reset``, several documents in one row) go to the ops as their ``reset``: the substrate,
the FIR history and the gating memory start empty at each document start.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from wave_hf.ops import decay_memory, decay_memory_step, wave_scan, wave_scan_fir, wave_step
from wave_hf.ops.companion import companion_matrix
from wave_hf.ops.memory import LOG_DECAY_MIN
from wave_hf.ops.validation import compute_dtype

from .padding import TokenLayout, substrate_at_last_token

__all__ = ["WaveLBCMixer"]


class WaveLBCMixer(nn.Module):
    """LBC wave token mixer: (B, L, hidden_size) -> (B, L, hidden_size), see the module docstring.

    The arguments are those of ``WaveLBCConfig`` (which validates them; the choices are in ``wave_hf.layers.options``):
    ``boundary`` in ``BOUNDARY_FORMS``, ``readout`` in ``READOUTS``, ``gating`` in ``GATINGS``,
    ``0 <= boundary_init_scale < 1``, ``boundary_max_norm`` None or in (0, 1], and ``projections=False`` only with
    ``gating="none"`` and ``hidden_size == num_heads * head_dim``.

    State (a dict, what a cache stores per layer): ``"substrate"`` (B, H, S, D) with ``[:, :, j] = z_{t-j}`` (the
    ``wave_scan`` convention; j = 0 is the newest column) and, with ``gating="qkv"``, ``"memory"`` (B, H, D, D) (key
    dim first; float32 whatever the model's dtype).
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        head_dim: int,
        history_length: int,
        boundary: str = "diagonal",
        readout: str = "fir",
        gating: str = "none",
        boundary_init_scale: float = 0.0,
        boundary_max_norm: float | None = None,
        memory_halflife_min: float = 8.0,
        memory_halflife_max: float = 512.0,
        projections: bool = True,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_heads = H = num_heads
        self.head_dim = D = head_dim
        self.history_length = S = history_length
        self.boundary_form = boundary
        self.readout = readout
        self.gating = gating
        self.boundary_init_scale = boundary_init_scale
        self.boundary_max_norm = boundary_max_norm
        self.memory_halflife_min = memory_halflife_min
        self.memory_halflife_max = memory_halflife_max

        if boundary == "diagonal":
            self.boundary = nn.Parameter(torch.zeros(H, S, D))
        elif boundary == "dense":
            self.boundary = nn.Parameter(torch.zeros(H, S, D, D))
        else:
            self.register_parameter("boundary", None)
        if readout == "fir":
            self.fir = nn.Parameter(torch.zeros(H, S, D))  # fir[h, j, d] multiplies z_{t-j}
        else:
            self.register_parameter("fir", None)

        inner = H * D
        if gating == "qkv":
            self.in_proj = nn.Linear(hidden_size, 3 * inner, bias=False)
            self.memory_logit = nn.Parameter(torch.zeros(H, D))  # decay of key dim i of head h: sigmoid(logit)
        else:
            self.in_proj = nn.Linear(hidden_size, inner, bias=False) if projections else nn.Identity()
            self.register_parameter("memory_logit", None)
        self.out_proj = nn.Linear(inner, hidden_size, bias=False) if projections else nn.Identity()
        self.init_wave_weights()

    # -- parameters ---------------------------------------------------------------------------------------------------

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("substrate", "memory") if self.gating == "qkv" else ("substrate",)

    def init_wave_weights(self) -> None:
        """Initialise the custom parameters (called by ``WavePreTrainedModel._init_weights`` and at construction)."""
        if self.boundary is not None:
            r = self.boundary_init_scale
            if r == 0.0:
                init.zeros_(self.boundary)
            else:
                a = torch.randn(self.boundary.shape, device=self.boundary.device, dtype=torch.float32)
                if self.boundary_form == "dense":
                    total = torch.linalg.matrix_norm(a, ord=2).sum(dim=1)  # (H,)
                    a = a * (r / total)[:, None, None, None]
                else:
                    total = a.abs().sum(dim=1, keepdim=True)  # (H, 1, D): per wave
                    a = a * (r / total)
                init.copy_(self.boundary, a.to(self.boundary.dtype))
        if self.fir is not None:
            # H3's shift-SSM C: kaiming-uniform over the S taps
            bound = 1.0 / math.sqrt(self.history_length)
            init.uniform_(self.fir, -bound, bound)
        if self.memory_logit is not None:
            H = self.num_heads
            t = torch.linspace(0.0, 1.0, H) if H > 1 else torch.zeros(1)
            halflife = self.memory_halflife_min * (self.memory_halflife_max / self.memory_halflife_min) ** t
            lam = torch.exp2(-1.0 / halflife)
            logit = torch.log(lam) - torch.log1p(-lam)
            value = logit[:, None].expand(H, self.head_dim).to(self.memory_logit.device, self.memory_logit.dtype)
            init.copy_(self.memory_logit, value)

    def effective_boundary(self) -> torch.Tensor | None:
        """The boundary ``a`` the wave uses (op convention; None for the pure shift): the parameter, or with
        ``boundary_max_norm = c`` the parameter rescaled to norm ``c tanh(n / c)`` (see the module docstring)."""
        a, c = self.boundary, self.boundary_max_norm
        if a is None or c is None:
            return a
        if self.boundary_form == "dense":  # (H, S, D, D): sum_k ||a_k||_F per head
            n = a.square().sum(dim=(-2, -1)).add(1e-24).sqrt().sum(dim=1)[:, None, None, None]
        else:  # (H, S, D): sum_k |a_k| per wave
            n = a.abs().sum(dim=1, keepdim=True)
        n = n.clamp_min(1e-12)
        return a * (c * torch.tanh(n / c) / n)

    def companion_matrix(self, head: int = 0) -> torch.Tensor:
        """The paper's Phi (S*D, S*D) of one head: identity blocks on the block superdiagonal plus the boundary row
        ``[A_1 ... A_s]`` (column 1 oldest; ``wave_hf.ops.companion``)."""
        S, D = self.history_length, self.head_dim
        if not 0 <= head < self.num_heads:
            raise ValueError(f"`head` must lie in [0, {self.num_heads}); got {head}")
        if self.boundary is None:
            a = torch.zeros(S, D)
        else:
            a = self.effective_boundary()[head].detach().float()
        return companion_matrix(a)

    def _memory_log_decay(self) -> torch.Tensor:
        """(H, D) log of the gating memory's decay per key dim, log sigmoid(logit) clamped at ``LOG_DECAY_MIN``."""
        logit = self.memory_logit
        return F.logsigmoid(logit.to(compute_dtype(logit))).clamp(min=LOG_DECAY_MIN)

    # -- the wave -----------------------------------------------------------------------------------------------------

    def _wave_parallel(
        self,
        u: torch.Tensor,
        substrate: torch.Tensor | None,
        lengths: torch.Tensor | None,
        want_state: bool,
        reset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """u (B, L, H, D) of packed rows (``lengths`` real tokens first; ``reset`` (B, L) document starts, where the
        substrate starts empty) -> readout (B, L, H, D) and, if asked, the substrate after each row's last real
        token."""
        a = self.effective_boundary()  # op convention: a[:, k-1] multiplies z_{t-k}; None = pure shift
        if self.readout == "fir":  # y_t = sum_j fir_j * z_{t-j}, read out inside the scan
            if a is None:
                a = u.new_zeros(self.num_heads, self.history_length, self.head_dim)
            y, z = wave_scan_fir(u, a.to(u.dtype), self.fir.to(u.dtype), substrate, output_waves=want_state,
                                 reset=reset)
        else:  # the pure shift reads the start column, z_t = u_t: nothing crosses a document start
            z = u if a is None else wave_scan(u, a.to(u.dtype), substrate, reset=reset)[0]
            y = z
        if not want_state:
            return y, None
        return y, substrate_at_last_token(z, substrate, lengths, self.history_length, reset).contiguous()

    def _wave_step(self, u_t: torch.Tensor, substrate: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """u_t (B, H, D) -> readout (B, H, D), new substrate (B, H, S, D)."""
        B, H, D = u_t.shape
        if substrate is None:
            substrate = u_t.new_zeros(B, H, self.history_length, D)
        substrate = substrate.to(u_t.dtype)
        a = self.effective_boundary()  # op convention: a[:, k-1] multiplies z_{t-k}; None = pure shift
        if a is None:
            new_state = torch.cat([u_t.unsqueeze(2), substrate[:, :, :-1]], dim=2)
        else:
            _, new_state = wave_step(u_t, a.to(u_t.dtype), substrate)
        if self.readout == "fir":
            y = (self.fir.to(u_t.dtype) * new_state).sum(2)  # (B, H, D); einsum costs 10x more per token here
        else:
            y = new_state[:, :, 0]
        return y, new_state

    # -- forward ------------------------------------------------------------------------------------------------------

    def forward(
        self,
        hidden_states: torch.Tensor,
        layout: TokenLayout | None = None,
        state: dict[str, torch.Tensor] | None = None,
        output_state: bool = False,
        mode: str = "auto",
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """hidden_states (B, L, hidden_size) of packed rows -> (output (B, L, hidden_size), new state or None).

        ``layout`` (``wave_hf.layers.padding.TokenLayout``): the rows hold ``layout.lengths`` real tokens first, then
        padding (None: every position is real); outputs at padded positions are unspecified, the state is the one after
        each row's last real token. With packed documents (``layout.reset``) the substrate and the memory start
        empty at each document start, as for a separate run of the document. ``state`` is the dict returned by an
        earlier call (None: zeros). ``mode``: "auto" (step for a one-token chunk that continues a state, parallel
        otherwise), "parallel" or "step" (a loop of single steps).
        """
        if mode not in ("auto", "parallel", "step"):
            raise ValueError(f"`mode` must be 'auto', 'parallel' or 'step'; got {mode!r}")
        state = state or {}
        B, L, _ = hidden_states.shape
        if mode == "auto":
            mode = "step" if (L == 1 and state.get("substrate") is not None) else "parallel"
        if mode == "step":
            return self._forward_steps(hidden_states, layout, state, output_state)

        lengths = None if layout is None else layout.lengths
        reset = None if layout is None else layout.reset
        H, D = self.num_heads, self.head_dim
        proj = self.in_proj(hidden_states)
        new_state: dict[str, torch.Tensor] = {}
        if self.gating == "qkv":
            q, k, v = proj.view(B, L, 3, H, D).unbind(2)
            kbar, sub = self._wave_parallel(k, state.get("substrate"), lengths, output_state, reset)
            y, mem = decay_memory(q, kbar, v, self._memory_log_decay(), state.get("memory"),
                                  output_final_state=output_state, lengths=lengths, scale=D**-0.5, check_range=False,
                                  reset=reset)
            if output_state:
                new_state["memory"] = mem
        else:
            y, sub = self._wave_parallel(proj.view(B, L, H, D), state.get("substrate"), lengths, output_state, reset)
        out = self.out_proj(y.reshape(B, L, H * D))
        if not output_state:
            return out, None
        new_state["substrate"] = sub
        return out, new_state

    def step(
        self, hidden_t: torch.Tensor, state: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One recurrent step: hidden_t (B, hidden_size) -> (output (B, hidden_size), new state)."""
        state = state or {}
        B = hidden_t.shape[0]
        H, D = self.num_heads, self.head_dim
        proj = self.in_proj(hidden_t)
        new_state: dict[str, torch.Tensor] = {}
        if self.gating == "qkv":
            q, k, v = proj.view(B, 3, H, D).unbind(1)
            kbar, sub = self._wave_step(k, state.get("substrate"))
            mem = state.get("memory")
            if mem is None:  # the memory is kept in float32 (or float64), whatever the model's dtype
                mem = kbar.new_zeros(B, H, D, D, dtype=compute_dtype(kbar))
            y, new_state["memory"] = decay_memory_step(q, kbar, v, self._memory_log_decay(), mem, scale=D**-0.5,
                                                       check_range=False)
        else:
            y, sub = self._wave_step(proj.view(B, H, D), state.get("substrate"))
        new_state["substrate"] = sub
        return self.out_proj(y.reshape(B, H * D)), new_state

    def _forward_steps(self, hidden_states, layout, state, output_state):
        """A loop of ``step`` over the chunk; padded positions leave the state unchanged and output zero; at a
        document start (``layout.reset``) the state is emptied first."""
        outs = []
        for t in range(hidden_states.shape[1]):
            if layout is not None and layout.reset is not None:
                keep_state = ~layout.reset[:, t]
                state = {name: value * keep_state.view(-1, *([1] * (value.dim() - 1))).to(value.dtype)
                         for name, value in state.items() if value is not None}
            out_t, new = self.step(hidden_states[:, t], state)
            if layout is not None and layout.valid is not None:
                keep = layout.valid[:, t]
                out_t = out_t * keep.to(out_t.dtype)[:, None]
                old = {name: value.new_zeros(()) if state.get(name) is None else state[name].to(value.dtype)
                       for name, value in new.items()}
                new = {name: torch.where(keep.view(-1, *([1] * (value.dim() - 1))), value, old[name])
                       for name, value in new.items()}
            state = new
            outs.append(out_t)
        out = torch.stack(outs, dim=1)
        return out, (state if output_state else None)

    def extra_repr(self) -> str:
        return (
            f"heads={self.num_heads}, head_dim={self.head_dim}, history={self.history_length}, "
            f"boundary={self.boundary_form}, readout={self.readout}, gating={self.gating}"
        )
