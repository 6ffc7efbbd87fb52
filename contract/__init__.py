"""The deploy contract (contract/backend.yaml), read into typed, validated objects.

Both sides read it from here: the stacks build jobs, schedules, API enablement and grants from it, and
``pog check`` (infra/policy/rules_contract.py) proves each plan provides it. It imports neither side.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

CONTRACT_FILE = Path(__file__).resolve().with_name("backend.yaml")
ENVIRONMENTS = ("dev", "prod")
PHASES = (1, 2, 3)
_JOB_NAME = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")
_SETTING = re.compile(r"^POG_[A-Z0-9_]+$")
_TIMEOUT = re.compile(r"^\d+s$")


class ContractError(ValueError):
    """contract/backend.yaml is malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class When:
    """Where an entry applies: some environments and phases (all of them by default)."""

    environments: tuple[str, ...] = ENVIRONMENTS
    phases: tuple[int, ...] = PHASES

    def holds(self, environment: str, phase: int) -> bool:
        return environment in self.environments and phase in self.phases


#: An optional setting: the app has a default, the stacks may still pass a value.
NOWHERE = When((), ())


@dataclass(frozen=True)
class Job:
    """``python -m app.ops <args>`` as a Cloud Run job, in every API region or the primary one."""

    name: str
    args: tuple[str, ...]
    container: str
    timeout: str
    limits: Mapping[str, str]
    retries: int
    regions: Literal["every", "primary"]
    schedule: str | None
    stagger_minutes: int = 0
    unscheduled: str | None = None

    def regions_of(self, api_regions: tuple[str, ...]) -> tuple[str, ...]:
        return api_regions if self.regions == "every" else api_regions[:1]

    def schedule_in(self, region_index: int) -> str | None:
        """The cron schedule of the region at this index: staggered by ``stagger_minutes`` per region."""
        if self.schedule is None or region_index == 0 or not self.stagger_minutes:
            return self.schedule
        minute, hour, *rest = self.schedule.split()
        total = int(hour) * 60 + int(minute) + region_index * self.stagger_minutes
        return " ".join([str(total % 60), str(total // 60 % 24), *rest])


@dataclass(frozen=True)
class Setting:
    name: str
    why: str
    secret: bool = False
    required: When = When()
    regional: When | None = None

    def regional_in(self, environment: str, phase: int) -> bool:
        return self.regional is not None and self.regional.holds(environment, phase)


@dataclass(frozen=True)
class CustomRole:
    id: str
    title: str
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class RedisExpectation:
    client: Literal["single", "cluster"]
    url: Literal["shared", "regional"]


@dataclass(frozen=True)
class Contract:
    jobs: tuple[Job, ...]
    google_apis: Mapping[str, str]
    #: service account key -> role (``roles/...`` or a custom role id) -> why
    roles: Mapping[str, Mapping[str, str]]
    custom_roles: Mapping[str, CustomRole]
    settings: Mapping[str, Setting]
    redis: Mapping[str, RedisExpectation]
    #: kind (buckets, topics, realtime_databases) -> name without the stack prefix -> consumer
    consumers: Mapping[str, Mapping[str, str]]

    def settings_in(self, environment: str, phase: int) -> list[Setting]:
        """The settings the plan must provide to every process of this environment and phase."""
        return [s for s in self.settings.values() if s.required.holds(environment, phase)]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Environment variables that come from Secret Manager (one secret each)."""
        return tuple(name for name, s in self.settings.items() if s.secret)

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(f"no job {name!r} in {CONTRACT_FILE.name}")


def custom_role_name(project: str, role_id: str) -> str:
    return f"projects/{project}/roles/{role_id}"


@functools.cache
def load(path: Path = CONTRACT_FILE) -> Contract:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ContractError(f"{path.name}: expected a mapping at the top")
    return parse(raw, path.name)


def parse(raw: Mapping[str, Any], source: str = "contract") -> Contract:
    custom_roles = {
        role_id: CustomRole(role_id, str(spec["title"]), tuple(spec["permissions"]))
        for role_id, spec in (raw.get("custom_roles") or {}).items()
    }
    roles = {key: dict(spec["roles"]) for key, spec in (raw.get("service_accounts") or {}).items()}
    for key, granted in roles.items():
        for role in granted:
            if not role.startswith("roles/") and role not in custom_roles:
                raise ContractError(
                    f"{source}: service_accounts.{key} grants {role!r}: use a predefined roles/... role or"
                    " declare it under custom_roles"
                )
    return Contract(
        jobs=tuple(_job(name, spec, source) for name, spec in (raw.get("jobs") or {}).items()),
        google_apis=dict(raw.get("google_apis") or {}),
        roles=roles,
        custom_roles=custom_roles,
        settings={name: _setting(name, spec, source) for name, spec in (raw.get("settings") or {}).items()},
        redis={
            topology: RedisExpectation(spec["client"], spec["url"])
            for topology, spec in (raw.get("redis") or {}).items()
        },
        consumers={kind: dict(named) for kind, named in (raw.get("consumers") or {}).items()},
    )


def _when(spec: Mapping[str, Any] | None, where: str) -> When:
    if spec is None:
        return When()
    environments = tuple(spec.get("environments", ENVIRONMENTS))
    phases = tuple(spec.get("phases", PHASES))
    unknown = [e for e in environments if e not in ENVIRONMENTS] + [p for p in phases if p not in PHASES]
    if unknown:
        raise ContractError(
            f"{where} names {unknown}: environments are {list(ENVIRONMENTS)}, phases {list(PHASES)}"
        )
    return When(environments, phases)


def _setting(name: str, spec: Mapping[str, Any], source: str) -> Setting:
    where = f"{source}: settings.{name}"
    if not _SETTING.match(name):
        raise ContractError(f"{where}: a setting is an environment variable POG_UPPER_CASE")
    if not spec.get("why"):
        raise ContractError(f"{where} has no why: say what the app uses it for")
    regional = spec.get("regional")
    if spec.get("optional") and "required" in spec:
        raise ContractError(f"{where} is both optional and required somewhere: keep one")
    required = NOWHERE if spec.get("optional") else _when(spec.get("required"), f"{where}.required")
    return Setting(
        name=name,
        why=str(spec["why"]),
        secret=bool(spec.get("secret", False)),
        required=required,
        regional=None if regional is None else _when(regional, f"{where}.regional"),
    )


def _job(name: str, spec: Mapping[str, Any], source: str) -> Job:
    where = f"{source}: jobs.{name}"
    if not _JOB_NAME.match(name):
        raise ContractError(f"{where}: a job name is lower-case letters, digits and dashes (3-42 characters)")
    if not _TIMEOUT.match(str(spec.get("timeout", ""))):
        raise ContractError(f"{where}.timeout must be seconds with an s, e.g. 900s")
    regions = spec.get("regions")
    if regions not in ("every", "primary"):
        raise ContractError(f"{where}.regions must be every or primary, got {regions!r}")
    schedule = spec.get("schedule")
    if schedule is None and not spec.get("unscheduled"):
        raise ContractError(f"{where} has no schedule: add one, or say who runs it under unscheduled")
    stagger = int(spec.get("stagger_minutes", 0))
    if stagger and (schedule is None or not all(p.isdigit() for p in str(schedule).split()[:2])):
        raise ContractError(f"{where}.stagger_minutes needs a schedule with a fixed minute and hour")
    return Job(
        name=name,
        args=tuple(str(a) for a in spec["args"]),
        container=str(spec["container"]),
        timeout=str(spec["timeout"]),
        limits={str(k): str(v) for k, v in spec["limits"].items()},
        retries=int(spec.get("retries", 0)),
        regions=regions,
        schedule=None if schedule is None else str(schedule),
        stagger_minutes=stagger,
        unscheduled=spec.get("unscheduled"),
    )
