"""Field types of monitoring/'s YAML formats: each rejects a bad value with the message a reader needs.

Every field is validated even when absent (``validate_default``), so an absent required field gets its
own type's message (``is required``, ``must be one of ...; got None``) instead of pydantic's generic one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from infra.monitoring.catalog import ALERT_SETS, CATALOG_FILE, GCP_METRICS, RUNBOOK_SECTIONS, SEVERITIES
from infra.monitoring.definitions import MetricDefinition

ID = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")
LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PROMETHEUS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^(\d+)s$")
#: The default of a field that must be given: validated like a given value, so it gets its type's message.
ABSENT: Any = None
#: The default of an optional list (never mutated: the validator returns a tuple).
NO_ITEMS: Any = []
PROBLEM = "monitoring_definition"


@dataclass(frozen=True)
class FileContext:
    """What a file's fields are checked against: its name, the repository, the metrics defined so far."""

    stem: str
    repo_root: Path
    metrics: Mapping[str, MetricDefinition]
    #: Metric files with problems of their own: naming one is no further problem.
    invalid_metrics: frozenset[str] = frozenset()


def problem(message: str) -> PydanticCustomError:
    # The message is a context value, not the template, so braces in it ({region}) are kept as written.
    return PydanticCustomError(PROBLEM, "{message}", {"message": message})


def problems_at(found: Iterable[tuple[tuple[str | int, ...], str]]) -> ValidationError | None:
    """Several problems, each at its field: pydantic prefixes their locations with the model's own."""
    errors = [InitErrorDetails(type=problem(message), loc=loc, input=None) for loc, message in found]
    return ValidationError.from_exception_data("monitoring definition", errors) if errors else None


def problem_at(field: str, message: str) -> ValidationError:
    """One problem at a field of the model whose validator raises it."""
    error = problems_at([((field,), message)])
    assert error is not None
    return error


