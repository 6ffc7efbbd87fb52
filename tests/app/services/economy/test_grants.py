"""The grant service through the Granter port (what live events and leaderboard rewards call)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.services.errors import ServiceError
from app.services.grant_port import Granter, GrantOutcome, GrantRequest, GrantSource
from tests.app.conftest import Mint
from tests.app.fixtures.payments import EconClient, coins, entries, player, user_doc


def _granter(client: TestClient) -> Granter:
    granter: Granter = client.app.state.container.grants  # type: ignore[attr-defined]
    return granter


def _grant(client: TestClient, request: GrantRequest) -> GrantOutcome:
    outcome: GrantOutcome = client.portal.call(_granter(client).grant, request)  # type: ignore[union-attr]
    return outcome


def test_a_reward_grants_once_per_source(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice")
    request = GrantRequest(
        "alice", GrantSource.LEADERBOARD_REWARD, "lb:daily:2026-11-26:global:alice", 50, {"crown": 1}
    )
    assert _grant(econ, request) is GrantOutcome.GRANTED
    assert _grant(econ, request) is GrantOutcome.DUPLICATE
    doc = user_doc(db, "alice")
    assert doc["inventory"] == {"coins": 50, "items": {"crown": 1}}
    [entry] = entries(db, "alice")
    assert (entry["kind"], entry["source"], entry["coins"]) == ("grant", "leaderboard_reward", 50)


def test_fifty_concurrent_claims_of_one_reward_grant_once(
    make_econ: EconClient, auth: Mint, db: firestore.Client
) -> None:
    instances = [make_econ(), make_econ()]
    player(instances[0], auth, "alice")
    request = GrantRequest("alice", GrantSource.EVENT_REWARD, "event:spring:alice", coins=25)
    with ThreadPoolExecutor(25) as pool:
        outcomes = list(pool.map(lambda i: _grant(instances[i % 2], request), range(50)))
    print(f"\n50 concurrent claims: {outcomes.count(GrantOutcome.GRANTED)} grant(s)")
    assert outcomes.count(GrantOutcome.GRANTED) == 1
    assert outcomes.count(GrantOutcome.DUPLICATE) == 49
    assert coins(db, "alice") == 25
    assert len(entries(db, "alice")) == 1


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (GrantRequest("alice", GrantSource.ADMIN, "", coins=1), "source_id"),
        (GrantRequest("alice", GrantSource.ADMIN, "x" * 513, coins=1), "source_id"),
        (GrantRequest("alice", GrantSource.ADMIN, "a1", coins=-5), "cannot take coins"),
        (GrantRequest("alice", GrantSource.ADMIN, "a2", items={"gem": 0}), "item counts"),
        (GrantRequest("alice", GrantSource.ADMIN, "a3"), "grants nothing"),
    ],
)
def test_invalid_grants_change_nothing(
    econ: TestClient, auth: Mint, db: firestore.Client, request_: GrantRequest, message: str
) -> None:
    player(econ, auth, "alice")
    with pytest.raises(ServiceError, match=message):
        _grant(econ, request_)
    assert coins(db, "alice") == 0
    assert entries(db, "alice") == []
    assert list(db.collection("processed_sources").stream()) == []


def test_a_grant_to_a_player_without_a_profile_is_held(econ: TestClient, db: firestore.Client) -> None:
    request = GrantRequest("nobody", GrantSource.ADMIN, "admin:gift:1", coins=5)
    assert _grant(econ, request) is GrantOutcome.HELD
    assert not db.collection("users").document("nobody").get().exists
