"""Boards on the real redis-server and Firestore emulator: submit, reads, rebuild, archive, rewards."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis
from google.cloud import firestore

from app.domain.games import Ranks
from app.domain.leaderboards import PERIODS, BoardRules, Period, Scope, decode, max_score, period_id
from app.domain.standings import ScoredGame, fold_games
from app.repositories.leaderboard_keys import ALIVE_KEY, board_key
from app.services.errors import Failure, ServiceError
from app.services.leaderboard_views import View
from app.services.leaderboards_jobs import REWARD_TIERS, LeaderboardJobs, Tier, source_id
from tests.app.conftest import Backends
from tests.app.fixtures.leaderboards import Clock, Parts, RecordingGranter, run, store_game, store_user

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def boards_content(rds: redis.Redis) -> dict[str, list[tuple[bytes, float]]]:
    keys = sorted(k for k in rds.keys("{lb}:*") if rds.type(k) == b"zset")
    return {k.decode(): rds.zrange(k, 0, -1, withscores=True) for k in keys}


def play(
    db: firestore.Client,
    backends: Backends,
    clock: Clock,
    games: list[tuple[str, str, int, datetime, str | None]],
    **settings: Any,
) -> list[Ranks]:
    """Store each finished game in /games and submit it, as the finish path does."""
    for game_id, uid, score, at, country in games:
        store_game(db, game_id, uid, score, at, country)

    async def submit(p: Parts) -> list[Ranks]:
        await p.lb.jobs._boards.mark_alive(clock())  # a fresh Redis that nobody lost
        return [
            await p.lb.sink.submit(uid, gid, score, country, at) for gid, uid, score, at, country in games
        ]

    return run(backends, clock, submit, **settings)


def test_submit_updates_every_board_once_and_is_idempotent(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    clock = Clock(T0)
    ranks = play(db, backends, clock, [("g1", "alice", 60, T0, "IE"), ("g1", "alice", 60, T0, "IE")])
    assert ranks == [Ranks(daily=1, weekly=1, monthly=1, all_time=1)] * 2
    content = boards_content(rds)
    assert sorted(content) == sorted(
        board_key(p, pid, name)
        for p, pid in (
            ("daily", "2026-11-26"),
            ("weekly", "2026-W48"),
            ("monthly", "2026-11"),
            ("all_time", "all"),
        )
        for name in ("global", "country:IE")
    )
    assert all(len(members) == 1 for members in content.values())
    assert decode(Period.daily, rds.zscore(board_key("daily", "2026-11-26"), "alice"))[0] == 60
    version = int(rds.get("{lb}:daily:2026-11-26:v"))
    play(db, backends, clock, [("g1", "alice", 60, T0, "IE")])  # a replayed finish: nothing moves
    assert int(rds.get("{lb}:daily:2026-11-26:v")) == version
    assert rds.ttl(board_key("all_time", "all")) == -1
    assert 0 < rds.ttl(board_key("daily", "2026-11-26")) <= 2 * 86400


def test_incr_boards_add_each_game_once(db: firestore.Client, rds: redis.Redis, backends: Backends) -> None:
    clock = Clock(T0)
    games = [
        ("g1", "a", 10, T0, None),
        ("g2", "a", 15, T0 + timedelta(minutes=5), None),
        ("g2", "a", 15, T0 + timedelta(minutes=5), None),
    ]
    for gid, uid, score, at, country in games:
        store_game(db, gid, uid, score, at, country)

    async def submit(p: Parts) -> None:
        for gid, uid, score, at, country in games:
            await p.lb.sink.submit(uid, gid, score, country, at)

    run(backends, clock, submit, leaderboard_rules="daily:global=incr")
    assert decode(Period.daily, rds.zscore(board_key("daily", "2026-11-26"), "a"))[0] == 25
    assert decode(Period.weekly, rds.zscore(board_key("weekly", "2026-W48"), "a"))[0] == 15  # best


Game = tuple[str, str, int, datetime, str | None]  # game id, uid, score, finished at, country


def _expected_boards(games: list[Game], rules: BoardRules) -> dict[str, dict[bytes, float]]:
    """Every board as the rebuild computes it from the same games (fold_games), keyed like Redis."""
    scored = [ScoredGame(gid, uid, score, country, at) for gid, uid, score, at, country in games]
    boards: dict[str, dict[bytes, float]] = {}
    for period in PERIODS:
        by_pid: dict[str, list[ScoredGame]] = {}
        for game in scored:
            by_pid.setdefault(period_id(period, game.finished_at), []).append(game)
        for pid, in_period in by_pid.items():
            for name, entries in fold_games(rules, period, in_period).items():
                key = board_key(period.value, pid, name)
                boards[key] = {uid.encode(): float(value) for uid, value in entries.items()}
    return boards


@pytest.mark.parametrize(("seed", "rules"), [(1, ""), (2, ""), (3, "daily:global=incr,weekly:country=incr")])
def test_submits_in_any_order_leave_the_boards_the_rebuild_computes(
    db: firestore.Client, rds: redis.Redis, backends: Backends, seed: int, rules: str
) -> None:
    """The script skips a longer period's ZADD when the game did not raise a shorter one inside it: games
    over two weeks that straddle a month's end, submitted out of order, must still leave every board exactly
    as fold_games computes it. Scores above the all-time cap (where the periods order games differently:
    all-time caps both, so only the time decides) must not be skipped. On an ``incr`` board the total's
    time is its latest game's, whatever order the games arrive in (a finish replayed after an outage)."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 27, tzinfo=UTC)  # Friday; week 49 starts on Monday 30 November
    games = [
        (
            f"g{n}",
            f"p{rng.randrange(6)}",
            rng.choice([rng.randrange(1000), max_score(Period.all_time) + rng.randrange(1, 5) * 1000]),
            start + timedelta(hours=rng.randrange(10 * 24), seconds=rng.randrange(3600)),
            rng.choice(["IE", "FR", None]),
        )
        for n in range(120)
    ]
    rng.shuffle(games)
    play(db, backends, Clock(start + timedelta(days=11)), games, leaderboard_rules=rules)
    stored = {k: dict(v) for k, v in boards_content(rds).items()}
    assert stored == _expected_boards(games, BoardRules.parse(rules))


