"""The value of each stack config key on its own: a type per kind of value, with its message.

A check raises ``invalid(text)``: ``text`` follows the key in the problem it becomes
(``pot-of-gold:region: unknown GCP region ...; got 'us-central9'``), naming what was given and the fix.
Checks that read two keys or more live in ``rules.py``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from infra.config.stack import IMAGE_BY_DIGEST, key
from infra.locations import FIRESTORE_LOCATIONS, GCP_REGIONS
from infra.phases import ENVIRONMENTS, Environment, PhaseError, parse_phase

# Cloud Armor's admin rule tests the path plus one subexpression per range, five at most.
MAX_ADMIN_RANGES = 4

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_CLOUDFLARE_ID = re.compile(r"^[0-9a-f]{32}$")
#: A Cloud Billing account id as the console shows it: three groups of six uppercase hex characters.
_BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,63}$")
#: Workload identity pools are global; principals name the pool by project *number*.
_WORKLOAD_IDENTITY_POOL = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/workloadIdentityPools/(?P<pool>[^/]+)"
    r"(?P<rest>/.*)?$"
)
_POOL_ID = re.compile(r"^[a-z0-9-]{4,32}$")
#: GitHub: owner 1-39 letters, digits or inner hyphens; repository name of letters, digits, ".", "_", "-".
_GITHUB_REPOSITORY = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?/[A-Za-z0-9._-]{1,100}(?<!\.git)$"
)


def invalid(text: str) -> PydanticCustomError:
    """A problem with one key's value; ``text`` reads after the key's name."""
    return PydanticCustomError("stack_config", "{problem}", {"problem": text})


def _key_of(info: ValidationInfo) -> str:
    assert info.field_name is not None  # every check here is attached to a field of StackSettings
    return key(to_camel(info.field_name))


def _matching(pattern: re.Pattern[str], fix: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise invalid(f"{fix}; got {value!r}")
        return value

    return check


def _optional(check: Callable[[str], str]) -> AfterValidator:
    def check_if_set(value: str | None) -> str | None:
        return None if value is None else check(value)

    return AfterValidator(check_if_set)


def _environment(value: Any) -> Environment:
    if value not in ENVIRONMENTS:
        raise invalid(f"must be {' or '.join(ENVIRONMENTS)}; got {value!r}")
    environment: Environment = value
    return environment


def _phase(value: Any) -> int:
    try:
        return parse_phase(value)
    except PhaseError as exc:
        raise invalid(str(exc)) from None


def _region(value: str) -> str:
    if value not in GCP_REGIONS:
        raise invalid(
            f": unknown GCP region; use one of e.g. us-central1, europe-west1, asia-northeast1; got {value!r}"
        )
    return value


def _string_list(value: Any, info: ValidationInfo) -> Any:
    """List keys reach the program as JSON text (``pulumi config set --path 'k[0]' v`` writes a list)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        name = _key_of(info)
        raise invalid(
            f"must be a list of strings, e.g. `pulumi config set --path '{name}[0]' VALUE`; got {value!r}"
        )
    return tuple(parsed)


