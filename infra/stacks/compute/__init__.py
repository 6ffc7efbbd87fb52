"""Compute: the API on Cloud Run per region behind one global external Application Load Balancer.

``component`` composes the rest: ``service`` (the Cloud Run service and its containers), ``settings`` (the
app's environment, shared with the jobs), ``jobs`` and ``schedules`` (the deploy contract's ops commands),
``armor``, ``load_balancer`` and ``assets``.
"""

from infra.stacks.compute.args import LAYER, ComputeArgs
from infra.stacks.compute.armor import (
    ADMIN_PATH_TEST,
    ADMIN_RULE_PRIORITY,
    CLIENT_IP_HEADER,
    CLOUDFLARE_RULE_PRIORITY,
    DEFAULT_RULE_PRIORITY,
    DENY,
    MAX_RANGES_PER_RULE,
    admin_rule_expression,
    cloudflare_only_rules,
    range_chunks,
)
from infra.stacks.compute.assets import assets_hostname_for
from infra.stacks.compute.component import Compute
from infra.stacks.compute.jobs import (
    ANNOUNCE_JOB,
    OPS_COMMAND,
    REBUILD_JOB,
    REWARDS_JOB,
    OpsJob,
    ops_job_name,
    rebuild_job_name,
)
from infra.stacks.compute.load_balancer import PROBE_HEADER
from infra.stacks.compute.schedules import schedule_name
from infra.stacks.compute.service import API_CONTAINER, METRICS_SIDECAR_IMAGE, METRICS_SIDECAR_LIMITS, PORT
from infra.stacks.compute.settings import BACKEND, LB_FORWARDED_FOR_HOPS, plain_env_for

__all__ = [
    "ADMIN_PATH_TEST",
    "ADMIN_RULE_PRIORITY",
    "ANNOUNCE_JOB",
    "API_CONTAINER",
    "BACKEND",
    "CLIENT_IP_HEADER",
    "CLOUDFLARE_RULE_PRIORITY",
    "DEFAULT_RULE_PRIORITY",
    "DENY",
    "LAYER",
    "LB_FORWARDED_FOR_HOPS",
    "MAX_RANGES_PER_RULE",
    "METRICS_SIDECAR_IMAGE",
    "METRICS_SIDECAR_LIMITS",
    "OPS_COMMAND",
    "PORT",
    "PROBE_HEADER",
    "REBUILD_JOB",
    "REWARDS_JOB",
    "Compute",
    "ComputeArgs",
    "OpsJob",
    "admin_rule_expression",
    "assets_hostname_for",
    "cloudflare_only_rules",
    "ops_job_name",
    "plain_env_for",
    "range_chunks",
    "rebuild_job_name",
    "schedule_name",
]
