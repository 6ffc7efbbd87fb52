"""The value helpers the rules share: durations, cron, references, paths."""

from __future__ import annotations

import pytest

from infra.policy import tokens as t
from infra.policy.values import (
    UNKNOWN,
    cron_interval,
    cron_problem,
    get,
    iam_grants,
    parse_duration,
    refers_to,
    time_zone_problem,
    values_at,
)

from .helpers import res

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("604800s", 604800.0),
        ("3.5s", 3.5),
        ("0s", 0.0),
        ("7d", None),
        ("604800", None),
        (604800, None),
        ("-1s", None),
    ],
)
def test_parse_duration(text: object, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_cron_problems_and_interval() -> None:
    assert cron_problem("0 3 * * *") is None
    assert cron_problem("*/15 * * * *") is None
    assert "five fields" in (cron_problem("0 0 3 * * *") or "")
    assert "does not parse" in (cron_problem("0 25 * * *") or "")
    assert cron_interval("0 3 * * *") == 86_400
    assert cron_interval("*/15 * * * *") == 900
    assert cron_interval("0 3 * * 0") == 7 * 86_400


def test_time_zones() -> None:
    assert time_zone_problem("Etc/UTC") is None
    assert time_zone_problem("Europe/Paris") is None
    assert time_zone_problem("CEST") is not None


def test_get_and_values_at() -> None:
    props = {"template": {"containers": [{"envs": [{"name": "A"}, {"name": "B"}]}]}, "late": UNKNOWN}

    assert get(props, "template.containers") == props["template"]["containers"]
    assert get(props, "template.missing.deeper", "x") == "x"
    assert get(props, "late.anything") == UNKNOWN
    assert list(values_at(props, "template.containers[].envs[].name")) == [
        ("template.containers[0].envs[0].name", "A"),
        ("template.containers[0].envs[1].name", "B"),
    ]
    assert list(values_at(props, "nothing[].here")) == []


def test_references_match_ids_names_and_paths() -> None:
    neg = res(t.NEG, "pog-dev-api-neg-us-central1", name="pog-dev-api-neg-us-central1")
    secret = res(t.SECRET, "pog-dev-secret-sentry-dsn", secretId="pog-dev-sentry-dsn")

    assert refers_to("pog-dev-api-neg-us-central1-id", neg)  # the offline plan's ids
    assert refers_to("projects/p/regions/us-central1/networkEndpointGroups/pog-dev-api-neg-us-central1", neg)
    assert refers_to("pog-dev-sentry-dsn", secret)
    assert not refers_to("pog-dev-api-neg-us-east4-id", neg)
    assert not refers_to(UNKNOWN, neg)


def test_iam_grants_read_members_bindings_and_policies() -> None:
    assert iam_grants({"role": "r", "member": "user:a"}) == [("r", "user:a")]
    assert iam_grants({"role": "r", "members": ["user:a", "user:b"]}) == [("r", "user:a"), ("r", "user:b")]
    policy = '{"bindings": [{"role": "roles/viewer", "members": ["allUsers"]}]}'
    assert iam_grants({"policyData": policy}) == [("roles/viewer", "allUsers")]
    assert iam_grants({"policyData": "not json"}) == []
