"""In-context recall tasks: induction head and associative recall (H3 / safari ``synthetics.py``) and zoology's
multi-query associative recall (MQAR, ``zoology/data/multiquery_ar.py``).

All rows follow the Hugging Face causal-LM convention: ``labels`` sit at the same positions as ``input_ids``
(the model shifts internally, comparing ``logits[t]`` with ``labels[t+1]``) and are -100 where nothing is scored.
By default only the answer positions are labelled; ``label_all`` (induction_head, associative_recall) labels every
next token, as safari's training tensors do (safari scores only the answers at test time: evaluate with
``label_all: false``). Sizes default to tiny CPU-friendly values.

Token ids (induction_head, associative_recall): regular tokens ``0 .. vocab_size-3``, then ``copy_prefix =
vocab_size-2`` and ``noop = vocab_size-1`` (safari's "=>" and "."). MQAR uses zoology's layout: keys
``1 .. vocab_size//2 - 1``, values ``vocab_size//2 .. vocab_size-1``, 0 = empty (replaced by random tokens when
``random_non_queries``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import IGNORE_INDEX, Columns, Family, Param, Params, register, token_columns


class _TokenFamily(Family):
    kind = "tokens"
    metric = "token_accuracy"

    def seq_len(self, p: Params) -> int:
        raise NotImplementedError

    def sizes(self, p: Params) -> dict[str, int | None]:
        v = p["vocab_size"]
        return {"input_size": v, "output_size": v, "vocab_size": v}

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        return token_columns(draws["input_ids"], draws["labels"])  # rows are built token by token in ``draw``


_LABEL_ALL = Param(False, "label every next token (safari's training tensors); false: only the answers", "bool")


class _SafariFamily(_TokenFamily):
    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"copy_prefix_id": p["vocab_size"] - 2, "noop_id": p["vocab_size"] - 1}

    @staticmethod
    def labelled(p: Params, ids: np.ndarray, labels: np.ndarray) -> Columns:
        """The row's columns: ``labels`` (the answers) or, with ``label_all``, every token."""
        return {"input_ids": ids, "labels": ids.copy() if p["label_all"] else labels}


@register
class InductionHead(_SafariFamily):
    name = "induction_head"
    summary = ("Induction head (H3/safari): random tokens with a copy_prefix trigger planted earlier; after the final "
               "copy_prefix the induction_len tokens that followed the trigger must be recalled. "
               "Metric: token_accuracy on the recalled tokens.")
    params = {
        "vocab_size": Param(20, "total vocabulary including copy_prefix and noop", "int", minimum=3),
        "input_seq_len": Param(32, "random tokens before the final copy_prefix", "int", minimum=3),
        "induction_len": Param(1, "number of tokens to recall", "int", minimum=1),
        "num_triggers": Param(1, "max planted triggers (with prob. 1/2 only one, as in safari)", "int", minimum=1),
        "label_all": _LABEL_ALL,
    }

    def check(self, p: Params) -> None:
        if p["input_seq_len"] < p["induction_len"] + 2:
            raise ValueError(
                f"induction_head: input_seq_len={p['input_seq_len']} must be >= induction_len + 2 = "
                f"{p['induction_len'] + 2} (room for a trigger and the tokens after it)"
            )

    def seq_len(self, p: Params) -> int:
        return p["input_seq_len"] + 1 + p["induction_len"]

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        V, N, k, m = p["vocab_size"], p["input_seq_len"], p["induction_len"], p["num_triggers"]
        prefix, L = V - 2, self.seq_len(p)
        rows = np.arange(n)[:, None]
        seq = rng.integers(0, V - 2, size=(n, N))
        n_trig = np.where(rng.random(n) < 0.5, 1, m)  # safari: with probability 1/2 a single trigger
        pos = rng.integers(0, N - (1 + k), size=(n, m))
        pos = np.sort(np.where(np.arange(m) < n_trig[:, None], pos, N), axis=1)  # the row's n_trig draws, sorted
        keep = np.zeros((n, m), dtype=bool)
        last = np.full(n, -N)
        for j in range(m):  # keep a trigger only if it does not overlap the previous kept one
            keep[:, j] = (pos[:, j] < N) & (pos[:, j] - last > k)
            last = np.where(keep[:, j], pos[:, j], last)
        to_copy = seq[rows, pos[:, :1] + 1 + np.arange(k)]  # the tokens after the first trigger
        for j in range(m):
            r = np.flatnonzero(keep[:, j])
            seq[r, pos[r, j]] = prefix
            seq[r[:, None], pos[r, j][:, None] + 1 + np.arange(k)] = to_copy[r]
        ids = np.concatenate([seq, np.full((n, 1), prefix), to_copy], axis=1)
        labels = np.full((n, L), IGNORE_INDEX, dtype=np.int64)
        labels[:, N + 1 :] = to_copy
        return self.labelled(p, ids, labels)


