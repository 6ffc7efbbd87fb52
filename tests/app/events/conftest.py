"""Live event fixtures: a recording Granter (idempotent on source_id, like the real grant service), a fake
FCM v1 server on 127.0.0.1 (the HTTP boundary firebase_admin.messaging talks to), event helpers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.services.grant_port import GrantOutcome, GrantRequest
from tests.app.conftest import MakeClient, Mint

ADMIN_NET = "203.0.113.0/24"


class RecordingGranter:
    """Grants each ``source_id`` once; every call is recorded. ``fail_next`` makes the next calls raise
    (a grant service that is down), ``hold`` answers HELD (a fraud check)."""

    def __init__(self) -> None:
        self.calls: list[GrantRequest] = []
        self.granted: dict[str, GrantRequest] = {}
        self.fail_next = 0
        self.hold = False
        self._lock = asyncio.Lock()

    async def grant(self, request: GrantRequest) -> GrantOutcome:
        self.calls.append(request)
        async with self._lock:
            await asyncio.sleep(0.02)  # a transaction's worth of time, so concurrent calls overlap
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionError("grant service unreachable")
            if request.source_id in self.granted:
                return GrantOutcome.DUPLICATE
            self.granted[request.source_id] = request
            return GrantOutcome.HELD if self.hold else GrantOutcome.GRANTED


@dataclass
class FcmRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeFcm:
    """Answers FCM HTTP v1: ``messages:send`` and topic ``registrations``; records every request."""

    port: int
    requests: list[FcmRequest] = field(default_factory=list)
    #: Tokens FCM no longer knows (404 UNREGISTERED).
    unregistered: set[str] = field(default_factory=set)
    #: Answer every send with 429 QUOTA_EXCEEDED.
    refuse_all: bool = False
    server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        """Stop listening (FCM unreachable: connections are refused)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sends(self) -> list[dict[str, Any]]:
        return [r.body["message"] for r in self.requests if r.path.endswith("/messages:send")]

    def subscriptions(self) -> list[FcmRequest]:
        return [r for r in self.requests if "/registrations/" in r.path]


def _fcm_error(status: int, code: str, fcm_code: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": f"fake FCM: {fcm_code}",
            "status": code,
            "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
            ],
        }
    }


def _handler(fake: FakeFcm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parsed = urlparse(self.path)
            request = FcmRequest(
                "POST",
                parsed.path,
                parse_qs(parsed.query),
                orjson.loads(raw) if raw else {},
                {k.lower(): v for k, v in self.headers.items()},
            )
            fake.requests.append(request)
            if parsed.path.endswith("/messages:send"):
                message = request.body.get("message", {})
                if fake.refuse_all:
                    self._answer(429, _fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"))
                elif message.get("token") in fake.unregistered:
                    self._answer(404, _fcm_error(404, "NOT_FOUND", "UNREGISTERED"))
                else:
                    self._answer(200, {"name": f"projects/p/messages/{len(fake.requests)}"})
            elif "/registrations/" in parsed.path and parsed.path.endswith("/topicSubscriptions"):
                self._answer(200, {})
            else:
                self._answer(404, {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}})

    return Handler


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeFcm(server.server_address[1], server=server)
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.stop()
    thread.join(timeout=5)


@pytest.fixture
def granter() -> RecordingGranter:
    return RecordingGranter()


@pytest.fixture
def events_client(make_client: MakeClient, fcm: FakeFcm, granter: RecordingGranter) -> TestClient:
    """The app with an admin network, the fake FCM and the recording Granter in place of the economy's."""
    client = make_client(admin_ip_allowlist=ADMIN_NET, fcm_endpoint=fcm.url)
    client.app.state.container.live_events.granter = granter  # type: ignore[attr-defined]
    return client


@pytest.fixture
def admin(auth: Mint) -> dict[str, str]:
    second_factor = {"sign_in_provider": "password", "sign_in_second_factor": "phone"}
    return auth("root", role="admin", firebase=second_factor)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def event_body(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "name": "Rainbow Rush",
        "description": "Finish 2 games",
        "starts_at": iso(now - timedelta(minutes=1)),
        "ends_at": iso(now + timedelta(hours=2)),
        "goal": {"metric": "games_played", "target": 2},
        "rewards": {"coins": 250, "items": {"booster_magnet": 2}},
    }
    body.update(overrides)
    return body


def create_event(client: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    r = client.post("/v1/admin/events", headers=headers, json=event_body(**overrides))
    assert r.status_code == 201, r.text
    event_id: str = r.json()["event_id"]
    return event_id


def play(client: TestClient, headers: dict[str, str], points: list[int]) -> None:
    """Start, play and finish one game through the API (the real finish path)."""
    r = client.post("/v1/games", headers=headers, json={})
    assert r.status_code == 201, r.text
    game_id = r.json()["game_id"]
    events = [{"type": "coin", "t_ms": i, "points": p} for i, p in enumerate(points)]
    assert (
        client.post(f"/v1/games/{game_id}/events", headers=headers, json={"events": events}).status_code
        == 200
    )
    r = client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": sum(points)})
    assert r.status_code == 200, r.text


def qualified_event(client: TestClient, admin: dict[str, str], player: dict[str, str]) -> str:
    """A running event whose goal (one game played) ``player`` has met: created, joined, one game played."""
    event_id = create_event(client, admin, goal={"metric": "games_played", "target": 1})
    assert client.post(f"/v1/events/{event_id}/join", headers=player).status_code == 200
    play(client, player, [1])
    return event_id


def seed_event(
    db: firestore.Client, event_id: str, starts_at: datetime, ends_at: datetime, **extra: Any
) -> None:
    """An event as the repository stores it, for windows the API cannot create (already over)."""
    data: dict[str, Any] = {
        "name": "Seeded",
        "description": "",
        "starts_at": starts_at,
        "ends_at": ends_at,
        "goal": {"metric": "games_played", "target": 1},
        "rewards": {"coins": 10, "items": {}},
        "created_by": "root",
        "created_at": starts_at,
        "updated_at": starts_at,
        "announced_at": starts_at,
    }
    data.update(extra)
    db.collection("events").document(event_id).set(data)


def seed_finished_game(db: firestore.Client, uid: str, finished_at: datetime, score: int = 5) -> None:
    db.collection("games").document().set(
        {
            "uid": uid,
            "mode": "classic",
            "status": "finished",
            "started_at": finished_at - timedelta(minutes=1),
            "expires_at": finished_at + timedelta(days=7),
            "final_score": score,
            "finished_at": finished_at,
        }
    )


def error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    message: str = r.json()["error"]["message"]
    return message
