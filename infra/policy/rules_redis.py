"""Resource rules for Redis Cloud: TLS, replication, persistence, source-IP allowlist, valid values."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from . import tokens as t
from .model import Resource, RuleContext, RuleSet, Severity
from .values import as_list, enabled, get, is_known, values_at

rules = RuleSet()

DATABASES = (t.REDIS_DATABASE, t.REDIS_AA_DATABASE)
SUBSCRIPTIONS = (t.REDIS_SUBSCRIPTION, t.REDIS_AA_SUBSCRIPTION)
AOF_EVERY_SECOND = "aof-every-1-second"


@rules.resource(
    "POG-RDS-001",
    Severity.CRITICAL,
    "Redis Cloud databases require TLS",
    "Set enable_tls=True; the app connects with rediss://.",
    types=DATABASES,
)
def redis_tls(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("enableTls")
    if is_known(value) and not enabled(value):
        yield "enableTls is not true: the password and every cached profile cross the internet in clear"


@rules.resource(
    "POG-RDS-002",
    Severity.HIGH,
    "Prod Redis is replicated (and multi-AZ)",
    "In prod set replication=True on the subscription plan and the database, and"
    " multiple_availability_zones=True on the subscription region (infra/phases.py _REDIS_SIZING).",
    types=[t.REDIS_SUBSCRIPTION, t.REDIS_DATABASE],
)
def redis_replication_in_prod(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not ctx.is_prod:
        return  # Active-Active subscriptions replicate by construction
    if r.type == t.REDIS_DATABASE:
        if is_known(r.props.get("replication")) and not enabled(r.props.get("replication")):
            yield "replication is off: losing the node loses the leaderboards and rate-limit state"
        return
    if is_known(get(r.props, "creationPlan.replication")) and not enabled(
        get(r.props, "creationPlan.replication")
    ):
        yield "creationPlan.replication is off"
    for where, value in values_at(r.props, "cloudProvider.regions[].multipleAvailabilityZones"):
        if is_known(value) and not enabled(value):
            yield f"{where} is off: one zone outage takes the cache down"


@rules.resource(
    "POG-RDS-003",
    Severity.HIGH,
    "Redis persists with AOF every second",
    f"Set data_persistence (global_data_persistence for Active-Active) to '{AOF_EVERY_SECOND}'.",
    types=DATABASES,
)
def redis_aof(r: Resource, ctx: RuleContext) -> Iterator[str]:
    key = "globalDataPersistence" if r.type == t.REDIS_AA_DATABASE else "dataPersistence"
    value = r.props.get(key, "none")
    if is_known(value) and value != AOF_EVERY_SECOND:
        yield f"{key} is {value!r}: a restart loses more than the last second of writes"


def _source_ips(r: Resource) -> Any:
    return r.props.get("globalSourceIps" if r.type == t.REDIS_AA_DATABASE else "sourceIps")


@rules.resource(
    "POG-RDS-004",
    Severity.CRITICAL,
    "Redis accepts connections from allowlisted source IPs only",
    "Set source_ips (global_source_ips) to the API's NAT egress addresses (/32 each).",
    types=DATABASES,
)
def redis_source_allowlist(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = _source_ips(r)
    if not is_known(value):
        return
    ips = as_list(value)
    if not ips:
        yield "no source-IP allowlist: the endpoint accepts connections from any address"
        return
    for cidr in ips:
        if not is_known(cidr):
            continue
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            yield f"source IP {cidr!r} is not a CIDR"
            continue
        if network.prefixlen == 0:
            yield f"source IP {cidr} allows every address"


THROUGHPUT_UNITS = frozenset({"operations-per-second", "number-of-shards"})
PERSISTENCE = frozenset(
    {
        "none",
        "aof-every-1-second",
        "aof-every-write",
        "snapshot-every-1-hour",
        "snapshot-every-6-hours",
        "snapshot-every-12-hours",
    }
)
EVICTION = frozenset(
    {
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "noeviction",
    }
)
BACKUP_INTERVALS = frozenset(
    {"every-1-hours", "every-2-hours", "every-4-hours", "every-6-hours", "every-12-hours", "every-24-hours"}
)
BACKUP_STORAGE = frozenset({"http", "redis", "ftp", "aws-s3", "azure-blob-storage", "google-blob-storage"})
_TIME_UTC = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _throughput(prefix: str, props: Any) -> Iterator[str]:
    by, value = (
        get(props, f"{prefix}throughputMeasurementBy"),
        get(props, f"{prefix}throughputMeasurementValue"),
    )
    where = prefix or ""
    if by is not None and is_known(by) and by not in THROUGHPUT_UNITS:
        yield f"{where}throughputMeasurementBy is {by!r}; expected operations-per-second or number-of-shards"
    if value is not None and is_known(value) and not _positive(value):
        yield f"{where}throughputMeasurementValue {value!r} is not a positive number"
    if by == "number-of-shards" and _positive(value) and value != int(value):
        yield f"{where}throughputMeasurementValue {value} is not a whole number of shards"


def _backup(where: str, backup: Any) -> Iterator[str]:
    if not isinstance(backup, dict):
        return
    interval, time_utc = backup.get("interval"), backup.get("timeUtc")
    if interval is not None and is_known(interval) and interval not in BACKUP_INTERVALS:
        yield f"{where}.interval {interval!r}; expected one of {', '.join(sorted(BACKUP_INTERVALS))}"
    if time_utc is not None and is_known(time_utc):
        if not _TIME_UTC.match(str(time_utc)):
            yield f"{where}.timeUtc {time_utc!r} is not HH:MM"
        elif interval not in ("every-12-hours", "every-24-hours"):
            yield f"{where}.timeUtc is only accepted with every-12-hours or every-24-hours"
    storage = backup.get("storageType")
    if storage is not None and is_known(storage) and storage not in BACKUP_STORAGE:
        yield f"{where}.storageType {storage!r}; expected one of {', '.join(sorted(BACKUP_STORAGE))}"


@rules.resource(
    "POG-RDS-005",
    Severity.HIGH,
    "Redis Cloud values are ones the API accepts (throughput units, persistence, eviction, backups, CIDRs)",
    "Use the values listed in the message (the provider passes any string through to the API).",
    types=[*DATABASES, *SUBSCRIPTIONS],
)
def redis_values(r: Resource, ctx: RuleContext) -> Iterator[str]:
    p = r.props
    if r.type == t.REDIS_SUBSCRIPTION:
        yield from _throughput("creationPlan.", p)
        memory = get(p, "creationPlan.memoryLimitInGb")
        if memory is not None and is_known(memory) and not _positive(memory):
            yield f"creationPlan.memoryLimitInGb {memory!r} is not a positive number"
    if r.type == t.REDIS_DATABASE:
        yield from _throughput("", p)
    if r.type == t.REDIS_AA_SUBSCRIPTION:
        for where, region in values_at(p, "creationPlan.regions[]"):
            for key in ("readOperationsPerSecond", "writeOperationsPerSecond"):
                value = region.get(key) if isinstance(region, dict) else None
                if value is not None and is_known(value) and not _positive(value):
                    yield f"{where}.{key} {value!r} is not a positive number"
    for key in ("memoryLimitInGb", "datasetSizeInGb"):
        value = p.get(key)
        if value is not None and is_known(value) and not _positive(value):
            yield f"{key} {value!r} is not a positive number"
    for key in ("dataPersistence", "globalDataPersistence"):
        value = p.get(key)
        if value is not None and is_known(value) and value not in PERSISTENCE:
            yield f"{key} {value!r}; expected one of {', '.join(sorted(PERSISTENCE))}"
    eviction = p.get("dataEviction")
    if eviction is not None and is_known(eviction) and eviction not in EVICTION:
        yield f"dataEviction {eviction!r}; expected one of {', '.join(sorted(EVICTION))}"
    yield from _backup("remoteBackup", p.get("remoteBackup"))
    for where, backup in values_at(p, "overrideRegions[].remoteBackup"):
        yield from _backup(where, backup)
    for path in (
        "cloudProvider.regions[].networkingDeploymentCidr",
        "creationPlan.regions[].networkingDeploymentCidr",
    ):
        for where, cidr in values_at(p, path):
            if not is_known(cidr):
                continue
            try:
                network = ipaddress.ip_network(str(cidr), strict=True)
            except ValueError:
                yield f"{where} {cidr!r} is not a network CIDR"
                continue
            if network.prefixlen != 24:
                yield f"{where} {cidr} must be a /24"
