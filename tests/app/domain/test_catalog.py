"""The product catalog (app/domain/catalog.py): the shipped one loads, a bad one stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.catalog import CatalogError, Store, load_catalog

pytestmark = pytest.mark.unit


def test_the_shipped_catalog_loads_with_the_required_products() -> None:
    catalog = load_catalog()
    coins_100 = catalog.get("coins_100")
    assert coins_100 is not None
    assert (coins_100.coins, dict(coins_100.items)) == (100, {})
    starter = catalog.get("starter_pack")
    assert starter is not None
    assert starter.coins > 0
    assert starter.items
    assert catalog.by_store_id(Store.app_store, "com.potofgold.coins100") == coins_100
    assert catalog.by_store_id(Store.stripe, "price_starter_pack") == starter
    assert catalog.by_store_id(Store.play_store, "nope") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("products: []", "at least 1"),
        ("products:\n  - {id: a, coins: 0, price_usd_cents: 1, store_ids: {}}", "a grants nothing"),
        ("products:\n  - {id: a, coins: -1, price_usd_cents: 1, store_ids: {}}", "greater than or equal"),
        (
            "products:\n  - {id: a, coins: 1, price_usd_cents: 1, store_ids: {stripe: p}}\n"
            "  - {id: b, coins: 1, price_usd_cents: 1, store_ids: {stripe: p}}",
            "maps to both a and b",
        ),
        (
            "products:\n  - {id: a, coins: 1, price_usd_cents: 1, store_ids: {}}\n"
            "  - {id: a, coins: 2, price_usd_cents: 1, store_ids: {}}",
            "a appears twice",
        ),
        ("products:\n  - {id: a, coins: 1, price_usd_cents: 1, store_ids: {}, surprise: 1}", "surprise"),
        ("products: [", "cannot read"),
    ],
)
def test_a_bad_catalog_stops_start_up_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "products.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)
