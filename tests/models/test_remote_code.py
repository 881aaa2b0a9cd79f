"""The remote-code bundle (wave_hf.models.remote_code): checkpoints load with transformers alone.

Every family / variant / head class of tests/models/test_save_load.py is saved once (module fixture). The bundles are
checked statically here (no unguarded wave_hf or triton import, transformers' copier reaches every file, each flat
module is its wave_hf source with only the imports rewritten), then ONE subprocess in which ``import wave_hf`` and
``import triton`` are impossible loads them all with the Auto classes and ``trust_remote_code=True`` and must give the
same outputs and the same greedy ``generate`` / ``rollout``; a second one, with wave_hf importable, must get
wave_hf's own classes.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers.dynamic_module_utils import get_imports, get_relative_import_files

import wave_hf
from tests.models.test_save_load import CASES, make_model, model_inputs, output_of, save_checkpoint
from tests.no_wave_hf import BLOCK_WAVE_HF
from wave_hf.models.remote_code import (
    FLAT_PREFIX,
    NOT_BUNDLED,
    REQUIRED_PACKAGES,
    auto_map,
    bundle_sources,
    flat_name,
    write_remote_code,
)

ATOL = 1e-6
NEW_TOKENS = 6
ROLLOUT_STEPS = 4

# Runs in a fresh interpreter: argv = mode ("blocked" | "installed"), the manifest file, the results file.
CHILD = r'''
import json
import sys

mode, manifest_file, results_file = sys.argv[1:4]
if mode == "blocked":  # wave_hf is already blocked (tests.no_wave_hf.BLOCK_WAVE_HF runs first); triton too:
    sys.modules["triton"] = None  # as if not installed: find_spec("triton") is None and `import triton` raises

import torch
import transformers

results = {}
for case in json.load(open(manifest_file)):
    folder, saved = case["folder"], torch.load(case["reference"])
    config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = getattr(transformers, case["auto"]).from_pretrained(folder, trust_remote_code=True).eval()
    with torch.no_grad():
        out = model(**saved["inputs"], use_cache=False)
        keys = [k for k in ("logits", "predictions", "last_hidden_state") if getattr(out, k, None) is not None]
        got = getattr(out, keys[0])
        res = {
            "config_class": f"{type(config).__module__}.{type(config).__name__}",
            "model_class": f"{type(model).__module__}.{type(model).__name__}",
            "config_of_model": f"{type(model.config).__module__}.{type(model.config).__name__}",
            "output_diff": (got - saved["output"]).abs().max().item() if got.shape == saved["output"].shape else None,
        }
        if "generate" in saved:
            ids = saved["inputs"]["input_ids"]
            tokens = model.generate(ids, max_new_tokens=saved["generate"].shape[1] - ids.shape[1], do_sample=False,
                                    pad_token_id=0)
            res["generate_equal"] = torch.equal(tokens, saved["generate"])
        if "rollout" in saved:
            steps = saved["rollout"].shape[1]
            rollout = model.rollout(saved["inputs"]["input_values"], steps)
            res["rollout_diff"] = (rollout - saved["rollout"]).abs().max().item()
    if case["resave"]:  # a checkpoint saved from the remote-code classes loads again
        again = case["folder"].replace("checkpoint", "resaved/checkpoint")
        model.save_pretrained(again)
        reloaded = getattr(transformers, case["auto"]).from_pretrained(again, trust_remote_code=True).eval()
        with torch.no_grad():
            again_out = getattr(reloaded(**saved["inputs"], use_cache=False), keys[0])
        res["resaved_diff"] = (again_out - got).abs().max().item()
    results[case["id"]] = res
results["_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("wave_hf", "triton") and sys.modules[m])
json.dump(results, open(results_file, "w"))
'''


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(root, {case id: (folder, model, case)}): every case saved with its bundle and its reference outputs."""
    root = tmp_path_factory.mktemp("remote_code")
    saved = {}
    for i, case in enumerate(CASES):
        model = make_model(case)
        # one folder name for all: transformers keys its module copies by folder name and source hash, so the
        # checkpoints of one family share one copy of its (identical) bundle in the subprocess
        folder = root / f"case{i}" / "checkpoint"
        save_checkpoint(model, folder)
        inputs = model_inputs(model)
        reference = {"inputs": inputs, "output": output_of(model, inputs)}
        with torch.no_grad():
            if case.auto == "AutoModelForCausalLM":
                reference["generate"] = model.generate(inputs["input_ids"], max_new_tokens=NEW_TOKENS, do_sample=False,
                                                       pad_token_id=0)
            if hasattr(model, "rollout"):
                reference["rollout"] = model.rollout(inputs["input_values"], ROLLOUT_STEPS)
        torch.save(reference, folder / "reference.pt")
        saved[case.id] = (folder, model, case)
    return root, saved


