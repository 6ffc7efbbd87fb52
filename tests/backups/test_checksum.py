"""Checksums: deterministic, typed, and sensitive to any single change in a document."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud.firestore_v1.types import ArrayValue, Document, MapValue, Value
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.latlng_pb2 import LatLng  # type: ignore[import-untyped]

from backups.checksum import combine, document_digest, encode_value
from backups.targets import Target
from backups.verify import Inventory, collection_group, compare

pytestmark = pytest.mark.unit


def fields(**values: Value) -> Any:
    return Document.pb(Document(fields=values)).fields


def ts(seconds: int, nanos: int = 0) -> Value:
    return Value(timestamp_value=Timestamp(seconds=seconds, nanos=nanos))


def nested(level: int) -> Value:
    return Value(
        map_value=MapValue(
            fields={
                "level": Value(integer_value=level),
                "badges": Value(
                    array_value=ArrayValue(values=[Value(string_value="a"), Value(null_value=0)])
                ),
            }
        )
    )


BASE = {
    "name": Value(string_value="Ada"),
    "coins": Value(integer_value=5),
    "ratio": Value(double_value=0.5),
    "premium": Value(boolean_value=True),
    "gone": Value(null_value=0),
    "at": ts(1_780_000_000, 123_456_000),
    "avatar": Value(bytes_value=b"\x00\x01"),
    "home": Value(geo_point_value=LatLng(latitude=48.1, longitude=11.5)),
    "friend": Value(reference_value="projects/p/databases/(default)/documents/users/b"),
    "stats": nested(3),
}


def digest(**changes: Value) -> str:
    return document_digest("users/a", fields(**{**BASE, **changes}))


def test_the_same_document_always_has_the_same_digest_whatever_the_field_order() -> None:
    reordered = dict(reversed(list(BASE.items())))
    assert document_digest("users/a", fields(**BASE)) == document_digest("users/a", fields(**reordered))
    assert digest() == digest()


@pytest.mark.parametrize(
    "change",
    [
        {"coins": Value(integer_value=6)},
        {"coins": Value(double_value=5.0)},  # same number, other type
        {"coins": Value(string_value="5")},
        {"ratio": Value(double_value=0.5000000000000001)},
        {"premium": Value(boolean_value=False)},
        {"gone": Value(boolean_value=False)},
        {"at": ts(1_780_000_000, 123_457_000)},  # one microsecond later
        {"avatar": Value(bytes_value=b"\x00\x02")},
        {"avatar": Value(string_value="\x00\x01")},
        {"home": Value(geo_point_value=LatLng(latitude=48.1, longitude=11.500001))},
        {"friend": Value(reference_value="projects/p/databases/(default)/documents/users/c")},
        {"friend": Value(string_value="projects/p/databases/(default)/documents/users/b")},
        {"stats": nested(4)},  # a value two levels down
        {"extra": Value(null_value=0)},  # a field added
    ],
    ids=lambda change: next(iter(change)) + ":" + str(next(iter(change.values()))).split(":")[0],
)
def test_any_single_change_changes_the_digest(change: dict[str, Value]) -> None:
    assert digest(**change) != digest()


def test_a_removed_field_and_a_moved_document_change_the_digest() -> None:
    without = {k: v for k, v in BASE.items() if k != "gone"}
    assert document_digest("users/a", fields(**without)) != digest()
    assert document_digest("users/b", fields(**BASE)) != digest()


def test_doubles_are_encoded_exactly_and_zero_signs_differ() -> None:
    assert encode_value(Value.pb(Value(double_value=0.1))) == ["double", (0.1).hex()]
    assert encode_value(Value.pb(Value(double_value=-0.0))) != encode_value(Value.pb(Value(double_value=0.0)))


def test_the_collection_checksum_does_not_depend_on_read_order() -> None:
    docs = {"users/a": "1", "users/b": "2"}
    assert combine(docs) == combine(dict(reversed(list(docs.items()))))
    assert combine(docs) != combine({"users/a": "1", "users/b": "3"})


def test_compare_reports_each_kind_of_difference_by_collection_and_path() -> None:
    target = Target("demo-x", "(default)", "127.0.0.1:1")
    source = Inventory(
        target, {"users": {"users/a": "1", "users/b": "2"}, "users/a/games": {"users/a/games/g": "3"}}
    )
    copy = Inventory(
        target, {"users": {"users/a": "1", "users/c": "4"}, "users/a/games": {"users/a/games/g": "9"}}
    )

    report = compare(source, copy)

    assert not report.identical
    assert [d.collection for d in report.differences] == ["users", "users/a/games"]
    assert report.paths("changed") == ["users/a/games/g"]
    assert report.paths("missing") == ["users/b"]
    assert report.paths("extra") == ["users/c"]
    summary = report.summary()
    assert "2 collection(s) differ (users, users/a/games)" in summary
    assert "1 changed: users/a/games/g" in summary
    assert "1 missing from the copy: users/b" in summary
    assert "1 only in the copy: users/c" in summary
    assert compare(source, source).identical


def test_subcollections_roll_up_by_shape_in_the_table() -> None:
    assert collection_group("users") == "users"
    assert collection_group("users/u1/games/g1/events") == "users/*/games/*/events"
