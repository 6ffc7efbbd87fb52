"""POST /v1/analytics/events on the real app (redis-server, the Firestore emulator, real tokens): every
refusal names what is wrong and offers nothing; an accepted batch is stamped by the server, with no uid
and no address anywhere in what is offered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.analytics_schemas import MAX_BODY_BYTES, MAX_EVENTS
from app.domain.analytics import client_event_id, pseudonym
from app.services.analytics import Analytics
from tests.app.conftest import MakeClient, Mint

PATH = "/v1/analytics/events"
PEER = "203.0.113.7"


class RecordingSink:
    """Our own port, recording what it is offered (the publisher behind it is B21's)."""

    def __init__(self) -> None:
        self.offers: list[list[dict[str, Any]]] = []

    def offer(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.offers.append([dict(e) for e in events])


def _recording(client: TestClient) -> RecordingSink:
    sink = RecordingSink()
    container = client.app.state.container  # type: ignore[attr-defined]
    container.analytics = Analytics(sink, container.settings.analytics_key)
    return sink


@pytest.fixture
def sink(client: TestClient) -> RecordingSink:
    return _recording(client)


def _event(name: str = "screen_viewed", **params: Any) -> dict[str, Any]:
    params = params if params or name != "screen_viewed" else {"screen": "home"}
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "params": params,
    }


def _batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"platform": "android", "app_version": "1.4.2", "events": list(events)}


def _refused(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


def test_a_batch_is_stamped_by_the_server_and_carries_no_uid_and_no_address(
    client: TestClient, auth: Mint, sink: RecordingSink
) -> None:
    assert client.patch("/v1/me", headers=auth("alice"), json={"country": "IE"}).is_success
    first, second = _event(), _event("tutorial_step", step=3)
    r = client.post(PATH, headers=auth("alice"), json=_batch(first, second))
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2}
    assert len(sink.offers) == 1
    offered = sink.offers[0]
    assert len(offered) == 2
    player = pseudonym(client.app.state.container.settings.analytics_key, "alice")  # type: ignore[attr-defined]
    assert [e["event_id"] for e in offered] == [client_event_id(player, e["id"]) for e in (first, second)]
    assert [e["params"] for e in offered] == ['{"screen":"home"}', '{"step":3}']
    occurred = datetime.fromisoformat(first["occurred_at"])
    assert offered[0]["occurred_at"] == int(occurred.timestamp()) * 1_000_000 + occurred.microsecond
    for event in offered:
        assert event["received_at"] >= event["occurred_at"]
        stamped = {k: event[k] for k in ("player", "source", "platform", "app_version", "country")}
        assert stamped == {
            "player": player,
            "source": "client",
            "platform": "android",
            "app_version": "1.4.2",
            "country": "IE",
        }
    text = json.dumps(offered)
    assert "alice" not in text
    assert PEER not in text


def test_a_retried_batch_gets_the_same_event_ids(client: TestClient, auth: Mint, sink: RecordingSink) -> None:
    batch = _batch(_event(), _event("store_viewed"))
    for _ in range(2):
        assert client.post(PATH, headers=auth("alice"), json=batch).status_code == 202
    assert len(sink.offers) == 2
    assert [e["event_id"] for e in sink.offers[0]] == [e["event_id"] for e in sink.offers[1]]
    # Another player's events with the same client ids are other events.
    assert client.post(PATH, headers=auth("bob"), json=batch).status_code == 202
    assert {e["event_id"] for e in sink.offers[2]}.isdisjoint(e["event_id"] for e in sink.offers[0])


def test_an_unknown_event_is_named_with_its_index_and_nothing_is_offered(
    client: TestClient, auth: Mint, sink: RecordingSink
) -> None:
    r = client.post(PATH, headers=auth("alice"), json=_batch(_event(), _event("level_up", level=2)))
    message = _refused(r, 422, "unknown_event")
    assert "events[1].name: 'level_up' is not an event of the catalogue" in message
    assert "screen_viewed" in message  # the client events it may send
    assert sink.offers == []


def test_an_undeclared_field_is_named_and_nothing_is_offered(
    client: TestClient, auth: Mint, sink: RecordingSink
) -> None:
    r = client.post(PATH, headers=auth("alice"), json=_batch(_event(), _event(screen="shop", email="a@b.c")))
    message = _refused(r, 422, "undeclared_field")
    assert (
        message == "events[1].params.email: 'email' is not a field of screen_viewed v1 (it declares screen)"
    )
    assert sink.offers == []


def test_params_of_the_wrong_type_or_size_are_named(
    client: TestClient, auth: Mint, sink: RecordingSink
) -> None:
    r = client.post(PATH, headers=auth("alice"), json=_batch(_event("tutorial_step", step=1001)))
    assert "events[0].params.step: Input should be less than or equal to 1000" in _refused(
        r, 422, "invalid_params"
    )
    r = client.post(PATH, headers=auth("alice"), json=_batch(_event("ad_reward_watched")))
    assert "events[0].params.placement: required by ad_reward_watched v1" in _refused(
        r, 422, "invalid_params"
    )
    assert sink.offers == []


