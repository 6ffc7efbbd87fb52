from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.phases import (
    ENVIRONMENTS,
    PHASES,
    Environment,
    PhaseError,
    RedisTopology,
    parse_phase,
    profile_for,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("phase", PHASES)
def test_every_environment_and_phase_has_a_profile(environment: str, phase: int) -> None:
    profile = profile_for(environment, phase)  # type: ignore[arg-type]

    assert profile.run.min_instances <= profile.run.max_instances
    assert profile.api_region_count == (3 if phase == 3 else 1)


@pytest.mark.parametrize(("environment", "phase"), [("staging", 1), ("dev", 4), ("prod", 0)])
def test_unknown_environment_or_phase_is_refused(environment: str, phase: int) -> None:
    with pytest.raises(ValueError, match="no phase profile"):
        profile_for(environment, phase)  # type: ignore[arg-type]


def test_pinned_capacity_per_phase() -> None:
    assert [
        (profile_for("prod", p).run.min_instances, profile_for("prod", p).run.max_instances) for p in PHASES
    ] == [
        (1, 20),
        (2, 60),
        (2, 120),
    ]
    assert (profile_for("dev", 1).run.min_instances, profile_for("dev", 1).run.max_instances) == (0, 5)
    assert [profile_for("prod", p).redis.topology for p in PHASES] == [
        RedisTopology.REPLICATED,
        RedisTopology.CLUSTERED,
        RedisTopology.ACTIVE_ACTIVE,
    ]


def test_failover_needs_a_warm_instance_in_every_region() -> None:
    assert ENVIRONMENTS == ("dev", "prod")
    for environment in ENVIRONMENTS:
        assert profile_for(environment, 3).run.min_instances >= 1


def test_features_only_grow_with_the_phase() -> None:
    assert (ENVIRONMENTS, PHASES) == (("dev", "prod"), (1, 2, 3))
    for environment in ENVIRONMENTS:
        profiles = [profile_for(environment, p) for p in PHASES]
        for earlier, later in itertools.pairwise(profiles):
            assert set(earlier.alert_sets) <= set(later.alert_sets)
            assert earlier.run.max_instances <= later.run.max_instances
            assert earlier.api_region_count <= later.api_region_count
            assert earlier.game_sessions_database <= later.game_sessions_database


@pytest.mark.parametrize(("given", "phase"), [(1, 1), ("2", 2), (" 3 ", 3)])
def test_parse_phase_accepts_a_number_or_its_text(given: int | str, phase: int) -> None:
    assert parse_phase(given) == phase


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (4, "must be 1, 2 or 3; got 4"),
        (0, "must be 1, 2 or 3; got 0"),
        ("4", "must be 1, 2 or 3; got '4'"),
        ("two", "must be 1, 2 or 3; got 'two'"),
        ("-1", "must be 1, 2 or 3; got '-1'"),
        ("", "must be 1, 2 or 3; got nothing"),
        (None, "must be 1, 2 or 3; got nothing"),
    ],
)
def test_parse_phase_refuses_anything_else_with_one_message(given: int | str | None, message: str) -> None:
    with pytest.raises(PhaseError) as raised:
        parse_phase(given)

    assert str(raised.value) == message


# --- the phase table as a whole ------------------------------------------------------------------------

#: (environment, phase) -> (min, max instances, cpu, memory, Redis topology, Redis GB, API regions).
TABLE: dict[tuple[Environment, int], tuple[int, int, str, str, RedisTopology, float, int]] = {
    ("dev", 1): (0, 5, "1", "512Mi", RedisTopology.REPLICATED, 1, 1),
    ("prod", 1): (1, 20, "1", "512Mi", RedisTopology.REPLICATED, 2, 1),
    ("dev", 2): (0, 10, "2", "1Gi", RedisTopology.CLUSTERED, 2, 1),
    ("prod", 2): (2, 60, "2", "1Gi", RedisTopology.CLUSTERED, 10, 1),
    ("dev", 3): (1, 10, "2", "1Gi", RedisTopology.ACTIVE_ACTIVE, 1, 3),
    ("prod", 3): (2, 120, "2", "1Gi", RedisTopology.ACTIVE_ACTIVE, 25, 3),
}


def test_the_table_is_pinned() -> None:
    """Each figure a plan reads from the table: a change here is a change to every stack at that phase."""
    assert set(TABLE) == set(itertools.product(ENVIRONMENTS, PHASES))
    for (environment, phase), expected in TABLE.items():
        p = profile_for(environment, phase)
        got = (p.run.min_instances, p.run.max_instances, p.run.cpu, p.run.memory)
        assert (*got, p.redis.topology, p.redis.memory_gb, p.api_region_count) == expected, (
            environment,
            phase,
        )


@pytest.mark.parametrize("phase", PHASES)
def test_dev_and_prod_differ_only_in_capacity(phase: int) -> None:
    dev, prod = profile_for("dev", phase), profile_for("prod", phase)
    same = ("api_region_count", "game_sessions_database", "regional_game_databases", "alert_sets")
    assert [getattr(dev, f) for f in same] == [getattr(prod, f) for f in same]
    assert (dev.backups_in_other_region, dev.edge_asset_caching) == (
        prod.backups_in_other_region,
        prod.edge_asset_caching,
    )
    assert dev.redis.topology is prod.redis.topology
    assert dev.run.max_instances <= prod.run.max_instances
    assert dev.run.min_instances <= prod.run.min_instances
    assert dev.redis.memory_gb <= prod.redis.memory_gb
    assert dev.redis.ops_per_second <= prod.redis.ops_per_second
    assert (dev.is_prod, prod.is_prod) == (False, True)
    assert dev.multi_region is prod.multi_region is (phase == 3)


@given(environment=st.text(max_size=8), phase=st.integers(-5, 10))
def test_anything_outside_the_table_is_refused(environment: str, phase: int) -> None:
    if (environment, phase) in TABLE:
        assert profile_for(environment, phase).phase == phase  # type: ignore[arg-type]
    else:
        with pytest.raises(ValueError, match="no phase profile"):
            profile_for(environment, phase)  # type: ignore[arg-type]
