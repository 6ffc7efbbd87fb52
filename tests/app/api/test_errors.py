"""app/api/errors.py: the one mapping of the services' and the stores' failures to HTTP statuses."""

from __future__ import annotations

import pytest

from app.api.errors import STATUS, STORE_STATUS, status_of
from app.repositories.errors import StoreError
from app.services.errors import Failure, ServiceError

pytestmark = pytest.mark.unit


def _store_kinds() -> list[type[StoreError]]:
    kinds = StoreError.__subclasses__()
    assert kinds, "app/repositories/errors.py declares the store's failure kinds"
    return kinds


def test_every_failure_has_a_client_or_server_error_status() -> None:
    assert set(STATUS) == set(Failure)
    assert all(400 <= status < 600 for status in STATUS.values())


@pytest.mark.parametrize("failure", list(Failure))
def test_a_service_error_answers_its_failures_status(failure: Failure) -> None:
    assert status_of(ServiceError(failure, "code", "message")) == STATUS[failure]


def test_every_store_failure_kind_has_a_status() -> None:
    assert set(STORE_STATUS) == set(_store_kinds())
    for kind in _store_kinds():
        assert status_of(kind("code", "message")) == STORE_STATUS[kind]
