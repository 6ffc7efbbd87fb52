"""Run the Pulumi program under the SDK's mock engine and record every resource it declares.

The program runs the way ``pulumi-language-python-exec`` runs it (``runpy`` on ``infra/`` with
``infra/`` as the working directory and first on ``sys.path``), so a plan cannot pass where
``pulumi preview`` would fail to import. Each run gets a fresh ``contextvars`` context: the SDK
keeps its settings, config and root stack in context variables, so runs never leak into each other.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import config as runtime_config
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockEngine, MockMonitor, MockSettings
from pulumi.runtime.settings import configure
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from infra.plan.mocks import PlanMocks

PROJECT = "pot-of-gold"
INFRA_DIR = Path(__file__).resolve().parent.parent
SECRET_MARK = "[secret]"
_SECRET_SIG = rpc._special_secret_sig
_OUTPUT_SIG = rpc._special_output_value_sig
_SIG_KEY = rpc._special_sig_key


@dataclass(frozen=True)
class PlannedResource:
    type: str
    name: str
    parent: str | None
    provider: str | None
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    secret_paths: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.type}::{self.name}"


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> PlannedResource:
        for r in self.resources:
            if r.type == type_ and r.name == name:
                return r
        raise KeyError(f"no {type_} named {name!r} in the plan of {self.stack}")

    def children_of(self, parent_key: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == parent_key]


def _secret_paths(value: Any, path: str = "") -> Iterator[str]:
    """Paths of values the engine received marked secret (before deserialisation drops the mark)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG or (value.get(_SIG_KEY) == _OUTPUT_SIG and value.get("secret")):
            yield path
            return
        for k, v in value.items():
            yield from _secret_paths(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secret_paths(v, f"{path}[{i}]")


def _redact(value: Any, secret_paths: set[str], path: str = "") -> Any:
    if path in secret_paths:
        return SECRET_MARK
    if isinstance(value, dict):
        return {k: _redact(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps what the engine would see: parent, provider, protect, secrets."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[PlannedResource] = []
        self.stack_outputs: dict[str, Any] = {}
        self._keys_by_urn: dict[str, str] = {}
        self._stack_urn: str | None = None

    def _key_of(self, urn: str) -> str | None:
        return self._keys_by_urn.get(urn) if urn else None

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            self._stack_urn = response.urn
            return response
        key = f"{request.type}::{request.name}"
        self._keys_by_urn[response.urn] = key
        raw = json_format.MessageToDict(request.object)
        secrets = set(_secret_paths(raw))
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else ""
        self.recorded.append(
            PlannedResource(
                type=request.type,
                name=request.name,
                parent=self._key_of(request.parent),
                provider=self._key_of(provider_urn),
                custom=bool(request.custom),
                protect=bool(request.protect),
                inputs=_redact(_plain(inputs), secrets),
                depends_on=tuple(sorted(k for u in request.dependencies if (k := self._key_of(u)))),
                secret_paths=tuple(sorted(secrets)),
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.urn == self._stack_urn:
            raw = json_format.MessageToDict(request.outputs)
            secrets = set(_secret_paths(raw))
            outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
            self.stack_outputs = _redact(_plain(outputs), secrets)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def _plain(value: Any) -> Any:
    """Inputs as JSON-ready data: unknowns and resource references become readable strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is rpc.UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return f"[{type(value).__name__}]"


@contextlib.contextmanager
def _as_pulumi_runs_it() -> Iterator[None]:
    previous_cwd, previous_path = Path.cwd(), list(sys.path)
    os.chdir(INFRA_DIR)
    sys.path.insert(0, str(INFRA_DIR))
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.path[:] = previous_path


def run_program(
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor | None = None,
) -> Plan:
    """Run ``infra/`` once with this config under the mock engine; raise what the program raises.

    Pass a ``monitor`` to inspect what was declared even when the program fails.
    """
    monitor = monitor or RecordingMonitor(PlanMocks())
    return contextvars.Context().run(_run, stack, dict(config), secret_keys, monitor)


def _run(stack: str, config: dict[str, str], secret_keys: list[str], monitor: RecordingMonitor) -> Plan:
    runtime_config.set_all_config(config, secret_keys)
    configure(
        MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),  # type: ignore[no-untyped-call]
            engine=MockEngine(None),
            project=PROJECT,
            stack=stack,
            dry_run=False,
            organization="organization",
            callbacks=None,
        )
    )

    def program() -> None:
        with _as_pulumi_runs_it():
            runpy.run_path(str(INFRA_DIR), run_name="__main__")

    _sync_await(run_in_stack(program))
    return Plan(stack=stack, resources=monitor.recorded, outputs=monitor.stack_outputs)
