"""Self-contained remote code for a saved checkpoint, so that it loads with transformers alone (no wave_hf installed).

``write_remote_code(save_directory, config)`` writes, next to ``config.json``:

- ``configuration_<model_type>.py`` and ``modeling_<model_type>.py``: the ``auto_map`` entry files. Each first tries
  ``from wave_hf... import`` (so that with wave_hf installed, ``trust_remote_code=True`` returns wave_hf's own classes)
  and otherwise imports the flattened copy below.
- ``wave_hf__<dotted__path>.py``: a flat copy of every wave_hf module the family's configuration and modeling modules
  need, found by following their ``wave_hf`` imports (module level and inside functions) transitively. Each
  ``from wave_hf.x.y import A``, ``from .z import A`` and ``import wave_hf.x as m`` is rewritten into a relative import
  of the flat module; a name imported from a package ``__init__`` is resolved to the module that defines it.
  Imports of optional accelerator packages (``OPTIONAL_PACKAGES``: Triton) are wrapped in ``try``/``except
  ImportError: raise``: the same behaviour, but transformers' ``check_imports`` (which skips ``try`` blocks) no longer
  requires the package, and the code only reaches those imports when the package is present.

and sets ``auto_map`` in ``config.json`` (``AutoConfig``, ``AutoModel``, ``AutoModelForCausalLM``,
``AutoModelForTimeSeriesPrediction``: every Auto class the family registered). transformers copies one flat folder
(``dynamic_module_utils.get_relative_import_files`` follows only ``from .name import`` lines), which is why the files
are flat and why a module imported as a whole also gets a ``from .name import __name__`` line.

The bundle is generated from the package source on every save (one source of truth): ``WaveBaseConfig.save_pretrained``
calls ``write_remote_code`` after writing ``config.json``, so ``PreTrainedModel.save_pretrained``, ``push_to_hub`` and
the folders that ``wave-hf push`` uploads all carry it. Every written file is checked with transformers' own
``get_imports`` / ``get_relative_import_files``: a third-party import outside ``REQUIRED_PACKAGES`` and
``OPTIONAL_PACKAGES``, or a file the entry files do not reach, is a ``ValueError`` at save time, not at load time.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import inspect
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedConfig

__all__ = [
    "FLAT_PREFIX",
    "NOT_BUNDLED",
    "OPTIONAL_PACKAGES",
    "REQUIRED_PACKAGES",
    "auto_map",
    "bundle_sources",
    "family_classes",
    "flat_name",
    "write_remote_code",
]

logger = logging.getLogger(__name__)

PACKAGE = "wave_hf"
# the wave_hf package directory (its sources are read, nothing outside it)
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
FLAT_PREFIX = f"{PACKAGE}__"
# third-party packages the bundle may import unguarded: what "use this model" with transformers installs
REQUIRED_PACKAGES = frozenset({"torch", "transformers", "numpy"})
# packages the model code imports only when present (accelerated kernels); guarded in the bundle
OPTIONAL_PACKAGES = frozenset({"triton"})
# never flattened: this generator (it reads the package source, which a bundle does not have). The package's own
# code imports it inside ``try``/``except ImportError`` (the save hook), which fails in a bundle without wave_hf.
NOT_BUNDLED = frozenset({__name__})
_OPTIONAL_GUARD = "except ImportError:  # optional package: transformers' check_imports skips try blocks\n    raise"


# --------------------------------------------------------------------------------------------------------------------
# The family: its classes, from the transformers Auto registry
# --------------------------------------------------------------------------------------------------------------------


def _auto_model_classes() -> dict[str, type]:
    """Every transformers ``AutoModel...`` class, by name (those a family may be registered with)."""
    from transformers.models.auto import modeling_auto
    from transformers.models.auto.auto_factory import _BaseAutoModelClass

    return {
        name: obj
        for name, obj in vars(modeling_auto).items()
        if inspect.isclass(obj) and issubclass(obj, _BaseAutoModelClass) and obj._model_mapping is not None
    }


def family_classes(config_class: type) -> dict[str, type]:
    """``{"AutoConfig": config_class, "AutoModel": ..., ...}``: the class the family registered with each Auto class."""
    classes = {"AutoConfig": config_class}
    for name, auto in sorted(_auto_model_classes().items()):
        try:
            classes[name] = auto._model_mapping[config_class]
        except KeyError:
            continue
    return classes


def _in_package(cls: type) -> bool:
    return cls.__module__ == PACKAGE or cls.__module__.startswith(PACKAGE + ".")


def _entry_names(model_type: str) -> dict[str, str]:
    return {"config": f"configuration_{model_type}", "model": f"modeling_{model_type}"}


def auto_map(config_class: type) -> dict[str, str]:
    """The ``auto_map`` of ``config.json`` for this family, e.g.
    ``{"AutoConfig": "configuration_wave_lbc.WaveLBCConfig", "AutoModel": "modeling_wave_lbc.WaveLBCModel", ...}``."""
    entries = _entry_names(config_class.model_type)
    return {
        auto: f"{entries['config' if auto == 'AutoConfig' else 'model']}.{cls.__name__}"
        for auto, cls in family_classes(config_class).items()
    }


# --------------------------------------------------------------------------------------------------------------------
# Package sources and name resolution
# --------------------------------------------------------------------------------------------------------------------


def flat_name(module: str) -> str:
    """``wave_hf.ops.scan`` -> ``wave_hf__ops__scan`` (a package ``__init__`` is named after the package)."""
    return module.replace(".", "__")


def _source_path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = _PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if len(parts) > 1 and base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _is_package(module: str) -> bool:
    path = _source_path(module)
    return path is not None and path.name == "__init__.py"


_TREES: dict[tuple[Path, int], tuple[str, ast.Module]] = {}


def _parsed(module: str) -> tuple[str, ast.Module]:
    """(source text, syntax tree) of a wave_hf module, re-read when the file changes."""
    path = _source_path(module)
    if path is None:
        raise ValueError(f"remote code: no source file for module {module!r} in {_PACKAGE_DIR}")
    key = (path, path.stat().st_mtime_ns)
    if key not in _TREES:
        text = path.read_text(encoding="utf-8")
        _TREES[key] = (text, ast.parse(text, filename=str(path)))
    return _TREES[key]


def _absolute(module: str, level: int, target: str | None) -> str:
    """The absolute name of ``from <'.' * level><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 >= len(parts):
        raise ValueError(f"remote code: relative import beyond the top-level package in {module}")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{target}" if target else base


