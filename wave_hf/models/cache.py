"""The recurrent cache of every wave_hf model: per layer a few named, fixed-size state tensors.

``WaveCache`` sits on transformers 5.x's ``Cache`` machinery (its layers are ``LinearAttentionLayer``s, so
transformers treats them as recurrent, not key/value, layers): beam search, batch expansion and reset come from it.
Its size never depends on the context length; it cannot be rolled back (``crop`` refuses), which is why assisted
decoding is refused (``wave_hf.models.heads``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers.cache_utils import Cache, LinearAttentionLayer

from .configuration_utils import WaveBaseConfig

__all__ = ["WaveCache", "WaveStateLayer"]


class WaveStateLayer(LinearAttentionLayer):
    """One layer's fixed-size state: named tensors whose first dimension is the batch.

    Subclasses ``LinearAttentionLayer`` so transformers treats it as a recurrent (non-KV) layer. States are assigned,
    not copied in place, so a tensor handed out earlier is never changed behind the caller's back.
    """

    def __init__(self, state_names: Sequence[str]):
        super().__init__(number_of_states=len(state_names))
        self.state_names = tuple(state_names)

    def _index(self, name: str) -> int:
        try:
            return self.state_names.index(name)
        except ValueError:
            raise KeyError(f"cache layer has no state {name!r}; it holds {list(self.state_names)}") from None

    def get(self, name: str) -> torch.Tensor | None:
        idx = self._index(name)
        return self.recurrent_states[idx] if self.has_previous_state[idx] else None

    def set(self, name: str, value: torch.Tensor) -> torch.Tensor:
        idx = self._index(name)
        self.recurrent_states[idx] = value
        self.is_recurrent_states_initialized[idx] = True
        # transformers only sets this in update_conv_state, which a recurrence-only model never calls
        self.has_previous_state[idx] = True
        self.device, self.dtype = value.device, value.dtype
        return value

    def update_recurrent_state(self, recurrent_states: torch.Tensor, state_idx: int = 0, **kwargs) -> torch.Tensor:
        return self.set(self.state_names[state_idx], recurrent_states)

    @property
    def batch_size(self) -> int:
        sizes = {t.shape[0] for i, t in self.recurrent_states.items() if self.has_previous_state[i]}
        return sizes.pop() if len(sizes) == 1 else -1

    def _map_states(self, fn) -> None:
        for i, t in self.recurrent_states.items():
            if self.is_recurrent_states_initialized[i]:
                self.recurrent_states[i] = fn(t)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map_states(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map_states(lambda t: t[indices.to(t.device)])

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._map_states(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError(
            "wave_hf caches hold a fixed-size recurrent state and cannot be rolled back; assisted/speculative "
            "decoding and cache cropping are not supported"
        )


class WaveCache(Cache):
    """Recurrent cache of a wave_hf model: per layer a few named state tensors, plus the count of tokens seen.

    Build it with ``WaveCache.from_config(config)`` (models do this on the first forward with ``use_cache=True``).
    """

    def __init__(self, state_names: Sequence[Sequence[str]]):
        super().__init__(layers=[WaveStateLayer(names) for names in state_names])
        self.seen_tokens = 0

    @classmethod
    def from_config(cls, config: WaveBaseConfig) -> WaveCache:
        """An empty cache with the layers and state names of ``config.cache_state_names()``."""
        return cls(config.cache_state_names())

    def get_state(self, layer_idx: int, name: str) -> torch.Tensor | None:
        """The state ``name`` of layer ``layer_idx``, or None before the first write."""
        return self.layers[layer_idx].get(name)

    def set_state(self, layer_idx: int, name: str, value: torch.Tensor) -> torch.Tensor:
        return self.layers[layer_idx].set(name, value)

    def reset(self) -> None:
        super().reset()
        self.seen_tokens = 0

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen_tokens
