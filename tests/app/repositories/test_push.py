"""Every push message is counted: ``pog_push_sent`` or ``pog_push_failures{reason}``. FCM is a server on
127.0.0.1 answering FCM v1 errors; firebase_admin's own code maps them to its exceptions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from firebase_admin import exceptions, messaging
from prometheus_client.parser import text_string_to_metric_families

from app.core.metrics import PUSH_FAILURE_REASONS, REGISTRY
from app.domain.notifications import Push
from app.repositories.push import FcmGateway, PushError, failure_reason
from tests.app.conftest import Backends, MakeClient, settings_for
from tests.app.fixtures.events import FakeFcm

TOKEN = "fcm-token-alice-phone-0123456789abcdef"
PUSH = Push("Reward unlocked", "Rainbow Rush: 250 coins", {"type": "event_reward"})
LOOPBACK = ("127.0.0.1", 40000)
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
FAILURES = "pog_push_failures_total"


class ErrorFcm:
    """Answers every ``messages:send`` with one FCM v1 error: HTTP status, canonical status, FCM code."""

    def __init__(self) -> None:
        self.answer: tuple[int, str, str | None] = (500, "INTERNAL", None)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, code, fcm_code = fake.answer
                error: dict[str, Any] = {"code": status, "message": f"fake FCM: {code}", "status": code}
                if fcm_code is not None:
                    error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": fcm_code}]
                body = orjson.dumps({"error": error})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def error_fcm() -> Iterator[ErrorFcm]:
    fake = ErrorFcm()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join(timeout=5)


def counts() -> dict[str, float]:
    """``sent`` and every failure reason, as the registry holds them now."""
    found = {"sent": REGISTRY.get_sample_value("pog_push_sent_total") or 0.0}
    for reason in PUSH_FAILURE_REASONS:
        found[reason] = REGISTRY.get_sample_value("pog_push_failures_total", {"reason": reason}) or 0.0
    return found


def increase(before: dict[str, float]) -> dict[str, float]:
    return {name: value - before[name] for name, value in counts().items() if value != before[name]}


def send(backends: Backends, url: str, tokens: Sequence[str] = (TOKEN,)) -> list[str] | PushError:
    """One ``send_to_tokens`` through a gateway pointed at ``url``: the gone tokens, or the PushError."""

    async def run() -> list[str] | PushError:
        gateway = FcmGateway(settings_for(backends, fcm_endpoint=url))
        try:
            return await gateway.send_to_tokens(tokens, PUSH)
        except PushError as exc:
            return exc
        finally:
            await gateway.close()

    return asyncio.run(run())


def test_a_message_fcm_accepts_counts_as_sent(backends: Backends, fcm: FakeFcm) -> None:
    before = counts()
    assert send(backends, fcm.url, [TOKEN, TOKEN + "-tablet"]) == []
    assert len(fcm.sends()) == 2
    assert increase(before) == {"sent": 2}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((404, "NOT_FOUND", "UNREGISTERED"), "unregistered"),
        ((403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), "sender_mismatch"),
        ((429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "quota"),
        # What FCM answers when its API is not enabled or the caller lacks cloudmessaging.messages.create.
        ((403, "PERMISSION_DENIED", None), "permission_denied"),
        ((400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), "invalid_argument"),
        ((409, "ABORTED", None), "other"),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]}-{value[2] or value[1]}",
)
def test_a_refused_message_counts_as_a_failure_with_its_reason(
    backends: Backends,
    error_fcm: ErrorFcm,
    answer: tuple[int, str, str | None],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    error_fcm.answer = answer
    before = counts()
    outcome = send(backends, error_fcm.url)
    assert increase(before) == {reason: 1}
    # FCM's own words are logged for diagnosis, except for unregistered tokens (churn).
    logged = [r for r in caplog.records if getattr(r, "event", None) == "push_refused"]
    expected = (
        []
        if reason == "unregistered"
        else [(reason, f"FCM refused 1 of 1 message(s): fake FCM: {answer[1]}")]
    )
    assert [(getattr(r, "reason", None), r.getMessage()) for r in logged] == expected
    # Gone tokens are handed back to be forgotten; any other refusal of every message raises.
    if reason in {"unregistered", "sender_mismatch"}:
        assert outcome == [TOKEN]
    else:
        assert isinstance(outcome, PushError)


def test_a_batch_the_sdk_gives_up_on_counts_every_message(backends: Backends, error_fcm: ErrorFcm) -> None:
    """A 401 makes google-auth refresh the credential, which the test's anonymous one cannot: the SDK
    fails the whole batch (UnknownError) and each of its messages counts as a failure."""
    error_fcm.answer = (401, "UNAUTHENTICATED", None)
    before = counts()
    with pytest.raises(exceptions.UnknownError):
        send(backends, error_fcm.url, [TOKEN, TOKEN + "-tablet"])
    assert increase(before) == {"other": 2}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (messaging.ThirdPartyAuthError("APNs certificate expired"), "unauthenticated"),
        (exceptions.UnauthenticatedError("bad credential"), "unauthenticated"),
        (exceptions.DeadlineExceededError("timed out"), "unavailable"),
        (exceptions.InternalError("500 after retries"), "unavailable"),
        (exceptions.NotFoundError("no such project"), "other"),
        (RuntimeError("not the SDK's"), "other"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_errors_fcm_cannot_be_made_to_answer_here_map_to_their_reason(
    error: BaseException, reason: str
) -> None:
    assert failure_reason(error) == reason
    assert reason in PUSH_FAILURE_REASONS


def test_fcm_unreachable_counts_as_unavailable(backends: Backends, fcm: FakeFcm) -> None:
    fcm.stop()  # connections refused
    before = counts()
    assert isinstance(send(backends, fcm.url), PushError)
    assert increase(before) == {"unavailable": 1}


def test_a_topic_message_is_counted_too(backends: Backends, fcm: FakeFcm) -> None:
    async def run() -> None:
        gateway = FcmGateway(settings_for(backends, fcm_endpoint=fcm.url))
        try:
            await gateway.send_to_topic("live-events", PUSH)
            fcm.refuse_all = True
            with pytest.raises(PushError):
                await gateway.send_to_topic("live-events", PUSH)
        finally:
            await gateway.close()

    before = counts()
    asyncio.run(run())
    assert increase(before) == {"sent": 1, "quota": 1}


def _exposed(client: TestClient) -> dict[tuple[str, str], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {
        (sample.name, sample.labels.get("reason", "")): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
        if sample.name in {"pog_push_sent_total", FAILURES}
    }


def test_the_counters_are_served_on_metrics_with_every_reason(
    make_client: MakeClient, backends: Backends, fcm: FakeFcm
) -> None:
    client = make_client(client_addr=LOOPBACK)
    before = _exposed(client)
    # Every reason is a series from the start (at 0 on a new instance), so rate() sees the first failure.
    assert {reason for name, reason in before if name == FAILURES} == set(PUSH_FAILURE_REASONS)
    fcm.refuse_all = True
    assert isinstance(send(backends, fcm.url), PushError)
    after = _exposed(client)
    assert after[(FAILURES, "quota")] == before[(FAILURES, "quota")] + 1
    assert after[("pog_push_sent_total", "")] == before[("pog_push_sent_total", "")]
