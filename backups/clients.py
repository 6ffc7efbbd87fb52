"""Firestore clients for a target: the SDK client (writes), the low-level data API (raw reads) and Admin."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc  # type: ignore[import-untyped]
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_admin_v1 import FirestoreAdminClient
from google.cloud.firestore_v1.services.firestore import FirestoreClient
from google.cloud.firestore_v1.services.firestore.transports import FirestoreGrpcTransport

from backups.targets import EMULATOR_VARIABLE, Target

_env_lock = threading.Lock()


@contextmanager
def _emulator_env(host: str | None) -> Iterator[None]:
    # google.cloud.firestore.Client reads FIRESTORE_EMULATOR_HOST once, in its constructor; a drill talks
    # to two emulators, so the variable is set to the target's host only while the client is built.
    with _env_lock:
        saved = os.environ.get(EMULATOR_VARIABLE)
        if host is None:
            os.environ.pop(EMULATOR_VARIABLE, None)
        else:
            os.environ[EMULATOR_VARIABLE] = host
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop(EMULATOR_VARIABLE, None)
            else:
                os.environ[EMULATOR_VARIABLE] = saved


def sdk_client(target: Target) -> firestore.Client:
    """The SDK client, for writes (seeding, the drill's corrupted copies)."""
    with _emulator_env(target.emulator):
        return firestore.Client(project=target.project, database=target.database)


def data_client(target: Target) -> FirestoreClient:
    """The generated data API client: reads return the stored protobuf values, nothing decoded.

    The SDK's decoded values cannot represent a reference into another database (a restored copy keeps
    references to the source), and checksums need the stored types (an integer is not a double).
    """
    if target.emulator is None:
        return FirestoreClient()
    # The emulator speaks plaintext gRPC and treats "Bearer owner" as the admin (rules bypassed).
    channel = grpc.insecure_channel(target.emulator, options=[("grpc.max_receive_message_length", -1)])
    transport = FirestoreGrpcTransport(channel=channel, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return FirestoreClient(transport=transport)


EMULATOR_METADATA = (("authorization", "Bearer owner"),)


def metadata(target: Target) -> tuple[tuple[str, str], ...]:
    return EMULATOR_METADATA if target.emulator else ()


def admin_client() -> FirestoreAdminClient:
    """The Admin API client (exports, imports, backup restores) with application default credentials."""
    return FirestoreAdminClient()
