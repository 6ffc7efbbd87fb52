"""What the mock engine answers for resources and invokes.

Outputs are the inputs plus the few computed attributes the program reads (emails, URIs, addresses),
so ``apply`` callbacks run with realistic values instead of None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pulumi

ComputedState = Callable[[str, dict[str, Any]], dict[str, Any]]

PROJECT_NUMBER = "123456789012"


def _stable_number(name: str, modulo: int) -> int:
    """Same name, same number, in every run: plans must be byte-identical."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % modulo


def _service_account(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    email = f"{inputs['accountId']}@{inputs.get('project', 'project')}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "uniqueId": f"1{_stable_number(name, 10**20):020d}",
    }


def _cloud_run(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"uri": f"https://{inputs.get('name', name)}-abc123-uc.a.run.app"}


def _address(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # A documentation range (RFC 5737) so no plan ever shows a real address.
    scope = f"regions/{inputs['region']}" if inputs.get("region") else "global"
    return {
        "address": inputs.get("address") or f"203.0.113.{10 + _stable_number(name, 240)}",
        "selfLink": (
            f"https://www.googleapis.com/compute/v1/projects/{inputs.get('project', 'project')}"
            f"/{scope}/addresses/{inputs.get('name', name)}"
        ),
    }


def _redis_database(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "dbId": 1,
        "publicEndpoint": f"redis-12000.{name}.example.cloud.redislabs.com:12000",
        "privateEndpoint": f"redis-12000.internal.{name}.example.cloud.redislabs.com:12000",
        "password": "mock-redis-password",
    }


def _active_active_database(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # Endpoints are maps keyed by region; the regions are those the database overrides.
    regions = [r["name"] for r in inputs.get("overrideRegions") or []]
    return {
        "dbId": 1,
        "publicEndpoint": {r: f"redis-12000.{name}.{r}.example.cloud.redislabs.com:12000" for r in regions},
        "privateEndpoint": {
            r: f"redis-12000.internal.{name}.{r}.example.cloud.redislabs.com:12000" for r in regions
        },
        "globalPassword": "mock-redis-password",
    }


def _dns_authorization(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    domain = inputs.get("domain", "example.com")
    return {
        "dnsResourceRecords": [
            {
                "name": f"_acme-challenge.{domain}.",
                "type": "CNAME",
                "data": f"{name}.1.authorize.certificatemanager.goog.",
            }
        ]
    }


def _uptime_check(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # Google derives the id from the display name and appends a random suffix.
    return {"uptimeCheckId": f"{name}-{_stable_number(name, 16**8):08x}"}


COMPUTED: dict[str, ComputedState] = {
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:cloudrunv2/service:Service": _cloud_run,
    "gcp:compute/globalAddress:GlobalAddress": _address,
    "gcp:compute/address:Address": _address,
    "rediscloud:index/subscriptionDatabase:SubscriptionDatabase": _redis_database,
    "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase": (
        _active_active_database
    ),
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": _dns_authorization,
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": _uptime_check,
}

INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "gcp:organizations/getProject:getProject": lambda args: {
        "number": PROJECT_NUMBER,
        "projectId": args.get("projectId", "project"),
    },
    # BigQuery's encryption account (the analytics dataset's CMEK grant, infra/stacks/analytics.py).
    "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount": lambda args: {
        "email": f"bq-{PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com",
        "member": f"serviceAccount:bq-{PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com",
        "project": args.get("project", "project"),
    },
}


class PlanMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        state.setdefault("name", args.inputs.get("name", args.name))
        computed = COMPUTED.get(args.typ)
        if computed is not None:
            state.update(computed(args.name, args.inputs))
        resource_id = f"{args.name}-id"
        state.setdefault("id", resource_id)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = INVOKES.get(args.token)
        if handler is None:
            raise NotImplementedError(
                f"the offline plan has no answer for invoke {args.token}; add one to infra/plan/mocks.py"
            )
        return handler(args.args), []  # the SDK iterates the failures list
