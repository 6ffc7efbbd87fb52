"""What the chaos tests check of the boards after an outage: nothing left marked, the same as a rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from tests.app.conftest import Backends
from tests.app.fixtures.leaderboards import Clock, Parts, run
from tests.app.repositories.chaos.conftest import RedisControl
from tests.app.services.test_leaderboards_service import boards_content


def marked_games(db: firestore.Client) -> set[str]:
    """The games whose board submit is still pending (``board_pending``)."""
    query = db.collection("games").where(filter=firestore.FieldFilter("board_pending", "==", True))
    return {snap.id for snap in query.stream()}


def assert_boards_equal_a_rebuild(
    backends: Backends, control: RedisControl, boards: int | None = None
) -> None:
    """Snapshot the reconciled boards, rebuild them from Firestore into an emptied Redis, compare.

    ``boards``: how many boards the snapshot must hold (None: at least one)."""
    with control.direct() as direct:
        reconciled = boards_content(direct)
        if boards is None:
            assert reconciled, "no board at all"
        else:
            assert len(reconciled) == boards
        direct.flushall()

    async def rebuild(p: Parts) -> Any:
        return await p.lb.jobs.rebuild()

    assert run(backends, Clock(datetime.now(UTC)), rebuild, redis_url=control.url) is not None
    with control.direct() as direct:
        assert boards_content(direct) == reconciled
