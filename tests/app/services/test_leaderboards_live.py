"""Live boards through the CDN on the real redis-server and Firestore emulator: one publish per interval
across origins, idle boards, the kept chain, segments that rebuild the next page exactly, and live versions
that never name two bodies (a flush and rebuild, a lost chain)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any, TypeVar

import orjson
import pytest
import redis
from google.cloud import firestore

from app.composition import Overrides
from app.composition import Parts as AppParts
from app.core.metrics import REGISTRY
from app.domain.leaderboards import Period, Scope
from app.repositories.leaderboard_keys import ALIVE_KEY, version_key
from app.repositories.leaderboard_live import LiveChains, body_key, chain_key, gate_key
from app.services.errors import ServiceError
from app.services.leaderboard_views import View
from app.services.leaderboards_live import (
    FIRST_PUBLISH_HOLD_S,
    FIRST_PUBLISH_WAIT_S,
    MARGIN_INTERVALS,
    Latest,
    LiveBoards,
)
from tests.app.api.routes.test_leaderboards_live import apply
from tests.app.conftest import Backends, settings_for
from tests.app.fixtures.leaderboards import Clock, Parts, run, store_game
from tests.app.services.test_leaderboards_service import T0, play

T = TypeVar("T")
DAILY = View(Period.daily, Scope.global_, "2026-11-26")
NOW = Clock(T0 + timedelta(hours=1))


def publishes(result: str) -> float:
    return REGISTRY.get_sample_value("pog_leaderboard_live_publishes_total", {"result": result}) or 0.0


def live_of(p: Parts, interval_s: float, keep: int = 20, **options: Any) -> LiveBoards:
    return LiveBoards(
        LiveChains(p.lb.sink.boards), p.lb.service.render_now, interval_s=interval_s, keep=keep, **options
    )


async def until(check: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 10.0) -> T:
    """``check()`` once it answers something (the gates here are a few ms); fails after ``timeout_s``.
    tests/waiting.py's ``wait_until`` for a check that must run in the test's event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.005)  # the poll interval of this wait, not a guess at how long it takes


async def next_version(live: LiveBoards, view: View, page: int, after: int) -> Latest:
    async def check() -> Latest | None:
        latest = await live.latest(view, page)
        return latest if latest.version != after else None

    return await until(check, f"a version after {after}")


async def full(live: LiveBoards, view: View, page: int, version: int) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(await live.full(view, page, version))
    return body


def test_one_publish_per_interval_whatever_the_origins_and_requests(
    db: firestore.Client, backends: Backends
) -> None:
    play(db, backends, NOW, [("g1", "alice", 30, T0, None)])
    before = publishes("published"), publishes("unchanged")

    async def two_origins() -> list[Latest]:
        async with AsyncExitStack() as stack:
            origins = [
                await stack.enter_async_context(AppParts(settings_for(backends), Overrides(clock=NOW)))
                for _ in range(2)
            ]
            lives = [origin.leaderboards.service.live for origin in origins]
            assert all(lives)
            calls = [live.latest(DAILY, 1) for live in lives for _ in range(20) if live is not None]
            return list(await asyncio.gather(*calls))

    answers = asyncio.run(two_origins())
    assert len(answers) == 40
    assert {(a.version, tuple(a.versions)) for a in answers} == {(answers[0].version, (answers[0].version,))}
    assert (publishes("published") - before[0], publishes("unchanged") - before[1]) == (1, 0)


def test_an_idle_board_publishes_nothing_new(db: firestore.Client, backends: Backends) -> None:
    play(db, backends, NOW, [("g1", "alice", 30, T0, None)])

    async def flow(p: Parts) -> tuple[Latest, Latest]:
        live = live_of(p, interval_s=0.005)
        first = await live.latest(DAILY, 1)
        unchanged = publishes("unchanged")

        async def turn_taken() -> Latest | None:
            latest = await live.latest(DAILY, 1)
            return latest if publishes("unchanged") > unchanged else None

        return first, await until(turn_taken, "a publish turn on the idle board")

    first, later = run(backends, NOW, flow)
    assert (later.version, later.versions, later.published_at) == (
        first.version,
        [first.version],
        first.published_at,
    )


