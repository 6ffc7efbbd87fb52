"""The product catalog (``app/catalog/products.yaml``): product id -> coins, items, entitlement.

Loaded and validated once at start-up; a bad catalog stops the app with a message naming the product.
Store product ids (App Store, Play, Stripe Price ids) map to our product ids through ``store_ids``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "catalog" / "products.yaml"

ProductId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]


class Store(StrEnum):
    app_store = "app_store"
    play_store = "play_store"
    stripe = "stripe"


#: RevenueCat's ``store`` values and the catalog store whose ids they use.
REVENUECAT_STORES = {
    "APP_STORE": Store.app_store,
    "MAC_APP_STORE": Store.app_store,
    "PLAY_STORE": Store.play_store,
    "STRIPE": Store.stripe,
}


class CatalogError(ValueError):
    """The catalog file cannot be used."""


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ProductId
    coins: int = Field(default=0, ge=0, le=10_000_000)
    items: dict[ItemId, Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=dict)
    price_usd_cents: int = Field(ge=0, le=100_000_00)
    entitlement: ProductId | None = None
    store_ids: dict[Store, Annotated[str, StringConstraints(min_length=1, max_length=200)]]
    stripe_amounts: dict[Currency, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _grants_something(self) -> Product:
        if self.coins == 0 and not self.items and self.entitlement is None:
            raise ValueError(f"product {self.id} grants nothing (no coins, items or entitlement)")
        if self.stripe_amounts and Store.stripe not in self.store_ids:
            raise ValueError(f"product {self.id} has stripe_amounts but no stripe price id")
        return self


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    products: tuple[Product, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        store_seen: dict[tuple[Store, str], str] = {}
        for product in self.products:
            if product.id in seen:
                raise ValueError(f"product id {product.id} appears twice")
            seen.add(product.id)
            for store, store_id in product.store_ids.items():
                other = store_seen.setdefault((store, store_id), product.id)
                if other != product.id:
                    raise ValueError(f"{store.value} id {store_id!r} maps to both {other} and {product.id}")
        return self

    @property
    def by_id(self) -> Mapping[str, Product]:
        return {p.id: p for p in self.products}

    def get(self, product_id: str) -> Product | None:
        return self.by_id.get(product_id)

    def by_store_id(self, store: Store, store_product_id: str) -> Product | None:
        for product in self.products:
            if product.store_ids.get(store) == store_product_id:
                return product
        return None

    def for_entitlement(self, entitlement: str) -> list[Product]:
        return [p for p in self.products if p.entitlement == entitlement]


def load_catalog(path: Path = DEFAULT_PATH) -> Catalog:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read the product catalog {path}: {exc}") from exc
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"invalid product catalog {path}: {exc}") from exc
