"""What every meter shares: the charge it answers, the stack it reads, and the parsers of declared inputs.

A meter reads the resource's declared inputs (memory, minimum instances, schedule...) and the load of the
usage model, and answers charges: a quantity of a price line. A type that costs nothing is listed in
``FREE`` with the reason; a type in neither is reported by the estimate as unpriced, never counted as $0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from infra.cost.usage import GIB, SECONDS_PER_MONTH, Load

HOURS_PER_MONTH = SECONDS_PER_MONTH / 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24

RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"
FIRESTORE_DATABASE = "gcp:firestore/database:Database"
RTDB_INSTANCE = "gcp:firebase/databaseInstance:DatabaseInstance"
DEFAULT_DATABASE = "(default)"
#: Firestore's multi-region locations; every other location is a single region.
MULTI_REGIONS = ("nam5", "eur3")


@dataclass(frozen=True)
class Charge:
    line: str
    quantity: float
    note: str = ""


Resource = dict[str, Any]


@dataclass(frozen=True)
class FirestoreShare:
    """What one Firestore database holds and serves in a month."""

    reads: float = 0.0
    writes: float = 0.0
    ttl_deletes: float = 0.0
    stored_gib: float = 0.0
    documents: float = 0.0


@dataclass(frozen=True)
class Context:
    """The stack being priced: its inventory (to find a resource's neighbours) and the load on it."""

    inventory: dict[str, Any]
    load: Load

    @property
    def environment(self) -> str:
        return "prod" if str(self.inventory.get("stack")) == "prod" else "dev"

    def of_type(self, type_: str) -> Iterator[Resource]:
        return (r for r in self.inventory["resources"] if r["type"] == type_)

    @property
    def api_regions(self) -> int:
        return max(1, sum(1 for _ in self.of_type(RUN_SERVICE)))

    @cached_property
    def busy_instance_seconds(self) -> float:
        """Instance-seconds the API spends serving, per region: the bench's CPU per request over its vCPUs."""
        return sum(run_busy_seconds(s, self) for s in self.of_type(RUN_SERVICE)) / self.api_regions

    def runs_of(self, uri_suffix: str) -> float:
        """Runs a month of whatever the Cloud Scheduler jobs that call ``...uri_suffix`` start."""
        return sum(
            runs_per_month(str(job["inputs"].get("schedule", "")))
            for job in self.of_type(SCHEDULER_JOB)
            if str(job["inputs"].get("httpTarget", {}).get("uri", "")).endswith(uri_suffix)
        )

    @cached_property
    def game_databases(self) -> frozenset[str]:
        """The databases that receive new games: what the API services are told (POG_GAMES_DATABASE)."""
        named = {env_of(s, "POG_GAMES_DATABASE") for s in self.of_type(RUN_SERVICE)}
        return frozenset(n for n in named if n) or frozenset({DEFAULT_DATABASE})

    def firestore_share(self, database: str) -> FirestoreShare:
        """The load's Firestore work split by database: games go to the game databases (evenly, one per
        API region in phase 3), everything else (profiles, sessions, purchases, cache misses) to (default);
        a database neither names (game-sessions once phase 3 moves games out) holds nothing new."""
        load, f = self.load, self.load.model.firestore
        live_games = load.games * f.games_ttl_days / 30
        games = FirestoreShare(
            reads=load.games * f.reads_per_game,
            writes=load.games * f.writes_per_game,
            ttl_deletes=load.games,
            stored_gib=live_games * f.game_document_bytes / GIB,
            documents=live_games,
        )
        in_games = database in self.game_databases
        parts = len(self.game_databases)
        share = FirestoreShare(*(v / parts for v in _values(games))) if in_games else FirestoreShare()
        if database != DEFAULT_DATABASE:
            return share
        return FirestoreShare(
            reads=share.reads + load.firestore_reads - games.reads,
            writes=share.writes + load.firestore_writes - games.writes,
            ttl_deletes=share.ttl_deletes,
            stored_gib=share.stored_gib + load.firestore_stored_gib - games.stored_gib,
            documents=share.documents + load.users + load.purchases * 12,
        )

    def database_location(self, database: str) -> str:
        for db in self.of_type(FIRESTORE_DATABASE):
            if db["inputs"].get("name") == database:
                return str(db["inputs"].get("locationId", "nam5"))
        return "nam5"


def _values(share: FirestoreShare) -> tuple[float, ...]:
    return (share.reads, share.writes, share.ttl_deletes, share.stored_gib, share.documents)


Meter = Callable[[Resource, Context], list[Charge]]

_UNITS = {
    "Ki": 1 / 1024**2,
    "Mi": 1 / 1024,
    "Gi": 1.0,
    "K": 1e3 / 1024**3,
    "M": 1e6 / 1024**3,
    "G": 1e9 / 1024**3,
}


def gib(quantity: str) -> float:
    """A Kubernetes-style memory quantity ("512Mi", "1Gi") in GiB."""
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * _UNITS[suffix]
    return float(quantity) / 1024**3


def vcpus(quantity: str) -> float:
    """A CPU quantity ("1", "2", "1000m") in vCPUs."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def seconds(duration: str) -> float:
    """A protobuf duration ("300s", "604800s") in seconds."""
    return float(duration.rstrip("s") or 0)


def containers_size(template: dict[str, Any]) -> tuple[float, float]:
    """vCPUs and GiB of an instance: Cloud Run bills every container of it, sidecars included."""
    cpu = memory = 0.0
    for container in template.get("containers") or [{}]:
        limits = container.get("resources", {}).get("limits", {})
        cpu += vcpus(str(limits.get("cpu", "1")))
        memory += gib(str(limits.get("memory", "512Mi")))
    return cpu, memory


def env_of(service: Resource, name: str) -> str:
    for container in service["inputs"].get("template", {}).get("containers") or []:
        for env in container.get("envs") or []:
            if env.get("name") == name:
                return str(env.get("value", ""))
    return ""


def run_busy_seconds(service: Resource, ctx: Context) -> float:
    """Instance-seconds a service serves in a month: its regions' share of the requests times the bench's
    CPU per request, over the API container's vCPUs (requests share an instance up to its concurrency)."""
    containers = service["inputs"].get("template", {}).get("containers") or [{}]
    api_cpu = vcpus(str(containers[0].get("resources", {}).get("limits", {}).get("cpu", "1")))
    requests = ctx.load.requests / ctx.api_regions
    return requests * ctx.load.model.measured.cpu_seconds_per_request / api_cpu


def _field(spec: str, low: int, high: int) -> int:
    """How many values a cron field matches ("*", "*/15", "5", "1,3", "1-5", "0-30/10")."""
    count = 0
    for part in spec.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = end = int(base)
            if step_text:
                end = high
        count += len(range(start, end + 1, step))
    return count


_CRON = re.compile(r"^\S+ \S+ \S+ \S+ \S+$")


def runs_per_month(schedule: str) -> float:
    """Runs a month of a five-field cron schedule (Cloud Scheduler's unix-cron)."""
    if not _CRON.match(schedule.strip()):
        return 0.0
    minute, hour, day, month, weekday = schedule.split()
    per_day = _field(minute, 0, 59) * _field(hour, 0, 23)
    if day == "*" and weekday == "*":
        days = DAYS_PER_MONTH
    elif day == "*":
        days = _field(weekday, 0, 6) * DAYS_PER_MONTH / 7
    else:
        days = float(_field(day, 1, 31))
    months = _field(month, 1, 12) / 12 if month != "*" else 1.0
    return per_day * days * months