def test_the_chain_keeps_the_last_versions_and_trimmed_bodies_expire_after_the_grace(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    play(db, backends, NOW, [("g0", "p0", 10, T0, None)])
    keep, interval_s = 3, 30.0
    page_key = DAILY.cache_key(1)

    async def flow(p: Parts) -> tuple[list[int], Latest]:
        live = live_of(p, interval_s=interval_s, keep=keep)
        seen = [(await live.latest(DAILY, 1)).version]
        for n in range(1, 6):
            await p.lb.sink.submit(f"p{n}", f"g{n}", 10 + n, None, T0)
            rds.delete(gate_key(page_key))  # as if the interval had passed
            seen.append((await live.latest(DAILY, 1)).version)
        return seen, await live.latest(DAILY, 1)

    seen, latest = run(backends, NOW, flow)
    assert len(set(seen)) == 6
    assert seen == sorted(seen)
    assert latest.versions == seen[-keep:]
    ttl_ms = interval_s * (keep + MARGIN_INTERVALS) * 1000  # 210 s
    grace_ms = interval_s * MARGIN_INTERVALS * 1000  # 120 s
    assert grace_ms < rds.pttl(chain_key(page_key)) <= ttl_ms
    # The chain's bodies expire with it; those trimmed off it after the grace, and are still there for the
    # segments a cached latest document offers.
    kept = [rds.pttl(body_key(page_key, v)) for v in latest.versions]
    trimmed = [rds.pttl(body_key(page_key, v)) for v in seen[:-keep]]
    assert [grace_ms < ms <= ttl_ms for ms in kept] == [True] * keep
    assert [0 < ms <= grace_ms for ms in trimmed] == [True] * (len(seen) - keep)


def test_a_segment_applied_to_the_older_page_is_the_newer_page(
    db: firestore.Client, backends: Backends
) -> None:
    """Property-style: random games (new players, better scores, players pushed off a page) between
    publishes; every step, for pages 1 and 2, old full page + segment == new full page."""
    rng = random.Random(20)
    players = [f"p{i:03d}" for i in range(260)]
    play(
        db,
        backends,
        NOW,
        [(f"seed{i}", uid, rng.randrange(1, 500), T0, None) for i, uid in enumerate(players[:150])],
    )

    async def flow(p: Parts) -> list[tuple[int, int]]:
        live = live_of(p, interval_s=0.005)
        held = {}
        for page in (1, 2):
            latest = await live.latest(DAILY, page)
            held[page] = (latest.version, await full(live, DAILY, page, latest.version))
        steps = []
        for round_ in range(8):
            for n in range(rng.randrange(1, 15)):
                uid = rng.choice(players)
                await p.lb.sink.submit(uid, f"r{round_}-{n}", rng.randrange(1, 900), None, T0)
            for page in (1, 2):
                version, page_body = held[page]
                latest = await next_version(live, DAILY, page, version)
                assert latest.versions[-2:] == [version, latest.version]
                segment = await live.segment(DAILY, page, version, latest.version)
                newer = await full(live, DAILY, page, latest.version)
                assert apply(page_body, segment) == newer
                held[page] = (latest.version, newer)
                steps.append((len(segment["entries"]), len(segment["removed"])))
        return steps

    steps = run(backends, NOW, flow)
    assert len(steps) == 16
    assert sum(changed for changed, _ in steps) > 0
    assert sum(removed for _, removed in steps) > 0  # players were pushed off a page


def test_live_versions_differ_across_a_flush_and_rebuild_whose_board_version_repeats(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    """A board version can repeat after a Redis loss: here the rebuild's clock is the first submit's (a
    clock behind another origin's does the same), so the rebuilt board has the old version and other
    content. The live version is the publish time, so the URL of the first publish never names it."""
    play(db, backends, NOW, [("g1", "alice", 40, T0, None)])

    async def publish(p: Parts) -> tuple[Latest, dict[str, Any], int]:
        live = live_of(p, interval_s=30)
        latest = await live.latest(DAILY, 1)
        return latest, await full(live, DAILY, 1, latest.version), int(rds.get(version_key(DAILY.board)))

    first, first_page, board_version = run(backends, NOW, publish)
    rds.flushall()  # a failover to an empty replica
    store_game(db, "g2", "bob", 30, T0)  # in Firestore, the boards' truth; its submit was lost

    async def rebuild(p: Parts) -> Any:
        return await p.lb.jobs.rebuild([Period.daily])

    assert run(backends, NOW, rebuild) is not None
    assert rds.exists(ALIVE_KEY)
    assert int(rds.get(version_key(DAILY.board))) == board_version  # the same board version...

    second, second_page, _ = run(backends, NOW, publish)
    assert [e["uid"] for e in first_page["entries"]] == ["alice"]
    assert [e["uid"] for e in second_page["entries"]] == ["alice", "bob"]  # ...with other content
    assert second.version > first.version
    assert second.versions == [second.version]

    async def old_url(p: Parts) -> None:
        with pytest.raises(ServiceError) as gone:
            await live_of(p, interval_s=30).full(DAILY, 1, first.version)
        assert gone.value.code == "version_not_published"

    run(backends, NOW, old_url)


def test_a_lost_chain_never_reuses_a_stored_version(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    """The chain gone but a body still stored (evicted alone), and a publish clock that has not moved: the
    next version is raised past the stored one, which keeps its body."""
    play(db, backends, NOW, [("g1", "alice", 40, T0, None)])
    frozen_us = 1_700_000_000_000_000

    async def flow(p: Parts) -> tuple[Latest, Latest, dict[str, Any], dict[str, Any]]:
        live = live_of(p, interval_s=0.005, now_us=lambda: frozen_us)
        first = await live.latest(DAILY, 1)
        rds.delete(chain_key(DAILY.cache_key(1)))
        await p.lb.sink.submit("bob", "g2", 30, None, T0)
        second = await next_version(live, DAILY, 1, first.version)
        return (
            first,
            second,
            await full(live, DAILY, 1, first.version),
            await full(live, DAILY, 1, second.version),
        )

    first, second, first_page, second_page = run(backends, NOW, flow)
    assert (first.version, second.version) == (frozen_us, frozen_us + 1)
    assert second.versions == [second.version]
    assert [e["uid"] for e in first_page["entries"]] == ["alice"]
    assert [e["uid"] for e in second_page["entries"]] == ["alice", "bob"]


def test_a_chain_lost_while_its_gate_is_held_is_published_again_at_once(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    """The chain evicted right after a publish, its gate held for the rest of a 30 s interval: the next
    request takes the turn over and publishes, rather than every request waiting and answering 503."""
    play(db, backends, NOW, [("g1", "alice", 40, T0, None)])
    page_key = DAILY.cache_key(1)

    async def flow(p: Parts) -> tuple[Latest, int, Latest]:
        live = live_of(p, interval_s=30)
        first = await live.latest(DAILY, 1)
        rds.delete(chain_key(page_key))
        gate_left_ms = int(rds.pttl(gate_key(page_key)))
        return first, gate_left_ms, await live.latest(DAILY, 1)

    first, gate_left_ms, again = run(backends, NOW, flow)
    assert gate_left_ms > 20_000
    assert again.version > first.version
    assert again.versions == [again.version]


def test_an_origin_that_dies_before_its_first_publish_is_taken_over_after_the_hold(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    """A page never published, its turn taken by an origin that never publishes: another request waits,
    takes the turn once the first-publish hold ends (not the 30 s interval), and publishes."""
    play(db, backends, NOW, [("g1", "alice", 40, T0, None)])
    page_key = DAILY.cache_key(1)

    async def flow(p: Parts) -> tuple[bool, int, float, Latest]:
        taken, _ = await LiveChains(p.lb.sink.boards).open_gate(
            page_key, 30_000, int(FIRST_PUBLISH_HOLD_S * 1000)
        )
        held_ms = int(rds.pttl(gate_key(page_key)))
        started = time.monotonic()
        latest = await live_of(p, interval_s=30).latest(DAILY, 1)
        return taken, held_ms, time.monotonic() - started, latest

    taken, held_ms, waited_s, latest = run(backends, NOW, flow)
    assert taken
    assert 0 < held_ms <= FIRST_PUBLISH_HOLD_S * 1000
    assert waited_s < FIRST_PUBLISH_WAIT_S  # it did not give up: it published
    assert latest.versions == [latest.version]
    assert rds.pttl(gate_key(page_key)) > FIRST_PUBLISH_HOLD_S * 1000  # the published page's full interval


def test_a_turn_held_past_the_wait_answers_503_and_publishes_nothing(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    """A page with no chain whose turn stays held (here renewed to the hold every 10 ms, so never stale):
    the request gives up after the wait with the retryable 503, and no version appears."""
    play(db, backends, NOW, [("g1", "alice", 40, T0, None)])
    page_key = DAILY.cache_key(1)

    async def flow(p: Parts) -> str:
        def hold() -> None:
            rds.set(gate_key(page_key), b"1", px=int(FIRST_PUBLISH_HOLD_S * 1000))

        async def keep_holding() -> None:
            while True:
                await asyncio.sleep(0.01)  # the holder's renewal period: it is what this test simulates
                hold()

        hold()
        holder = asyncio.create_task(keep_holding())
        try:
            with pytest.raises(ServiceError) as failed:
                await live_of(p, interval_s=30).latest(DAILY, 1)
            return failed.value.code
        finally:
            holder.cancel()

    assert run(backends, NOW, flow) == "leaderboard_unavailable"
    assert not rds.exists(chain_key(page_key))
