"""app/realtime/database.rules.json, evaluated by targaryen (offline; no Realtime Database emulator exists
here): for every path and every operation, who is allowed and who is refused.

The world: bob and alice are friends (the mirror says so both ways); dave may read carol's presence but
carol hides it; erin asked alice and was never accepted (nothing in the mirror); frank lists alice in a
one-sided mirror entry (only ``/friends/frank/alice``), so alice may read frank but frank may not read
alice; mallory is nobody's friend.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.domain.realtime import PRESENCE_STATES
from tests.app.realtime.targaryen import RULES, evaluate

NOW = 1_800_000_000_000
TIMESTAMP = {".sv": "timestamp"}
MESSAGE = {"kind": "reward_granted", "title": "Reward", "body": "250 coins", "data": {}, "at": 5}
DATA: dict[str, Any] = {
    "presence": {
        uid: {"state": "online", "last_changed": 1} for uid in ("alice", "bob", "carol", "frank", "mallory")
    },
    "friends": {
        "alice": {"bob": True},
        "bob": {"alice": True},
        "carol": {"dave": True},
        "frank": {"alice": True},
    },
    "hidden": {"carol": True},
    "messages": {"alice": {"m1": MESSAGE, "m2": MESSAGE}, "bob": {"m3": MESSAGE}},
    "broadcast": {"live_events": {"e1": {"name": "Rush", "starts_at": 1, "ends_at": 2, "at": 1}}},
    "users": {"alice": {"coins": 5}},
}
OPS = ("read", "write", "update")
#: (top-level path, operation) pairs some client may perform; every other pair is always refused.
ALLOWED_SOMEWHERE = {
    ("presence", "read"),
    ("presence", "write"),
    ("presence", "update"),
    ("friends", "read"),
    ("messages", "read"),
    ("messages", "write"),
    ("messages", "update"),
    ("broadcast", "read"),
}
TOPS = ("presence", "friends", "hidden", "messages", "broadcast", "users", "")


@dataclass(frozen=True)
class Case:
    name: str
    uid: str | None
    op: str
    path: str
    allowed: bool
    value: Any = None
    patch: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)

    @property
    def top(self) -> str:
        """The top-level node the case touches (a multi-path update's first path's)."""
        path = next(iter(self.patch)) if self.op == "update" else self.path
        return path.strip("/").split("/")[0]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "auth": None if self.uid is None else {"uid": self.uid, "provider": "anonymous"},
            "data": DATA,
            "op": self.op,
            "path": self.path,
            "value": self.value,
            "patch": self.patch,
            "query": self.query,
            "now": NOW,
        }


def presence(state: Any = "online", last_changed: Any = TIMESTAMP, **extra: Any) -> dict[str, Any]:
    return {"state": state, "last_changed": last_changed, **extra}


def read(name: str, uid: str | None, path: str, allowed: bool, **query: Any) -> Case:
    return Case(name, uid, "read", path, allowed, query=query)


def write(name: str, uid: str | None, path: str, value: Any, allowed: bool) -> Case:
    return Case(name, uid, "write", path, allowed, value=value)


def update(name: str, uid: str | None, patch: dict[str, Any], allowed: bool) -> Case:
    return Case(name, uid, "update", "/", allowed, patch=patch)


A, P = "alice", "presence/alice"


# fmt: off
def presence_cases() -> list[Case]:
    return [
        *(write(f"alice writes her own presence: {state}", A, P, presence(state), True)
          for state in PRESENCE_STATES),
        write("the server time itself is accepted", A, P, presence(last_changed=NOW), True),
        write("a state outside the enum", A, P, presence("busy"), False),
        write("a state of the wrong type", A, P, presence(1), False),
        write("a client's own clock as last_changed", A, P, presence(last_changed=NOW - 1), False),
        write("last_changed missing", A, P, {"state": "online"}, False),
        write("state missing", A, P, {"last_changed": TIMESTAMP}, False),
        write("an extra field", A, P, presence(note="hi"), False),
        write("a bare string", A, P, "online", False),
        write("deleting her own node", A, P, None, False),
        write("the state alone, last_changed left as it was", A, f"{P}/state", "away", False),
        write("last_changed alone, the server's time", A, f"{P}/last_changed", TIMESTAMP, True),
        write("last_changed alone, another time", A, f"{P}/last_changed", NOW - 1, False),
        write("bob writes alice's presence", "bob", P, presence(), False),
        write("anyone writes the whole of /presence", A, "presence", {"alice": presence()}, False),
        write("unauthenticated write", None, P, presence(), False),
        update("her own presence, multi-path", A,
               {f"{P}/state": "in_game", f"{P}/last_changed": TIMESTAMP}, True),
        update("a multi-path update reaching bob's presence", A,
               {f"{P}/state": "online", "presence/bob/state": "offline"}, False),
        update("unauthenticated multi-path", None, {f"{P}/state": "online"}, False),
        read("alice reads her own presence", A, P, True),
        read("carol reads her own presence while hidden", "carol", "presence/carol", True),
        read("a friend reads it (bob reads alice)", "bob", P, True),
        read("a friend reads it (alice reads bob)", A, "presence/bob", True),
        read("a friend reads one field", "bob", f"{P}/state", True),
        read("a non-friend reads it (mallory reads alice)", "mallory", P, False),
        read("a refused request's sender (erin reads alice)", "erin", P, False),
        read("one-sided mirror, allowed side (alice reads frank)", A, "presence/frank", True),
        read("one-sided mirror, other side (frank reads alice)", "frank", P, False),
        read("a friend reads a hidden player (dave reads carol)", "dave", "presence/carol", False),
        read("a friend reads one field of a hidden player", "dave", "presence/carol/state", False),
        read("anyone lists /presence", A, "presence", False),
        read("unauthenticated read", None, P, False),
    ]


def mirror_cases() -> list[Case]:
    return [
        read("alice reads her own friends", A, "friends/alice", True),
        read("alice reads one of her own entries", A, "friends/alice/bob", True),
        read("bob reads alice's friends", "bob", "friends/alice", False),
        read("anyone lists /friends", A, "friends", False),
        read("unauthenticated read of friends", None, "friends/alice", False),
        write("alice adds herself to mallory's friends", A, "friends/mallory/alice", True, False),
        write("mallory adds alice to her own friends", "mallory", "friends/mallory/alice", True, False),
        write("alice removes bob from her own friends", A, "friends/alice/bob", None, False),
        write("unauthenticated write of friends", None, "friends/alice/x", True, False),
        update("friends by multi-path", A, {"friends/carol/alice": True}, False),
        read("carol reads her own hidden flag", "carol", "hidden/carol", False),
        read("dave reads carol's hidden flag", "dave", "hidden/carol", False),
        write("carol unhides herself", "carol", "hidden/carol", None, False),
        write("alice hides herself", A, "hidden/alice", True, False),
        write("unauthenticated write of hidden", None, "hidden/alice", True, False),
        update("hidden by multi-path", "carol", {"hidden/carol": None}, False),
    ]


def message_cases() -> list[Case]:
    changed = {**MESSAGE, "body": "1000000 coins"}
    return [
        read("alice reads her messages", A, "messages/alice", True),
        read("alice reads her messages by at", A, "messages/alice", True, orderByChild="at"),
        read("alice reads one message", A, "messages/alice/m1", True),
        read("bob reads alice's messages", "bob", "messages/alice", False),
        read("bob reads one of alice's messages", "bob", "messages/alice/m1", False),
        read("anyone lists /messages", A, "messages", False),
        read("unauthenticated read of messages", None, "messages/alice", False),
        write("alice deletes a message she read", A, "messages/alice/m1", None, True),
        write("alice deletes a message twice (already gone)", A, "messages/alice/gone", None, True),
        update("alice deletes two messages at once", A,
               {"messages/alice/m1": None, "messages/alice/m2": None}, True),
        write("alice empties her queue in one write", A, "messages/alice", None, False),
        write("alice creates a message", A, "messages/alice/m9", MESSAGE, False),
        write("alice changes a message", A, "messages/alice/m1", changed, False),
        write("alice changes one field of a message", A, "messages/alice/m1/body", "x", False),
        write("alice deletes one field of a message", A, "messages/alice/m1/body", None, False),
        update("alice creates one by multi-path", A, {"messages/alice/m9": MESSAGE}, False),
        write("alice deletes bob's message", A, "messages/bob/m3", None, False),
        write("alice sends bob a message", A, "messages/bob/m9", MESSAGE, False),
        update("deleting another's by multi-path", A,
               {"messages/alice/m1": None, "messages/bob/m3": None}, False),
        write("unauthenticated delete", None, "messages/alice/m1", None, False),
    ]


def broadcast_cases() -> list[Case]:
    event = {"name": "Fake", "starts_at": 1, "ends_at": 2, "at": TIMESTAMP}
    events = "broadcast/live_events"
    return [
        read("a player reads the broadcasts", "mallory", "broadcast", True),
        read("a player reads the live events by ends_at", A, events, True, orderByChild="ends_at"),
        read("a player reads one live event", A, f"{events}/e1", True),
        read("unauthenticated read of broadcasts", None, events, False),
        write("a player announces an event", A, f"{events}/e2", event, False),
        write("a player deletes an event", A, f"{events}/e1", None, False),
        write("unauthenticated write of broadcasts", None, f"{events}/e2", event, False),
        update("an event by multi-path", A, {f"{events}/e2": event}, False),
    ]


def elsewhere_cases() -> list[Case]:
    return [
        read("the root, read", A, "/", False),
        read("the root, unauthenticated", None, "/", False),
        write("the root, written", A, "/", {"presence": {}}, False),
        read("an unknown path, read", A, "users/alice", False),
        write("an unknown path, written", A, "users/alice/coins", 1000000, False),
        update("an unknown path, multi-path", A, {"users/alice/coins": 1000000}, False),
        write("an unknown path, unauthenticated", None, "users/alice/coins", 1, False),
        write("a path beside presence", A, "presence_extra/alice", presence(), False),
    ]
# fmt: on


CASES = presence_cases() + mirror_cases() + message_cases() + broadcast_cases() + elsewhere_cases()


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict[str, Any]]:
    rules = json.loads(RULES.read_text())
    found = evaluate(rules, [case.as_json() for case in CASES])
    assert len(found) == len(CASES)
    return {v["name"]: v for v in found}


def test_the_cases_have_unique_names() -> None:
    duplicates = [name for name, n in Counter(c.name for c in CASES).items() if n > 1]
    assert duplicates == []


def test_every_path_and_operation_has_refused_cases_and_allowed_ones_where_any_client_may() -> None:
    refused = {(case.top, case.op) for case in CASES if not case.allowed}
    allowed = {(case.top, case.op) for case in CASES if case.allowed}
    assert refused >= {(top, op) for top in TOPS for op in OPS if top or op != "update"}
    assert allowed == ALLOWED_SOMEWHERE
    unauthenticated = {(case.top, case.op) for case in CASES if case.uid is None}
    assert {top for top, _ in unauthenticated} >= set(TOPS)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_verdict(case: Case, verdicts: dict[str, dict[str, Any]]) -> None:
    verdict = verdicts[case.name]
    assert verdict["allowed"] is case.allowed, verdict["info"]
