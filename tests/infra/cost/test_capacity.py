"""The capacity arithmetic (infra/cost/capacity.py): the figures it assumes, and prod's phases against it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from redis.asyncio.connection import ConnectionPool

from infra.cost import capacity as cap
from infra.cost.meters.base import vcpus
from infra.cost.usage import PHASE_TOP_USERS, load_usage
from infra.phases import PHASES, RedisTopology, profile_for

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def _run(phase: int) -> cap.RunSizing:
    run = profile_for("prod", phase).run
    return cap.RunSizing(run.max_instances, run.concurrency, vcpus(run.cpu))


def test_the_phase_tops_are_the_architectures_user_counts() -> None:
    assert PHASE_TOP_USERS == {1: 100_000, 2: 1_000_000, 3: 10_000_000}
    assert set(PHASE_TOP_USERS.values()) <= set(load_usage().architecture_monthly_usd)


def test_redis_memory_counts_boards_at_the_measured_bytes_per_entry_and_the_caches() -> None:
    load = load_usage().at(10_000_000)
    memory = cap.redis_memory(load)

    assert memory.boards == pytest.approx(10_000_000 * 12 * 117.7)
    assert memory.profiles == pytest.approx(load.daily_active * (2048 + cap.CACHE_ENTRY_OVERHEAD_BYTES))
    assert 0 < memory.rate_limits < memory.profiles < memory.boards
    assert memory.total == memory.boards + memory.profiles + memory.rate_limits  # presence left Redis
    assert cap.redis_gb_for(load) == 25


@pytest.mark.parametrize("phase", PHASES)
def test_prod_holds_the_top_of_its_phase(phase: int) -> None:
    """Failed before issue 19: prod phase 3 declared 10 GB of Redis for 18.5 GB of boards and caches, and
    its 200 instances per region (phase 2: 100 on the cluster) could open 16,000 Redis connections."""
    profile = profile_for("prod", phase)
    load = load_usage().at(PHASE_TOP_USERS[phase])
    run, regions = _run(phase), profile.api_region_count
    clustered = profile.redis.topology is RedisTopology.CLUSTERED

    assert cap.api_throughput(load, run, regions).holds
    assert cap.api_slots(load, run, regions).holds
    assert cap.live_slots(load, run, regions).holds
    # Phase 1 has no tiered caching at the edge (infra/phases.py edge_asset_caching).
    assert cap.live_throughput(load, run, regions, tiered=profile.edge_asset_caching).holds
    assert cap.realtime_connections(load, phase, profile.realtime_shards).holds
    assert cap.realtime_writes(load, phase, profile.realtime_shards).holds
    assert cap.realtime_shards_for(load, phase) == profile.realtime_shards, "the shards are not oversized"
    assert cap.redis_memory_verdict(load, profile.redis.memory_gb).holds
    assert cap.redis_connections(run, clustered) <= cap.REDIS_CONNECTIONS_PER_ENDPOINT
    assert max(cap.firestore_writes(load, 3 if phase == 3 else 0, regions).values()) < (
        cap.FIRESTORE_WRITES_PER_DATABASE * cap.FIRESTORE_HEADROOM
    )


def test_the_sizing_before_issue_19_fails_where_the_note_says() -> None:
    load = load_usage().at(10_000_000)
    before = cap.RunSizing(max_instances=200, concurrency=80, vcpus=2)

    assert not cap.redis_memory_verdict(load, 10).holds
    assert cap.redis_connections(before, clustered=False) == 16_000
    assert cap.redis_connections(cap.RunSizing(100, 80, 2), clustered=True) == 16_000


def test_a_region_lost_moves_its_load_to_the_others() -> None:
    assert [cap.serving_regions(n) for n in (1, 2, 3)] == [1, 1, 2]
    load = load_usage().at(10_000_000)

    assert cap.peak_requests_per_region(load, 3) == pytest.approx(load.peak_requests_per_second / 2)


def test_the_firestore_ramp_takes_minutes_past_500_writes_per_second() -> None:
    assert cap.firestore_ramp_minutes(400) == 0
    assert cap.firestore_ramp_minutes(750) == pytest.approx(5)
    assert cap.firestore_ramp_minutes(500 * 1.5**4) == pytest.approx(20)


def test_an_instance_uses_one_vcpu_per_uvicorn_worker() -> None:
    """The image runs one uvicorn process: a second vCPU adds no measured throughput."""
    command = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))

    assert "uvicorn" in command
    assert "--workers" not in command
    assert cap.UVICORN_WORKERS == 1
    assert cap.RunSizing(10, 80, 2).effective_vcpus == 1


def test_the_redis_pool_is_redis_pys_default_which_the_app_keeps() -> None:
    assert ConnectionPool().max_connections == cap.REDIS_POOL_PER_CLIENT
    assert "max_connections" not in (ROOT / "app" / "repositories" / "clients.py").read_text()


def test_no_firestore_document_is_a_shared_counter() -> None:
    """Every write the model counts lands in a per-player or per-game document; a counter every player
    increments would be held to Firestore's ~1 write/s per document."""
    sources = [p for p in (ROOT / "app").rglob("*.py") if re.search(r"\bIncrement\(", p.read_text())]

    assert sources == []
    busiest = cap.peak_writes_per_player_document(load_usage().at(10_000_000))
    assert busiest < cap.FIRESTORE_WRITES_PER_DOCUMENT


