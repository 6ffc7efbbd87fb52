"""Value checks the SDK does not do: it accepts any string where the cloud takes a location id, an
enum value, a duration or a cron schedule, and the mistake only shows at apply time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.locations import (
    BIGQUERY_MULTI_REGIONS,
    FIRESTORE_LOCATIONS,
    GCP_REGIONS,
    RTDB_REGIONS,
    STORAGE_MULTI_REGIONS,
)

from . import tokens as t
from .model import Resource, RuleContext, RuleSet, Severity
from .values import cron_problem, is_known, parse_duration, time_zone_problem, values_at

rules = RuleSet()

_LOWER_MULTI_REGIONS = frozenset(m.lower() for m in STORAGE_MULTI_REGIONS)
# (type, path) -> the location ids accepted there, for inputs other than a plain GCP region.
_LOCATIONS: dict[tuple[str, str], frozenset[str]] = {
    (t.BUCKET, "location"): GCP_REGIONS | _LOWER_MULTI_REGIONS,
    (t.KEY_RING, "location"): GCP_REGIONS | {"global"} | frozenset(BIGQUERY_MULTI_REGIONS.values()),
    # BigQuery datasets: a region or a multi-region (US, EU; case as written).
    ("gcp:bigquery/dataset:Dataset", "location"): GCP_REGIONS | frozenset(BIGQUERY_MULTI_REGIONS),
    ("gcp:artifactregistry/repository:Repository", "location"): GCP_REGIONS | _LOWER_MULTI_REGIONS,
    (t.RTDB_INSTANCE, "region"): RTDB_REGIONS,
}
_GCP_REGION_PATHS = ("region", "location", "replication.userManaged.replicas[].location")
_REDIS_REGION_PATHS: dict[str, tuple[str, ...]] = {
    t.REDIS_SUBSCRIPTION: ("cloudProvider.regions[].region",),
    t.REDIS_AA_SUBSCRIPTION: ("creationPlan.regions[].region",),
    t.REDIS_AA_DATABASE: ("overrideRegions[].name",),
}


def _region_inputs(r: Resource) -> Iterator[tuple[str, Any, frozenset[str]]]:
    if r.type.startswith("gcp:") or r.type == t.GCP_PROVIDER:
        for path in _GCP_REGION_PATHS:
            default = GCP_REGIONS | {"global"} if path == "location" else GCP_REGIONS
            for where, value in values_at(r.props, path):
                yield where, value, _LOCATIONS.get((r.type, path), default)
    # Redis Cloud on GCP names GCP regions.
    for path in _REDIS_REGION_PATHS.get(r.type, ()):
        for where, value in values_at(r.props, path):
            yield where, value, GCP_REGIONS


@rules.resource(
    "POG-VAL-001",
    Severity.HIGH,
    "Every region and location input names one that exists",
    "Use a region from infra/locations.py (GCP_REGIONS; RTDB_REGIONS for the Realtime Database).",
    types=["gcp:*", t.GCP_PROVIDER, *_REDIS_REGION_PATHS],
)
def regions_exist(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for where, value, allowed in _region_inputs(r):
        # Bucket locations are case-insensitive (US, us-central1, US-CENTRAL1); the others are not.
        candidate = value.lower() if isinstance(value, str) and r.type == t.BUCKET else value
        if isinstance(value, str) and is_known(value) and candidate not in allowed:
            yield f"{where} {value!r} is not a known location (e.g. us-central1, europe-west1)"


@rules.resource(
    "POG-VAL-002",
    Severity.CRITICAL,
    "Firestore databases use a Firestore location id",
    "Use nam5 or eur3 (multi-region) or a region from infra/locations.py; the location is immutable.",
    types=[t.FIRESTORE_DATABASE],
)
def firestore_location(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("locationId")
    if is_known(value) and value not in FIRESTORE_LOCATIONS:
        yield f"locationId {value!r} is not a Firestore location (nam5, eur3 or a region)"


_WEEKDAYS = frozenset({"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"})
_COMPARISONS = frozenset(
    {"COMPARISON_GT", "COMPARISON_GE", "COMPARISON_LT", "COMPARISON_LE", "COMPARISON_EQ", "COMPARISON_NE"}
)
_CF_ACTIONS = frozenset(
    {
        "block", "challenge", "js_challenge", "managed_challenge", "log", "skip", "execute",
        "set_cache_settings", "rewrite", "route", "redirect", "set_config", "serve_error",
        "compress_response", "score", "log_custom_field",
    }
)  # fmt: skip
_DNS_TYPES = frozenset(
    {
        "A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS", "PTR",
        "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI",
    }
)  # fmt: skip
# type -> {path: accepted values}; enums the providers pass through unchecked.
ENUMS: dict[str, dict[str, frozenset[str]]] = {
    t.RUN_SERVICE: {
        "ingress": frozenset(
            {
                "INGRESS_TRAFFIC_ALL",
                "INGRESS_TRAFFIC_INTERNAL_ONLY",
                "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            }
        ),
        "template.executionEnvironment": frozenset(
            {"EXECUTION_ENVIRONMENT_GEN1", "EXECUTION_ENVIRONMENT_GEN2"}
        ),
        "template.vpcAccess.egress": frozenset({"ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"}),
    },
    t.FIRESTORE_DATABASE: {
        "type": frozenset({"FIRESTORE_NATIVE", "DATASTORE_MODE"}),
        "pointInTimeRecoveryEnablement": frozenset(
            {"POINT_IN_TIME_RECOVERY_ENABLED", "POINT_IN_TIME_RECOVERY_DISABLED"}
        ),
        "deleteProtectionState": frozenset({"DELETE_PROTECTION_ENABLED", "DELETE_PROTECTION_DISABLED"}),
        "deletionPolicy": frozenset({"ABANDON", "DELETE"}),
        "appEngineIntegrationMode": frozenset({"ENABLED", "DISABLED"}),
        "concurrencyMode": frozenset({"OPTIMISTIC", "PESSIMISTIC", "OPTIMISTIC_WITH_ENTITY_GROUPS"}),
    },
    t.BACKUP_SCHEDULE: {"weeklyRecurrence.day": _WEEKDAYS},
    t.RTDB_INSTANCE: {
        "type": frozenset({"DEFAULT_DATABASE", "USER_DATABASE"}),
        "deletionPolicy": frozenset({"ABANDON", "DELETE"}),
    },
    t.BUCKET: {"publicAccessPrevention": frozenset({"enforced", "inherited"})},
    t.CRYPTO_KEY: {
        "purpose": frozenset(
            {"ENCRYPT_DECRYPT", "ASYMMETRIC_SIGN", "ASYMMETRIC_DECRYPT", "MAC", "RAW_ENCRYPT_DECRYPT"}
        ),
        "versionTemplate.protectionLevel": frozenset({"SOFTWARE", "HSM", "EXTERNAL", "EXTERNAL_VPC"}),
    },
    t.SSL_POLICY: {
        "minTlsVersion": frozenset({"TLS_1_0", "TLS_1_1", "TLS_1_2", "TLS_1_3"}),
        "profile": frozenset({"COMPATIBLE", "MODERN", "RESTRICTED", "CUSTOM"}),
    },
    t.BACKEND_SERVICE: {
        "loadBalancingScheme": frozenset(
            {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}
        ),
        "protocol": frozenset({"HTTP", "HTTPS", "HTTP2", "TCP", "SSL", "GRPC", "UNSPECIFIED", "H2C"}),
    },
    t.SECURITY_POLICY: {"type": frozenset({"CLOUD_ARMOR", "CLOUD_ARMOR_EDGE", "CLOUD_ARMOR_NETWORK"})},
    t.SCHEDULER_JOB: {
        "httpTarget.httpMethod": frozenset({"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})
    },
    t.ALERT_POLICY: {
        "combiner": frozenset({"AND", "OR", "AND_WITH_MATCHING_RESOURCE"}),
        "severity": frozenset({"CRITICAL", "ERROR", "WARNING"}),
        "conditions[].conditionThreshold.comparison": _COMPARISONS,
    },
    t.UPTIME_CHECK: {
        "selectedRegions[]": frozenset(
            {"USA", "EUROPE", "SOUTH_AMERICA", "ASIA_PACIFIC", "USA_OREGON", "USA_IOWA", "USA_VIRGINIA"}
        ),
        "httpCheck.requestMethod": frozenset({"GET", "POST"}),
    },
    t.NOTIFICATION_CHANNEL: {
        "type": frozenset(
            {"email", "pagerduty", "slack", "sms", "webhook_tokenauth", "webhook_basicauth", "pubsub"}
        )
    },
    t.CF_RULESET: {
        "kind": frozenset({"zone", "root", "managed", "custom"}),
        "phase": frozenset(
            {
                "http_request_firewall_managed",
                "http_request_firewall_custom",
                "http_ratelimit",
                "http_request_cache_settings",
                "http_request_transform",
                "http_request_late_transform",
                "http_request_origin",
                "http_request_redirect",
                "http_request_dynamic_redirect",
                "http_response_headers_transform",
                "http_config_settings",
                "http_request_sbfm",
                "ddos_l7",
            }
        ),
        "rules[].action": _CF_ACTIONS,
    },
    t.CF_DNS_RECORD: {"type": _DNS_TYPES},
}


@rules.resource(
    "POG-VAL-003",
    Severity.HIGH,
    "Enum inputs hold values the API accepts",
    "Use one of the values listed in the message (the provider passes any string through).",
    types=list(ENUMS),
)
def enum_values(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for path, allowed in ENUMS.get(r.type, {}).items():
        for where, value in values_at(r.props, path):
            if isinstance(value, str) and not is_known(value):
                continue
            if value not in allowed:
                yield f"{where} is {value!r}; expected one of {', '.join(sorted(allowed))}"


# type -> {path: (minimum seconds, maximum seconds)}; None bounds are open.
DURATIONS: dict[str, dict[str, tuple[float | None, float | None]]] = {
    t.CRYPTO_KEY: {"rotationPeriod": (None, None)},  # range: POG-KMS-001
    t.BACKUP_SCHEDULE: {"retention": (None, None)},  # range: POG-FS-004
    t.SCHEDULER_JOB: {
        "attemptDeadline": (15, 1800),
        "retryConfig.minBackoffDuration": (0, None),
        "retryConfig.maxBackoffDuration": (0, None),
        "retryConfig.maxRetryDuration": (0, None),
    },
    t.ALERT_POLICY: {
        "alertStrategy.autoClose": (1800, 7 * 86_400),
        "conditions[].conditionThreshold.duration": (0, 86_400),
        "conditions[].conditionThreshold.aggregations[].alignmentPeriod": (60, 104 * 86_400),
        "conditions[].conditionThreshold.denominatorAggregations[].alignmentPeriod": (60, 104 * 86_400),
    },
    t.UPTIME_CHECK: {"period": (60, 900), "timeout": (1, 60)},
    "gcp:artifactregistry/repository:Repository": {"cleanupPolicies[].condition.olderThan": (0, None)},
    t.RUN_SERVICE: {"template.timeout": (1, 3600)},
}


@rules.resource(
    "POG-VAL-004",
    Severity.HIGH,
    "Durations are written in seconds ('604800s') and within the API's bounds",
    "Write durations as '<seconds>s', e.g. '604800s' for 7 days.",
    types=list(DURATIONS),
)
def durations(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for path, (low, high) in DURATIONS.get(r.type, {}).items():
        for where, value in values_at(r.props, path):
            if isinstance(value, str) and not is_known(value):
                continue
            seconds = parse_duration(value)
            if seconds is None:
                yield f"{where} is {value!r}, not a duration in seconds such as '604800s'"
            elif (low is not None and seconds < low) or (high is not None and seconds > high):
                bounds = f"{low if low is not None else 0}s..{f'{high}s' if high is not None else ''}"
                yield f"{where} {value} is outside {bounds}"


@rules.resource(
    "POG-VAL-005",
    Severity.HIGH,
    "Cloud Scheduler jobs have a valid unix-cron schedule and time zone",
    "Write the schedule as five cron fields, e.g. '0 3 * * *', and an IANA time zone such as 'Etc/UTC'.",
    types=[t.SCHEDULER_JOB],
)
def cron_schedules(r: Resource, ctx: RuleContext) -> Iterator[str]:
    schedule = r.props.get("schedule")
    if is_known(schedule):
        problem = cron_problem(schedule)
        if problem:
            yield f"schedule {problem}"
    zone = r.props.get("timeZone", "Etc/UTC")
    if is_known(zone):
        problem = time_zone_problem(zone)
        if problem:
            yield problem
