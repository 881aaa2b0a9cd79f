"""A wheel that works outside the repository: build it, install it (not editable) into a temporary folder, and run
the main job by config name from a folder outside the repository with only that installed copy importable. The
model card it writes must be the package's real template."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    return proc


def test_installed_wheel_runs_the_main_job_by_name_outside_the_repository(tmp_path):
    # build from a copy of the sources, so that the build writes nothing into the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "wave_hf", src / "wave_hf", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
         cwd=tmp_path, timeout=180)
    (wheel,) = (tmp_path / "dist").glob("wave_hf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # every file of the package ships, the data files read with importlib.resources included
    package_files = {p.relative_to(src).as_posix() for p in (src / "wave_hf").rglob("*") if p.is_file()}
    assert "wave_hf/training/templates/wave_lbc.md" in package_files
    assert "wave_hf/training/configs/train/t1_lbc.yaml" in package_files
    assert package_files <= names, sorted(package_files - names)

    site = tmp_path / "site"
    _run([*pip, "install", "--no-deps", "-q", "--target", str(site), str(wheel)], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"  # a working directory outside the repository, with no configs/ in it
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update({"PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"})
    # the installed console script; the main job by name, shortened to a few steps
    proc = _run([sys.executable, str(site / "bin" / "wave-hf"), "train", "--config", "t1_lbc", "--steps=5",
                 "--output_dir=run", "--evaluation.batches=1", "--logging.progress_bar=false"], cwd=elsewhere, env=env)
    # the config was read from the installed copy (the package resolved its own files there)
    shipped = site / "wave_hf" / "training" / "configs" / "train" / "t1_lbc.yaml"
    assert f"the run config shipped with wave_hf ({shipped})" in proc.stderr, proc.stderr[-2000:]
    card = (elsewhere / "run" / "model" / "README.md").read_text()
    template = (ROOT / "wave_hf" / "training" / "templates" / "wave_lbc.md").read_text()
    only_in_template = next(line for line in template.splitlines() if "**LBC wave-RNN**" in line)
    assert only_in_template.replace("{{ dataset_name }}", "linear_vb") in card
    assert (elsewhere / "run" / "model" / "model.safetensors").is_file()