@register
class AssociativeRecall(_SafariFamily):
    name = "associative_recall"
    summary = ("Associative recall (H3/safari): key-value pairs (keys from the first half of the regular tokens, "
               "values from the second), then copy_prefix, a query key, and its value (noop if absent). "
               "Metric: token_accuracy on the answer.")
    params = {
        "vocab_size": Param(20, "total vocabulary including copy_prefix and noop", "int", minimum=4),
        "input_seq_len": Param(32, "length of the key-value part (pairs = input_seq_len // (num_keys+1))", "int",
                               minimum=2),
        "num_keys": Param(1, "tokens per key", "int", minimum=1),
        "allow_dot": Param(False, "query keys may be absent (answer noop)", "bool"),
        "label_all": _LABEL_ALL,
    }

    def check(self, p: Params) -> None:
        if p["input_seq_len"] < p["num_keys"] + 1:
            raise ValueError(f"associative_recall: input_seq_len={p['input_seq_len']} must be >= num_keys + 1 = "
                             f"{p['num_keys'] + 1} (at least one key-value pair)")
        n_tuples = ((p["vocab_size"] - 2) // 2) ** p["num_keys"]
        if n_tuples > 65536:
            raise ValueError(f"associative_recall: ((vocab_size-2)//2)**num_keys = {n_tuples} possible keys; allowed "
                             "up to 65536 (lower num_keys or vocab_size)")

    def num_pairs(self, p: Params) -> int:
        return p["input_seq_len"] // (p["num_keys"] + 1)

    def seq_len(self, p: Params) -> int:
        return self.num_pairs(p) * (p["num_keys"] + 1) + p["num_keys"] + 2

    def extra_info(self, p: Params) -> dict[str, Any]:
        R = p["vocab_size"] - 2
        return {**super().extra_info(p), "num_pairs": self.num_pairs(p), "key_ids": [0, R // 2 - 1],
                "value_ids": [R // 2, R - 1]}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        V, nk = p["vocab_size"], p["num_keys"]
        R = V - 2
        n_keys, n_vals = R // 2, R - R // 2
        P, L = self.num_pairs(p), self.seq_len(p)
        n_tuples = n_keys**nk
        rows = np.arange(n)[:, None]
        kv_map = n_keys + rng.integers(0, n_vals, size=(n, n_tuples))  # safari draws a value for every key
        keys = rng.integers(0, n_keys, size=(n, P, nk))
        code = (keys * n_keys ** np.arange(nk)).sum(-1)  # key tuple -> index into kv_map
        values = kv_map[rows, code]
        present = np.zeros((n, n_tuples), dtype=bool)
        present[rows, code] = True
        if p["allow_dot"]:
            q_code = rng.integers(0, n_tuples, size=n)
        else:  # uniform over the distinct keys present in the example
            q_code = np.argmax(np.where(present, rng.random((n, n_tuples)), -1.0), axis=1)
        query = (q_code[:, None] // n_keys ** np.arange(nk)) % n_keys
        answer = np.where(present[np.arange(n), q_code], kv_map[np.arange(n), q_code], V - 1)
        body = np.concatenate([keys, values[..., None]], axis=2).reshape(n, -1)
        ids = np.concatenate([body, np.full((n, 1), V - 2), query, answer[:, None]], axis=1)
        labels = np.full((n, L), IGNORE_INDEX, dtype=np.int64)
        labels[:, -1] = answer
        return self.labelled(p, ids, labels)


def power_law_gap_probs(space: int, power_a: float) -> np.ndarray:
    """zoology's gap distribution p_k ~ a * k^(a-1), k = 1..space (float32-rounded so it is machine-independent)."""
    raw = np.array([power_a * math.pow(k, power_a - 1) for k in range(1, space + 1)], dtype=np.float32)
    raw = raw.astype(np.float64)
    return raw / math.fsum(raw)


def _weighted_without_replacement(rng: np.random.Generator, probs: np.ndarray, n: int, k: int) -> np.ndarray:
    """k distinct indices per row, drawn one after another with probability proportional to the remaining weights
    (the scheme of ``numpy``'s ``choice(replace=False, p=probs)``), vectorised over n rows."""
    w = np.tile(probs, (n, 1))
    out = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        cdf = np.cumsum(w, axis=1)
        u = cdf[:, -1] * (1.0 - rng.random(n))  # in (0, total]: never lands on an exhausted index
        out[:, j] = np.minimum((cdf < u[:, None]).sum(axis=1), w.shape[1] - 1)
        w[np.arange(n), out[:, j]] = 0.0
    return out


@register
class MQAR(_TokenFamily):
    name = "mqar"
    summary = ("Multi-query associative recall (zoology): num_kv_pairs distinct key-value pairs, then the keys are "
               "queried again at power-law distributed gaps; each answer is the queried key's value. "
               "Metric: token_accuracy on the answers.")
    params = {
        "vocab_size": Param(40, "vocabulary size (keys in the lower half, values in the upper half)", "int",
                            minimum=4),
        "input_seq_len": Param(32, "sequence length (even)", "int", minimum=4),
        "num_kv_pairs": Param(4, "number of key-value pairs (and queries)", "int", minimum=1),
        "power_a": Param(0.01, "power-law exponent of the query gaps (1 = uniform)", "float", minimum=0.0,
                         exclusive_minimum=True, maximum=1.0),
        "num_passes": Param(1, "repetitions of the key-value context (JRT)", "int", minimum=1),
        "random_non_queries": Param(True, "fill empty positions with random tokens", "bool"),
    }

    def check(self, p: Params) -> None:
        V, L, kv, passes = p["vocab_size"], p["input_seq_len"], p["num_kv_pairs"], p["num_passes"]
        if L % 2:
            raise ValueError(f"mqar: input_seq_len must be even; got {L}")
        if kv > V // 2 - 1:
            raise ValueError(f"mqar: num_kv_pairs={kv} needs that many distinct keys, but vocab_size={V} has only "
                             f"{V // 2 - 1} (ids 1..{V // 2 - 1}); allowed num_kv_pairs <= {V // 2 - 1}")
        if 2 * kv * passes + 2 * kv > L:
            raise ValueError(f"mqar: the context (2*num_kv_pairs*num_passes = {2 * kv * passes}) and the queries "
                             f"(2*num_kv_pairs = {2 * kv}) must fit in input_seq_len={L}")

    def seq_len(self, p: Params) -> int:
        return p["input_seq_len"]

    def extra_info(self, p: Params) -> dict[str, Any]:
        V = p["vocab_size"]
        return {"key_ids": [1, V // 2 - 1], "value_ids": [V // 2, V - 1],
                "context_len": 2 * p["num_kv_pairs"] * p["num_passes"]}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        V, L, kv = p["vocab_size"], p["input_seq_len"], p["num_kv_pairs"]
        context = 2 * kv * p["num_passes"]
        space = (L - context) // 2
        probs = power_law_gap_probs(space, p["power_a"])
        rows = np.arange(n)[:, None]
        # distinct keys / values: the first kv entries of a uniformly random permutation (argsort of uniforms)
        keys = 1 + np.argsort(rng.random((n, V // 2 - 1)), axis=1)[:, :kv]
        values = V // 2 + np.argsort(rng.random((n, V - V // 2)), axis=1)[:, :kv]
        gaps = _weighted_without_replacement(rng, probs, n, kv)
        row = np.zeros((n, L + 1), dtype=np.int64)
        pairs = np.stack([keys, values], axis=2).reshape(n, 2 * kv)
        row[:, :context] = np.tile(pairs, p["num_passes"])
        row[rows, context + 2 * gaps] = keys
        labels = np.full((n, L), IGNORE_INDEX, dtype=np.int64)
        labels[rows, context + 2 * gaps + 1] = values
        ids = row[:, :L]
        if p["random_non_queries"]:
            ids = np.where(ids == 0, rng.integers(0, V, size=(n, L)), ids)
        return {"input_ids": ids, "labels": labels}
