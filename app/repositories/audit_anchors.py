"""The audit anchors in Cloud Storage: signed copies of the chain heads, written once, kept 400 days.

The bucket (``pog-<env>-audit-anchors``, infra/stacks/audit.py) has versioning and a retention policy,
locked in prod, and the runtime may only create objects: an object is created with
``if_generation_match=0``, so an existing anchor is never overwritten (the write is refused, not lost).
Names sort by time: ``anchors/YYYY/MM/DD/<until, ISO 8601>.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

PREFIX = "anchors/"


class AnchorExistsError(Exception):
    """An anchor of that name exists already: the bucket refused to overwrite it."""


def anchor_name(until: datetime) -> str:
    return f"{PREFIX}{until:%Y/%m/%d}/{until.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}.json"


class AnchorStore:
    def __init__(self, bucket: str, client: Any = None) -> None:
        # Imported here: only the anchor job and `pog audit` use it.
        from google.cloud import storage  # type: ignore[attr-defined]

        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)
        self.bucket = bucket

    def create(self, name: str, data: bytes) -> None:
        """Write a new anchor; ``AnchorExistsError`` when ``name`` exists (generation precondition)."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket.blob(name)
        try:
            blob.upload_from_string(data, content_type="application/json", if_generation_match=0)
        except PreconditionFailed as exc:
            raise AnchorExistsError(f"gs://{self.bucket}/{name} exists: anchors are written once") from exc

    def latest(self, now: datetime) -> tuple[str, bytes] | None:
        """The newest anchor of today or yesterday (UTC); None after a longer gap (the next is complete)."""
        for day in (now, now - timedelta(days=1)):
            names = [b.name for b in self._client.list_blobs(self._bucket, prefix=f"{PREFIX}{day:%Y/%m/%d}/")]
            if names:
                newest = max(names)
                return newest, self._bucket.blob(newest).download_as_bytes()
        return None

    def all(self) -> Iterator[tuple[str, bytes]]:
        """Every anchor, oldest first."""
        for blob in sorted(self._client.list_blobs(self._bucket, prefix=PREFIX), key=lambda b: b.name):
            yield blob.name, blob.download_as_bytes()
