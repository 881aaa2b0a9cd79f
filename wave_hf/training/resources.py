"""Files that ship inside ``wave_hf.training`` and are read with ``importlib.resources``, never from a checkout.

- ``configs/train/NAME.yaml``: the run configs that ``wave-hf train --config NAME`` (and ``train("NAME")``) resolve
  by name. Their ``model.file`` entries point at ``../models/*.yaml`` next to them.
- ``configs/models/NAME.yaml``: model config files (a mapping of config fields with ``model_type``).
- ``templates/<model_type>.md``: model-card templates (``wave_lbc``, ``wave_sbc``; every other model type, the
  recurrent baselines and transformers' own models, uses ``baseline.md``). A missing template is an error.

Name resolution (``resolve_run_config``, ``resolve_model_file``): a path to an existing file is used as given;
otherwise a bare name (``t1_lbc`` or ``t1_lbc.yaml``), or a path whose folder is ``configs/train`` (resp.
``configs/models``), the place these files had in the source tree before they moved into the package, names the
shipped file of that name.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePath

__all__ = [
    "card_template",
    "resolve_model_file",
    "resolve_run_config",
    "shipped_model_config",
    "shipped_model_configs",
    "shipped_run_config",
    "shipped_run_configs",
]

_FAMILY_TEMPLATES = {"wave_lbc": "wave_lbc.md", "wave_sbc": "wave_sbc.md"}
_BASELINE_TEMPLATE = "baseline.md"


def _package_dir(*parts: str) -> Path:
    """A folder of this package as a filesystem path (``model.file`` of a shipped run config is a relative path
    that is resolved against its folder, so the configs must be real files)."""
    resource = files(__package__).joinpath(*parts)
    if not isinstance(resource, Path):  # pragma: no cover - zipped installs are not supported
        raise RuntimeError(f"wave_hf is installed in a form whose files cannot be read from disk ({resource}); "
                           "install it as a regular (unzipped) package")
    return resource


def _names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _shipped(kind: str, name: str) -> Path:
    folder = _package_dir("configs", kind)
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    path = folder / f"{stem}.yaml"
    if not path.is_file():
        what = "run config" if kind == "train" else "model config"
        raise FileNotFoundError(f"no shipped {what} named {stem!r} (shipped: {', '.join(_names(folder)) or 'none'})")
    return path


def shipped_run_configs() -> list[str]:
    """Names of the run configs shipped with wave_hf (``t1_lbc``, ``t1_elman``, ...)."""
    return _names(_package_dir("configs", "train"))


def shipped_model_configs() -> list[str]:
    """Names of the model config files shipped with wave_hf (``wave_lbc_paper``, ``elman_paper``, ...)."""
    return _names(_package_dir("configs", "models"))


def shipped_run_config(name: str) -> Path:
    """The file of the shipped run config ``name`` (``t1_lbc`` or ``t1_lbc.yaml``); FileNotFoundError lists them."""
    return _shipped("train", name)


def shipped_model_config(name: str) -> Path:
    """The file of the shipped model config ``name`` (``wave_lbc_paper`` or ``wave_lbc_paper.yaml``)."""
    return _shipped("models", name)


def _shipped_name(value: str | PurePath, folder: str) -> str | None:
    """The shipped name meant by ``value``: a bare name, or a path inside ``configs/<folder>``; else None."""
    p = PurePath(value)
    if len(p.parts) == 1 or p.parent.parts[-2:] == ("configs", folder):
        return p.name
    return None


def resolve_run_config(value: str | PurePath) -> Path:
    """The run-config file meant by ``value`` (see the module doc); FileNotFoundError names what was tried."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    name = _shipped_name(value, "train")
    if name is None:
        raise FileNotFoundError(f"run config file not found: {value} (or give the name of a shipped config: "
                                f"{', '.join(shipped_run_configs())})")
    try:
        return shipped_run_config(name)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"run config {str(value)!r} not found: not a file, and {e}") from None


def resolve_model_file(value: str, config_dir: str = "") -> Path:
    """The model config file meant by ``value``: relative paths are tried against ``config_dir`` (the folder of
    the run config that names it) and then the working directory, then as a shipped name (see the module doc)."""
    p = Path(value).expanduser()
    candidates = [p] if p.is_absolute() else ([Path(config_dir) / p] if config_dir else []) + [Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return c
    name = _shipped_name(value, "models")
    if name is not None:
        try:
            return shipped_model_config(name)
        except FileNotFoundError:
            pass
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"model config file {value!r} not found (tried {tried}, and the shipped model configs: "
                            f"{', '.join(shipped_model_configs())})")


def card_template(model_type: str) -> str:
    """The Markdown template of the model card for ``model_type``."""
    name = _FAMILY_TEMPLATES.get(model_type, _BASELINE_TEMPLATE)
    path = _package_dir("templates") / name
    if not path.is_file():
        raise FileNotFoundError(f"the model-card template {name} is missing from the installed wave_hf package "
                                f"({path}); reinstall wave_hf")
    return path.read_text(encoding="utf-8")
