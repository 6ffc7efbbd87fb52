from __future__ import annotations

import itertools

import pytest

from infra.phases import ENVIRONMENTS, PHASES, RedisTopology, profile_for


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
        (2, 100),
        (2, 200),
    ]
    assert (profile_for("dev", 1).run.min_instances, profile_for("dev", 1).run.max_instances) == (0, 5)
    assert [profile_for("prod", p).redis.topology for p in PHASES] == [
        RedisTopology.REPLICATED,
        RedisTopology.CLUSTERED,
        RedisTopology.ACTIVE_ACTIVE,
    ]


def test_failover_needs_a_warm_instance_in_every_region() -> None:
    for environment in ENVIRONMENTS:
        assert profile_for(environment, 3).run.min_instances >= 1


def test_features_only_grow_with_the_phase() -> None:
    for environment in ENVIRONMENTS:
        profiles = [profile_for(environment, p) for p in PHASES]
        for earlier, later in itertools.pairwise(profiles):
            assert set(earlier.alert_sets) <= set(later.alert_sets)
            assert earlier.run.max_instances <= later.run.max_instances
            assert earlier.api_region_count <= later.api_region_count
            assert earlier.game_sessions_database <= later.game_sessions_database
