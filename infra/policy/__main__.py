"""CrossGuard entry point: `pulumi preview --policy-pack infra/policy`.

PolicyPack() starts the analyzer's gRPC server and blocks: never import this module (tests use
``infra.policy.pack.build_policies``).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Run as a directory, this folder is sys.path[0]; its module names (tokens, values, ...) must not
# shadow top-level ones. The repository root makes `infra` importable without the editable install.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

from pulumi_policy import PolicyPack  # noqa: E402

from infra.policy.pack import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    PACK_NAME,
    policies=build_policies(),
    description="Pot of Gold: the rules `pog check` runs offline, on every pulumi preview and up",
)
