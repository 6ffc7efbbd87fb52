"""Disaster-recovery figures a configuration gives, against the seed's targets (RTO 1 h, RPO 5 min).

RPO: the worst database decides. Point-in-time recovery keeps 1-minute snapshots (~1 min); without it
the newest copy is the last export or backup (24 h for the daily ones).
RTO: what a regional outage of the API costs. With the API in several regions behind one load balancer
backend that ejects failing regions (outlier detection) and a warm instance in each, traffic moves by
itself within about a minute. With one region, someone redeploys elsewhere by hand: not a figure the
program can promise, so the target counts only from the phase whose profile runs several regions.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from . import tokens as t
from .model import Resource, RuleContext, StackView
from .values import DAY, WEEK, as_list, cron_interval, cron_problem, get, human_duration, is_known, refers_to

RPO_TARGET = 5 * 60
RTO_TARGET = 60 * 60
PITR_RPO = 60
AUTOMATIC_FAILOVER_RTO = 60

_EXPORT_URI = re.compile(r"/databases/([^/:]+):exportDocuments$")


@dataclass(frozen=True)
class ExportJob:
    job: Resource
    database: str  # database id, e.g. "(default)"
    bucket: str | None  # bucket name the export writes to, when the body can be read


def export_jobs(stack: StackView) -> list[ExportJob]:
    """Cloud Scheduler jobs that call Firestore's exportDocuments, with the database and bucket."""
    jobs: list[ExportJob] = []
    for job in stack.of_type(t.SCHEDULER_JOB):
        match = _EXPORT_URI.search(str(get(job.props, "httpTarget.uri", "")))
        if match is None:
            continue
        jobs.append(ExportJob(job, match[1], _export_bucket(get(job.props, "httpTarget.body"))))
    return jobs


def _export_bucket(body: Any) -> str | None:
    if not isinstance(body, str) or not is_known(body):
        return None
    try:
        payload = json.loads(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError):
        return None
    prefix = payload.get("outputUriPrefix") if isinstance(payload, dict) else None
    if not isinstance(prefix, str) or not prefix.startswith("gs://"):
        return None
    return prefix.removeprefix("gs://").split("/", 1)[0]


def database_id(database: Resource) -> str:
    name = database.props.get("name")
    return str(name) if isinstance(name, str) and is_known(name) else "(default)"


def schedules_of(stack: StackView, database: Resource) -> list[Resource]:
    return [s for s in stack.of_type(t.BACKUP_SCHEDULE) if refers_to(s.props.get("database"), database)]


def database_rpo(stack: StackView, database: Resource, jobs: list[ExportJob]) -> tuple[float | None, str]:
    """The newest recovery point this database can rely on, and what gives it."""
    if database.props.get("pointInTimeRecoveryEnablement") == "POINT_IN_TIME_RECOVERY_ENABLED":
        return PITR_RPO, "PITR (1-min snapshots)"
    candidates: list[tuple[float, str]] = []
    for job in jobs:
        schedule = job.job.props.get("schedule")
        if job.database == database_id(database) and is_known(schedule) and cron_problem(schedule) is None:
            candidates.append((cron_interval(str(schedule)), f"export {schedule!r}"))
    for schedule in schedules_of(stack, database):
        if "dailyRecurrence" in schedule.props:
            candidates.append((DAY, "daily backup"))
        elif "weeklyRecurrence" in schedule.props:
            candidates.append((WEEK, "weekly backup"))
    if not candidates:
        return None, "no PITR, export or backup"
    seconds, basis = min(candidates)
    return seconds, f"{basis}, no PITR"


@dataclass(frozen=True)
class Failover:
    regions: tuple[str, ...]
    automatic: bool | None  # None: references cannot be resolved (unknown during a preview)
    basis: str


def _warm(service: Resource) -> bool:
    value = get(service.props, "template.scaling.minInstanceCount", 0)
    return isinstance(value, int | float) and value >= 1


def api_failover(stack: StackView) -> Failover:
    services = stack.of_type(t.RUN_SERVICE)
    regions = tuple(
        sorted({str(s.props.get("location")) for s in services if is_known(s.props.get("location"))})
    )
    if len(regions) < 2:
        where = f" ({regions[0]})" if regions else ""
        return Failover(
            regions,
            False,
            f"the API runs in {len(regions)} region{where}; an outage there needs a redeploy elsewhere",
        )
    negs = stack.of_type(t.NEG)
    unresolved = False
    best: tuple[str, ...] = ()
    for backend in stack.of_type(t.BACKEND_SERVICE):
        covered: set[str] = set()
        for group in [b.get("group") for b in as_list(backend.props.get("backends")) if isinstance(b, dict)]:
            if not is_known(group):
                unresolved = True
                continue
            for neg in negs:
                if not refers_to(group, neg):
                    continue
                for service in services:
                    if refers_to(get(neg.props, "cloudRun.service"), service) and _warm(service):
                        covered.add(str(service.props.get("location")))
        if len(covered) >= 2 and backend.props.get("outlierDetection"):
            best = max(best, tuple(sorted(covered)), key=len)
    if len(best) >= 2:
        return Failover(
            regions,
            True,
            f"one load balancer backend over {len(best)} regions ({', '.join(best)}) with outlier detection"
            " and a warm instance in each",
        )
    if unresolved:
        return Failover(regions, None, "backend references are unknown until the resources exist")
    return Failover(
        regions,
        False,
        "no backend service spreads traffic over two or more warm regions with outlier detection",
    )


