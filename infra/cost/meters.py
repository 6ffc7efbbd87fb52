"""Meters: what each planned resource uses of which price line in a month, under a load.

A meter reads the resource's declared inputs (memory, minimum instances, schedule...) and the load of the
usage model, and answers charges: a quantity of a price line. A type that costs nothing is listed in
``FREE`` with the reason; a type in neither is reported by the estimate as unpriced, never counted as $0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from infra.cost.usage import SECONDS_PER_MONTH, Load


@dataclass(frozen=True)
class Charge:
    line: str
    quantity: float
    note: str = ""


@dataclass(frozen=True)
class Context:
    """The stack being priced: its inventory (to find a resource's neighbours) and the load on it."""

    inventory: dict[str, Any]
    load: Load

    @property
    def environment(self) -> str:
        return "prod" if str(self.inventory.get("stack")) == "prod" else "dev"

    def of_type(self, type_: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.inventory["resources"] if r["type"] == type_)

    @property
    def api_regions(self) -> int:
        return max(1, sum(1 for _ in self.of_type(RUN_SERVICE)))


Meter = Callable[[dict[str, Any], Context], list[Charge]]

RUN_SERVICE = "gcp:cloudrunv2/service:Service"

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


def cloud_run_service(resource: dict[str, Any], ctx: Context) -> list[Charge]:
    """Request-based billing: CPU and memory while serving, requests, and the idle minimum instances.

    The load's requests split evenly over the API regions; CPU per request is the bench's measured figure.
    """
    template = resource["inputs"].get("template", {})
    container = (template.get("containers") or [{}])[0]
    limits = container.get("resources", {}).get("limits", {})
    cpu, memory = vcpus(str(limits.get("cpu", "1"))), gib(str(limits.get("memory", "512Mi")))
    minimum = int(template.get("scaling", {}).get("minInstanceCount", 0))
    requests = ctx.load.requests / ctx.api_regions
    busy_s = requests * ctx.load.model.measured.cpu_seconds_per_request / cpu  # instance-seconds serving
    idle_s = max(0.0, minimum * SECONDS_PER_MONTH - busy_s)
    return [
        Charge("run.requests", requests),
        Charge("run.vcpu_second", busy_s * cpu, f"{cpu:g} vCPU"),
        Charge("run.gib_second", busy_s * memory, f"{memory:g} GiB"),
        Charge("run.idle_vcpu_second", idle_s * cpu, f"{minimum} minimum instance(s)"),
        Charge("run.idle_gib_second", idle_s * memory),
    ]


METERS: dict[str, Meter] = {
    RUN_SERVICE: cloud_run_service,
}

#: Types that are never billed, with the reason (configuration, identities, grants, component groupings).
FREE: dict[str, str] = {
    "gcp:projects/iAMMember:IAMMember": "IAM grants are free",
    "gcp:projects/service:Service": "enabling an API is free",
}


def is_component(type_: str) -> bool:
    """Our own component resources (``potgold:<area>:<Thing>``) and Pulumi's providers group or configure."""
    return type_.startswith(("potgold:", "pulumi:providers:"))
