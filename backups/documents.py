"""Every document of a database, read raw, in pages: one kindless query over all collections."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError
from google.cloud.firestore_v1.types import Cursor, StructuredQuery, Value
from google.cloud.firestore_v1.types.firestore import RunQueryRequest, RunQueryResponse

from backups.clients import data_client, metadata
from backups.errors import BackupError
from backups.google_errors import api_errors, credentials_error
from backups.targets import Target

PAGE_SIZE = 5000


def check_emulator(host: str) -> None:
    """One clear line when no emulator answers, instead of the client's minutes of retries."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=3) as resp:
            if resp.status == 200:
                return
    except (urllib.error.URLError, OSError):
        pass
    raise BackupError(f"no Firestore emulator answers at {host} (FIRESTORE_EMULATOR_HOST): start one first")


def _query(after: str | None, limit: int) -> StructuredQuery:
    # No collection id + all_descendants: every collection and subcollection of the database.
    query = StructuredQuery(
        from_=[StructuredQuery.CollectionSelector(all_descendants=True)],
        order_by=[
            StructuredQuery.Order(
                field=StructuredQuery.FieldReference(field_path="__name__"),
                direction=StructuredQuery.Direction.ASCENDING,
            )
        ],
        limit=limit,
    )
    if after is not None:
        query.start_at = Cursor(values=[Value(reference_value=after)], before=False)
    return query


def iter_documents(target: Target, page_size: int = PAGE_SIZE, limit: int | None = None) -> Iterator[Any]:
    """Raw ``google.firestore.v1.Document`` protobufs of every document, ordered by path."""
    if target.emulator:
        check_emulator(target.emulator)
    try:
        client = data_client(target)
    except DefaultCredentialsError:
        raise credentials_error() from None
    after: str | None = None
    seen = 0
    try:
        while limit is None or seen < limit:
            size = page_size if limit is None else min(page_size, limit - seen)
            request = RunQueryRequest(parent=target.documents_root, structured_query=_query(after, size))
            count = 0
            for response in client.run_query(request=request, metadata=metadata(target)):
                raw: Any = RunQueryResponse.pb(response)
                if raw.HasField("document"):
                    document = raw.document
                    after = document.name
                    count += 1
                    yield document
            seen += count
            if count < size:
                return
    except gexc.GoogleAPICallError as exc:
        raise api_errors(target, exc) from None
    finally:
        client.transport.close()  # type: ignore[no-untyped-call]


def is_empty(target: Target) -> bool:
    return next(iter_documents(target, limit=1), None) is None


def relative_path(target: Target, name: str) -> str:
    """``projects/p/databases/d/documents/users/a`` -> ``users/a``."""
    return name[len(target.documents_root) + 1 :]
