"""schemathesis against the app's own OpenAPI schema, in-process, with valid tokens (the production
verification path) and the real redis-server and Firestore emulator: every operation, every check."""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from tests.app.conftest import Backends, Mint, settings_for

#: 25 in CI (about 1,600 requests); a longer run before a release:
#: ``SCHEMA_EXAMPLES=200 pytest -s tests/app/api/test_schema.py``.
EXAMPLES_PER_OPERATION = int(os.environ.get("SCHEMA_EXAMPLES", "25"))


def _fuzz(
    operation: Any,
    headers: dict[str, str],
    statuses: Counter[int],
    excluded: Any = (),
    mode: GenerationMode = GenerationMode.POSITIVE,
    **fixed: Any,
) -> int:
    """Run one operation's generated cases with every check; returns how many cases ran."""
    ran = 0

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    @hypothesis.given(case=operation.as_strategy(mode, **fixed))
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        # All checks (schema conformance included) but ``excluded``.
        response = case.call_and_validate(headers=headers, excluded_checks=list(excluded))
        statuses[response.status_code] += 1
        assert response.status_code < 500, (operation.label, response.status_code, response.text)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # Nothing to make invalid: no parameters and no body (GET /healthz, for one).
    return ran


def test_every_operation_conforms_and_never_answers_5xx(backends: Backends, auth: Mint, clean: None) -> None:
    settings = settings_for(
        backends,
        rate_limit_user="100000/minute",
        rate_limit_ip="100000/minute",
    )
    app = create_app(settings)
    # An admin with a second factor. The admin route still answers 403 (ip_not_allowed): schemathesis's
    # in-process client has no IP address (its peer is "testclient").
    second_factor = {"sign_in_provider": "password", "sign_in_second_factor": "phone"}
    headers = auth("alice", role="admin", firebase=second_factor)
    cases: dict[str, int] = {}
    statuses: Counter[int] = Counter()
    operations = 0
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            # An analytics event's name, params and time meet the catalogue and the server's clock
            # (422), which the schema leaves open: positive_data_acceptance does not apply.
            rules = [positive_data_acceptance] if operation.path == "/v1/analytics/events" else []
            cases[operation.label] = _fuzz(operation, headers, statuses, rules)
            # Invalid input too: negative_data_rejection checks that each one is refused with a 4xx.
            cases[f"{operation.label} (negative)"] = _fuzz(
                operation, headers, statuses, mode=GenerationMode.NEGATIVE
            )
            if "{game_id}" in operation.path:
                # Random ids only reach the 404; the same operation again on a game the caller owns.
                with asgi.get_client(app) as client:
                    game_id = client.post("/v1/games", headers=headers, json={}).json()["game_id"]
                label = f"{operation.label} (own game)"
                # Schema-valid bodies meet the game's rules here (t_ms within the elapsed time, a plausible
                # score: 422), which no schema can state: positive_data_acceptance does not apply.
                cases[label] = _fuzz(
                    operation,
                    headers,
                    statuses,
                    [positive_data_acceptance],
                    path_parameters={"game_id": game_id},
                )
    finally:
        asgi.shutdown_lifespans()
    # Shown with `pytest -rP` (or -s without -n).
    print(
        f"schemathesis: {operations} operations ({len(cases)} runs), {sum(cases.values())} cases, "
        f"statuses {dict(sorted(statuses.items()))}\n  " + ", ".join(f"{k}: {v}" for k, v in cases.items())
    )
    assert operations >= 13, cases
    assert all(ran for label, ran in cases.items() if not label.endswith("(negative)")), cases
    assert sum(ran for label, ran in cases.items() if label.endswith("(negative)")) >= 100, cases
    assert not [status for status in statuses if status >= 500]


def test_every_json_body_operation_declares_the_400_it_answers_for_an_undecodable_body(
    client: TestClient, auth: Mint
) -> None:
    """Failed before issue 18: bytes that are not UTF-8 came back 400 from these operations, and no
    operation's schema listed a 400 for it."""
    operations = [
        (method.upper(), path, operation)
        for path, item in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(operations) >= 12
    undeclared = [f"{m} {path}" for m, path, operation in operations if "400" not in operation["responses"]]
    assert undeclared == []
    answered = {}
    for method, path, _ in operations:
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        headers = {**auth("alice"), "Content-Type": "application/json"}
        undecodable = b'{"a": "\xff"}'
        answered[f"{method} {path}"] = client.request(method, concrete, headers=headers, content=undecodable)
    # The webhooks read their body themselves, after checking its signature (401 here).
    bad_requests = {op: r.status_code for op, r in answered.items() if "/webhooks/" not in op}
    assert bad_requests == dict.fromkeys(bad_requests, 400)
    assert {r.json()["error"]["code"] for r in answered.values() if r.status_code == 400} == {"bad_request"}