def run_child(root: Path, mode: str, saved: dict) -> dict:
    first_of_type = {c.model_type: k for k, (_, _, c) in reversed(saved.items())}
    manifest = [{"id": k, "folder": str(f), "reference": str(f / "reference.pt"), "auto": c.auto,
                 "resave": k in first_of_type.values()} for k, (f, _, c) in saved.items()]
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "child.py").write_text((BLOCK_WAVE_HF if mode == "blocked" else "") + CHILD)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_MODULES_CACHE")}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(root / f"modules_{mode}"), TRANSFORMERS_VERBOSITY="error",
               OMP_NUM_THREADS="1")
    if mode == "installed":  # the wave_hf under test, wherever it is imported from here
        env["PYTHONPATH"] = str(Path(wave_hf.__file__).resolve().parents[1])
    cwd = root / f"cwd_{mode}"  # outside the repository
    cwd.mkdir()
    results_file = root / f"results_{mode}.json"
    proc = subprocess.run(
        [sys.executable, str(root / "child.py"), mode, str(root / "manifest.json"), str(results_file)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(results_file.read_text())


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
            h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers
        ):
            return True
    return False


def test_bundle_files_auto_map_and_imports(checkpoints):
    _, saved = checkpoints
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    scanned: set[str] = set()  # file contents already checked (the bundles of one family are identical)
    for case_id, (folder, model, _) in saved.items():
        config = json.loads((folder / "config.json").read_text())
        assert config["auto_map"] == auto_map(type(model.config)), case_id
        heads = {"AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForTimeSeriesPrediction"}
        assert set(config["auto_map"]) == heads, config["auto_map"]
        entries = {name.split(".")[0] + ".py" for name in config["auto_map"].values()}
        model_type = model.config.model_type
        assert entries == {f"configuration_{model_type}.py", f"modeling_{model_type}.py"}, entries
        files = {p.name for p in folder.glob("*.py")}
        reached = {Path(p).name for e in entries for p in get_relative_import_files(folder / e)}
        # exactly the entry files and what transformers' copier reaches from them, all present
        assert files == entries | reached, (case_id, files ^ (entries | reached))
        assert all(name.startswith(FLAT_PREFIX) for name in files - entries)
        for name in files:
            path = folder / name
            key = f"{name}:{path.read_text()}"
            if key in scanned:
                continue
            scanned.add(key)
            assert not set(get_imports(path)) - stdlib - REQUIRED_PACKAGES, (case_id, name, get_imports(path))
            tree = ast.parse(path.read_text())
            parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    tops = {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    tops = {node.module.split(".")[0]}
                else:
                    continue
                if tops & {"wave_hf", "triton"}:
                    assert _guarded_by_import_error(node, parents), (name, ast.unparse(node))
                if "wave_hf" in tops and name not in entries:  # only the generator itself, never bundled
                    assert isinstance(node, ast.ImportFrom) and node.module in NOT_BUNDLED, (name, ast.unparse(node))


class _StripImports(ast.NodeTransformer):
    """Drop import statements and try blocks that hold only imports (the guards the bundle adds)."""

    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import

    def visit_Try(self, node):
        if all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body):
            return None
        return self.generic_visit(node)


def test_flat_modules_are_the_package_source_with_only_imports_rewritten(checkpoints):
    _, saved = checkpoints
    package = Path(wave_hf.__file__).resolve().parent
    flat_files = {p.read_text(): p for folder, _, _ in saved.values() for p in folder.glob(f"{FLAT_PREFIX}*.py")}
    checked = 0
    for path in flat_files.values():
        parts = path.stem.split("__")[1:]
        source = package.joinpath(*parts).with_suffix(".py")
        if not source.is_file():
            source = package.joinpath(*parts, "__init__.py")
        strip = _StripImports()
        flat, original = (ast.dump(strip.visit(ast.parse(p.read_text()))) for p in (path, source))
        assert flat == original, f"{path.name} differs from {source} beyond its imports"
        checked += 1
    assert checked >= len({case.model_type for _, _, case in saved.values()})


def test_loads_without_wave_hf_and_without_triton(checkpoints):
    root, saved = checkpoints
    results = run_child(root, "blocked", saved)
    assert results.pop("_modules") == []  # neither wave_hf nor triton was imported
    for case_id, (_, model, case) in saved.items():
        res = results[case_id]
        assert not res["model_class"].startswith("wave_hf"), res
        assert res["model_class"].endswith("." + type(model).__name__), res
        assert res["config_class"].endswith("." + type(model.config).__name__), res
        assert res["config_of_model"].endswith("." + type(model.config).__name__), res
        assert res["output_diff"] is not None and res["output_diff"] <= ATOL, (case_id, res)
        if case.auto == "AutoModelForCausalLM":
            assert res["generate_equal"], (case_id, res)
        if "rollout_diff" in res:
            assert res["rollout_diff"] <= ATOL, (case_id, res)
    resaved = [res["resaved_diff"] for res in results.values() if "resaved_diff" in res]
    assert len(resaved) == len({case.model_type for _, _, case in saved.values()})
    assert max(resaved) <= ATOL, resaved


def test_with_wave_hf_installed_loading_uses_the_package(checkpoints):
    root, saved = checkpoints
    one_per_head = {}
    for case_id, (folder, model, case) in saved.items():
        one_per_head.setdefault((case.model_type, case.auto), (case_id, (folder, model, case)))
    subset = dict(one_per_head.values())
    results = run_child(root, "installed", subset)
    for case_id, (_, model, _) in subset.items():
        res = results[case_id]
        assert res["model_class"] == f"{type(model).__module__}.{type(model).__name__}", res
        assert res["config_class"] == f"{type(model.config).__module__}.{type(model.config).__name__}", res
        assert res["output_diff"] == 0.0, (case_id, res)


def test_rewriting_is_idempotent_and_removes_stale_files(checkpoints, tmp_path):
    _, saved = checkpoints
    _, model, _ = next(iter(saved.values()))
    save_checkpoint(model, tmp_path)
    before = {p.name: p.read_text() for p in tmp_path.glob("*.py")}
    # a flat module of an earlier bundle, and a verbatim wave_hf source (as transformers' custom_object_save copies)
    (tmp_path / f"{FLAT_PREFIX}stale.py").write_text("x = 1\n")
    (tmp_path / "package_source_copy.py").write_bytes(Path(wave_hf.__file__).read_bytes())
    written = write_remote_code(tmp_path, model.config)
    assert {p.name: p.read_text() for p in tmp_path.glob("*.py")} == before
    assert sorted(Path(p).name for p in written) == sorted(before)


def test_config_outside_wave_hf_writes_no_bundle(tmp_path, caplog):
    from tests.models.toy_family import ToyConfig

    assert write_remote_code(tmp_path, ToyConfig()) == []
    assert not list(tmp_path.glob("*.py"))
    assert "no remote-code bundle" in caplog.text
    with pytest.raises(ValueError, match="only wave_hf classes can be bundled.*ToyConfig"):
        bundle_sources(ToyConfig)


def _rewrite(module: str, statement: str, in_try: bool = False) -> list[str] | None:
    from wave_hf.models import remote_code

    return remote_code._rewrite_import(module, ast.parse(statement).body[0], in_try)[0]


def test_import_rewriting_rules():
    import wave_hf.ops

    defining = flat_name(wave_hf.ops.wave_scan.__module__)
    # a name re-exported by a package __init__ is imported from the module that defines it
    assert _rewrite("wave_hf.layers.lbc", "from wave_hf.ops import wave_scan as ws") == [
        f"from .{defining} import wave_scan as ws"
    ]
    assert _rewrite("wave_hf.ops.scan", "from .validation import compute_dtype") == [
        "from .wave_hf__ops__validation import compute_dtype"
    ]
    # whole modules: bound by `from . import`, plus a `from .name import` line that transformers' copier follows
    for statement in ("import wave_hf.ops.validation as v", "from . import validation as v"):
        assert _rewrite("wave_hf.ops.scan", statement) == [
            "from .wave_hf__ops__validation import __name__ as _wave_hf__ops__validation_name  # noqa: F401",
            "from . import wave_hf__ops__validation as v",
        ]
    # optional packages are guarded (unless already in a try block); other imports are kept
    guarded = _rewrite("wave_hf.ops.scan", "import triton.language as tl")
    assert guarded[:2] == ["try:", "    import triton.language as tl"] and guarded[2].startswith("except ImportError")
    assert _rewrite("wave_hf.ops.scan", "import triton", in_try=True) is None
    assert _rewrite("wave_hf.ops.scan", "import torch") is None
    # the generator itself stays an absolute import (the save hook's guarded import)
    assert _rewrite("wave_hf.models.configuration_utils", "from .remote_code import write_remote_code") == [
        "from wave_hf.models.remote_code import write_remote_code"
    ]
    for statement, message in [
        ("import wave_hf.ops", "cannot be flattened"),
        ("from wave_hf.ops import *", "cannot be flattened"),
        ("from wave_hf.ops import no_such_name", "cannot resolve"),
        ("from wave_hf.no_such_module import x", "is not a module of wave_hf"),
    ]:
        with pytest.raises(ValueError, match=message):
            _rewrite("wave_hf.ops.scan", statement)


def test_config_push_uploads_the_bundle_with_the_config(tmp_path, monkeypatch):
    """``config.save_pretrained(dir, push_to_hub=True)`` (and so ``config.push_to_hub``) uploads the code files and
    the ``auto_map`` with the config, never a config whose code is missing (the upload is captured, no network)."""
    import transformers.utils.hub as hf_hub_utils

    uploaded = {}

    def capture(self, working_dir, repo_id, files_timestamps, **kwargs):
        uploaded["repo_id"] = repo_id
        uploaded["files"] = sorted(os.listdir(working_dir))
        uploaded["auto_map"] = json.loads(Path(working_dir, "config.json").read_text()).get("auto_map")

    monkeypatch.setattr(hf_hub_utils, "hf_api", lambda: type("Api", (), {
        "create_repo": staticmethod(lambda repo_id, **kw: type("Repo", (), {"repo_id": repo_id})())})())
    monkeypatch.setattr(hf_hub_utils, "create_and_tag_model_card",
                        lambda *a, **k: type("Card", (), {"save": lambda self, path: None})())
    monkeypatch.setattr(hf_hub_utils.PushToHubMixin, "_upload_modified_files", capture)
    config = wave_hf.WaveLBCConfig(vocab_size=16, hidden_size=16, num_heads=2, head_dim=8, num_hidden_layers=1)
    config.save_pretrained(tmp_path / "cfg", push_to_hub=True, repo_id="user/tiny")
    assert uploaded["repo_id"] == "user/tiny"
    assert {"config.json", "configuration_wave_lbc.py", "modeling_wave_lbc.py"} <= set(uploaded["files"])
    assert uploaded["auto_map"]["AutoModelForCausalLM"] == "modeling_wave_lbc.WaveLBCForCausalLM"
    assert (tmp_path / "cfg" / "modeling_wave_lbc.py").is_file()  # the local folder has the bundle too