def test_ties_rank_the_earlier_achievement_first(db: firestore.Client, backends: Backends) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    for uid in ("early", "late", "top"):
        store_user(db, uid, uid.title())
    play(
        db,
        backends,
        clock,
        [
            ("g1", "late", 50, T0 + timedelta(minutes=9), None),
            ("g2", "early", 50, T0, None),
            ("g3", "top", 51, T0 + timedelta(minutes=30), None),
        ],
    )

    async def page(p: Parts) -> Any:
        return orjson.loads(await p.lb.service.page(View(Period.daily, Scope.global_, "2026-11-26"), 1))

    body = run(backends, clock, page)
    assert [(e["rank"], e["uid"], e["score"], e["display_name"]) for e in body["entries"]] == [
        (1, "top", 51, "Top"),
        (2, "early", 50, "Early"),
        (3, "late", 50, "Late"),
    ]


def test_a_new_period_starts_empty_and_the_old_one_stays_readable(
    db: firestore.Client, backends: Backends
) -> None:
    clock = Clock(T0)
    play(db, backends, clock, [("g1", "alice", 60, T0, None)])

    async def read(p: Parts) -> tuple[Any, Any]:
        svc = p.lb.service
        today = orjson.loads(await svc.page(await svc.view(Period.daily, Scope.global_, None, None, None), 1))
        clock.now = T0 + timedelta(days=1)  # the next UTC day
        tomorrow = orjson.loads(
            await svc.page(await svc.view(Period.daily, Scope.global_, None, None, None), 1)
        )
        return today, tomorrow

    today, tomorrow = run(backends, clock, read)
    assert (today["period_id"], today["total"]) == ("2026-11-26", 1)
    assert today["next_reset_at"] == "2026-11-27T00:00:00+00:00"
    assert (tomorrow["period_id"], tomorrow["total"], tomorrow["entries"]) == ("2026-11-27", 0, [])


