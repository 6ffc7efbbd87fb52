"""The app's settings in a region: plain values and Secret Manager references, for the service and jobs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pulumi
import pulumi_gcp as gcp

import contract
from infra.stacks.cloudflare_ranges import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6
from infra.stacks.compute.args import ComputeArgs

BACKEND = contract.load()
#: Google's external Application Load Balancer appends "<address it was connected from>, <its own address>"
#: to X-Forwarded-For; the app reads the connecting address one entry left of the end (app/core/net.py):
#: on Cloud Run the socket's peer is Google's infrastructure and proves nothing.
LB_FORWARDED_FOR_HOPS = 1
#: The Realtime Database shards' URLs, comma-separated in shard order (Data.realtime_database_urls).
REALTIME_URLS = "POG_REALTIME_DATABASE_URLS"
#: Share of requests traced, to Cloud Trace (POG_TRACE_SAMPLE_RATIO) and as Sentry transactions
#: (POG_SENTRY_TRACES_SAMPLE_RATE), per environment: every request in dev (little traffic, whole paths to
#: debug); 1 in 20 in prod, thousands of traces per route per hour for a small span bill
#: (docs/operations.md#traces). plain_env overrides either.
TRACE_SAMPLING: dict[str, str] = {"dev": "1.0", "prod": "0.05"}
TRACE_SETTINGS = ("POG_TRACE_SAMPLE_RATIO", "POG_SENTRY_TRACES_SAMPLE_RATE")

_Env = TypeVar(
    "_Env", gcp.cloudrunv2.ServiceTemplateContainerEnvArgs, gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs
)


def plain_env_for(
    region: str,
    admin_ip_allowlist: Sequence[str],
    plain_env: Mapping[str, pulumi.Input[str]],
    games_databases: Mapping[str, str],
    all_games_databases: Sequence[str],
) -> dict[str, pulumi.Input[str]]:
    """The app's plain settings in ``region``; ``plain_env`` overrides the derived ones (a restored games
    database: runbooks/procedures/restore-from-export.md, step 4)."""
    plain: dict[str, pulumi.Input[str]] = {
        "POG_ADMIN_IP_ALLOWLIST": json.dumps(list(admin_ip_allowlist)),
        # The app believes CF-Connecting-IP only from these connecting addresses: Cloud Armor admits
        # nothing else, and the ingress setting lets nothing but the load balancer reach the service.
        "POG_TRUSTED_PROXIES": json.dumps([*CLOUDFLARE_IPV4, *CLOUDFLARE_IPV6]),
        "POG_FORWARDED_FOR_HOPS": str(LB_FORWARDED_FOR_HOPS),
        **plain_env,
        "POG_GAMES_DATABASE": plain_env.get("POG_GAMES_DATABASE", games_databases[region]),
    }
    holding_games = sorted({*all_games_databases, *games_databases.values()})
    if "POG_ALL_GAMES_DATABASES" not in plain_env and len(holding_games) > 1:
        # The regions share the boards and the players, and a promotion leaves games in the earlier
        # phase's database: a rebuild, or a player's event progress, must read them all.
        plain["POG_ALL_GAMES_DATABASES"] = json.dumps(holding_games)
    own, listed = plain["POG_GAMES_DATABASE"], plain.get("POG_ALL_GAMES_DATABASES")
    if isinstance(own, str) and isinstance(listed, str) and own not in _names(listed):
        raise ValueError(
            f"POG_GAMES_DATABASE {own!r} is not in POG_ALL_GAMES_DATABASES {listed} in {region}: the app "
            "would refuse to start. Override both in plain_env, the restored database in place of the one "
            "it replaces (runbooks/procedures/restore-from-export.md, step 4)"
        )
    return plain


def _names(listed: str) -> list[str]:
    """A JSON list or a comma-separated string, as the app reads its list settings."""
    text = listed.strip()
    if text.startswith("["):
        return [str(name) for name in json.loads(text)]
    return [name.strip() for name in text.split(",") if name.strip()]


def env_values(
    args: ComputeArgs, region: str
) -> tuple[dict[str, pulumi.Input[str]], dict[str, gcp.secretmanager.Secret]]:
    """What the app reads in a region: plain values, and secrets by environment variable.

    One builder for the API service and the jobs that run the app's commands, so both see the same
    settings."""
    plain = plain_env_for(
        region, args.admin_ip_allowlist, args.plain_env, args.games_databases, args.all_games_databases
    )
    if BACKEND.redis[args.profile.redis.topology.value].client == "cluster":
        plain["POG_REDIS_CLUSTER"] = "true"
    for name in TRACE_SETTINGS:
        plain.setdefault(name, TRACE_SAMPLING[args.profile.environment])
    if args.realtime_database_urls and REALTIME_URLS not in plain:
        # Shard order matters: a player's shard is shard_for(uid, len(urls)) (app/domain/realtime.py).
        plain[REALTIME_URLS] = ",".join(args.realtime_database_urls)
    secrets = {env_var: by_region[region] for env_var, by_region in args.secrets.items()}
    clash = sorted(plain.keys() & secrets.keys())
    if clash:
        raise ValueError(
            f"environment variables {clash} are both plain and secret; secrets come from Secret Manager"
        )
    return plain, secrets


def service_envs(args: ComputeArgs, region: str) -> list[gcp.cloudrunv2.ServiceTemplateContainerEnvArgs]:
    return _env_args(
        args,
        region,
        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs,
        gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs,
        gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs,
    )


def job_envs(args: ComputeArgs, region: str) -> list[gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs]:
    return _env_args(
        args,
        region,
        gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs,
        gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceArgs,
        gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs,
    )


def _env_args(
    args: ComputeArgs, region: str, env: type[_Env], value_source: type[Any], secret_ref: type[Any]
) -> list[_Env]:
    """Plain values, then secrets as Secret Manager references, in the shapes of a service's or a
    job's container (the same fields under different generated classes)."""
    plain, secrets = env_values(args, region)
    envs = [env(name=k, value=v) for k, v in sorted(plain.items())]
    envs += [
        env(
            name=env_var,
            value_source=value_source(secret_key_ref=secret_ref(secret=secret.secret_id, version="latest")),
        )
        for env_var, secret in sorted(secrets.items())
    ]
    return envs
