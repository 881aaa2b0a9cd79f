"""The README's promises: its Python example runs, and .ci/run runs exactly the README's test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_usage_example_runs():
    section = README[README.index("## Using the models") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["out"].shape == (2, 20)
    assert namespace["future"].shape == (4, 32, 8)
    assert namespace["pred"].loss.ndim == 0


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"^ *(python3 -m venv \.venv && .+)$", README, re.M)
    assert len(commands) == 2, commands  # exactly two commands: the main job and the tests
    extracted = subprocess.run(
        ["bash", "-c", "sed -n \"$(grep -o \"'s/.*p'\" .ci/run | tr -d \"'\")\" README.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert extracted == commands[1] and "pytest" in extracted and "ruff check" in extracted
