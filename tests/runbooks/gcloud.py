"""The installed Google Cloud CLI, asked about each command path once (`gcloud <path> --help`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("/usr/bin/gcloud", "/usr/lib/google-cloud-sdk/bin/gcloud")
INSTALL_HINT = (
    "the Google Cloud CLI is not installed: install the `google-cloud-cli` package (apt, with Google's"
    " apt repository) or the SDK archive from Google, with its `alpha` component"
    " (`gcloud components install alpha`), so that `gcloud` is on PATH"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NAME = re.compile(r"^NAME\n\s+(gcloud(?: [a-z][a-z0-9-]*)*?) - ", re.M)


def find_gcloud() -> str | None:
    on_path = shutil.which("gcloud")
    if on_path:
        return on_path
    return next((c for c in CANDIDATES if Path(c).is_file() and os.access(c, os.X_OK)), None)


@dataclass(frozen=True)
class HelpPage:
    words: tuple[str, ...]  # what the runbook wrote after `gcloud`, up to the first non-word
    returncode: int
    text: str  # stdout (the help page) or stderr (the error), without terminal escapes

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and _NAME.search(self.text) is not None

    @property
    def command(self) -> str:
        """The canonical command the help page describes, e.g. `gcloud secrets versions access`."""
        found = _NAME.search(self.text)
        return found[1] if found else ""

    @property
    def is_group(self) -> bool:
        return "\nGROUP is one of" in self.text or "\nCOMMAND is one of" in self.text

    def has_flag(self, flag: str) -> bool:
        """`--no-foo` is documented as `--[no-]foo`; every global flag is listed on every page."""
        names = {flag}
        if flag.startswith("--no-"):
            names.add("--[no-]" + flag.removeprefix("--no-"))
        else:
            names.add("--[no-]" + flag.removeprefix("--"))
        return any(re.search(re.escape(name) + r"(?![a-z0-9-])", self.text) for name in names)


def ask(gcloud: str, words: tuple[str, ...], config_dir: Path) -> HelpPage:
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(config_dir),  # no writes to the user's gcloud configuration
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        "PAGER": "cat",
        "TERM": "dumb",
    }
    result = subprocess.run(
        [gcloud, *words, "--help"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    text = result.stdout if result.returncode == 0 else result.stderr
    return HelpPage(words, result.returncode, _ANSI.sub("", text))


def ask_all(
    gcloud: str, paths: set[tuple[str, ...]], config_dir: Path, workers: int = 6
) -> dict[tuple[str, ...], HelpPage]:
    """One `--help` per distinct path, in parallel (each call costs about a second of start-up)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pages = pool.map(lambda words: ask(gcloud, words, config_dir), sorted(paths))
        return {page.words: page for page in pages}
