"""The friendship rules on two in-memory records: consent, requests, caps, blocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain import friends
from app.domain.friends import Added, Refusal, Side

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_request_then_the_other_sides_request_makes_both_friends() -> None:
    alice, bob = Side("alice"), Side("bob")
    assert friends.add(alice, bob, T0) is Added.REQUESTED
    assert (alice.requests_out, bob.requests_in, alice.friends, bob.friends) == (
        {"bob": T0},
        {"alice": T0},
        [],
        [],
    )
    assert friends.add(alice, bob, T0) is Added.REQUESTED  # a repeat changes nothing
    assert friends.add(bob, alice, T0) is Added.FRIENDS
    assert (alice.friends, bob.friends) == (["bob"], ["alice"])
    assert alice.requests_out == alice.requests_in == bob.requests_out == bob.requests_in == {}
    assert friends.add(bob, alice, T0) is Added.FRIENDS


def test_self_and_unknown_players_are_refused() -> None:
    alice = Side("alice")
    assert friends.add(alice, alice, T0) is Refusal.SELF
    assert friends.add(alice, Side("ghost", exists=False), T0) is Refusal.UNKNOWN
    assert friends.block(alice, Side("ghost", exists=False)) is Refusal.UNKNOWN
    assert alice == Side("alice")


def test_caps_refuse_and_change_nothing() -> None:
    full = [f"f{i}" for i in range(friends.MAX_FRIENDS)]
    alice, bob = Side("alice", friends=list(full)), Side("bob")
    assert friends.add(alice, bob, T0) is Refusal.TOO_MANY_FRIENDS
    waiting = {f"r{i}": T0 for i in range(friends.MAX_OUTGOING_REQUESTS)}
    carol = Side("carol", requests_out=dict(waiting))
    assert friends.add(carol, bob, T0) is Refusal.TOO_MANY_REQUESTS
    crowded = Side("dave", requests_in={f"r{i}": T0 for i in range(friends.MAX_INCOMING_REQUESTS)})
    assert friends.add(bob, crowded, T0) is Refusal.THEIR_REQUESTS_FULL
    popular = Side("erin", friends=list(full), requests_out={"bob": T0})
    bob.requests_in["erin"] = T0
    assert friends.add(bob, popular, T0) is Refusal.THEIR_FRIENDS_FULL
    assert (bob.friends, bob.requests_out, carol.requests_out) == ([], {}, waiting)


def test_block_ends_friendship_and_requests_both_ways_and_hides_later_requests() -> None:
    alice, bob = Side("alice", friends=["bob"], requests_in={"bob": T0}), Side("bob", friends=["alice"])
    assert friends.block(alice, bob) is None
    assert (alice.friends, bob.friends, alice.requests_in, alice.blocked) == ([], [], {}, ["bob"])
    assert friends.add(bob, alice, T0) is Added.REQUESTED  # as any pending request, to bob
    assert (bob.requests_out, alice.requests_in) == ({"alice": T0}, {})  # alice never sees it
    assert friends.add(alice, bob, T0) is Refusal.YOU_BLOCKED
    assert friends.block(alice, bob) is None  # idempotent
    assert friends.unblock(alice, bob) is True
    assert (alice.blocked, bob.requests_out) == ([], {})
    assert friends.unblock(alice, bob) is False


def test_withdraw_and_unfriend_report_whether_there_was_anything() -> None:
    alice, bob = Side("alice"), Side("bob")
    assert friends.withdraw(alice, bob) is False
    assert friends.unfriend(alice, bob) is False
    friends.add(alice, bob, T0)
    assert friends.withdraw(bob, alice) is True  # refused by bob
    assert alice.requests_out == bob.requests_in == {}
    friends.add(alice, bob, T0)
    friends.add(bob, alice, T0)
    assert friends.unfriend(bob, alice) is True
    assert alice.friends == bob.friends == []
