"""Explicit providers built from stack config; default providers are disabled in every stack."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp

# pulumi-rediscloud 1.3.3 imports pkg_resources and would print a deprecation warning on every run.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import pulumi_rediscloud as rediscloud

from infra.config import StackConfig
from infra.stacks.common import labels


@dataclass(frozen=True)
class Providers:
    gcp: gcp.Provider
    cloudflare: cloudflare.Provider
    rediscloud: rediscloud.Provider

    @staticmethod
    def create(cfg: StackConfig) -> Providers:
        return Providers(
            gcp=gcp.Provider(
                f"{cfg.prefix}-gcp",
                project=cfg.gcp_project,
                region=cfg.region,
                # Firebase and Identity Platform bill quota to the target project, not the caller's.
                user_project_override=True,
                billing_project=cfg.gcp_project,
                default_labels=labels(cfg.prefix, "default"),
            ),
            cloudflare=cloudflare.Provider(f"{cfg.prefix}-cloudflare", api_token=cfg.cloudflare_api_token),
            rediscloud=rediscloud.Provider(
                f"{cfg.prefix}-rediscloud",
                api_key=cfg.redis_cloud_api_key,
                secret_key=cfg.redis_cloud_secret_key,
            ),
        )

    def opts(self) -> pulumi.ResourceOptions:
        """Options for a top-level component: children pick the provider of their package."""
        return pulumi.ResourceOptions(providers=[self.gcp, self.cloudflare, self.rediscloud])
