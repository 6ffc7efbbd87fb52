"""What `pog backup snapshot` needs to know about a stack, read from its stack file for ``backups``."""

from __future__ import annotations

from backups.errors import BackupError
from infra.config import NAME_PREFIX, NAMESPACE
from infra.plan.stackfile import PlanInputError, load_stack


def snapshot_defaults(stack: str) -> tuple[str, str]:
    """The stack's GCP project and snapshot location, read from ``Pulumi.<stack>.yaml``."""
    # Here, not at the top: backups.snapshot loads the Google clients, which `pog plan` does without.
    from backups.snapshot import SNAPSHOT_FOLDER

    try:
        config = load_stack(stack).config
    except PlanInputError as exc:
        raise BackupError(str(exc)) from None
    project = config.get(f"{NAMESPACE}:gcpProject")
    environment = config.get(f"{NAMESPACE}:environment")
    if not project or not environment:
        raise BackupError(f"Pulumi.{stack}.yaml sets no {NAMESPACE}:gcpProject or {NAMESPACE}:environment")
    # The stack's export bucket (infra/stacks/backups.py), beside the daily exports.
    return project, f"gs://{NAME_PREFIX}-{environment}-firestore-exports/{SNAPSHOT_FOLDER}"
