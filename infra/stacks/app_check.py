"""Firebase App Check on the Firebase services game clients call directly (children of the data layer).

Clients sign in with Identity Platform, read their profile and the boards from Firestore, and will use the
Realtime Database: each service refuses requests without a valid App Check token when ENFORCED, and only
counts them when UNENFORCED (App Check's metrics in the console tell when enforcing is safe). Prod
enforces (``PhaseProfile.app_check_enforced``), dev measures. The game API checks the same tokens itself
(``POG_APP_CHECK``, app/api/app_check.py). Server calls with the runtime's service account are not
subject to it. Cloud Storage for Firebase, the provider's fourth service, holds nothing of ours.

The attestation providers (Play Integrity, App Attest, DeviceCheck) and the developers' debug tokens
belong to the registered Firebase apps, which this program does not declare; a DeviceCheck key and a
debug token are secrets that would land in Pulumi state, so they are set in the console
(docs/stacks.md#app-check).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks.common import child

#: The services App Check can enforce that game clients call, by the short name in resource names.
ENFORCEABLE_SERVICES: dict[str, str] = {
    "auth": "identitytoolkit.googleapis.com",
    "firestore": "firestore.googleapis.com",
    "rtdb": "firebasedatabase.googleapis.com",
}


def enforcement_mode(profile: PhaseProfile) -> str:
    return "ENFORCED" if profile.app_check_enforced else "UNENFORCED"


def app_check_services(
    parent: pulumi.Resource,
    prefix: str,
    project: str,
    profile: PhaseProfile,
    depends_on: Sequence[pulumi.Resource],
) -> dict[str, gcp.firebase.AppCheckServiceConfig]:
    """One enforcement setting per service, keyed by service id; ``depends_on``: the services' own
    resources (a service is configured once it exists)."""
    mode = enforcement_mode(profile)
    return {
        service_id: gcp.firebase.AppCheckServiceConfig(
            f"{prefix}-app-check-{short}",
            project=project,
            service_id=service_id,
            enforcement_mode=mode,
            opts=child(parent, depends_on=depends_on),
        )
        for short, service_id in ENFORCEABLE_SERVICES.items()
    }
