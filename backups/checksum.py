"""Deterministic document checksums from a canonical, typed encoding of the stored values.

Every value is written with its type tag, so 1 (integer), 1.0 (double), "1" (string) and b"1" (bytes)
differ; maps are written in sorted key order, so field order never matters; doubles are written exactly
(float.hex), timestamps as seconds + nanoseconds, references as their full stored name.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any


def encode_value(value: Any) -> Any:
    """A ``google.firestore.v1.Value`` protobuf as a JSON-ready, type-tagged structure."""
    kind = value.WhichOneof("value_type")
    if kind == "null_value" or kind is None:
        return ["null"]
    if kind == "boolean_value":
        return ["bool", value.boolean_value]
    if kind == "integer_value":
        return ["int", str(value.integer_value)]
    if kind == "double_value":
        return ["double", float(value.double_value).hex()]
    if kind == "timestamp_value":
        return ["timestamp", value.timestamp_value.seconds, value.timestamp_value.nanos]
    if kind == "string_value":
        return ["string", value.string_value]
    if kind == "bytes_value":
        return ["bytes", base64.b64encode(value.bytes_value).decode()]
    if kind == "reference_value":
        return ["reference", value.reference_value]
    if kind == "geo_point_value":
        point = value.geo_point_value
        return ["geo", float(point.latitude).hex(), float(point.longitude).hex()]
    if kind == "array_value":
        return ["array", [encode_value(v) for v in value.array_value.values]]
    if kind == "map_value":
        return ["map", encode_fields(value.map_value.fields)]
    raise ValueError(f"unknown Firestore value type {kind!r}")


def encode_fields(fields: Any) -> list[Any]:
    return [[key, encode_value(fields[key])] for key in sorted(fields)]


def document_digest(path: str, fields: Any) -> str:
    """SHA-256 of a document's path and fields (a protobuf ``map<string, Value>``)."""
    canonical = json.dumps([path, encode_fields(fields)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def combine(digests: dict[str, str]) -> str:
    """One checksum of a set of documents (path -> digest), independent of the order they were read in."""
    hasher = hashlib.sha256()
    for path in sorted(digests):
        hasher.update(f"{path}\0{digests[path]}\n".encode())
    return hasher.hexdigest()
