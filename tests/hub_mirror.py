"""A Hugging Face Hub mirror on 127.0.0.1 for the tests: ``python hub_mirror.py PORT ROOT``.

Each ``ROOT/ORG/NAME`` folder is the model repo ``ORG/NAME`` at one revision, ``main``, whose
commit is :data:`COMMIT`. It answers the three requests ``huggingface_hub.snapshot_download``
makes, as the Hub (and mirrors set by ``HF_ENDPOINT``) do: the repo's info, its file tree, and
each file (``HEAD`` for the metadata, then ``GET``). ``GET /`` answers 200 once it is up.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REVISION = "main"

_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)/revision/([^/?]+)")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/?]+)")
_FILE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/([^?]+)")


class _Mirror(BaseHTTPRequestHandler):
    root: Path

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if self.path == "/":
            return self._send(200, b"hub mirror", "text/plain", body)
        for pattern, answer in ((_INFO, self._info), (_TREE, self._tree), (_FILE, self._file)):
            match = pattern.match(self.path)
            if match:
                return answer(*match.groups(), body=body)
        self._send(404, b"not found", "text/plain", body)

    def _repo(self, repo_id: str, revision: str) -> Path | None:
        folder = self.root / repo_id
        if not folder.is_dir():
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return None
        if revision not in (REVISION, COMMIT):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return folder

    def _info(self, repo_id: str, revision: str, body: bool) -> None:
        folder = self._repo(repo_id, revision)
        if folder:
            files = [{"rfilename": path} for path in _files(folder)]
            info = {"id": repo_id, "modelId": repo_id, "sha": COMMIT, "siblings": files}
            self._send(200, json.dumps(info).encode(), "application/json", body)

    def _tree(self, repo_id: str, revision: str, body: bool) -> None:
        folder = self._repo(repo_id, revision)
        if folder:
            tree = [
                {"type": "file", "path": path, "size": (folder / path).stat().st_size,
                 "oid": _etag(folder / path)}
                for path in _files(folder)
            ]  # fmt: skip
            self._send(200, json.dumps(tree).encode(), "application/json", body)

    def _file(self, repo_id: str, revision: str, path: str, body: bool) -> None:
        folder = self._repo(repo_id, revision)
        if not folder:
            return
        file = folder / path
        if not file.is_file():
            return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_etag(file)}"'}
        self._send(200, file.read_bytes(), "application/octet-stream", body, headers)

    def _error(self, status: int, code: str, message: str) -> None:
        payload = json.dumps({"error": message}).encode()
        self._send(status, payload, "application/json", True, {"X-Error-Code": code})

    def _send(self, status, payload: bytes, kind: str, body: bool, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _etag(file: Path) -> str:
    return hashlib.sha1(file.read_bytes()).hexdigest()


if __name__ == "__main__":
    _Mirror.root = Path(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _Mirror).serve_forever()