def _not_empty(fix: Callable[[str], str]) -> Callable[[tuple[str, ...], ValidationInfo], tuple[str, ...]]:
    def check(value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value:
            raise invalid(fix(_key_of(info)))
        return value

    return check


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise invalid(f"has an invalid address {value!r}: write it as name@example.com")
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise invalid(f"has {value!r}, which is not a CIDR such as 203.0.113.7/32") from None
    if network.prefixlen == 0:
        raise invalid(f"must not allow every address ({value!r}): list the operators' ranges")
    return value


def _few_admin_ranges(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(value) > MAX_ADMIN_RANGES:
        raise invalid(
            f"may list at most {MAX_ADMIN_RANGES} ranges (a Cloud Armor expression holds five"
            f" subexpressions); got {len(value)}: merge them into wider ranges"
        )
    return value


def _firestore_location(value: str) -> str:
    if value not in FIRESTORE_LOCATIONS:
        raise invalid(
            "must be a Firestore location id: nam5 or eur3 (multi-region) or a region such as us-central1;"
            f" got {value!r}"
        )
    return value


def _payment_method(value: str) -> str:
    if not value.isdigit():
        raise invalid(f"must be the numeric payment method id; got {value!r}")
    return value


def _billing_account(value: str) -> str:
    """The id alone: the budget's resource names its account as billingAccounts/<id> itself."""
    given = value
    value = value.removeprefix("billingAccounts/")
    if value != given:
        raise invalid(f"must be the account id alone: drop 'billingAccounts/'; got {given!r}")
    if not _BILLING_ACCOUNT.match(value):
        raise invalid(
            "must be a Cloud Billing account id such as 01A2B3-C4D5E6-F7A8B9"
            " (`gcloud billing projects describe PROJECT --format 'value(billingAccountName)'`);"
            f" got {given!r}"
        )
    return value


def _workload_identity_pool(pool: str) -> str:
    """A workload identity pool's full resource name, or the problem with it and the fix."""
    example = "projects/123456789012/locations/global/workloadIdentityPools/github"
    match = _WORKLOAD_IDENTITY_POOL.match(pool)
    if match is None:
        problem = (
            f"must be the pool's full resource name, e.g. {example}"
            " (`gcloud iam workload-identity-pools describe POOL --location global --format 'value(name)'`)"
        )
    elif match["rest"]:
        problem = (
            f"names the pool, not one of its providers: drop {match['rest']!r}"
            " (GCP_WORKLOAD_IDENTITY_PROVIDER is the provider)"
        )
    elif not match["project"].isdigit():
        problem = (
            "must name the project by number, not id: `gcloud projects describe"
            f" {match['project']} --format 'value(projectNumber)'`"
        )
    elif match["location"] != "global":
        problem = ": workload identity pools live in locations/global"
    elif not _POOL_ID.match(match["pool"]):
        problem = ": the pool id must be 4-32 lowercase letters, digits or hyphens"
    else:
        return pool
    raise invalid(f"{problem}; got {pool!r}")


EnvironmentName = Annotated[Environment, BeforeValidator(_environment)]
Phase = Annotated[int, BeforeValidator(_phase)]
ProjectId = Annotated[
    str,
    AfterValidator(
        _matching(
            _PROJECT_ID,
            "must be a GCP project id: 6-30 lowercase letters, digits or hyphens, starting with a letter",
        )
    ),
]
Region = Annotated[str, AfterValidator(_region)]
OptionalRegion = Annotated[str | None, _optional(_region)]
Regions = Annotated[tuple[Region, ...], BeforeValidator(_string_list)]
FirestoreLocation = Annotated[str, AfterValidator(_firestore_location)]
ZoneApex = Annotated[
    str, AfterValidator(_matching(_HOSTNAME, "must be a DNS zone apex such as potofgold.example"))
]
Hostname = Annotated[
    str, AfterValidator(_matching(_HOSTNAME, "must be a hostname such as api.potofgold.example"))
]
CloudflareId = Annotated[
    str, AfterValidator(_matching(_CLOUDFLARE_ID, "must be 32 lowercase hex characters"))
]
AlertEmails = Annotated[
    tuple[Annotated[str, AfterValidator(_email)], ...],
    BeforeValidator(_string_list),
    AfterValidator(
        _not_empty(
            lambda name: (
                "needs at least one address so alerts reach someone:"
                f" `pulumi config set --path '{name}[0]' oncall@example.com`"
            )
        )
    ),
]
AdminRanges = Annotated[
    tuple[Annotated[str, AfterValidator(_cidr)], ...],
    BeforeValidator(_string_list),
    AfterValidator(
        _not_empty(
            lambda name: (
                "needs at least one CIDR (admin paths are closed to everyone else):"
                f" `pulumi config set --path '{name}[0]' 203.0.113.7/32`"
            )
        )
    ),
    AfterValidator(_few_admin_ranges),
]
ImageByDigest = Annotated[
    str,
    AfterValidator(
        _matching(
            IMAGE_BY_DIGEST,
            "must be an Artifact Registry image pinned by digest:"
            " REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE@sha256:<64 hex>",
        )
    ),
]
PaymentMethodId = Annotated[str, AfterValidator(_payment_method)]
BillingAccount = Annotated[str, AfterValidator(_billing_account)]
WorkloadIdentityPool = Annotated[str | None, _optional(_workload_identity_pool)]
GithubRepository = Annotated[
    str | None,
    _optional(
        _matching(
            _GITHUB_REPOSITORY,
            "must be the GitHub repository as owner/name, e.g. potofgold/platform (no URL, no .git)",
        )
    ),
]
