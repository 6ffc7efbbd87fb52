"""The mock engine records what `pulumi preview` would send: parents, providers, protect, secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra.plan.engine import Plan, run_program

PROGRAM = """
import os
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

config = pulumi.Config("pot-of-gold")
provider = gcp.Provider("p-gcp", project="p", credentials=config.get_secret("token"))


class Layer(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("potgold:test:Layer", name, None, opts)
        account = gcp.serviceaccount.Account(
            "p-sa", account_id="api", project="p", opts=pulumi.ResourceOptions(parent=self, protect=True)
        )
        gcp.storage.Bucket(
            "p-bucket",
            location="US",
            labels={"owner": account.email.apply(lambda e: e.split("@")[0])},
            opts=pulumi.ResourceOptions(parent=self),
        )
        gcp.monitoring.NotificationChannel(
            "p-pager",
            type="pagerduty",
            sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(
                service_key=config.get_secret("token")
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


layer = Layer("p-layer", pulumi.ResourceOptions(providers=[provider]))
pulumi.export("cwd", Path.cwd().name)
pulumi.export("token", config.get_secret("token"))
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    program_dir: Path = tmp_path_factory.mktemp("program")
    (program_dir / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    return run_program(
        "test", {"pot-of-gold:token": "hunter2"}, ["pot-of-gold:token"], program_dir=program_dir
    )


def test_parents_providers_and_protect_are_recorded(plan: Plan) -> None:
    account = plan.get("gcp:serviceaccount/account:Account", "p-sa")

    assert account.parent == "potgold:test:Layer::p-layer"
    assert account.provider == "pulumi:providers:gcp::p-gcp"
    assert account.protect is True
    assert plan.get("gcp:storage/bucket:Bucket", "p-bucket").protect is False


def test_apply_callbacks_run_and_dependencies_follow_outputs(plan: Plan) -> None:
    bucket = plan.get("gcp:storage/bucket:Bucket", "p-bucket")

    assert bucket.inputs["labels"] == {"owner": "api"}
    assert bucket.depends_on == ("gcp:serviceaccount/account:Account::p-sa",)


def test_secrets_are_redacted_at_any_depth(plan: Plan) -> None:
    provider = plan.get("pulumi:providers:gcp", "p-gcp")
    channel = plan.get("gcp:monitoring/notificationChannel:NotificationChannel", "p-pager")

    assert provider.inputs["credentials"] == "[secret]"
    assert channel.inputs["sensitiveLabels"] == {"serviceKey": "[secret]"}
    assert channel.secret_paths == ("sensitiveLabels.serviceKey",)
    assert plan.outputs["token"] == "[secret]"
    assert "hunter2" not in repr(plan)


def test_program_runs_from_its_own_directory_like_the_pulumi_cli(plan: Plan) -> None:
    assert plan.outputs["cwd"].startswith("program")


def test_a_failing_program_raises_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("raise RuntimeError('broken program')\n")

    with pytest.raises(RuntimeError, match="broken program"):
        run_program("test", {}, [], program_dir=tmp_path)
