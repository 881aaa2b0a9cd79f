"""A loopback fake of the Hugging Face Hub HTTP API (the endpoints ``HfApi.create_repo`` / ``create_commit`` use), for
push tests without the network.

Start it in the test process, point a *subprocess* at it (``HF_ENDPOINT`` is read when huggingface_hub is imported,
and the test session sets ``HF_HUB_OFFLINE=1``), then inspect what it received::

    with FakeHub(tmp_path / "hub") as hub:
        env = hub.client_env()            # HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE unset, ...
        subprocess.run([...], env=env)
        hub.commits[-1]["summary"], hub.files("user/repo")

The real, unpatched ``huggingface_hub`` client runs up to the HTTP boundary. Served endpoints: repo creation, branch
creation, YAML validation (with ``RepoCard``, like the server), preupload (every file ``regular``), commit (NDJSON,
base64 content), resolve/download, repo info and tree listing. Limits: no LFS/xet transfer path, no permission or
license rules. Failure injection: ``fail_commit = (status, message)`` makes the next commits fail with that status
(4xx: huggingface_hub does not retry them, so a test never sits in backoff).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["FakeHub"]

_TYPES = r"(models|datasets|spaces)"


class FakeHub:
    """Serve a fake Hub on 127.0.0.1:<ephemeral port>; files are stored under ``root/<repo_id>/<revision>/``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log: list[tuple[str, str]] = []
        self.commits: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.branches: list[tuple[str, str]] = []
        self.fail_commit: tuple[int, str] | None = None
        self._branch_of: dict[str, str] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- test helpers -----------------------------------------------------------------------------------------------

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a client subprocess: this endpoint, a fake token, offline mode off."""
        env = dict(os.environ if base is None else base)
        env.pop("HF_HUB_OFFLINE", None)
        env.update({"HF_ENDPOINT": self.url, "HF_TOKEN": "hf_fake_token", "HF_HUB_DISABLE_TELEMETRY": "1",
                    "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "5"})
        return env

    def repo_dir(self, repo_id: str, revision: str = "main") -> Path:
        """Folder of a branch; a commit sha handed out by this fake maps back to its branch."""
        return self.root / repo_id / self._branch_of.get(revision, revision)

    def commit_sha(self, repo_id: str, revision: str) -> str:
        """A stable fake commit id per (repo, branch), as the Hub's X-Repo-Commit header; clients then ask for it."""
        branch = self._branch_of.get(revision, revision)
        sha = hashlib.sha1(f"{repo_id}@{branch}".encode()).hexdigest()
        self._branch_of[sha] = branch
        return sha

    def files(self, repo_id: str, revision: str = "main") -> list[str]:
        base = self.repo_dir(repo_id, revision)
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the server ---------------------------------------------------------------------------------------------------

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, obj: Any = None, headers: dict[str, str] | None = None) -> None:
                body = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _not_found(self, code: str = "EntryNotFound", commit: str = "0" * 40) -> None:
                self._send(404, {"error": "not found"}, {"X-Error-Code": code, "X-Repo-Commit": commit})

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                hub.log.append((self.command, self.path))
                path = self.path.split("?")[0]
                query = self.path[len(path):]
                m = re.match(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
                if m:
                    f = hub.repo_dir(m.group(2), m.group(3)) / m.group(4)
                    sha = hub.commit_sha(m.group(2), m.group(3))
                    if not f.is_file():
                        return self._not_found(commit=sha)
                    data = f.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                    self.send_header("X-Repo-Commit", sha)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    return None
                m = re.match(rf"^/api/{_TYPES}/([^/]+/[^/]+)/tree/([^/]+)(/.*)?$", path)
                if m:
                    base = hub.repo_dir(m.group(2), m.group(3))
                    top = base / (m.group(4) or "").strip("/")
                    if not top.is_dir():
                        return self._not_found("RevisionNotFound" if not base.is_dir() else "EntryNotFound")
                    recursive = "recursive=true" in query.lower() or "recursive=1" in query.lower()
                    items = []
                    for p in sorted(top.rglob("*") if recursive else top.iterdir()):
                        rel = p.relative_to(base).as_posix()
                        if p.is_dir():
                            items.append({"type": "directory", "path": rel, "oid": "0" * 40, "size": 0})
                        else:
                            items.append({"type": "file", "path": rel, "oid": "0" * 40, "size": p.stat().st_size})
                    return self._send(200, items)
                m = re.match(rf"^/api/{_TYPES}/([^/]+/[^/]+?)(?:/revision/([^/]+))?$", path)
                if m and (hub.root / m.group(2)).is_dir():
                    rev = m.group(3) or "main"
                    sib = [{"rfilename": f} for f in hub.files(m.group(2), rev)]
                    return self._send(200, {"id": m.group(2), "sha": hub.commit_sha(m.group(2), rev), "siblings": sib,
                                            "private": False})
                return self._not_found("RepoNotFound")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                hub.log.append((self.command, self.path))
                path = self.path.split("?")[0]
                if path == "/api/validate-yaml":
                    from huggingface_hub.repocard import RepoCard

                    try:
                        RepoCard(json.loads(body)["content"])
                    except Exception as e:
                        return self._send(400, {"error": str(e), "errors": [{"message": str(e)}]},
                                          {"X-Error-Code": "BadRequest"})
                    return self._send(200, {"errors": [], "warnings": []})
                if path == "/api/repos/create":
                    req = json.loads(body)
                    rid = f"{req.get('organization') or 'user'}/{req['name']}"
                    hub.created.append(req)
                    hub.repo_dir(rid).mkdir(parents=True, exist_ok=True)
                    return self._send(200, {"url": f"{hub.url}/{rid}", "name": rid, "id": rid})
                m = re.match(rf"^/api/{_TYPES}/(.+)/branch/([^/]+)$", path)
                if m:
                    hub.branches.append((m.group(2), m.group(3)))
                    hub.repo_dir(m.group(2), m.group(3)).mkdir(parents=True, exist_ok=True)
                    return self._send(200, {})
                m = re.match(rf"^/api/{_TYPES}/(.+)/preupload/(.+)$", path)
                if m:
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False} for f in files]})
                m = re.match(rf"^/api/{_TYPES}/(.+)/commit/(.+)$", path)
                if m:
                    return self._commit(m.group(2), m.group(3), body)
                return self._send(404, {"error": "not implemented in the fake hub"})

            def _commit(self, repo_id: str, revision: str, body: bytes):
                from urllib.parse import unquote

                revision = unquote(revision)
                header, files = {}, {}
                for line in body.decode().splitlines():
                    op = json.loads(line)
                    if op["key"] == "header":
                        header = op["value"]
                    elif op["key"] == "file":
                        files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                record = {"repo_id": repo_id, "revision": revision, "summary": header.get("summary"),
                          "description": header.get("description"), "files": sorted(files)}
                if hub.fail_commit is not None:
                    status, message = hub.fail_commit
                    hub.commits.append({**record, "failed": True})
                    return self._send(status, {"error": message}, {"X-Error-Code": "Forbidden"})
                base = hub.repo_dir(repo_id, revision)
                if not base.is_dir():
                    return self._not_found("RevisionNotFound")
                for rel, data in files.items():
                    dst = base / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(data)
                hub.commits.append({**record, "failed": False})
                sha = hub.commit_sha(repo_id, revision)
                return self._send(200, {"success": True, "commitOid": sha,
                                        "commitUrl": f"{hub.url}/{repo_id}/commit/{sha}"})

        return Handler
