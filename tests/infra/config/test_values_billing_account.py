"""pot-of-gold:billingAccount: the Cloud Billing account the stack's budget is declared on."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse
from infra.plan.stackfile import load_stack

pytestmark = pytest.mark.unit

KEY = "pot-of-gold:billingAccount"


def _parse(**changes: str | None) -> list[str]:
    stack_input = load_stack("dev")
    values = {
        k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k not in stack_input.secret_keys
    }
    secrets = {k.split(":", 1)[1]: v for k, v in stack_input.config.items() if k in stack_input.secret_keys}
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    try:
        parse(values, secrets)
    except ConfigError as exc:
        return exc.problems
    return []


def test_both_stack_files_name_a_billing_account() -> None:
    assert _parse() == []
    for stack in ("dev", "prod"):
        assert load_stack(stack).config[KEY] == "0F3A7C-91B2D4-E6C805"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, f"{KEY} is required: `pulumi config set {KEY} <id from `gcloud billing accounts list`>`"),
        (
            "billingAccounts/0F3A7C-91B2D4-E6C805",
            f"{KEY} must be the account id alone: drop 'billingAccounts/';"
            " got 'billingAccounts/0F3A7C-91B2D4-E6C805'",
        ),
        ("0f3a7c-91b2d4-e6c805", f"{KEY} must be a Cloud Billing account id such as 01A2B3-C4D5E6-F7A8B9"),
        ("my-billing", "got 'my-billing'"),
    ],
    ids=["missing", "resource-name", "lowercase", "a-name"],
)
def test_a_wrong_billing_account_is_one_problem_with_the_fix(given: str | None, expected: str) -> None:
    """Failed before issue 19: the key did not exist, so a budget had no account to live on."""
    problems = _parse(billingAccount=given)

    assert len(problems) == 1
    assert expected in problems[0], problems
