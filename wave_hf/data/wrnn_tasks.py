"""The Wave-RNN benchmark tasks (Keller et al., ICLR 2024): copy with delay T, and the adding problem.

copy (tokens): ``copy_len`` tokens from categories 1..C, then ``delay`` blanks (0), the delimiter C+1, then
``copy_len`` blanks. The outputs at the delimiter and the following ``copy_len - 1`` steps must reproduce the
data tokens. In the Hugging Face causal-LM convention (the model compares ``logits[t]`` with ``labels[t+1]``)
that means ``labels[delim + 1 + k] = data[k]``, so a row has ``2 * copy_len + delay + 1`` tokens (one more than the
paper's ``delay + 20``: the last input position only exists to carry the last label). vocab_size = C + 2.

adding (real): ``inputs[t] = (value_t, marker_t)`` with values uniform in [0, 1) and exactly one marker in each
half of the sequence; the only scored target is at the last step, the sum of the two marked values (MSE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import IGNORE_INDEX, Columns, Family, Param, Params, register, token_columns


@register
class Copy(Family):
    name = "copy"
    kind = "tokens"
    metric = "token_accuracy"
    summary = ("Wave-RNN copy task: copy_len tokens from C categories, `delay` blanks, a delimiter, then recall the "
               "tokens in order. Metric: token_accuracy on the copy_len scored positions.")
    params = {
        "delay": Param(10, "number of blank steps T between the data and the delimiter", "int", minimum=0),
        "copy_len": Param(10, "number of tokens to copy", "int", minimum=1),
        "num_categories": Param(8, "number of data categories C (tokens 1..C)", "int", minimum=1),
    }

    def seq_len(self, p: Params) -> int:
        return 2 * p["copy_len"] + p["delay"] + 1

    def sizes(self, p: Params) -> dict[str, int | None]:
        v = p["num_categories"] + 2
        return {"input_size": v, "output_size": v, "vocab_size": v}

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"blank_id": 0, "delimiter_id": p["num_categories"] + 1,
                "delimiter_position": p["copy_len"] + p["delay"]}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        return {"data": rng.integers(1, p["num_categories"] + 1, size=(n, p["copy_len"]), dtype=np.int64)}

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        data = draws["data"]
        n, c = data.shape
        L, delim = self.seq_len(p), c + p["delay"]
        ids = np.zeros((n, L), dtype=np.int64)
        ids[:, :c] = data
        ids[:, delim] = p["num_categories"] + 1
        labels = np.full((n, L), IGNORE_INDEX, dtype=np.int64)
        labels[:, delim + 1 :] = data
        return token_columns(ids, labels)


@register
class Adding(Family):
    name = "adding"
    kind = "real"
    metric = "mse"
    summary = ("Adding problem: (value, marker) pairs, one marker in each half; predict the sum of the two marked "
               "values at the last step. Metric: mse (on the last step).")
    params = {"seq_len": Param(50, "sequence length T", "int", minimum=2)}

    def seq_len(self, p: Params) -> int:
        return p["seq_len"]

    def sizes(self, p: Params) -> dict[str, int | None]:
        return {"input_size": 2, "output_size": 1, "vocab_size": None}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        T = p["seq_len"]
        values = rng.random((n, T), dtype=np.float32)
        first = rng.integers(0, T // 2, size=n)
        second = rng.integers(T // 2, T, size=n)
        return {"values": values, "first": first, "second": second}

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        values, first, second = draws["values"], draws["first"], draws["second"]
        n, T = values.shape
        rows = np.arange(n)
        inputs = np.zeros((n, T, 2), dtype=np.float32)
        inputs[:, :, 0] = values
        inputs[rows, first, 1] = 1.0
        inputs[rows, second, 1] = 1.0
        targets = np.zeros((n, T, 1), dtype=np.float32)
        targets[:, -1, 0] = values[rows, first] + values[rows, second]  # float32 sum
        mask = np.zeros((n, T), dtype=np.float32)
        mask[:, -1] = 1.0
        return {"inputs": inputs, "targets": targets, "loss_mask": mask}
