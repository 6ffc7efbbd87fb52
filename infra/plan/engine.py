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
UNKNOWN_MARK = "[unknown]"
_SECRET_SIG = rpc._special_secret_sig
_OUTPUT_SIG = rpc._special_output_value_sig
_RESOURCE_SIG = rpc._special_resource_sig
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


def _decode(value: Any, secrets: list[str], path: str = "") -> Any:
    """The engine's wire form of a property as JSON-ready data.

    Decoded from the raw struct rather than through ``rpc.deserialize_properties``, which leaves a
    secret nested inside an object wrapped and unredacted. Secrets become ``[secret]`` and their
    paths are collected; unknowns and resource references become readable markers.
    """
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG or (sig == _OUTPUT_SIG and value.get("secret")):
            secrets.append(path)
            return SECRET_MARK
        if sig == _OUTPUT_SIG:
            return _decode(value["value"], secrets, path) if "value" in value else UNKNOWN_MARK
        if sig == _RESOURCE_SIG:
            return f"[resource {value.get('urn', '')}]"
        if sig is not None:
            return "[asset]"
        return {k: _decode(v, secrets, f"{path}.{k}" if path else k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_decode(v, secrets, f"{path}[{i}]") for i, v in enumerate(value)]
    if value == rpc.UNKNOWN:
        return UNKNOWN_MARK
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _decode_struct(struct: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    secrets: list[str] = []
    decoded = _decode(json_format.MessageToDict(struct), secrets)
    return decoded, tuple(sorted(secrets))


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
        inputs, secrets = _decode_struct(request.object)
        provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else ""
        self.recorded.append(
            PlannedResource(
                type=request.type,
                name=request.name,
                parent=self._key_of(request.parent),
                provider=self._key_of(provider_urn),
                custom=bool(request.custom),
                protect=bool(request.protect),
                inputs=inputs,
                depends_on=tuple(sorted(k for u in request.dependencies if (k := self._key_of(u)))),
                secret_paths=secrets,
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.urn == self._stack_urn:
            self.stack_outputs, _ = _decode_struct(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _as_pulumi_runs_it(program_dir: Path) -> Iterator[None]:
    previous_cwd, previous_path = Path.cwd(), list(sys.path)
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
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
    program_dir: Path = INFRA_DIR,
) -> Plan:
    """Run ``infra/`` once with this config under the mock engine; raise what the program raises.

    Pass a ``monitor`` to inspect what was declared even when the program fails.
    """
    monitor = monitor or RecordingMonitor(PlanMocks())
    return contextvars.Context().run(_run, stack, dict(config), secret_keys, monitor, program_dir)


def _run(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor,
    program_dir: Path,
) -> Plan:
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
        with _as_pulumi_runs_it(program_dir):
            runpy.run_path(str(program_dir), run_name="__main__")

    _sync_await(run_in_stack(program))
    return Plan(stack=stack, resources=monitor.recorded, outputs=monitor.stack_outputs)
