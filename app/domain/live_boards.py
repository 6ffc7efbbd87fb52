"""A live board page's published versions, as the CDN path's store keeps them (app/repositories/
leaderboard_live.py) and its service reads them (app/services/leaderboards_live.py)."""

from __future__ import annotations

from typing import NamedTuple


class LiveEntry(NamedTuple):
    """One published version of a page, as the chain lists it."""

    version: int
    board_version: int
    published_ms: int


class Published(NamedTuple):
    """What a live version names: its predecessor in the chain (0: none) and the body (which says its
    board version in ``version``)."""

    previous: int
    body: bytes
