"""Real redis-server and Firestore emulator, started once per test process; data cleared per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import google.oauth2.id_token
import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.config import Settings
from app.main import create_app
from scripts import services as procs
from tests.app import tokens


@dataclass(frozen=True)
class Backends:
    redis_port: int
    firestore_port: int
    project: str

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def firestore_host(self) -> str:
        return f"127.0.0.1:{self.firestore_port}"


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Backends]:
    workdir = tmp_path_factory.mktemp("services")
    with ExitStack() as stack:
        rds = procs.start_redis(workdir)
        stack.callback(rds.stop)
        fs = procs.start_firestore(workdir)
        stack.callback(fs.stop)
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        # The Firestore client reads this itself; the auth emulator variable must stay unset so that
        # tokens go through the production verification path.
        mp.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{fs.port}")
        mp.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
        yield Backends(rds.port, fs.port, f"demo-pog-{worker_id}")


@pytest.fixture(scope="session")
def signing_key(backends: Backends) -> Iterator[tokens.TestKey]:
    """Serve the test key's certificate where firebase_admin fetches Google's (the SDK code runs as is)."""
    key = tokens.TestKey("test-kid-1")

    def fetch_certs(request: Any, certs_url: str) -> dict[str, str]:
        return {key.kid: key.cert_pem}

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(google.oauth2.id_token, "_fetch_certs", fetch_certs)
        yield key


@pytest.fixture
def clean(backends: Backends) -> None:
    procs.clear_firestore(backends.firestore_port, backends.project)
    with redis.Redis.from_url(backends.redis_url) as r:
        r.flushdb()


@pytest.fixture
def rds(backends: Backends, clean: None) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(backends.redis_url) as client:
        yield client


@pytest.fixture
def db(backends: Backends, clean: None) -> Iterator[firestore.Client]:
    client = firestore.Client(project=backends.project)
    yield client
    client.close()


def settings_for(backends: Backends, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "redis_url": backends.redis_url,
        "firebase_project_id": backends.project,
        "auth_check_revoked": False,
        "gc_freeze_after_startup": False,  # each app would add a full collection (~0.1 s here)
        "FIRESTORE_EMULATOR_HOST": backends.firestore_host,
    }
    values.update(overrides)
    return Settings(**values)


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(backends: Backends, signing_key: tokens.TestKey, clean: None) -> Iterator[MakeClient]:
    with ExitStack() as stack:

        def make(client_addr: tuple[str, int] = ("203.0.113.7", 50000), **overrides: Any) -> TestClient:
            app = create_app(settings_for(backends, **overrides))
            return stack.enter_context(TestClient(app, client=client_addr))

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


Mint = Callable[..., dict[str, str]]


@pytest.fixture
def auth(backends: Backends, signing_key: tokens.TestKey) -> Mint:
    """``auth("alice")`` -> an Authorization header with a valid token for uid alice."""

    def mint(uid: str, **extra: Any) -> dict[str, str]:
        token = tokens.sign(signing_key, tokens.claims(backends.project, uid, **extra))
        return {"Authorization": f"Bearer {token}"}

    return mint
