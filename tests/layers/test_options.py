"""The torch-free choices and limits of the layers (wave_hf.layers.options) agree with what the layers and ops use."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from transformers.activations import ACT2FN

from wave_hf.layers import options
from wave_hf.ops.memory import LOG_DECAY_MIN


def test_limits_match_the_ops():
    assert options.MEMORY_LOG_DECAY_MIN == LOG_DECAY_MIN
    assert math.isclose(options.MIN_MEMORY_HALFLIFE, math.log(2) / -LOG_DECAY_MIN)
    # a half-life h means a decay 2^(-1/h): the shortest one is exactly the lowest decay the memory op accepts
    assert math.isclose(math.log(2 ** (-1 / options.MIN_MEMORY_HALFLIFE)), LOG_DECAY_MIN)


def test_activation_names_are_transformers_activations():
    assert set(options.ACTIVATIONS) <= set(ACT2FN)
    assert len(set(options.ACTIVATIONS)) == len(options.ACTIVATIONS)


def test_options_module_imports_no_torch():
    tree = ast.parse(Path(options.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "math"}, imported
