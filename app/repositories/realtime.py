"""The server's reads and writes on the Realtime Database shards, through ``firebase_admin.db`` (REST).

One firebase_admin App holds a client per shard URL (the SDK caches them). A deployed stack signs the
requests with its runtime account (Application Default Credentials: the SDK asks for the
``firebase.database`` scope, and the account holds ``roles/firebasedatabase.admin``, which also bypasses
the security rules, as the server must). An ``http://host:port/?ns=name`` URL (local runs and tests) is
the SDK's own emulator form: requests go to that host with ``?ns=name`` and ``Authorization: Bearer
owner``, so a test's fake server sees exactly what Google would, bar the host.

The SDK is synchronous (``requests``): each call runs in a worker thread. Every call is bounded twice:
the SDK's own ``httpTimeout`` option (3 s per HTTP request, instead of its default of 120 s) and a
deadline on the whole call (``CALL_DEADLINE_S``), since the SDK's retries of a 500 or 503 (four, with
backoff) cannot be configured through its public API: past the deadline the caller stops waiting and the
thread finishes on its own. Any failure becomes ``RealtimeUnavailableError`` (app/repositories/errors.py)
naming the shard.

The rules endpoint (``/.settings/rules.json``) takes and returns text that may not be JSON (the console
keeps comments), which ``db.Reference`` would parse: it goes through google-auth's ``AuthorizedSession``
with the same credential (``Bearer owner`` against a local fake, like the SDK's emulator form).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import anyio
import firebase_admin
import requests
from anyio import to_thread
from firebase_admin import credentials, db, exceptions
from google.auth.transport.requests import AuthorizedSession

from app.core.config import Settings
from app.core.firebase_auth import AnonymousCredential
from app.repositories.errors import RealtimeUnavailableError

log = logging.getLogger("app.realtime")

T = TypeVar("T")

HTTP_TIMEOUT_S = 3
#: The longest a caller waits for one call, the SDK's retries included.
CALL_DEADLINE_S = 2.0
RULES_PATH = "/.settings/rules.json"


def rules_url(database_url: str) -> str:
    """The rules endpoint of a database URL, in either form: ``https://<db>.<host>`` or the emulator's
    ``http://host:port/?ns=<db>`` (the namespace stays in the query)."""
    parts = urlsplit(database_url)
    namespace = parse_qs(parts.query).get("ns")
    query = f"?ns={namespace[0]}" if namespace else ""
    return f"{parts.scheme}://{parts.netloc}{RULES_PATH}{query}"


class RealtimeDatabase:
    """The shards of ``POG_REALTIME_DATABASE_URLS``, addressed by index (shard 0 first)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.realtime_database_urls:
            raise ValueError("POG_REALTIME_DATABASE_URLS is empty: the Realtime Database is off")
        cred: credentials.Base
        cred = credentials.ApplicationDefault() if settings.deployed else AnonymousCredential()
        self.urls: tuple[str, ...] = tuple(settings.realtime_database_urls)
        self._credential = cred
        self._rules_session: requests.Session | None = None
        self._app = firebase_admin.initialize_app(
            cred,
            options={"projectId": settings.firebase_project_id, "httpTimeout": HTTP_TIMEOUT_S},
            name=f"pog-rtdb-{id(self)}",
        )

    async def close(self) -> None:
        if self._rules_session is not None:
            self._rules_session.close()
        await to_thread.run_sync(firebase_admin.delete_app, self._app)

    def _ref(self, shard: int, path: str = "/") -> db.Reference:
        return db.reference(path, app=self._app, url=self.urls[shard])

    async def _call(self, shard: int, what: str, work: Callable[[], T]) -> T:
        try:
            with anyio.fail_after(CALL_DEADLINE_S):
                return await to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError:
            raise RealtimeUnavailableError(
                f"realtime shard {shard} ({what}): no answer within {CALL_DEADLINE_S} s"
            ) from None
        except (exceptions.FirebaseError, requests.RequestException, ValueError) as exc:
            message = f"realtime shard {shard} ({what}): {type(exc).__name__}: {exc}"
            raise RealtimeUnavailableError(message) from exc

    async def update(self, shard: int, values: Mapping[str, Any]) -> None:
        """One multi-path update at the shard's root (``PATCH /.json``): all of ``values`` or none."""
        body = dict(values)
        await self._call(shard, "update", lambda: self._ref(shard).update(body))

    async def get(self, shard: int, path: str) -> Any:
        return await self._call(shard, f"get {path}", lambda: self._ref(shard, path).get())

    async def keys(self, shard: int, path: str) -> list[str]:
        """The child keys of ``path`` (a shallow read: no values)."""
        found = await self._call(shard, f"keys {path}", lambda: self._ref(shard, path).get(shallow=True))
        return sorted(found) if isinstance(found, dict) else []

    async def oldest(self, shard: int, path: str, child: str, limit: int) -> dict[str, Any]:
        """The ``limit`` children of ``path`` with the smallest ``child`` (needs ``.indexOn`` on it)."""

        def read() -> Any:
            return self._ref(shard, path).order_by_child(child).limit_to_first(limit).get()

        found = await self._call(shard, f"query {path}", read)
        return dict(found) if isinstance(found, dict) else {}

    async def ended_before(self, shard: int, path: str, child: str, bound: int) -> list[str]:
        """The keys of the children of ``path`` whose ``child`` is at most ``bound``."""

        def read() -> Any:
            return self._ref(shard, path).order_by_child(child).end_at(bound).get()

        found = await self._call(shard, f"query {path}", read)
        return sorted(found) if isinstance(found, dict) else []

    async def rules(self, shard: int) -> str:
        """The shard's security rules as stored (text: the console keeps comments)."""

        def read() -> str:
            return self._rules_request("GET", shard).text

        result: str = await self._call(shard, "read rules", read)
        return result

    async def put_rules(self, shard: int, text: str) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        await self._call(
            shard,
            "deploy rules",
            lambda: self._rules_request("PUT", shard, data=text.encode(), headers=headers),
        )

    def _rules_request(self, method: str, shard: int, **kwargs: Any) -> requests.Response:
        if self._rules_session is None:
            self._rules_session = AuthorizedSession(self._credential.get_credential())  # type: ignore[no-untyped-call]
        url = self.urls[shard]
        if "ns" in parse_qs(urlsplit(url).query):
            # The emulator form: the token the SDK itself sends there.
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": "Bearer owner"}
        response = self._rules_session.request(method, rules_url(url), timeout=HTTP_TIMEOUT_S, **kwargs)
        response.raise_for_status()
        return response
