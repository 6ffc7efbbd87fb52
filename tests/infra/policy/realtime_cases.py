"""Fixtures of the Realtime Database shards' own rule (rules_gcp.py POG-RTDB-001): ids Firebase accepts."""

from __future__ import annotations

from infra.policy import tokens as t
from infra.policy.model import Resource

from .cases import Case, bad, ok
from .helpers import res


def shard(instance_id: str, kind: str = "USER_DATABASE") -> Resource:
    return res(t.RTDB_INSTANCE, "pog-prod-rtdb-1", instanceId=instance_id, type=kind, region="us-central1")


#: The longest project id a two-digit shard number leaves room for: 22 characters.
LONGEST_PROJECT = "pot-of-gold-production"

REALTIME_CASES: list[Case] = [
    ok("POG-RTDB-001", "shard-of-the-prod-project", shard("pot-of-gold-prod-rtdb-7")),
    ok("POG-RTDB-001", "thirty-characters", shard(f"{LONGEST_PROJECT}-rtdb-19")),
    # Firebase picks the default instance's id itself (<project>-default-rtdb, longer for a long project).
    ok(
        "POG-RTDB-001",
        "the-default-instance-is-firebases-choice",
        shard("pot-of-gold-production-eu-default-rtdb", kind="DEFAULT_DATABASE"),
    ),
    bad(
        "POG-RTDB-001",
        "long-project-id",
        shard("pot-of-gold-production-eu-rtdb-1"),
        expect="instanceId 'pot-of-gold-production-eu-rtdb-1' (32 characters) is not 6-30 characters of"
        " [a-z0-9-]",
    ),
    bad("POG-RTDB-001", "upper-case", shard("Pot-Of-Gold-rtdb-1"), expect="is not 6-30 characters"),
]
