"""The dated price table (``prices.yaml``): one line per billed unit, each with its free tier, the page it
was read from and the date it was read. ``load_prices()`` validates it once; a meter names lines by id."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from infra.cost.yaml_model import load_model

PRICES_FILE = Path(__file__).with_name("prices.yaml")


class PriceError(ValueError):
    """``prices.yaml`` is malformed, or a meter names a line it does not have."""


class PriceLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: USD per ``unit``.
    usd: Annotated[float, Field(ge=0)]
    unit: str = Field(min_length=1)
    #: Units per month (per billing account) that cost nothing.
    free_per_month: Annotated[float, Field(ge=0)] = 0
    #: The public page the price was read from, and when.
    source: str = Field(pattern=r"^https://\S+$")
    read_on: dt.date
    note: str = ""


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: dict[str, PriceLine]

    def line(self, line_id: str) -> PriceLine:
        try:
            return self.lines[line_id]
        except KeyError:
            raise PriceError(
                f"no price line {line_id!r} in {PRICES_FILE.name}: add it with its source"
            ) from None


@cache
def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    return load_model(path, PriceTable, PriceError, "the price table", "fix the line in the price table")