def test_pages_at_the_edges(db: firestore.Client, backends: Backends) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    play(db, backends, clock, [(f"g{i}", f"p{i:03d}", 1000 - i, T0, None) for i in range(205)])

    async def pages(p: Parts) -> list[Any]:
        view = View(Period.daily, Scope.global_, "2026-11-26")
        return [orjson.loads(await p.lb.service.page(view, n)) for n in (1, 2, 3, 4, 50)]

    one, two, three, four, far = run(backends, clock, pages)
    assert [len(x["entries"]) for x in (one, two, three, four, far)] == [100, 100, 5, 0, 0]
    assert {x["total"] for x in (one, two, three, four, far)} == {205}
    assert (one["entries"][-1]["rank"], two["entries"][0]["rank"]) == (100, 101)
    assert (two["entries"][0]["uid"], three["entries"][-1]["uid"]) == ("p100", "p204")


def test_around_me_is_right_at_page_and_board_edges(db: firestore.Client, backends: Backends) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    play(db, backends, clock, [(f"g{i}", f"p{i:03d}", 1000 - i, T0, None) for i in range(150)])

    async def around(p: Parts) -> list[Any]:
        view = View(Period.daily, Scope.global_, "2026-11-26")
        return [
            await p.lb.service.around_me(view, uid, 2) for uid in ("p000", "p099", "p100", "p149", "nobody")
        ]

    first, page_end, page_start, last, absent = run(backends, clock, around)
    assert (first["rank"], [e["rank"] for e in first["neighbours"]]) == (1, [1, 2, 3, 4, 5])
    assert (page_end["rank"], [e["uid"] for e in page_end["neighbours"]]) == (
        100,
        ["p097", "p098", "p099", "p100", "p101"],
    )
    assert [e["rank"] for e in page_start["neighbours"]] == [99, 100, 101, 102, 103]
    assert (last["rank"], [e["rank"] for e in last["neighbours"]]) == (150, [146, 147, 148, 149, 150])
    assert (absent["rank"], absent["score"], absent["neighbours"], absent["total"]) == (None, None, [], 150)


def test_friends_board_of_600_friends_without_scanning(db: firestore.Client, backends: Backends) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    friends = [f"f{i:03d}" for i in range(600)]
    store_user(db, "me", "Me", friends=friends)
    games = [(f"g{i}", uid, i, T0, None) for i, uid in enumerate(friends) if i % 2 == 0]  # 300 friends played
    games += [(f"s{i}", f"stranger{i}", 5000 + i, T0, None) for i in range(50)]
    games.append(("mine", "me", 301, T0))  # type: ignore[arg-type]
    games[-1] = ("mine", "me", 301, T0, None)
    play(db, backends, clock, games)

    async def read(p: Parts) -> tuple[Any, Any, Any]:
        view = await p.lb.service.view(Period.daily, Scope.friends, "me", None, None)
        first = orjson.loads(await p.lb.service.page(view, 1))
        second = orjson.loads(await p.lb.service.page(view, 4))
        return first, second, await p.lb.service.around_me(view, "me", 1)

    first, fourth, me = run(backends, clock, read)
    assert first["total"] == 301  # 300 friends with a score, and me; no strangers
    assert [e["uid"] for e in first["entries"][:3]] == ["f598", "f596", "f594"]
    assert not any(e["uid"].startswith("stranger") for e in first["entries"] + fourth["entries"])
    assert [e["rank"] for e in fourth["entries"]] == [301]
    assert me["rank"] == 150  # friends 302..598 (149 of them) are above me
    assert [e["uid"] for e in me["neighbours"]] == ["f302", "me", "f300"]