@dataclass(frozen=True)
class DrFigures:
    stack: str
    environment: str
    phase: int
    rpo_seconds: float | None
    rpo_basis: str
    api_regions: tuple[str, ...]
    automatic_failover: bool | None
    failover_basis: str
    rto_required: bool  # the phase runs the API in several regions and promises regional failover

    @property
    def rto_seconds(self) -> float | None:
        return AUTOMATIC_FAILOVER_RTO if self.automatic_failover else None

    @property
    def rpo_met(self) -> bool:
        return self.rpo_seconds is not None and self.rpo_seconds <= RPO_TARGET

    @property
    def rto_met(self) -> bool | None:
        if self.automatic_failover is None:
            return None
        return self.rto_seconds is not None and self.rto_seconds <= RTO_TARGET

    @property
    def enforced(self) -> bool:
        """Prod must meet the targets; dev's figures are informational."""
        return self.environment == "prod"

    @property
    def problems(self) -> list[str]:
        problems = []
        if not self.rpo_met:
            worst = human_duration(self.rpo_seconds) if self.rpo_seconds is not None else "unbounded"
            problems.append(
                f"RPO {worst} ({self.rpo_basis}) exceeds the target of {human_duration(RPO_TARGET)}"
            )
        if self.rto_required and self.rto_met is False:
            problems.append(
                f"no automatic regional failover ({self.failover_basis}): RTO target"
                f" {human_duration(RTO_TARGET)} cannot be met"
            )
        return problems

    @property
    def passed(self) -> bool:
        return not self.enforced or not self.problems

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(figure, this configuration, target, status) for the printed table."""
        rpo = human_duration(self.rpo_seconds) if self.rpo_seconds is not None else "none"
        if self.rto_seconds is not None:
            rto = f"~{human_duration(self.rto_seconds)}, automatic"
        elif self.automatic_failover is None:
            rto = "unknown"
        else:
            rto = "manual"
        if self.rto_met is None:
            rto_status = "unknown"
        elif self.rto_met:
            rto_status = "met"
        else:
            rto_status = "NOT MET" if self.rto_required else "not required before multi-region"
        return [
            ("RPO (data loss)", f"{rpo}: {self.rpo_basis}", f"<= {human_duration(RPO_TARGET)}",
             "met" if self.rpo_met else "NOT MET"),
            ("API regions", ", ".join(self.api_regions) or "none", "", ""),
            ("RTO (regional outage)", f"{rto}: {self.failover_basis}", f"<= {human_duration(RTO_TARGET)}",
             rto_status),
        ]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "environment": self.environment,
            "phase": self.phase,
            "rpo_seconds": self.rpo_seconds,
            "rpo_basis": self.rpo_basis,
            "rpo_target_seconds": RPO_TARGET,
            "rpo_met": self.rpo_met,
            "api_regions": list(self.api_regions),
            "automatic_failover": self.automatic_failover,
            "failover_basis": self.failover_basis,
            "rto_seconds": self.rto_seconds,
            "rto_target_seconds": RTO_TARGET,
            "rto_required": self.rto_required,
            "rto_met": self.rto_met,
            "enforced": self.enforced,
            "passed": self.passed,
            "problems": self.problems,
        }


def dr_figures(stack: StackView, ctx: RuleContext) -> DrFigures:
    jobs = export_jobs(stack)
    worst: tuple[float | None, str] = (0.0, "no Firestore database")
    for database in stack.of_type(t.FIRESTORE_DATABASE):
        seconds, basis = database_rpo(stack, database, jobs)
        label = f"{database_id(database)}: {basis}"
        if seconds is None or (worst[0] is not None and seconds > worst[0]):
            worst = (seconds, label)
            if seconds is None:
                break
    rpo_seconds, rpo_basis = worst
    if rpo_seconds == PITR_RPO:
        rpo_basis = "PITR on every database (1-min snapshots)"
    failover = api_failover(stack)
    profile = ctx.profile
    return DrFigures(
        stack=ctx.stack,
        environment=ctx.environment,
        phase=ctx.phase,
        rpo_seconds=rpo_seconds,
        rpo_basis=rpo_basis,
        api_regions=failover.regions,
        automatic_failover=failover.automatic,
        failover_basis=failover.basis,
        rto_required=profile.multi_region if profile is not None else True,
    )
