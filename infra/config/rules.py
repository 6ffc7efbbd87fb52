"""Checks that read two keys or more, and the secret keys (which reach the program apart).

The rules between keys run on valid values only (StackSettings), so each names a real conflict
rather than the echo of a key already reported as wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pulumi

from infra.config.settings import StackSettings
from infra.config.stack import key
from infra.locations import firestore_spans
from infra.phases import profile_for

SECRET_KEYS: tuple[str, ...] = (
    "cloudflareApiToken",
    "redisCloudApiKey",
    "redisCloudSecretKey",
    "pagerdutyServiceKey",
)
REQUIRED_SECRETS: tuple[str, ...] = ("cloudflareApiToken", "redisCloudApiKey", "redisCloudSecretKey")

Rule = Callable[[StackSettings, Mapping[str, pulumi.Input[str]]], Iterator[str]]


def secret_problems(values: Mapping[str, str], secrets: Mapping[str, pulumi.Input[str]]) -> list[str]:
    """Secrets that are missing, or stored in plain text where anyone reading the stack file sees them."""
    problems = [
        f"{key(name)} is required: `pulumi config set --secret {key(name)} <value>`"
        for name in REQUIRED_SECRETS
        if name not in secrets and not values.get(name)
    ]
    problems += [
        f"{key(name)} is stored in plain text; remove it and set it with"
        f" `pulumi config set --secret {key(name)} <value>`"
        for name in SECRET_KEYS
        if values.get(name)
    ]
    return problems


def _failover_regions(c: StackSettings, _: Mapping[str, pulumi.Input[str]]) -> Iterator[str]:
    name = key("failoverRegions")
    if len({*c.failover_regions, c.region}) != len(c.failover_regions) + 1:
        yield (
            f"{name} must list regions other than {key('region')}, each once;"
            f" got {list(c.failover_regions)} with region {c.region!r}"
        )
    if c.phase == 3 and len(c.failover_regions) < 2:
        yield (
            f"{name} needs 2 regions for phase 3 (the API runs in 3 regions); got {len(c.failover_regions)}."
            f" Set e.g. `pulumi config set --path '{name}[0]' europe-west1` and `[1]` asia-northeast1"
        )


def _backup_region(c: StackSettings, _: Mapping[str, pulumi.Input[str]]) -> Iterator[str]:
    name = key("backupRegion")
    backup_region = c.backup_region or c.region
    elsewhere = profile_for(c.environment, c.phase).backups_in_other_region
    if elsewhere and backup_region in firestore_spans(c.firestore_location):
        yield (
            f"{name} must be outside the Firestore location {c.firestore_location!r} from phase 2"
            f" (a regional outage must not take the exports with it); got {backup_region!r}."
            f" Set e.g. `pulumi config set {name} europe-west1`"
        )
    if c.phase == 3 and backup_region in c.failover_regions[:2]:
        yield (
            f"{name} must not be one of the API regions in phase 3 (each holds a regional game database"
            f" whose exports must survive its region); got {backup_region!r}."
            f" Pick another region for {key('failoverRegions')} or the backups"
        )


def _api_hostname(c: StackSettings, _: Mapping[str, pulumi.Input[str]]) -> Iterator[str]:
    if not c.api_hostname.endswith("." + c.domain):
        yield (
            f"{key('apiHostname')} must be a hostname inside {key('domain')} ({c.domain!r}),"
            f" e.g. api.{c.domain}; got {c.api_hostname!r}"
        )


def _paging(c: StackSettings, secrets: Mapping[str, pulumi.Input[str]]) -> Iterator[str]:
    if c.environment == "prod" and "pagerdutyServiceKey" not in secrets:
        name = key("pagerdutyServiceKey")
        yield (
            f"{name} is required in prod so alerts page on-call:"
            f" `pulumi config set --secret {name} <integration key>`"
        )


def _ci_pair(c: StackSettings, _: Mapping[str, pulumi.Input[str]]) -> Iterator[str]:
    """Together the pool and the repository let CI act as the exporter; one alone grants nothing."""
    pool, repository = key("ciWorkloadIdentityPool"), key("ciRepository")
    if c.ci_workload_identity_pool and not c.ci_repository:
        yield (
            f"{repository} is required with {pool} (together they let CI act as the exporter):"
            f" `pulumi config set {repository} <owner>/<name>`"
        )
    if c.ci_repository and not c.ci_workload_identity_pool:
        yield (
            f"{pool} is required with {repository} (together they let CI act as the exporter):"
            f" `pulumi config set {pool} projects/<number>/locations/global/workloadIdentityPools/<id>`"
        )


RULES: tuple[Rule, ...] = (_failover_regions, _backup_region, _api_hostname, _paging, _ci_pair)


def conflicts(settings: StackSettings, secrets: Mapping[str, pulumi.Input[str]]) -> list[str]:
    return [problem for rule in RULES for problem in rule(settings, secrets)]
