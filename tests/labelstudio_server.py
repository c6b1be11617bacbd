"""A real Label Studio on 127.0.0.1 (from `make labelstudio`'s venv, SQLite in a temporary
folder, analytics and update checks off), and the few calls of its HTTP API that a round trip
needs. Shared by tests/model/test_labelstudio_roundtrip.py and
benchmarks/labelstudio_roundtrip.py."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from servers import free_port, running

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV = REPO_ROOT / ".venv-labelstudio"
TEMPLATE_DB = VENV / "template" / "label_studio.sqlite3"  # migrated by `make labelstudio`
TOKEN = "modpipe-test-token-0123456789"
PAGE_SIZE = 1000


def missing_reason() -> str | None:
    """Why Label Studio cannot run here, or None."""
    if not any(VENV.glob(".installed-*")):
        return (
            f"Label Studio's venv is absent ({VENV}): `make labelstudio` builds it (make test does)"
        )
    return None


@dataclass
class LabelStudio:
    url: str
    client: httpx.Client

    def create_project(self, title: str, config: str) -> int:
        return self._ok(
            self.client.post("/api/projects/", json={"title": title, "label_config": config})
        )["id"]

    def import_tasks(self, project: int, tasks: list[dict]) -> int:
        return self._ok(self.client.post(f"/api/projects/{project}/import", json=tasks))[
            "task_count"
        ]

    def tasks(self, project: int) -> list[dict]:
        params = {"project": project, "page_size": PAGE_SIZE}
        return self._ok(self.client.get("/api/tasks/", params=params))["tasks"]

    def add_user(self, email: str) -> int:
        user = {"email": email, "username": email.split("@")[0]}
        return self._ok(self.client.post("/api/users/", json=user))["id"]

    def annotate(self, task: int, result: list[dict], seconds: float, user: int | None = None):
        """Submit an annotation of ``task``, by ``user`` (default: the token's own user)."""
        annotation = {"result": result, "lead_time": seconds}
        if user is not None:
            annotation["completed_by"] = user
        return self._ok(self.client.post(f"/api/tasks/{task}/annotations/", json=annotation))

    def export(self, project: int) -> list[dict]:
        params = {"exportType": "JSON"}
        return self._ok(self.client.get(f"/api/projects/{project}/export", params=params))

    @staticmethod
    def _ok(response: httpx.Response):
        if response.status_code >= 400:
            raise AssertionError(
                f"{response.request.url}: {response.status_code} {response.text[:500]}"
            )
        return response.json()


@contextlib.contextmanager
def label_studio(folder: Path) -> Iterator[LabelStudio]:
    """Label Studio with its data in ``folder`` and one user, whose token the client sends."""
    data = folder / "data"
    data.mkdir(parents=True)
    if TEMPLATE_DB.is_file():
        shutil.copyfile(TEMPLATE_DB, data / TEMPLATE_DB.name)
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_USERNAME": "lead@example.org",
        "LABEL_STUDIO_PASSWORD": "modpipe-test-password",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    }
    command = [str(VENV / "bin" / "label-studio"), "start", "--no-browser"]
    command += ["--internal-host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/health", folder / "label-studio.log", env, 180, cwd=folder):
        headers = {"Authorization": f"Token {TOKEN}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            yield LabelStudio(url, client)