class FileModel(BaseModel):
    """A mapping of a definition file: unknown fields are rejected, naming the fields it knows."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _explain(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if not isinstance(data, dict):
            raise problem(f"must be a mapping; got {data!r}")
        try:
            return handler(data)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(
                exc.title, [cls._explained(error) for error in exc.errors()]
            ) from None

    @classmethod
    def _explained(cls, error: Any) -> InitErrorDetails:
        message = error["msg"]
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
            known = sorted(field.alias or name for name, field in cls.model_fields.items())
            message = f"is not a known field (known: {', '.join(known)})"
        return InitErrorDetails(type=problem(message), loc=error["loc"], input=error["input"])


def context(info: ValidationInfo) -> FileContext:
    if not isinstance(info.context, FileContext):
        raise TypeError("validate definition files with context=FileContext(...)")
    return info.context


def required_text(value: Any) -> str:
    if value is None:
        raise problem("is required")
    if not isinstance(value, str) or not value.strip():
        raise problem(f"must be a non-empty string; got {value!r}")
    return value.strip()


def _matching(pattern: re.Pattern[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = required_text(value)
        if not pattern.match(value):
            raise problem(f"must match {pattern.pattern}; got {value!r}")
        return text

    return check


def one_of(options: Iterable[str]) -> PlainValidator:
    allowed = tuple(options)

    def check(value: Any) -> str:
        if value not in allowed:
            raise problem(f"must be one of {', '.join(allowed)}; got {value!r}")
        return str(value)

    return PlainValidator(check)


def number_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise problem(f"must be a number; got {value!r}")
    return float(value)


def _positive(value: Any) -> float:
    number = number_value(value)
    if number <= 0:
        raise problem(f"must be positive; got {number!r}")
    return number


def _whole_minutes(minimum: int) -> PlainValidator:
    def check(value: Any) -> str:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None or int(match[1]) < minimum or int(match[1]) % 60:
            raise problem(
                f"must be whole minutes written in seconds, at least {minimum}s (e.g. 300s); got {value!r}"
            )
        return str(value)

    return PlainValidator(check)


def seconds(window: str) -> int:
    """``300s`` -> 300, for a value a duration field accepted."""
    return int(window[:-1])


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise problem(f"must be true or false; got {value!r}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise problem(f"must be a list of strings; got {value!r}")
    return tuple(value)


def _label_key(value: Any) -> str:
    if not isinstance(value, str) or not LABEL_KEY.match(value):
        raise problem(f"key {value!r} must be lowercase letters, digits and underscores")
    return value


def _file_id(value: Any, info: ValidationInfo) -> str:
    text, stem = required_text(value), context(info).stem
    found = [] if ID.match(value) else [f"must match {ID.pattern}; got {value!r}"]
    if text != stem:
        found.append(f"must equal the file name without .yaml ({stem!r}); got {text!r}")
    error = problems_at(((), message) for message in found)
    if error is not None:
        raise error
    return text


def _runbook(value: Any, info: ValidationInfo) -> str:
    runbook = required_text(value)
    path = context(info).repo_root / runbook
    if not runbook.startswith("runbooks/") or not runbook.endswith(".md"):
        raise problem(
            f"must be a Markdown file under runbooks/, e.g. runbooks/alerts/<id>.md; got {runbook!r}"
        )
    if not path.is_file():
        raise problem(
            f"names {runbook}, which does not exist: write it (sections: {', '.join(RUNBOOK_SECTIONS)})"
        )
    lines = {line.strip() for line in path.read_text().splitlines()}
    missing = [s for s in RUNBOOK_SECTIONS if s not in lines]
    if missing:
        raise problem(f"{runbook} lacks the section(s) {', '.join(missing)}: add them")
    return runbook


def _metric_ref(value: Any, info: ValidationInfo) -> str:
    metric = required_text(value)
    known = context(info)
    if metric not in GCP_METRICS and metric not in known.metrics and metric not in known.invalid_metrics:
        raise problem(
            f"names an unknown metric {metric!r}: use a Google Cloud metric listed in GCP_METRICS"
            f" ({CATALOG_FILE}) or the id of a file in monitoring/metrics/"
        )
    return metric


def _series_filter(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"must be a Monitoring filter string; got {value!r}")
    if "metric.type" in value:
        raise problem("must not set metric.type (the loader adds it from `metric`)")
    return value.strip()


def non_empty_list(message: str) -> BeforeValidator:
    """Guards ``list[Model]``: this checks the list, the model each item."""

    def check(value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise problem(message)
        return value

    return BeforeValidator(check)


Text = Annotated[str, PlainValidator(required_text)]
PrometheusName = Annotated[str, PlainValidator(_matching(PROMETHEUS_NAME))]
FileId = Annotated[str, PlainValidator(_file_id)]
LabelValue = Annotated[str, PlainValidator(_matching(LABEL_VALUE))]
LabelKey = Annotated[str, PlainValidator(_label_key)]
Number = Annotated[float, PlainValidator(number_value)]
PositiveNumber = Annotated[float, PlainValidator(_positive)]
Boolean = Annotated[bool, PlainValidator(_boolean)]
Strings = Annotated[tuple[str, ...], PlainValidator(_strings)]
SeverityName = Annotated[str, one_of(SEVERITIES)]
AlertSet = Annotated[str, one_of(ALERT_SETS)]
Runbook = Annotated[str, PlainValidator(_runbook)]
MetricRef = Annotated[str, PlainValidator(_metric_ref)]
SeriesFilter = Annotated[str, PlainValidator(_series_filter)]
#: Whole minutes written in seconds: how long a condition must hold (0s = at once).
Duration = Annotated[str, _whole_minutes(0)]
#: An alignment period or lookback: at least a minute.
Window = Annotated[str, _whole_minutes(60)]
EvaluationInterval = Annotated[str, _whole_minutes(30)]
AutoClose = Annotated[str, _whole_minutes(1800)]