def test_flushed_boards_are_rebuilt_identical_from_firestore(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    clock = Clock(T0 + timedelta(hours=2))
    games = [
        (
            f"g{i}",
            f"p{i % 40}",
            (i * 37) % 500,
            T0 - timedelta(days=i % 9, minutes=i),
            ["IE", "FR", None][i % 3],
        )
        for i in range(200)
    ]
    play(db, backends, clock, games)
    before = boards_content(rds)
    rds.flushall()
    assert not rds.exists(ALIVE_KEY)

    async def rebuild(p: Parts) -> Any:
        return await p.lb.jobs.rebuild()

    report = run(backends, clock, rebuild)
    assert report is not None
    # The current periods and the previous ones (not archived yet); older boards expire after their period.
    assert sorted(report) == [
        "all_time:all", "daily:2026-11-25", "daily:2026-11-26", "monthly:2026-10", "monthly:2026-11",
        "weekly:2026-W47", "weekly:2026-W48",
    ]  # fmt: skip
    rebuilt = tuple(f"{{lb}}:{name.replace(':', ':', 1)}:" for name in report)
    expected = {k: v for k, v in before.items() if k.startswith(rebuilt)}
    assert len(expected) >= 10
    assert boards_content(rds) == expected
    assert rds.exists(ALIVE_KEY)


def test_a_lost_board_is_detected_and_rebuilt_automatically(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    play(db, backends, clock, [("g1", "alice", 40, T0, None), ("g2", "bob", 30, T0, None)])
    before = boards_content(rds)
    rds.flushall()  # e.g. a failover to an empty replica
    store_game(db, "g3", "carol", 10, T0 + timedelta(minutes=1))

    async def submit_then_wait(p: Parts) -> None:
        await p.lb.sink.submit("carol", "g3", 10, None, T0 + timedelta(minutes=1))
        task = p.lb.rebuild.task
        assert task is not None  # the submit script reported the boards lost
        await task

    run(backends, clock, submit_then_wait)
    after = boards_content(rds)
    daily = board_key("daily", "2026-11-26")
    assert [m for m, _ in after[daily]] == [b"carol", b"bob", b"alice"]
    assert {k: v for k, v in after.items() if k in before and k != daily}.keys() <= before.keys()
    assert rds.exists(ALIVE_KEY)


def test_changes_since_a_version(db: firestore.Client, backends: Backends) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    play(
        db, backends, clock, [("g1", "a", 30, T0, None), ("g2", "b", 20, T0, None), ("g3", "c", 10, T0, None)]
    )

    async def flow(p: Parts) -> tuple[Any, Any, Any]:
        svc = p.lb.service
        view = View(Period.daily, Scope.global_, "2026-11-26")
        first = orjson.loads(await svc.page(view, 1))
        await p.lb.sink.submit("c", "g4", 25, None, T0 + timedelta(minutes=1))
        delta = await svc.changes(view, 1, first["version"])
        stale = await svc.changes(view, 1, 1)  # a version nobody rendered: the whole page
        with pytest.raises(ServiceError) as future:
            await svc.changes(view, 1, delta["version"] + 1)
        assert future.value.failure is Failure.INVALID
        return first, delta, stale

    first, delta, stale = run(backends, clock, flow)
    assert delta["full"] is False
    assert [(e["rank"], e["uid"], e["score"]) for e in delta["entries"]] == [(2, "c", 25), (3, "b", 20)]
    assert delta["removed"] == []
    assert delta["version"] > first["version"]
    assert stale["full"] is True
    assert len(stale["entries"]) == 3


def test_hot_pages_are_served_from_the_render_cache(
    db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    play(db, backends, clock, [("g1", "a", 30, T0, None)])

    async def flow(p: Parts) -> tuple[Any, Any, Any]:
        view = View(Period.daily, Scope.global_, "2026-11-26")
        first = await p.lb.service.page(view, 1)
        await p.lb.sink.submit("b", "g2", 40, None, T0)  # the board moves on
        cached = await p.lb.service.page(view, 1)  # within the TTL: the render (and the process copy)
        p.lb.service._local.clear()
        packed = rds.get(view.cache_key(1))
        version, _, body = packed.split(b"|", 2)
        rds.set(view.cache_key(1), version + b"|0|" + body)  # rendered long ago, version behind: stale
        fresh = await p.lb.service.page(view, 1)
        return first, cached, fresh

    first, cached, fresh = run(backends, clock, flow)
    assert cached == first
    assert [e["uid"] for e in orjson.loads(fresh)["entries"]] == ["b", "a"]


@pytest.mark.parametrize("crash_after", [4, 12], ids=["in-global", "in-country"])
def test_archive_and_rewards_exactly_once_even_after_a_crash(
    db: firestore.Client, rds: redis.Redis, backends: Backends, crash_after: int
) -> None:
    """The job crashes after a grant committed and before its marker: on the global board, or half-way
    through the IE board (10 global grants, then 2 of IE's 3)."""
    yesterday = T0 - timedelta(days=1)
    clock = Clock(T0)
    play(
        db,
        backends,
        clock,
        [(f"g{i}", f"p{i:02d}", 100 + i, yesterday, "IE" if i % 2 else None) for i in range(15)],
    )
    crashing = RecordingGranter(fail_after=crash_after)

    async def first_run(p: Parts) -> None:
        with pytest.raises(RuntimeError):
            await p.lb.jobs.reset(crashing)

    run(backends, clock, first_run)
    assert len(crashing.granted) == crash_after

    async def again(p: Parts) -> tuple[Any, Any]:
        one = await p.lb.jobs.reset(crashing)
        two = await p.lb.jobs.reset(crashing)
        return one, two

    one, two = run(backends, clock, again)
    top = max(t.last for t in REWARD_TIERS[(Period.daily, "global")])
    top_ie = max(t.last for t in REWARD_TIERS[(Period.daily, "country")])
    expected = {source_id(Period.daily, "2026-11-25", "global", f"p{14 - r:02d}") for r in range(top)}
    # The IE board (p01, p03 ... p13) pays its own top ranks; nobody played for another country.
    ie = [f"p{13 - 2 * r:02d}" for r in range(top_ie)]
    expected |= {source_id(Period.daily, "2026-11-25", "country:IE", uid) for uid in ie}
    assert {k for k in crashing.granted if k.startswith("lb:daily:")} == expected
    assert crashing.granted[source_id(Period.daily, "2026-11-25", "global", "p14")].coins == 500
    assert crashing.granted[source_id(Period.daily, "2026-11-25", "country:IE", "p13")].coins == 100
    assert two["daily:2026-11-25"] == {"archived_now": False, "rewards": {}}
    markers = list(db.collection("leaderboards").document("daily-2026-11-25").collection("rewards").stream())
    assert len(markers) == top + top_ie
    # the archive stays readable after the boards expire or are lost
    rds.flushall()

    async def archived(p: Parts) -> Any:
        return orjson.loads(
            await p.lb.service.archived_page(Period.daily, Scope.country, "2026-11-25", "IE", 1)
        )

    body = run(backends, clock, archived)
    assert body["archived"] is True
    assert [e["uid"] for e in body["entries"]] == [f"p{i:02d}" for i in (13, 11, 9, 7, 5, 3, 1)]
    assert one is not None


def test_the_reward_config_decides_which_boards_pay(db: firestore.Client, backends: Backends) -> None:
    """Country boards pay only when the config names them; the config's own tiers, per board."""
    yesterday = T0 - timedelta(days=1)
    clock = Clock(T0)
    games = [(f"g{i}", f"p{i}", 100 + i, yesterday, ["IE", "FR"][i % 2]) for i in range(6)]
    play(db, backends, clock, games)
    config = {(Period.daily, "country"): (Tier(1, 1, 70),)}  # no global board, no other period
    granter = RecordingGranter()

    async def reset(p: Parts) -> Any:
        jobs = LeaderboardJobs(p.lb.sink.boards, p.lb.archive, BoardRules(), clock, rewards=config)
        return await jobs.reset(granter)

    report = run(backends, clock, reset)
    assert report["daily:2026-11-25"]["rewards"] == {"granted": 2}
    assert {sid: g.coins for sid, g in granter.granted.items()} == {
        source_id(Period.daily, "2026-11-25", "country:FR", "p5"): 70,
        source_id(Period.daily, "2026-11-25", "country:IE", "p4"): 70,
    }