def test_a_server_event_from_the_client_is_refused(
    client: TestClient, auth: Mint, sink: RecordingSink
) -> None:
    grant = _event("grant", reason="purchase", coins=1000, items=0)
    message = _refused(client.post(PATH, headers=auth("alice"), json=_batch(grant)), 422, "server_event")
    assert message == "events[0].name: 'grant' is a server event: only the API sends it"
    assert sink.offers == []


@pytest.mark.parametrize(
    ("shift", "code", "said"),
    [
        (timedelta(hours=-24, minutes=-1), "stale_event", "is more than 24 h old"),
        (timedelta(minutes=6), "future_event", "is more than 5 min ahead of the server"),
    ],
)
def test_an_event_outside_the_time_window_is_refused(
    client: TestClient, auth: Mint, sink: RecordingSink, shift: timedelta, code: str, said: str
) -> None:
    late = _event() | {"occurred_at": (datetime.now(UTC) + shift).isoformat()}
    message = _refused(client.post(PATH, headers=auth("alice"), json=_batch(_event(), late)), 422, code)
    assert message.startswith("events[1].occurred_at: ")
    assert said in message
    assert sink.offers == []


def test_one_id_twice_in_a_batch_is_refused(client: TestClient, auth: Mint, sink: RecordingSink) -> None:
    first = _event()
    again = _event("store_viewed") | {"id": first["id"]}
    message = _refused(
        client.post(PATH, headers=auth("alice"), json=_batch(first, again)), 422, "duplicate_event"
    )
    assert message == "events[1].id: repeats events[0].id: one id per event"
    assert sink.offers == []


def test_every_problem_of_a_batch_is_counted(client: TestClient, auth: Mint, sink: RecordingSink) -> None:
    events = [_event("nope") for _ in range(7)]
    message = _refused(client.post(PATH, headers=auth("alice"), json=_batch(*events)), 422, "unknown_event")
    assert message.count("is not an event of the catalogue") == 5
    assert message.endswith("(and 2 more)")
    assert sink.offers == []


def test_too_many_events_or_too_many_bytes_are_refused(
    client: TestClient, auth: Mint, sink: RecordingSink
) -> None:
    r = client.post(PATH, headers=auth("alice"), json=_batch(*[_event() for _ in range(MAX_EVENTS + 1)]))
    assert f"List should have at most {MAX_EVENTS} items" in _refused(r, 422, "validation_error")
    # 40 events of 16 long params: within the app's 64 KiB, over the batch's own cap.
    padded = {f"p{i}": "x" * 60 for i in range(16)}
    body = json.dumps(_batch(*[_event(**padded) for _ in range(40)]))
    assert MAX_BODY_BYTES < len(body) < 64 * 1024
    r = client.post(PATH, headers={**auth("alice"), "Content-Type": "application/json"}, content=body)
    assert f"at most {MAX_BODY_BYTES} bytes" in _refused(r, 413, "payload_too_large")
    assert sink.offers == []


def test_a_batch_needs_a_valid_token(client: TestClient, auth: Mint, sink: RecordingSink) -> None:
    _refused(client.post(PATH, json=_batch(_event())), 401, "unauthorized")
    headers = {"Authorization": "Bearer not-a-token"}
    _refused(client.post(PATH, headers=headers, json=_batch(_event())), 401, "unauthorized")
    assert sink.offers == []


def test_the_per_user_limit_applies(make_client: MakeClient, auth: Mint) -> None:
    client = make_client(rate_limit_user="2/minute")
    sink = _recording(client)
    for _ in range(2):
        assert client.post(PATH, headers=auth("alice"), json=_batch(_event())).status_code == 202
    r = client.post(PATH, headers=auth("alice"), json=_batch(_event()))
    _refused(r, 429, "rate_limited")
    client_events = [e for offer in sink.offers for e in offer if e["source"] == "client"]
    assert len(client_events) == 2


@pytest.mark.parametrize(("peer", "country"), [("198.51.100.9", "DE"), (PEER, None)])
def test_cloudflare_s_country_counts_only_through_a_trusted_proxy(
    make_client: MakeClient, auth: Mint, peer: str, country: str | None
) -> None:
    """The player set no country: Cloudflare's is used, when the connection came from Cloudflare."""
    client = make_client(client_addr=(peer, 443), trusted_proxies="198.51.100.0/24")
    sink = _recording(client)
    headers = {**auth("alice"), "CF-IPCountry": "de", "CF-Connecting-IP": "192.0.2.55"}
    assert client.post(PATH, headers=headers, json=_batch(_event())).status_code == 202
    assert [e["country"] for e in sink.offers[0]] == [country]
    assert "192.0.2.55" not in json.dumps(sink.offers)
    # Tor and unknown are no country.
    tor = {**headers, "CF-IPCountry": "T1"}
    assert client.post(PATH, headers=tor, json=_batch(_event())).status_code == 202
    assert [e["country"] for e in sink.offers[1]] == [None]