def _is_ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


@dataclass(frozen=True)
class _Target:
    """Where an imported name lives: ``attribute`` of flat module ``module``, or the module itself (attribute None)."""

    module: str
    attribute: str | None


def _init_binding(package: str, name: str) -> _Target | None | bool:
    """How a package ``__init__`` binds ``name``: re-exported (the target), defined there (True) or not (None)."""
    _, tree = _parsed(package)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = _absolute(package, node.level, node.module)
            for alias in node.names:
                if (alias.asname or alias.name) == name and _is_ours(source):
                    return _resolve(source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname == name and _is_ours(alias.name):
                    return _Target(alias.name, None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return None


def _resolve(module: str, name: str) -> _Target:
    """Resolve ``from <module> import <name>`` (module absolute, inside wave_hf) to the module that defines ``name``."""
    if _source_path(module) is None:
        raise ValueError(f"remote code: {module!r} is not a module of {PACKAGE}")
    if not _is_package(module):
        return _Target(module, name)
    binding = _init_binding(module, name)
    if isinstance(binding, _Target):
        return binding
    if binding is True:  # defined in the __init__ itself: the __init__ is flattened like any module
        return _Target(module, name)
    if _source_path(f"{module}.{name}") is not None:
        return _Target(f"{module}.{name}", None)
    raise ValueError(f"remote code: cannot resolve `from {module} import {name}`")


# --------------------------------------------------------------------------------------------------------------------
# Rewriting one module
# --------------------------------------------------------------------------------------------------------------------


def _module_import_lines(target: str, local: str) -> list[str]:
    """A whole flat module bound to ``local``; the first line names the file for transformers' copier."""
    flat = flat_name(target)
    return [f"from .{flat} import __name__ as _{flat}_name  # noqa: F401", f"from . import {flat} as {local}"]


def _rewrite_import(
    module: str, node: ast.Import | ast.ImportFrom, in_try: bool
) -> tuple[list[str] | None, set[str]]:
    """The replacement lines of one import statement (None: keep it) and the wave_hf modules it needs."""
    if isinstance(node, ast.ImportFrom):
        source = _absolute(module, node.level, node.module)
        if source in NOT_BUNDLED:  # kept as an absolute import; it must sit in a try block (checked on write)
            return ([ast.unparse(ast.ImportFrom(source, node.names, 0))] if node.level else None), set()
        if not _is_ours(source):
            return _guard_optional(node, [source], in_try), set()
        groups: dict[str, list[str]] = {}
        lines: list[str] = []
        needed: set[str] = set()
        for alias in node.names:
            if alias.name == "*":
                raise ValueError(f"remote code: `from {source} import *` in {module} cannot be flattened")
            target = _resolve(source, alias.name)
            needed.add(target.module)
            local = alias.asname or alias.name
            if target.attribute is None:
                lines += _module_import_lines(target.module, local)
            else:
                spec = target.attribute if local == target.attribute else f"{target.attribute} as {local}"
                groups.setdefault(target.module, []).append(spec)
        lines = [f"from .{flat_name(m)} import {', '.join(specs)}" for m, specs in groups.items()] + lines
        return lines, needed
    ours = [a for a in node.names if _is_ours(a.name) and a.name not in NOT_BUNDLED]
    if not ours:
        return _guard_optional(node, [a.name for a in node.names], in_try), set()
    lines, needed = [], set()
    for alias in node.names:
        if not _is_ours(alias.name) or alias.name in NOT_BUNDLED:
            lines.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
            continue
        if alias.asname is None or _source_path(alias.name) is None:
            raise ValueError(
                f"remote code: `import {alias.name}` in {module} cannot be flattened; write `import {alias.name} as "
                "name` or `from ... import name`"
            )
        needed.add(alias.name)
        lines += _module_import_lines(alias.name, alias.asname)
    return lines, needed


def _top(name: str) -> str:
    return name.split(".")[0]


def _guard_optional(node: ast.Import | ast.ImportFrom, sources: Iterable[str], in_try: bool) -> list[str] | None:
    """``try: <import> / except ImportError: raise`` around an import of an optional package outside a try block;
    None (keep the statement) otherwise."""
    if in_try or (isinstance(node, ast.ImportFrom) and node.level):
        return None
    tops = {_top(s) for s in sources}
    if not tops & OPTIONAL_PACKAGES:
        return None
    return ["try:", "    " + ast.unparse(node), *_OPTIONAL_GUARD.splitlines()]


def _inside_try(tree: ast.Module) -> set[int]:
    """ids of the import nodes that already sit inside a ``try`` block (transformers' check skips them)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for child in ast.walk(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    inside.add(id(child))
    return inside


def flatten_module(module: str) -> tuple[str, set[str]]:
    """The flat source of one wave_hf module and the wave_hf modules it imports (to flatten in turn)."""
    text, tree = _parsed(module)
    lines = text.splitlines(keepends=True)
    guarded = _inside_try(tree)
    edits: list[tuple[int, int, int, int, list[str]]] = []
    needed: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        new, deps = _rewrite_import(module, node, id(node) in guarded)
        needed |= deps
        if new is None:
            continue
        edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, new))
    for start, col, end, end_col, new in sorted(edits, reverse=True):
        prefix = lines[start - 1][:col]
        if len(new) > 1 and prefix.strip():
            raise ValueError(
                f"remote code: the import on line {start} of {module} shares its line with other code; put it on "
                "its own line"
            )
        indent = " " * col
        replacement = ("\n" + indent).join(new)
        first, last = lines[start - 1], lines[end - 1]
        lines[start - 1 : end] = [first[:col] + replacement + last[end_col:]]
    return "".join(lines), needed


# --------------------------------------------------------------------------------------------------------------------
# The bundle
# --------------------------------------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def _public_module(cls: type) -> str:
    """The highest wave_hf package that exports ``cls`` (the most stable import path), else its own module."""
    parts = cls.__module__.split(".")
    for i in range(1, len(parts)):
        candidate = ".".join(parts[:i])
        module = sys.modules.get(candidate)
        if module is not None and getattr(module, cls.__name__, None) is cls:
            return candidate
    return cls.__module__


def _entry_source(what: str, classes: list[type]) -> str:
    """An ``auto_map`` entry file: wave_hf's classes when it is installed, the flattened copy otherwise."""
    installed: dict[str, list[str]] = {}
    flat: dict[str, list[str]] = {}
    for cls in classes:
        installed.setdefault(_public_module(cls), []).append(cls.__name__)
        flat.setdefault(flat_name(cls.__module__), []).append(cls.__name__)
    names = sorted(cls.__name__ for cls in classes)
    body = [
        f'"""{what} of a {PACKAGE} checkpoint (remote code for transformers\' ``trust_remote_code=True``).',
        "",
        f"Generated by {PACKAGE}.models.remote_code from {PACKAGE} {_version()}; do not edit. With {PACKAGE} installed",
        "its own classes are used; without it, the flattened copy of its source in this folder.",
        '"""',
        "",
        "try:",
        *[f"    from {m} import {', '.join(sorted(n))}" for m, n in sorted(installed.items())],
        f"except ImportError:  # no {PACKAGE}: the flat modules next to this file",
        *[f"    from .{m} import {', '.join(sorted(n))}" for m, n in sorted(flat.items())],
        "",
        f"__all__ = {names!r}",
        "",
    ]
    return "\n".join(body)


def bundle_sources(config_class: type) -> dict[str, str]:
    """File name -> source of the remote-code bundle of a wave_hf family (see the module docstring).

    Raises ``ValueError`` when a class of the family is defined outside wave_hf or its source cannot be flattened.
    """
    classes = family_classes(config_class)
    outside = sorted(f"{c.__module__}.{c.__name__}" for c in classes.values() if not _in_package(c))
    if outside:
        raise ValueError(f"remote code: only {PACKAGE} classes can be bundled; {outside} are defined elsewhere")
    entries = _entry_names(config_class.model_type)
    models = sorted({cls for auto, cls in classes.items() if auto != "AutoConfig"}, key=lambda c: c.__name__)
    files = {f"{entries['config']}.py": _entry_source("Configuration", [config_class])}
    if models:  # a config registered with no model class gets no modeling entry
        files[f"{entries['model']}.py"] = _entry_source("Models", models)
    todo = sorted({cls.__module__ for cls in classes.values()})
    done: set[str] = set()
    while todo:
        module = todo.pop()
        if module in done:
            continue
        done.add(module)
        text, needed = flatten_module(module)
        header = f"# Generated by {PACKAGE}.models.remote_code from {module} ({PACKAGE} {_version()}); do not edit.\n"
        files[f"{flat_name(module)}.py"] = header + text
        todo += sorted(needed - done)
    return files


def _check_bundle(folder: Path, files: Iterable[str], entries: Iterable[str]) -> None:
    """Check the written files with transformers' own import scanners: nothing beyond REQUIRED_PACKAGES (and the
    standard library) is needed unguarded, no wave_hf import is left unguarded, and the entry files reach every file."""
    from transformers.dynamic_module_utils import get_imports, get_relative_import_files

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for name in files:
        needed = set(get_imports(folder / name)) - stdlib - REQUIRED_PACKAGES
        if needed:
            raise ValueError(f"remote code: {name} imports {sorted(needed)} outside a try block")
    reached: set[str] = set()
    for entry in entries:
        for path in get_relative_import_files(folder / entry):
            if not Path(path).is_file():
                raise ValueError(f"remote code: {entry} needs {Path(path).name}, which the bundle lacks")
            reached.add(Path(path).name)
    missing = sorted(set(files) - set(entries) - reached)
    if missing:
        raise ValueError(f"remote code: transformers would not copy {missing} (no `from .name import` line reaches it)")


def _package_source_digests() -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in _PACKAGE_DIR.rglob("*.py")}


def write_remote_code(save_directory: str | os.PathLike, config: PreTrainedConfig) -> list[str]:
    """Write the remote-code bundle of ``config``'s family into ``save_directory`` and set ``auto_map``.

    Args:
        save_directory: the checkpoint folder (``save_pretrained``'s); created if missing.
        config: a wave_hf config instance (``WaveLBCConfig``, ...); its class picks the family.

    Returns the paths of the written ``.py`` files (empty, with a warning, for a config class defined outside wave_hf:
    its code cannot be bundled). ``auto_map`` is set in ``config.json`` when that file exists (``config`` itself is
    not changed: call this after ``config.json`` is written). Flat files of an earlier bundle that are no longer
    needed, and verbatim copies of wave_hf sources that transformers' ``custom_object_save`` may have left (they
    import wave_hf), are removed.
    """
    config_class = type(config)
    if not _in_package(config_class):
        logger.warning("remote code: %s is not a %s class; no remote-code bundle written", config_class, PACKAGE)
        return []
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = bundle_sources(config_class)
    digests = None
    for path in folder.glob("*.py"):
        if path.name in files:
            continue
        if path.name.startswith(FLAT_PREFIX):
            path.unlink()
            continue
        digests = _package_source_digests() if digests is None else digests
        if hashlib.sha256(path.read_bytes()).hexdigest() in digests:
            path.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    entries = [name for name in (f"{e}.py" for e in _entry_names(config_class.model_type).values()) if name in files]
    try:
        _check_bundle(folder, files, entries)
    except ValueError:
        for name in files:
            (folder / name).unlink()
        raise
    config_file = folder / "config.json"
    if config_file.is_file():
        data = json.loads(config_file.read_text(encoding="utf-8"))
        data["auto_map"] = auto_map(config_class)
        config_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [str(folder / name) for name in sorted(files)]