@pytest.mark.parametrize(("quantity", "cores"), [("1", 1.0), ("2", 2.0), ("500m", 0.5)])
def test_cpu_quantities(quantity: str, cores: float) -> None:
    assert vcpus(quantity) == cores


def test_presence_writes_count_connect_disconnect_and_two_changes_a_game() -> None:
    load = load_usage().at(1_000_000)
    realtime = load.model.realtime
    presence = load.sessions * 2 + load.games * 2

    assert (realtime.presence_writes_per_session, realtime.presence_writes_per_game) == (2, 2)
    assert presence < load.realtime_writes < presence * 1.05  # messages and mirrors are the rest
    assert load.peak_realtime_writes_per_second == pytest.approx(load.realtime_writes / 2_628_000 * 3)


def test_phase_3_holds_the_design_point_of_a_million_players_online() -> None:
    """The model's peak at 10M monthly players is ~123,000 online; issue 20 sizes phase 3 for a million."""
    load = load_usage().at(10_000_000)

    assert load.peak_concurrent_players == pytest.approx(123_288, abs=1)
    assert cap.realtime_online(load, 3) == 1_000_000
    assert cap.realtime_online(load, 2) == load.peak_concurrent_players  # no design point before phase 3
    # Connections alone would need 8 shards; the writes (scaled to a million online) need 20.
    assert cap.realtime_connections(load, 3, 8).holds
    assert not cap.realtime_connections(load, 3, 7).holds
    assert not cap.realtime_writes(load, 3, 19).holds
    assert cap.realtime_shards_for(load, 3) == 20


def test_friends_boards_stream_and_public_boards_go_through_the_edge() -> None:
    load = load_usage().at(1_000_000)

    assert load.peak_friends_board_viewers == pytest.approx(load.peak_live_viewers * 0.25)
    assert load.peak_public_board_viewers + load.peak_friends_board_viewers == pytest.approx(
        load.peak_live_viewers
    )
    assert cap.public_boards(load) == 4 * (1 + 50)


def test_the_edge_asks_per_location_never_more_than_the_viewers() -> None:
    """Per interval each edge location fetches each live page's latest document and new segment once; the
    origin never sees more than the viewers would ask it without a cache (one of each per viewer)."""
    few = load_usage().at(100_000)
    assert cap.edge_origin_requests_per_interval(few, tiered=False) == pytest.approx(
        few.peak_public_board_viewers * 2
    )
    edge = few.model.edge
    per_location = cap.public_boards(few) * edge.live_pages_per_board * edge.requests_per_page_per_interval
    many = dataclasses.replace(few, peak_live_viewers=10_000_000.0)
    assert cap.edge_origin_requests_per_interval(many, tiered=False) == per_location * 330
    assert cap.edge_origin_requests_per_interval(many, tiered=True) == per_location * 60
    assert cap.edge_origin_requests_per_second(many, tiered=True) == per_location * 60 / 30
