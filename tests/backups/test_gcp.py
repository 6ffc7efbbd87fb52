"""The GCP paths of export and restore: the real Admin API client, faked at the HTTP boundary.

A local HTTP server plays the Firestore Admin REST API (``exportDocuments``, ``databases.get``,
``databases:restore``); the google-cloud-firestore client and `pog backup` run unchanged against it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud.firestore_admin_v1 import FirestoreAdminClient
from typer.testing import CliRunner

import backups.clients
from pog.cli import app

runner = CliRunner()
PROJECT = "pot-of-gold-prod"
OPERATION = f"projects/{PROJECT}/databases/(default)/operations/ASA3ODg4"


@dataclass
class FakeAdminApi:
    """Answers by (method, path); records every request with its JSON body."""

    answers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?", 1)[0].replace("%28", "(").replace("%29", ")")
                api.requests.append((self.command, path, body))
                status, payload = api.answers.get(
                    (self.command, path),
                    (404, {"error": {"code": 404, "message": f"no {path}", "status": "NOT_FOUND"}}),
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def admin_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdminApi]:
    api = FakeAdminApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"

    def client() -> FirestoreAdminClient:
        return FirestoreAdminClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )

    monkeypatch.setattr(backups.clients, "admin_client", client)
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def pog(*args: str) -> Any:
    return runner.invoke(app, ["backup", *args], env={"FIRESTORE_EMULATOR_HOST": None})


def test_export_of_chosen_collections_calls_export_documents_with_a_dated_prefix(
    admin_api: FakeAdminApi,
) -> None:
    path = f"/v1/projects/{PROJECT}/databases/(default):exportDocuments"
    admin_api.answers[("POST", path)] = (200, {"name": OPERATION, "done": False})

    result = pog("export", "--project", PROJECT, "--to", "gs://pog-prod-firestore-exports/manual/",
                 "--collection", "users", "--collection", "transactions")  # fmt: skip

    assert result.exit_code == 0, result.output
    ((method, called, body),) = admin_api.requests
    assert (method, called) == ("POST", path)
    assert body["collectionIds"] == ["users", "transactions"]
    prefix = body["outputUriPrefix"]
    assert prefix.startswith("gs://pog-prod-firestore-exports/manual/default-")
    assert prefix in result.output.replace("\n", "")
    assert f"operation {OPERATION} (running" in result.output.replace("\n", "")


def test_export_of_an_unknown_database_is_one_line(admin_api: FakeAdminApi) -> None:
    result = pog("export", "--project", PROJECT, "-d", "games-mars", "--to", "gs://bucket/x")

    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith(
        f"error: unknown database: database 'games-mars' of project '{PROJECT}' on GCP does not exist"
    )
    assert len(line.splitlines()) == 1


def test_a_backup_restores_into_a_new_database_with_restore_database(admin_api: FakeAdminApi) -> None:
    backup = f"projects/{PROJECT}/locations/nam5/backups/daily-1"
    admin_api.answers[("POST", f"/v1/projects/{PROJECT}/databases:restore")] = (
        200,
        {"name": f"projects/{PROJECT}/databases/restore-1/operations/R1", "done": False},
    )

    result = pog("restore", "--project", PROJECT, "--from", backup, "-d", "restore-1")

    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _ in admin_api.requests] == [
        ("GET", f"/v1/projects/{PROJECT}/databases/restore-1"),
        ("POST", f"/v1/projects/{PROJECT}/databases:restore"),
    ]
    assert admin_api.requests[1][2] == {"databaseId": "restore-1", "backup": backup}


def test_a_backup_is_never_restored_over_an_existing_database(admin_api: FakeAdminApi) -> None:
    admin_api.answers[("GET", f"/v1/projects/{PROJECT}/databases/(default)")] = (
        200,
        {"name": f"projects/{PROJECT}/databases/(default)", "type": "FIRESTORE_NATIVE"},
    )

    result = pog(
        "restore",
        "--project",
        PROJECT,
        "--from",
        f"projects/{PROJECT}/locations/nam5/backups/b",
        "-d",
        "(default)",
    )

    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: refused: database '(default)' of project '{PROJECT}' on GCP exists already;"
        " a backup restores into a new database id"
    )
    assert [m for m, _, _ in admin_api.requests] == ["GET"]  # nothing was restored


def test_missing_credentials_are_one_line(tmp_path: Any) -> None:
    env = {"FIRESTORE_EMULATOR_HOST": None, "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json")}
    for args in (
        ["verify", "--project", PROJECT, "--copy", "restore-1"],
        ["export", "--project", PROJECT, "--to", "gs://bucket/x"],
        ["restore", "--project", PROJECT, "--from", "gs://bucket/x/e", "-d", "restore-1"],
    ):
        result = runner.invoke(app, ["backup", *args], env=env)
        assert result.exit_code == 1, result.output
        assert result.output.strip().startswith(
            "error: no Google credentials: run `gcloud auth application-default"
        )
        assert len(result.output.strip().splitlines()) == 1
