"""The monthly cost a diff changes: both sides priced at the same load, per resource and in total.

``pog diff`` and ``pog promote`` add it to their reports (text, Markdown, JSON) as Infracost's pull-request
comment does for Terraform. Both sides are priced at the NEW side's load (``priced_users``: prod at the top
of its phase's range), so a change of sizing shows as money and not as a change of load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

from infra.cost.estimate import CostReport, estimate
from infra.cost.prices import PriceError, load_prices
from infra.cost.usage import UsageError, load_usage, priced_users, top_of_phase

#: Changes smaller than half a cent are rounding, not a change.
MIN_CHANGE_USD = 0.005
KEY = "monthly_cost"


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


def signed_usd(amount: float) -> str:
    sign = "+" if amount >= MIN_CHANGE_USD else "-" if amount <= -MIN_CHANGE_USD else "±"
    return f"{sign}${abs(amount):,.2f}"


@dataclass(frozen=True)
class ResourceMoney:
    """One resource's monthly cost on each side; ``None`` where the side does not declare it."""

    type: str
    name: str
    old_usd: float | None
    new_usd: float | None

    @property
    def change(self) -> float:
        return (self.new_usd or 0.0) - (self.old_usd or 0.0)

    @property
    def symbol(self) -> str:
        return "+" if self.old_usd is None else "-" if self.new_usd is None else "~"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "old_usd": _round(self.old_usd),
            "new_usd": _round(self.new_usd),
            "change_usd": round(self.change, 2),
        }


@dataclass(frozen=True)
class MoneyDiff:
    """What the diff does to the monthly bill: ``resources`` holds only those whose cost moves."""

    users: int
    phase: int
    old_usd: float
    new_usd: float
    resources: tuple[ResourceMoney, ...]
    #: Resource types either side declares that the price table does not cover (left out of the totals).
    unpriced: tuple[str, ...] = ()
    #: Why no figure could be computed (a broken price table or usage model); the diff still shows.
    error: str | None = None
    key: str = field(default=KEY, init=False)

    @property
    def change(self) -> float:
        return self.new_usd - self.old_usd

    @property
    def load_line(self) -> str:
        return (
            f"priced at {self.users:,} monthly active players, the load `pog cost` prices the new side "
            f"at (phase {self.phase}), for both sides"
        )

    def text_lines(self) -> list[str]:
        """Rich markup for the terminal."""
        if self.error is not None:
            return ["[bold]Monthly cost[/]", f"  [yellow]not estimated: {escape(self.error)}[/]"]
        change = self.change
        style = "red" if change >= MIN_CHANGE_USD else "green" if change <= -MIN_CHANGE_USD else "dim"
        lines = [
            f"[bold]Monthly cost[/] {usd(self.old_usd)} → {usd(self.new_usd)} "
            f"[bold {style}]({signed_usd(self.change)})[/]",
            f"[dim]{escape(self.load_line)}[/]",
        ]
        for r in self.resources:
            before = "" if r.old_usd is None else f"{usd(r.old_usd)} → "
            after = "gone" if r.new_usd is None else usd(r.new_usd)
            lines.append(
                f"  {r.symbol} [cyan]{escape(r.type)}[/] {escape(r.name)}: "
                f"{before}{after} ({signed_usd(r.change)})"
            )
        if self.unpriced:
            lines.append(
                f"  [yellow]{len(self.unpriced)} resource type(s) not priced, left out of the totals "
                "(pog cost STACK names them)[/]"
            )
        return lines

    def markdown_lines(self) -> list[str]:
        """The pull-request comment's section: a table of the resources whose cost moves, and the total."""
        out = ["#### Monthly cost", ""]
        if self.error is not None:
            return [*out, f"Not estimated: {self.error}"]
        out += [
            f"**{usd(self.old_usd)} → {usd(self.new_usd)} ({signed_usd(self.change)} per month)**, "
            f"{self.load_line} (`pog cost`, docs/cost.md).",
            "",
        ]
        if self.resources:
            out += ["| | Type | Name | Before | After | Change |", "|---|---|---|---:|---:|---:|"]
            for r in self.resources:
                before = "—" if r.old_usd is None else usd(r.old_usd)
                after = "—" if r.new_usd is None else usd(r.new_usd)
                out.append(
                    f"| {r.symbol} | `{r.type}` | `{r.name}` | {before} | {after} | {signed_usd(r.change)} |"
                )
            out.append(
                f"| | **Total** | | **{usd(self.old_usd)}** | **{usd(self.new_usd)}** "
                f"| **{signed_usd(self.change)}** |"
            )
        else:
            out.append("No priced resource changes its monthly cost.")
        if self.unpriced:
            out += [
                "",
                "<details>",
                f"<summary>{len(self.unpriced)} resource type(s) not priced, "
                "left out of the totals</summary>",
                "",
                *(f"- `{type_}`" for type_ in self.unpriced),
                "",
                "</details>",
            ]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "phase": self.phase,
            "old_usd": round(self.old_usd, 2),
            "new_usd": round(self.new_usd, 2),
            "change_usd": round(self.change, 2),
            "resources": [r.to_dict() for r in self.resources],
            "unpriced": list(self.unpriced),
            "error": self.error,
        }


def _round(amount: float | None) -> float | None:
    return None if amount is None else round(amount, 2)


def _by_resource(report: CostReport) -> dict[tuple[str, str], float]:
    costs: dict[tuple[str, str], float] = {}
    for resource in report.resources:
        key = (resource.type, resource.name)
        costs[key] = costs.get(key, 0.0) + resource.monthly_usd
    return costs


def money_diff(
    old_inventory: dict[str, Any], new_inventory: dict[str, Any], users: int | None = None
) -> MoneyDiff:
    """Price both inventories at ``users`` (default: the new side's load, ``priced_users``) and compare.

    Give inventories whose names line up (``align_stacks`` for two different stacks), as the diff does.
    """
    phase = int(new_inventory.get("phase") or 1)
    model = load_usage()
    users = priced_users(str(new_inventory.get("stack")), phase, model) if users is None else users
    load, prices = model.at(users), load_prices()
    old_report = estimate(old_inventory, load, prices)
    new_report = estimate(new_inventory, load, prices)
    old, new = _by_resource(old_report), _by_resource(new_report)
    moved = tuple(
        ResourceMoney(key[0], key[1], old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if abs(new.get(key, 0.0) - old.get(key, 0.0)) >= MIN_CHANGE_USD
    )
    unpriced = sorted({type_ for type_, _ in (*old_report.unpriced, *new_report.unpriced)})
    return MoneyDiff(
        users=users,
        phase=phase,
        old_usd=old_report.monthly_usd,
        new_usd=new_report.monthly_usd,
        resources=moved,
        unpriced=tuple(unpriced),
    )


def money_appendix(old_inventory: dict[str, Any], new_inventory: dict[str, Any]) -> MoneyDiff:
    """``money_diff`` for a report: a broken price table or usage model is said, and the diff still shows."""
    try:
        return money_diff(old_inventory, new_inventory)
    except (PriceError, UsageError) as exc:
        phase = int(new_inventory.get("phase") or 1)
        return MoneyDiff(top_of_phase(phase), phase, 0.0, 0.0, (), error=str(exc))
