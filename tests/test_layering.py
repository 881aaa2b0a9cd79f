"""The package's dependency order, checked from the source so that it stays true.

    ops < layers < models;   data < analysis < training < experiments;   models < analysis;   training < hub < cli

A module imports only its own subpackage and lower ranks (function-level imports included); ``models`` and ``data``
are peers, and so are ``experiments`` and ``hub``. The top-level ``wave_hf/__init__.py`` is the facade and may import
anything. No module walks up out of the package directory to read files.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wave_hf"
RANK = {
    "_version": -1,
    "ops": 0,
    "layers": 1,
    "models": 2,
    "data": 2,
    "analysis": 3,
    "training": 4,
    "experiments": 5,
    "hub": 5,
    "cli": 6,
}


def _unit(module: str) -> str | None:
    """'wave_hf.models.wave_lbc.modeling' -> 'models'; the root package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """Every absolute wave_hf module a file imports (relative imports resolved), with its line number."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path, package)
    parent = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "wave_hf"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "wave_hf":
                continue
            if target == "wave_hf":  # `from wave_hf import x` names submodules or root attributes
                found += [(node.lineno, f"wave_hf.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_subpackage_has_a_rank():
    units = {_unit(_module_name(p)) for p in SOURCES}
    assert units <= set(RANK), f"give these a rank in tests/test_layering.py: {sorted(units - set(RANK))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_ranks(path: Path):
    own = _unit(_module_name(path))
    wrong = []
    for line, target in _imports(path):
        unit = _unit(target)
        if unit is None or unit not in RANK:
            wrong.append(f"line {line}: {target} (the package root; import the subpackage that defines it)")
        elif unit != own and RANK[unit] >= RANK[own]:
            wrong.append(f"line {line}: {target} ({unit} is not below {own})")
    assert not wrong, f"{path.relative_to(PACKAGE.parent)} imports upward: " + "; ".join(wrong)


_PARENTS = re.compile(r"__file__.*?\.parents\[(\d+)\]")
_PARENT_CHAIN = re.compile(r"__file__[^\n]*?((?:\.parent)+)\b")


def _walks_out(line: str, depth: int) -> bool:
    """Whether ``line`` climbs from its own file to a folder above the package (``depth``: folders from the package
    directory down to the file's folder, 1 for wave_hf/cli.py)."""
    if "os.pardir" in line or re.search(r"['\"]\.\.['\"]", line):
        return True
    if m := _PARENTS.search(line):
        return int(m.group(1)) >= depth
    if m := _PARENT_CHAIN.search(line):
        return m.group(1).count(".parent") > depth
    return False


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_read_walks_out_of_the_package(path: Path):
    depth = len(path.relative_to(PACKAGE).parts)  # wave_hf/models/x.py -> 2: parents[0] models, parents[1] wave_hf
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if _walks_out(line, depth)]
    assert not hits, f"{path.relative_to(PACKAGE.parent)} walks up out of the package at lines {hits}"


def test_the_checker_sees_upward_imports(tmp_path):
    # the checker itself can fail: function-level and relative upward imports are both found
    probe = tmp_path / "wave_hf" / "ops" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    from wave_hf.training import train\n    from ..models import WaveCache\n")
    assert _module_name(probe, probe.parents[1]) == "wave_hf.ops.probe"
    assert [t for _, t in _imports(probe, probe.parents[1])] == ["wave_hf.training", "wave_hf.models"]
    # wave_hf/models/x.py: parents[1] is the package directory, parents[2] is outside it
    assert not _walks_out("root = Path(__file__).resolve().parents[1]", 2)
    assert _walks_out("root = Path(__file__).resolve().parents[2] / 'model_cards'", 2)
    assert _walks_out("here = Path(__file__).parent.parent.parent", 2)
    assert not _walks_out("here = Path(__file__).parent / 'templates'", 2)
