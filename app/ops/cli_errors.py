"""One ``error:`` line, naming what to set, when an ops command cannot reach Google or Redis.

The clients raise their own exceptions deep inside a command (``google.auth.default()`` when a Firestore
client is built, a refused socket on the first Redis call); unhandled, each prints a 60-line traceback
that hides the one thing the operator has to do. ``explain`` recognises them; ``one_error_line`` wraps
a command body. The client modules are imported only once something failed, so ``pog`` starts without
them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import typer

NO_CREDENTIALS = (
    "no Google credentials: run `gcloud auth application-default login` or set"
    " GOOGLE_APPLICATION_CREDENTIALS to a service account key file; against the emulators, set"
    " FIRESTORE_EMULATOR_HOST (and POG_FIREBASE_PROJECT_ID=demo-...) instead"
)


class UnreachableError(Exception):
    """A service the command needs does not answer; the message names it and what to set."""


def check_firestore_emulator() -> None:
    """Fail in seconds when ``FIRESTORE_EMULATOR_HOST`` names no running emulator: the client would
    retry for minutes before it gave up."""
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if not host:
        return
    name, _, port = host.rpartition(":")
    try:
        with socket.create_connection((name.strip("[]") or "localhost", int(port)), timeout=3):
            return
    except (OSError, ValueError):
        pass
    raise UnreachableError(
        f"no Firestore emulator answers at {host} (FIRESTORE_EMULATOR_HOST): start one,"
        " or unset FIRESTORE_EMULATOR_HOST to use GCP"
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from, innermost last (a client error may be wrapped); a context
    dropped with ``raise ... from None`` was handled, so it is not followed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _explain_google(exc: BaseException) -> str | None:
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if isinstance(exc, auth.DefaultCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, auth.RefreshError):
        return f"the Google credentials were refused ({exc}): run `gcloud auth application-default login`"
    if isinstance(exc, api.Unauthenticated | api.PermissionDenied):
        return (
            f"Google refused the request ({exc.message}): use credentials allowed on the project, or set"
            " POG_FIREBASE_PROJECT_ID to the right one"
        )
    if isinstance(exc, api.ServiceUnavailable | api.DeadlineExceeded | api.RetryError):
        return (
            f"Firestore did not answer ({exc}): check FIRESTORE_EMULATOR_HOST points at a running emulator,"
            " or the network to Google"
        )
    return None


def _explain_redis(exc: BaseException) -> str | None:
    from redis import exceptions as redis

    if isinstance(exc, redis.AuthenticationError):
        return f"Redis refused the password ({exc}): set POG_REDIS_URL with the right credentials"
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return f"cannot reach Redis ({exc}): start it, or set POG_REDIS_URL to the right server"
    return None


def _explain_settings(exc: BaseException) -> str | None:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.title == "Settings" and exc.errors():
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        name = f"POG_{field.upper()}" if field else "a POG_* setting"
        return f"invalid setting {name}: {first['msg']} (fix the environment variable)"
    return None


def explain(exc: BaseException) -> str | None:
    """The one line for a missing credential, an unreachable service or a bad setting; else None."""
    for cause in _chain(exc):
        if isinstance(cause, UnreachableError):
            return str(cause)
        for explainer in (_explain_google, _explain_redis, _explain_settings):
            message = explainer(cause)
            if message is not None:
                return message
    return None


@contextmanager
def one_error_line(*, firestore: bool = True) -> Iterator[None]:
    """Around a command body: what ``explain`` knows becomes ``error: ...`` on stderr and exit 1.

    ``firestore``: the command reads Firestore, so an emulator that does not answer fails first.
    """
    try:
        if firestore:
            check_firestore_emulator()
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        typer.echo(f"error: {' '.join(message.split())}", err=True)
        raise typer.Exit(1) from None
