"""Every config mistake stops the program before any resource is declared, naming the key and the fix."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError
from infra.plan.engine import RecordingMonitor, run_program
from infra.plan.mocks import PlanMocks
from infra.plan.stackfile import StackInput, load_stack

NS = "pot-of-gold"


def _with(stack: str, **changes: str | list[str] | None) -> StackInput:
    base = load_stack(stack)
    config = dict(base.config)
    secret_keys = list(base.secret_keys)
    for name, value in changes.items():
        key = f"{NS}:{name}"
        if value is None:
            config.pop(key, None)
            if key in secret_keys:
                secret_keys.remove(key)
        else:
            config[key] = json.dumps(value) if isinstance(value, list) else value
            if key in secret_keys:
                secret_keys.remove(key)  # set as plain text
    return StackInput(stack=stack, config=config, secret_keys=secret_keys)


def _problems(stack_input: StackInput) -> tuple[list[str], int]:
    monitor = RecordingMonitor(PlanMocks())
    with pytest.raises(ConfigError) as raised:
        run_program(stack_input.stack, stack_input.config, stack_input.secret_keys, monitor)
    return raised.value.problems, len(monitor.recorded)


CI_POOL = "projects/123456789012/locations/global/workloadIdentityPools/github"
CI_POOL_KEY = f"{NS}:ciWorkloadIdentityPool"
CI_REPO_KEY = f"{NS}:ciRepository"


def _ci(pool: str = CI_POOL, repository: str = "potofgold/platform") -> dict[str, str | list[str] | None]:
    return {"ciWorkloadIdentityPool": pool, "ciRepository": repository}


MISTAKES: list[tuple[str, str, dict[str, str | list[str] | None], str]] = [
    ("phase-4", "dev", {"phase": "4"}, "pot-of-gold:phase must be 1, 2 or 3; got '4'"),
    ("phase-word", "dev", {"phase": "two"}, "pot-of-gold:phase must be 1, 2 or 3"),
    ("environment", "dev", {"environment": "staging"}, "pot-of-gold:environment must be dev or prod"),
    ("missing-region", "dev", {"region": None}, "pot-of-gold:region is required: `pulumi config set"),
    ("unknown-region", "dev", {"region": "us-central9"}, "pot-of-gold:region: unknown GCP region"),
    (
        "failover-short-phase-3",
        "prod",
        {"phase": "3", "failoverRegions": ["us-east4"]},
        "pot-of-gold:failoverRegions needs 2 regions for phase 3",
    ),
    (
        "failover-repeats-primary",
        "dev",
        {"failoverRegions": ["us-central1", "us-east4"]},
        "pot-of-gold:failoverRegions must list regions other than pot-of-gold:region",
    ),
    (
        "failover-unknown",
        "dev",
        {"failoverRegions": ["mars-north1", "us-east4"]},
        "pot-of-gold:failoverRegions: unknown GCP region",
    ),
    ("failover-not-list", "dev", {"failoverRegions": "us-east4"}, "must be a list of strings"),
    ("firestore-location", "dev", {"firestoreLocation": "nam7"}, "pot-of-gold:firestoreLocation must be"),
    (
        "backup-inside-firestore-location",
        "prod",
        {"phase": "2", "backupRegion": "us-east1"},
        "pot-of-gold:backupRegion must be outside the Firestore location 'nam5' from phase 2",
    ),
    (
        "backup-in-an-api-region-phase-3",
        "prod",
        {"phase": "3", "failoverRegions": ["us-east4", "europe-west1"]},
        "pot-of-gold:backupRegion must not be one of the API regions in phase 3",
    ),
    ("backup-unknown", "dev", {"backupRegion": "eu-west1"}, "pot-of-gold:backupRegion: unknown GCP region"),
    ("project-id", "dev", {"gcpProject": "Pot_Of_Gold"}, "pot-of-gold:gcpProject must be a GCP project id"),
    ("domain", "dev", {"domain": "not a domain"}, "pot-of-gold:domain must be a DNS zone apex"),
    (
        "api-outside-domain",
        "dev",
        {"apiHostname": "api.elsewhere.example"},
        "pot-of-gold:apiHostname must be a hostname inside pot-of-gold:domain",
    ),
    ("zone-id", "dev", {"cloudflareZoneId": "zone"}, "pot-of-gold:cloudflareZoneId must be 32 lowercase hex"),
    ("account-id", "dev", {"cloudflareAccountId": "ACC"}, "pot-of-gold:cloudflareAccountId must be 32"),
    (
        "no-alert-contacts",
        "prod",
        {"alertEmails": None},
        "pot-of-gold:alertEmails needs at least one address",
    ),
    (
        "bad-alert-email",
        "prod",
        {"alertEmails": ["oncall"]},
        "pot-of-gold:alertEmails has an invalid address",
    ),
    (
        "prod-without-paging",
        "prod",
        {"pagerdutyServiceKey": None},
        "pot-of-gold:pagerdutyServiceKey is required in prod",
    ),
    ("admin-not-cidr", "dev", {"adminIpAllowlist": ["office"]}, "which is not a CIDR such as"),
    ("admin-everyone", "dev", {"adminIpAllowlist": ["0.0.0.0/0"]}, "must not allow every address"),
    (
        "admin-too-many",
        "dev",
        {"adminIpAllowlist": [f"198.51.100.{n}/32" for n in range(5)]},
        "pot-of-gold:adminIpAllowlist may list at most 4 ranges",
    ),
    ("admin-empty", "dev", {"adminIpAllowlist": []}, "pot-of-gold:adminIpAllowlist needs at least one CIDR"),
    (
        "image-by-tag",
        "dev",
        {"appImage": "us-central1-docker.pkg.dev/pot-of-gold-dev/pog-dev-images/api:latest"},
        "pot-of-gold:appImage must be an Artifact Registry image pinned by digest",
    ),
    ("payment-method", "dev", {"redisCloudPaymentMethodId": "visa"}, "must be the numeric payment method id"),
    (
        "missing-secret",
        "dev",
        {"cloudflareApiToken": None},
        "pot-of-gold:cloudflareApiToken is required: `pulumi config set --secret",
    ),
    (
        "secret-in-plain-text",
        "dev",
        {"redisCloudApiKey": "plain-api-key"},
        "pot-of-gold:redisCloudApiKey is stored in plain text",
    ),
    ("typo-key", "dev", {"regoin": "us-central1"}, "pot-of-gold:regoin is not a known key"),
    (
        "ci-pool-not-a-resource-name",
        "dev",
        _ci("github"),
        f"{CI_POOL_KEY} must be the pool's full resource name, e.g. {CI_POOL}",
    ),
    (
        "ci-pool-is-a-provider",
        "dev",
        _ci(f"{CI_POOL}/providers/github"),
        f"{CI_POOL_KEY} names the pool, not one of its providers: drop '/providers/github'",
    ),
    (
        "ci-pool-by-project-id",
        "dev",
        _ci(CI_POOL.replace("123456789012", "pot-of-gold-dev")),
        f"{CI_POOL_KEY} must name the project by number, not id: `gcloud projects describe pot-of-gold-dev",
    ),
    (
        "ci-pool-regional",
        "dev",
        _ci(CI_POOL.replace("/global/", "/us-central1/")),
        f"{CI_POOL_KEY}: workload identity pools live in locations/global",
    ),
    (
        "ci-pool-id",
        "dev",
        _ci(CI_POOL.replace("/github", "/GitHub")),
        f"{CI_POOL_KEY}: the pool id must be 4-32 lowercase letters, digits or hyphens",
    ),
    (
        "ci-repository-url",
        "dev",
        _ci(repository="https://github.com/potofgold/platform"),
        f"{CI_REPO_KEY} must be the GitHub repository as owner/name",
    ),
    (
        "ci-repository-dot-git",
        "dev",
        _ci(repository="potofgold/platform.git"),
        f"{CI_REPO_KEY} must be the GitHub repository as owner/name",
    ),
    (
        "ci-pool-without-repository",
        "dev",
        {"ciWorkloadIdentityPool": CI_POOL},
        f"{CI_REPO_KEY} is required with {CI_POOL_KEY}",
    ),
    (
        "ci-repository-without-pool",
        "prod",
        {"ciRepository": "potofgold/platform"},
        f"{CI_POOL_KEY} is required with {CI_REPO_KEY}",
    ),
]


@pytest.mark.parametrize(
    ("stack", "changes", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_mistake_stops_before_any_resource(
    stack: str, changes: dict[str, str | list[str] | None], expected: str
) -> None:
    problems, declared = _problems(_with(stack, **changes))

    assert declared == 0
    assert any(expected in p for p in problems), problems


def test_all_problems_reported_at_once() -> None:
    problems, _ = _problems(_with("dev", phase="9", region="nowhere", appImage="api:latest"))

    assert len(problems) == 3
    assert [p.split()[0] for p in problems] == [
        "pot-of-gold:phase",
        "pot-of-gold:region:",
        "pot-of-gold:appImage",
    ]


def test_error_message_lists_each_problem_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as raised:
        run_program("dev", _with("dev", phase="4").config, load_stack("dev").secret_keys)

    assert str(raised.value).splitlines() == [
        "stack configuration has 1 problem(s):",
        "  - pot-of-gold:phase must be 1, 2 or 3; got '4'",
    ]


def test_phase_3_keeps_two_failover_regions_and_earlier_phases_none() -> None:
    from infra.config import parse

    stack_input = load_stack("prod", phase=3)
    values = {
        k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k not in stack_input.secret_keys
    }
    secrets = {k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k in stack_input.secret_keys}

    phase_3 = parse(values, secrets)
    phase_1 = parse({**values, "phase": "1"}, secrets)

    assert phase_3.api_regions == ("us-central1", "us-east4", "europe-west4")
    assert phase_1.api_regions == ("us-central1",)


def test_schema_defaults_the_cli_applies_count_as_unset() -> None:
    # The Pulumi CLI hands the program the project schema's defaults: "" for backupRegion and for
    # pagerdutyServiceKey (as a plain value). Neither is a mistake in dev.
    stack_input = load_stack("dev")
    config = {**stack_input.config, f"{NS}:backupRegion": "", f"{NS}:pagerdutyServiceKey": ""}
    secret_keys = [k for k in stack_input.secret_keys if k != f"{NS}:pagerdutyServiceKey"]

    plan = run_program("dev", config, secret_keys)

    assert plan.outputs["environment"] == "dev"
    exports = plan.get("gcp:storage/bucket:Bucket", "pog-dev-firestore-exports")
    assert exports.inputs["location"] == "us-central1"  # backupRegion defaults to the primary region


def _parse_problems(stack: str, **changes: str | list[str] | None) -> list[str]:
    """parse() alone, without the engine: the problems of a stack file with some keys changed."""
    from infra.config import parse

    stack_input = _with(stack, **changes)
    values = {
        k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k not in stack_input.secret_keys
    }
    secrets = {k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k in stack_input.secret_keys}
    with pytest.raises(ConfigError) as raised:
        parse(values, secrets)
    return raised.value.problems


@pytest.mark.unit
def test_backup_region_inside_the_firestore_location_shows_the_value_given() -> None:
    problems = _parse_problems("prod", phase="2", backupRegion="us-east1")

    assert len(problems) == 1
    assert "got 'us-east1'." in problems[0]
    assert "{" not in problems[0]


@pytest.mark.unit
def test_backup_region_defaulting_to_the_primary_region_names_that_region() -> None:
    problems = _parse_problems("prod", phase="2", backupRegion=None)

    assert problems == [
        "pot-of-gold:backupRegion must be outside the Firestore location 'nam5' from phase 2 (a regional"
        " outage must not take the exports with it); got 'us-central1'. Set e.g. `pulumi config set"
        " pot-of-gold:backupRegion europe-west1`"
    ]


@pytest.mark.unit
def test_every_wrong_key_is_reported_with_its_value_in_stack_file_order() -> None:
    problems = _parse_problems(
        "dev",
        environment="staging",
        gcpProject="Pot_Of_Gold",
        failoverRegions=["mars-north1", "us-east4", "venus-south2"],
        alertEmails=["oncall", "ops@potofgold.example"],
        regoin="us-central1",
        redisCloudApiKey="plain-api-key",
    )

    assert [p.split(" ", 1)[0].rstrip(":") for p in problems] == [
        "pot-of-gold:environment",
        "pot-of-gold:gcpProject",
        "pot-of-gold:failoverRegions",
        "pot-of-gold:failoverRegions",
        "pot-of-gold:alertEmails",
        "pot-of-gold:regoin",
        "pot-of-gold:redisCloudApiKey",
    ]
    for given in ("'staging'", "'Pot_Of_Gold'", "'mars-north1'", "'venus-south2'", "'oncall'"):
        assert sum(given in p for p in problems) == 1, (given, problems)


@pytest.mark.unit
def test_a_missing_key_suggests_a_value_to_set() -> None:
    problems = _parse_problems("dev", gcpProject=None, cloudflareZoneId=None)

    assert problems == [
        "pot-of-gold:gcpProject is required: `pulumi config set pot-of-gold:gcpProject my-game-dev`",
        "pot-of-gold:cloudflareZoneId is required: `pulumi config set pot-of-gold:cloudflareZoneId"
        " <32-hex zone id from the Cloudflare dashboard>`",
    ]


@pytest.mark.unit
def test_rules_between_keys_wait_for_valid_values() -> None:
    # A wrong domain would make every apiHostname look outside it: only the domain is reported.
    problems = _parse_problems("dev", domain="not a domain")

    assert problems == [
        "pot-of-gold:domain must be a DNS zone apex such as potofgold.example; got 'not a domain'"
    ]


@pytest.mark.unit
def test_schema_default_empty_strings_are_unset_in_parse() -> None:
    from infra.config import parse

    stack_input = load_stack("dev")
    values = {
        k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k not in stack_input.secret_keys
    }
    secrets = {k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k in stack_input.secret_keys}

    config = parse({**values, "backupRegion": "", "ciRepository": ""}, secrets)

    assert config.backup_region == config.region == "us-central1"
    assert config.ci_repository is None
