"""Reading property values, and the value checks the SDK does not do (durations, cron, references).

Location ids come from ``infra/locations.py`` and phase data from ``infra/phases.py``; nothing here
copies their lists.
"""

from __future__ import annotations

import functools
import json
import re
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from croniter import croniter

from infra.plan.engine import SECRET_MARK, UNKNOWN_MARK

from .model import Resource

UNKNOWN = UNKNOWN_MARK
SECRET = SECRET_MARK
DAY = 86_400
WEEK = 7 * DAY

_DURATION = re.compile(r"^(\d+)(\.\d{1,9})?s$")
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


def is_known(value: Any) -> bool:
    """False for values nobody can judge yet: unknown outputs, redacted secrets, resource references."""
    if isinstance(value, str):
        return value not in (UNKNOWN, SECRET) and not value.startswith("[resource ")
    return True


def get(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """``get(props, "template.scaling.minInstanceCount")``; ``default`` when a step is missing.

    When a step is itself unknown (a whole object unknown during a preview), so is the result.
    """
    value: Any = props
    for step in path.split("."):
        if not is_known(value):
            return value
        if not isinstance(value, Mapping) or step not in value:
            return default
        value = value[step]
    return value


def values_at(obj: Any, path: str, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every (concrete path, value) that ``path`` names; ``[]`` after a step walks a list.

    ``values_at(props, "template.containers[].envs[].name")`` yields
    ``("template.containers[0].envs[1].name", "POG_REGION")``, ... Missing steps yield nothing.
    """
    if not path:
        yield where, obj
        return
    step, _, rest = path.partition(".")
    walk = step.endswith("[]")
    key = step.removesuffix("[]")
    if not isinstance(obj, Mapping) or key not in obj:
        return
    value = obj[key]
    here = f"{where}.{key}" if where else key
    if not walk:
        yield from values_at(value, rest, here)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            yield from values_at(item, rest, f"{here}[{index}]")


def as_list(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return []


def parse_duration(value: Any) -> float | None:
    """Seconds of a protobuf duration such as ``"604800s"`` or ``"3.5s"``; None if it is not one."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    if match is None:
        return None
    return float(match[1] + (match[2] or ""))


def human_duration(seconds: float) -> str:
    for unit, size in (("w", WEEK), ("d", DAY), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def cron_problem(expression: Any) -> str | None:
    """Why a unix-cron schedule (five fields, as Cloud Scheduler takes it) is not valid, or None."""
    if not isinstance(expression, str) or len(expression.split()) != 5:
        return f"{expression!r} is not a unix-cron schedule of five fields (minute hour day month weekday)"
    if not croniter.is_valid(expression):
        return f"{expression!r} does not parse as a cron schedule"
    return None


def cron_interval(expression: str) -> float:
    """The longest gap between two runs of a valid schedule over the next weeks, in seconds."""
    runs = croniter(expression, 0)
    previous = runs.get_next(float)
    longest = 0.0
    for _ in range(64):
        current = runs.get_next(float)
        longest = max(longest, current - previous)
        previous = current
    return longest


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_problem(name: Any) -> str | None:
    if not isinstance(name, str) or name not in _time_zones():
        return f"time zone {name!r} is not an IANA time zone name (e.g. Etc/UTC, Europe/Paris)"
    return None


def iam_members(props: Mapping[str, Any]) -> list[str]:
    """The principals an IAM member, binding or policy resource grants to."""
    members = [props["member"]] if isinstance(props.get("member"), str) else []
    members += [m for m in as_list(props.get("members")) if isinstance(m, str)]
    return members


def iam_grants(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(role, member) pairs of an IAM member, binding or policy resource (``policyData`` is JSON)."""
    role = props.get("role")
    grants = [(role if isinstance(role, str) else "", member) for member in iam_members(props)]
    policy = props.get("policyData")
    if isinstance(policy, str) and is_known(policy):
        try:
            data = json.loads(policy)
        except ValueError:
            data = {}
        bindings = as_list(data.get("bindings")) if isinstance(data, dict) else []
        for binding in bindings:
            if isinstance(binding, Mapping):
                grants += [
                    (str(binding.get("role", "")), m)
                    for m in as_list(binding.get("members"))
                    if isinstance(m, str)
                ]
    return grants


def public_members(props: Mapping[str, Any]) -> list[str]:
    return sorted({m for _, m in iam_grants(props) if m in PUBLIC_MEMBERS})


def refers_to(reference: Any, resource: Resource) -> bool:
    """Whether an input that references another resource (its id, name or self link) names ``resource``.

    The offline plan's ids are ``<logical name>-id``; the cloud's are paths ending in the name.
    """
    if not isinstance(reference, str) or not is_known(reference):
        return False
    names = {resource.name}
    for key in ("name", "secretId"):
        physical = resource.props.get(key)
        if isinstance(physical, str) and is_known(physical):
            names.add(physical)
    return any(reference in (n, f"{n}-id") or reference.endswith(f"/{n}") for n in names)


def enabled(value: Any) -> bool:
    """Booleans as the engine may pass them (the provider config stringifies them)."""
    return value is True or value == "true"
