"""The API image by digest in a stack's Artifact Registry repository (deploy.yml, deploy-stack.yml).

The repository is the stack's ``pot-of-gold:appImage`` without its digest
(REGION-docker.pkg.dev/PROJECT/pog-ENV-images/api in ``Pulumi.<stack>.yaml``).

``push``: the image deploy.yml built and scanned, pushed to dev's repository under the commit's tag (the
cleanup policy keeps tagged images); the step output ``image`` is the digest the registry holds for
exactly those bytes.

``copy``: a stack's deploy of an image by digest. When the image is in another repository, a carbon copy
of its manifest (``--prefer-index=false``: no new index around it, so the same digest, never a rebuild),
tagged; then the stack's repository must hold exactly that digest. The step output ``image`` is
REPOSITORY@DIGEST.

    python3 -m scripts.ci.image push --stack dev --local pog-api:SHA --tag SHA
    python3 -m scripts.ci.image copy --stack prod --source REGISTRY/PROJECT/REPO/api@sha256:... --tag SHA
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.ci.github import Runner, StepError, add_summary, error, run, set_output

ROOT = Path(__file__).resolve().parents[2]
#: What the workflows accept as an image to deploy: an Artifact Registry image by digest.
BY_DIGEST = re.compile(r"[a-z0-9-]+-docker\.pkg\.dev/[^@\s]+@sha256:[0-9a-f]{64}")
_APP_IMAGE = re.compile(r"^ *pot-of-gold:appImage: *([^@ \n]*)@sha256:.*$", re.M)


def stack_repository(stack: str, root: Path = ROOT) -> str:
    """The repository the stack pulls from: its appImage without the digest."""
    path = root / f"Pulumi.{stack}.yaml"
    match = _APP_IMAGE.search(path.read_text()) if path.is_file() else None
    if match is None or not match.group(1):
        raise StepError(f"Pulumi.{stack}.yaml names no appImage REGISTRY/PROJECT/REPOSITORY/IMAGE@sha256:...")
    return match.group(1)


def registry(image: str) -> str:
    """REGION-docker.pkg.dev of an image or repository."""
    return image.split("/", 1)[0]


def _must(runner: Runner, argv: list[str], what: str) -> None:
    """Run ``argv`` (its output in the log); a non-zero exit fails the step."""
    returncode = runner(argv, capture=False).returncode
    if returncode != 0:
        raise StepError(f"{what} failed (exit {returncode})")


def pushed_digest(repo_digests: str, repo: str) -> str:
    """The first ``repo@sha256:...`` of ``docker image inspect``'s RepoDigests (one per line)."""
    for line in repo_digests.splitlines():
        if line.startswith(f"{repo}@sha256:") and BY_DIGEST.fullmatch(line):
            return line
    raise StepError(f"no digest recorded for {repo}")


def push(stack: str, local: str, tag: str, runner: Runner = run, root: Path = ROOT) -> str:
    """Push the scanned local image to the stack's repository; returns REPOSITORY@DIGEST."""
    repo = stack_repository(stack, root)
    _must(
        runner,
        ["gcloud", "auth", "configure-docker", registry(repo), "--quiet"],
        "gcloud auth configure-docker",
    )
    _must(runner, ["docker", "tag", local, f"{repo}:{tag}"], "docker tag")
    _must(runner, ["docker", "push", f"{repo}:{tag}"], "docker push")
    # The digest the registry holds for exactly the bytes Trivy scanned.
    fmt = "{{range .RepoDigests}}{{println .}}{{end}}"
    inspected = runner(["docker", "image", "inspect", "--format", fmt, f"{repo}:{tag}"])
    if inspected.returncode != 0:
        raise StepError(f"docker image inspect {repo}:{tag} failed: {inspected.stderr.strip()}")
    return pushed_digest(inspected.stdout, repo)


def copy(stack: str, source: str, tag: str, runner: Runner = run, root: Path = ROOT) -> str:
    """The image ``source`` (by digest) in the stack's repository; returns REPOSITORY@DIGEST."""
    if not BY_DIGEST.fullmatch(source):
        raise StepError(f"not an Artifact Registry image by digest: {source!r}")
    digest = source.rsplit("@", 1)[1]
    repo = stack_repository(stack, root)
    registries = [registry(repo)] + ([registry(source)] if registry(source) != registry(repo) else [])
    _must(
        runner,
        ["gcloud", "auth", "configure-docker", ",".join(registries), "--quiet"],
        "gcloud auth configure-docker",
    )
    if source.rsplit("@", 1)[0] != repo:
        tagged = f"{repo}:{tag}"
        create = ["docker", "buildx", "imagetools", "create", "--prefer-index=false", "--tag", tagged, source]
        _must(runner, create, f"copying {source} to {tagged}")
    # Fails unless this repository holds exactly that digest.
    inspected = runner(["docker", "buildx", "imagetools", "inspect", f"{repo}@{digest}"])
    if inspected.returncode != 0:
        raise StepError(f"{repo} does not hold {digest}: {inspected.stderr.strip()}")
    return f"{repo}@{digest}"


def main(argv: Sequence[str] | None = None, runner: Runner = run) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    push_parser = commands.add_parser("push", help="push the scanned image to the stack's repository")
    push_parser.add_argument("--local", required=True, help="the image as built and scanned (name:tag)")
    copy_parser = commands.add_parser("copy", help="the image by digest in the stack's repository")
    copy_parser.add_argument("--source", required=True, help="REGISTRY/PROJECT/REPOSITORY/IMAGE@sha256:...")
    for sub in (push_parser, copy_parser):
        sub.add_argument("--stack", required=True)
        sub.add_argument("--tag", required=True, help="the tag that keeps the image (the commit)")
    args = parser.parse_args(argv)
    try:
        if args.command == "push":
            image = push(args.stack, args.local, args.tag, runner)
            add_summary(f"pushed `{image}` (tag `{args.tag}`)\n")
        else:
            image = copy(args.stack, args.source, args.tag, runner)
    except StepError as exc:
        error(str(exc))
        return 1
    set_output("image", image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
