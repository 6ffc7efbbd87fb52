"""A local run of the game API (`make run-local`): throw-away redis-server and Firestore emulator on free
ports, a few demo players, then ``uvicorn app.main:app --reload`` on 127.0.0.1. Ctrl-C stops it all.

Dev tokens: with FIREBASE_AUTH_EMULATOR_HOST set, firebase_admin accepts unsigned tokens (no Auth emulator
has to run), so ``python -m scripts.run_local --token alice`` prints one for uid alice.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from scripts import services

PROJECT = "demo-pot-of-gold"
#: uid -> (display name, country, avatar id); alice and bob are friends.
DEMO_PLAYERS = {
    "alice": ("Alice", "IE", "leprechaun-1"),
    "bob": ("Bob", "GB", "rainbow-2"),
    "carol": ("Carol", "US", None),
}
#: Nothing listens here: the variable only switches firebase_admin to accepting unsigned tokens.
AUTH_EMULATOR_HOST = "127.0.0.1:9099"


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def dev_token(uid: str, project: str = PROJECT, ttl_s: int = 3600) -> str:
    """An unsigned Firebase ID token (``alg: none``): accepted only with FIREBASE_AUTH_EMULATOR_HOST set."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "iat": now,
        "exp": now + ttl_s,
        "auth_time": now,
        "firebase": {"sign_in_provider": "custom", "identities": {}},
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


async def seed(project: str) -> None:
    """Demo players through the app's own repository (FIRESTORE_EMULATOR_HOST must be set)."""
    from datetime import UTC, datetime

    from app.core.config import Settings
    from app.domain import friends
    from app.domain.players import ProfileChanges
    from app.repositories.clients import close_firestore, firestore_client
    from app.repositories.friends import FriendRepository
    from app.repositories.users import UserRepository

    db = firestore_client(Settings(environment="local", firebase_project_id=project))
    try:
        users = UserRepository(db)
        for uid, (name, country, avatar) in DEMO_PLAYERS.items():
            await users.create(uid, name)
            await users.update_profile(uid, ProfileChanges(country=country, avatar_id=avatar))
        # Friends by consent, as the API makes them: alice asks, bob accepts.
        now = datetime.now(UTC)
        await FriendRepository(db).change("alice", "bob", lambda me, them: friends.add(me, them, now))
        await FriendRepository(db).change("bob", "alice", lambda me, them: friends.add(me, them, now))
    finally:
        await close_firestore(db)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn's reloader stops its worker on SIGINT
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run(port: int, reload: bool, project: str) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    say = print
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pog-local-")))
        rds = services.start_redis(workdir)
        stack.callback(rds.stop)
        say(f"redis-server        pid {rds.process.pid}  127.0.0.1:{rds.port}", flush=True)
        fs = services.start_firestore(workdir)
        stack.callback(fs.stop)
        say(f"Firestore emulator  pid {fs.process.pid}  127.0.0.1:{fs.port}", flush=True)
        if stop.is_set():
            return 0
        forced = {
            "POG_ENVIRONMENT": "local",
            "POG_REDIS_URL": f"redis://127.0.0.1:{rds.port}/0",
            "POG_FIREBASE_PROJECT_ID": project,
            "POG_AUTH_CHECK_REVOKED": "false",  # no Auth emulator runs to ask
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{fs.port}",
            "FIREBASE_AUTH_EMULATOR_HOST": AUTH_EMULATOR_HOST,
        }
        os.environ.setdefault("POG_LOG_JSON", "false")  # readable lines on a terminal
        os.environ.update(forced)
        asyncio.run(seed(project))
        base = f"http://127.0.0.1:{port}"
        token = dev_token("alice", project)
        say(
            f"\nseeded players: {', '.join(DEMO_PLAYERS)}\n"
            f"API      {base}  (docs {base}/docs, schema {base}/openapi.json, ready {base}/readyz)\n"
            f"a token  {sys.executable} -m scripts.run_local --token <uid> --project {project}\n"
            f"alice    TOKEN={token}\n"
            f'try      curl -s -H "Authorization: Bearer $TOKEN" {base}/v1/me\n',
            flush=True,
        )
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
        if reload:
            cmd += ["--reload", "--reload-dir", "app"]
        api = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        stack.callback(_stop_process, api)
        say(f"uvicorn             pid {api.pid}  {base}", flush=True)
        while not stop.wait(0.2):
            if api.poll() is not None:
                say(f"uvicorn exited with {api.returncode}; stopping", file=sys.stderr, flush=True)
                return 1
    say("stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, default=8000, help="the API's port (default 8000)")
    parser.add_argument("--no-reload", dest="reload", action="store_false", help="serve without --reload")
    parser.add_argument("--project", default=PROJECT, help=f"Firebase project id (default {PROJECT})")
    parser.add_argument("--token", metavar="UID", help="print a dev token for UID and exit")
    args = parser.parse_args(argv)
    if args.token:
        print(dev_token(args.token, args.project))
        return 0
    return run(args.port, args.reload, args.project)


if __name__ == "__main__":
    sys.exit(main())
