"""Invariants of the whole program, for every stack x phase, under the mock engine."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from infra import config as stack_config
from infra.plan.engine import Plan
from infra.plan.inventory import dumps, to_inventory
from infra.plan.runner import plan_stack
from infra.plan.stackfile import REPO_ROOT
from tests.infra.conftest import plan_for

BUCKET = "gcp:storage/bucket:Bucket"
FIRESTORE = "gcp:firestore/database:Database"
RUN = "gcp:cloudrunv2/service:Service"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
BACKEND = "gcp:compute/backendService:BackendService"


def _walk_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk_strings(v)]
    return [value] if isinstance(value, str) else []


def test_every_resource_has_an_explicit_provider_and_a_component_parent(plan: Plan) -> None:
    prefix = f"pog-{plan.stack}"
    providers = {r.key for r in plan.resources if r.type.startswith("pulumi:providers:")}
    assert {k.split("::")[1] for k in providers} == {
        f"{prefix}-gcp",
        f"{prefix}-cloudflare",
        f"{prefix}-rediscloud",
    }
    components = {r.key for r in plan.resources if r.type.startswith("potgold:")}
    for resource in plan.resources:
        if resource.key in providers or resource.key in components:
            continue
        assert resource.provider in providers, resource.key
        assert resource.parent is not None, f"{resource.key} is not inside a component"


def test_names_are_deterministic_prefixed_and_unique(plan: Plan) -> None:
    prefix = f"pog-{plan.stack}-"
    keys = [r.key for r in plan.resources]
    assert len(keys) == len(set(keys))
    assert [r.name for r in plan.resources if not r.name.startswith(prefix)] == []


def test_no_secret_reaches_a_plain_input(plan: Plan) -> None:
    # Secure config holds "<secure pot-of-gold:KEY>" placeholders: one appearing un-redacted means a
    # secret was passed somewhere the engine would store it in plain text.
    leaked = [(r.key, s) for r in plan.resources for s in _walk_strings(r.inputs) if s.startswith("<secure ")]
    assert leaked == []
    assert not any(s.startswith("<secure ") for s in _walk_strings(plan.outputs))


def test_every_bucket_is_private_and_uniform(plan: Plan) -> None:
    buckets = plan.of_type(BUCKET)
    assert buckets
    for bucket in buckets:
        assert bucket.inputs["uniformBucketLevelAccess"] is True, bucket.name
        assert bucket.inputs["publicAccessPrevention"] == "enforced", bucket.name
        assert bucket.inputs["versioning"] == {"enabled": True}, bucket.name


def test_no_public_principal_is_granted_anything(plan: Plan) -> None:
    public = {"allUsers", "allAuthenticatedUsers"}
    grants = [r for r in plan.resources if "IAMMember" in r.type or "IamMember" in r.type]
    assert grants
    for grant in grants:
        assert grant.inputs.get("member") not in public, grant.key
        assert grant.inputs.get("role") not in {"roles/owner", "roles/editor", "roles/viewer"}, grant.key


def test_firestore_has_pitr_everywhere_and_is_protected_in_prod(plan: Plan) -> None:
    databases = plan.of_type(FIRESTORE)
    assert databases
    for database in databases:
        assert database.inputs["pointInTimeRecoveryEnablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
        assert database.inputs["type"] == "FIRESTORE_NATIVE"
        if plan.stack == "prod":
            assert database.protect, database.name
            assert database.inputs["deleteProtectionState"] == "DELETE_PROTECTION_ENABLED"


def test_prod_protects_what_cannot_be_rebuilt(plan: Plan) -> None:
    if plan.stack != "prod":
        return
    protected_types = {r.type for r in plan.resources if r.protect}
    assert {FIRESTORE, "gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey"} <= protected_types
    for bucket in plan.of_type(BUCKET):
        if "backup" in bucket.name or "export" in bucket.name:
            assert bucket.protect, bucket.name


def test_prod_keeps_warm_instances_and_replicated_redis(plan: Plan) -> None:
    if plan.stack != "prod":
        return
    for service in plan.of_type(RUN):
        assert service.inputs["template"]["scaling"]["minInstanceCount"] >= 1, service.name
    redis = [r for r in plan.resources if r.type.startswith("rediscloud:") and "atabase" in r.type]
    assert redis
    for database in redis:
        assert database.inputs.get("replication", True) is not False, database.name


def test_api_regions_and_failover_path_per_phase(plan: Plan) -> None:
    services = plan.of_type(RUN)
    regions = {s.inputs["location"] for s in services}
    phase = plan.outputs["phase"]
    expected_regions = 3 if phase == 3 else 1
    assert len(regions) == expected_regions
    assert len(plan.of_type(NEG)) == expected_regions
    global_backends = [
        b for b in plan.of_type(BACKEND) if len(b.inputs.get("backends", [])) == expected_regions
    ]
    assert global_backends, "no backend service spans every API region"
    if phase == 3:
        assert all("outlierDetection" in b.inputs for b in global_backends)


def test_outputs_resolve_under_the_mock_engine(plan: Plan) -> None:
    # preview=False: every output is known, so a value computed in an apply is really there.
    assert plan.outputs["apiUrl"].startswith("https://api.")
    assert plan.outputs["apiRegionUrls"]
    assert all(url.startswith("https://") for url in plan.outputs["apiRegionUrls"].values())
    assert plan.outputs["redisEndpoints"] == "[secret]"
    assert plan.outputs["exportBucket"].startswith(f"pog-{plan.stack}-")


def test_inventory_is_byte_identical_across_runs() -> None:
    first, phase = plan_stack("prod", 3)
    second, _ = plan_stack("prod", 3)

    assert dumps(to_inventory(first, phase)) == dumps(to_inventory(second, phase))


def test_phase_override_plans_the_same_stack_at_another_phase() -> None:
    assert plan_for("dev", 3).outputs["phase"] == 3
    assert len(plan_for("dev", 3).resources) > len(plan_for("dev", 1).resources)


def test_config_schema_declares_every_key_the_program_reads() -> None:
    schema = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]
    declared = {k for k in schema if not k.startswith("pulumi:")}
    secret = {k for k, spec in schema.items() if isinstance(spec, dict) and spec.get("secret")}

    assert declared == set(stack_config.PLAIN_KEYS) | set(stack_config.SECRET_KEYS)
    assert secret == set(stack_config.SECRET_KEYS)
    for name in declared:
        assert schema[name].get("description"), name
        assert schema[name].get("type") in {"string", "integer", "array", "boolean"}, name


def test_stack_files_hold_no_secret_in_plain_text() -> None:
    paths = sorted(Path(REPO_ROOT).glob("Pulumi.*.yaml"))
    assert [p.name for p in paths] == ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]
    assert stack_config.SECRET_KEYS
    for path in paths:
        config = yaml.safe_load(path.read_text())["config"]
        for name in stack_config.SECRET_KEYS:
            value = config.get(f"pot-of-gold:{name}")
            assert value is None or (isinstance(value, dict) and "secure" in value), (path.name, name)


def test_resource_counts_are_pinned() -> None:
    pinned = json.loads((Path(__file__).parent / "resource_counts.json").read_text())
    actual = {
        f"{stack}@{phase}": dict(sorted(Counter(r.type for r in plan_for(stack, phase).resources).items()))
        for stack in ("dev", "prod")
        for phase in (1, 2, 3)
    }
    assert actual == pinned, "resource counts changed: if intended, run `make pin-counts` and review the diff"
