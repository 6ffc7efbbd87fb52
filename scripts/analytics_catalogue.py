"""The analytics catalogue's generated files, from app/domain/analytics.py.

Writes contract/analytics/catalogue.json (every event: name, version, source, description, the JSON
Schema of its params) and docs/analytics-events.md (the catalogue as tables, how to add an event). Checks
contract/analytics/events.avsc (the topic's schema) and contract/analytics/bigquery_schema.json (the
table's) against the envelope the code builds: they are never rewritten with different bytes, so a
change to the envelope is made in both places on purpose.

By default (``--check``) the stale files are listed (exit 1); ``--write`` refreshes the generated ones.

usage: scripts/analytics_catalogue.py [--write | --check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.domain.analytics import CATALOGUE, ENVELOPE, EnvelopeField, EventType

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_JSON = Path("contract/analytics/catalogue.json")
AVRO_SCHEMA = Path("contract/analytics/events.avsc")
BIGQUERY_SCHEMA = Path("contract/analytics/bigquery_schema.json")
DOCS = Path("docs/analytics-events.md")

AVRO_RECORD = {
    "type": "record",
    "name": "AnalyticsEvent",
    "namespace": "games.potofgold.analytics",
    "doc": (
        "One analytics event (docs/analytics-events.md). Field names and types match the BigQuery table "
        "(contract/analytics/bigquery_schema.json)."
    ),
}
_BIGQUERY_TYPES = {"string": "STRING", "int": "INTEGER", "timestamp": "TIMESTAMP"}
_AVRO_TYPES: dict[str, Any] = {
    "string": "string",
    "int": "int",
    "timestamp": {"type": "long", "logicalType": "timestamp-micros"},
}


def _untitled(schema: Any) -> Any:
    """pydantic's JSON Schema without its generated titles (noise in a contract)."""
    if isinstance(schema, dict):
        return {key: _untitled(value) for key, value in schema.items() if key != "title"}
    if isinstance(schema, list):
        return [_untitled(value) for value in schema]
    return schema


def params_schema(event: EventType) -> dict[str, Any]:
    schema: dict[str, Any] = _untitled(event.params.model_json_schema())
    schema.setdefault("properties", {})
    return schema


def render_catalogue() -> str:
    events = [
        {
            "name": event.name,
            "version": event.version,
            "source": event.source,
            "description": event.description,
            "params": params_schema(event),
        }
        for event in CATALOGUE.values()
    ]
    return json.dumps({"events": events}, indent=2) + "\n"


def _bigquery_field(field: EnvelopeField) -> dict[str, str]:
    mode = "NULLABLE" if field.nullable else "REQUIRED"
    return {
        "name": field.name,
        "type": _BIGQUERY_TYPES[field.kind],
        "mode": mode,
        "description": field.description,
    }


def render_bigquery() -> str:
    lines = ",\n".join(f"  {json.dumps(_bigquery_field(field))}" for field in ENVELOPE)
    return f"[\n{lines}\n]\n"


def _avro_field(field: EnvelopeField) -> dict[str, Any]:
    kind = _AVRO_TYPES[field.kind]
    if field.nullable:
        return {"name": field.name, "type": ["null", kind], "default": None}
    return {"name": field.name, "type": kind}


def render_avro() -> str:
    head = "".join(f"  {json.dumps(key)}: {json.dumps(value)},\n" for key, value in AVRO_RECORD.items())
    fields = ",\n".join(f"    {json.dumps(_avro_field(field))}" for field in ENVELOPE)
    return f'{{\n{head}  "fields": [\n{fields}\n  ]\n}}\n'


def _type(schema: dict[str, Any]) -> str:
    """One param's type for a reader: ``string (1-64)``, ``integer (0-1000)``, ``one of a, b``."""
    options = schema.get("anyOf", [schema])
    described = []
    for option in options:
        if "enum" in option:
            described.append("one of " + ", ".join(f"`{v}`" for v in option["enum"]))
        elif option.get("type") == "null":
            described.append("null")
        elif option.get("type") == "string":
            described.append(f"string ({option.get('minLength', 0)}-{option.get('maxLength', '')} chars)")
        elif option.get("type") == "integer":
            described.append(f"integer ({option.get('minimum', '')} to {option.get('maximum', '')})")
        else:
            described.append(str(option.get("type", "any")))
    return " or ".join(described)


def _params_cell(event: EventType) -> str:
    schema = params_schema(event)
    required = set(schema.get("required", []))
    cells = []
    for name, prop in schema["properties"].items():
        optional = "" if name in required else ", may be left out"
        cells.append(f"`{name}`: {_type(prop)}{optional}. {prop.get('description', '')}".strip())
    return "<br>".join(cells) or "(none)"


def _table(source: str) -> str:
    rows = [
        f"| `{e.name}` | {e.version} | {e.description} | {_params_cell(e)} |"
        for e in CATALOGUE.values()
        if e.source == source
    ]
    return "\n".join(["| Event | Version | When | Params |", "|---|---|---|---|", *rows])


def _envelope_table() -> str:
    rows = [
        f"| `{f.name}` | {_BIGQUERY_TYPES[f.kind]} | {'yes' if f.nullable else 'no'} | {f.description} |"
        for f in ENVELOPE
    ]
    return "\n".join(["| Column | Type | Nullable | What |", "|---|---|---|---|", *rows])


def render_docs() -> str:
    return f"""<!-- Generated by scripts/analytics_catalogue.py from app/domain/analytics.py: edit those, then
run `.venv/bin/python -m scripts.analytics_catalogue --write`. -->
# Analytics events

The API and the game client send typed events; each travels in one envelope, to the Pub/Sub topic
`pog-<env>-analytics` (which checks every message against `contract/analytics/events.avsc`) and from
there, through a BigQuery subscription, into the table `events` of the dataset `pog_<env>_analytics`
(`contract/analytics/bigquery_schema.json`). The catalogue below is the one in `app/domain/analytics.py`;
`contract/analytics/catalogue.json` holds the same with each event's params as a JSON Schema.

## The envelope

Every event, whoever sends it, is one row:

{_envelope_table()}

The server stamps, whatever a client says: `event_id` (a client event's is a hash of the player and
the client's own id for it, so a retried batch makes the same ids and counts once after deduplication),
`received_at`, `source`, `player` and `country` (the player's profile country, else Cloudflare's
`CF-IPCountry` when the request came through Cloudflare; `XX` and `T1` count as none).

## What is never collected

- The uid, an email address, a display name, an IP address: `player` is an HMAC-SHA256 of the uid under
  the stack's secret `POG_ANALYTICS_PSEUDONYM_KEY` (32 hex characters), which cannot be turned back into
  the uid without the key, and differs between stacks.
- Card numbers, store receipts and store transaction ids: a grant says how many coins and items, the
  product, and why.
- Anything a client names outside its event's declared params: the batch is refused (422).

## Server events

Sent by the API itself (source `server`, platform `server`).

{_table("server")}

## Client events

Sent by the game client in batches to `POST /v1/analytics/events` (docs/game-api.md): at most 50 events
and 32 KiB a batch, each at most 24 h old and 5 min ahead of the server's clock, with exactly its declared
params. Any bad event refuses the whole batch (422, naming `events[i]` and the field); nothing of it is
kept.

{_table("client")}

## Adding or changing an event

1. Declare it in `app/domain/analytics.py`: a params model (every string and number bounded) and an
   entry of `CATALOGUE` with its source and a sentence saying when it happens.
2. Changing an existing event's params (a field added, removed, renamed or retyped) bumps its version:
   queries select on `name` and `schema_version` and read `params` by that version's fields.
3. Run `.venv/bin/python -m scripts.analytics_catalogue --write` and commit this page and
   `contract/analytics/catalogue.json` with the change (a test fails while they are stale).
4. A server event is emitted with `Analytics.emit` (`app/services/analytics.py`), after the action it
   records, with a deterministic `event_id` when the action has an id of its own (a retried request
   then makes the same event).

The envelope itself changes only with the topic's schema and the table: `contract/analytics/events.avsc`
and `contract/analytics/bigquery_schema.json` are checked, never rewritten, by the script.
"""


GENERATED: dict[Path, Callable[[], str]] = {CATALOGUE_JSON: render_catalogue, DOCS: render_docs}
CHECKED: dict[Path, Callable[[], str]] = {AVRO_SCHEMA: render_avro, BIGQUERY_SCHEMA: render_bigquery}


def stale(root: Path = REPO_ROOT) -> list[Path]:
    """Every file whose bytes differ from what the catalogue makes."""
    return [
        path
        for path, render in {**GENERATED, **CHECKED}.items()
        if not (root / path).is_file() or (root / path).read_text() != render()
    ]


def main(argv: list[str] | None = None, root: Path = REPO_ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="refresh the generated files")
    mode.add_argument("--check", action="store_true", help="list the stale files (the default)")
    args = parser.parse_args(argv)
    found = stale(root)
    if args.write:
        for path in found:
            if path in GENERATED:
                (root / path).write_text(GENERATED[path]())
                print(f"wrote {path}")
        found = [path for path in found if path in CHECKED]
    for path in found:
        if path in CHECKED:
            print(
                f"error: {path} does not match the envelope of app/domain/analytics.py (ENVELOPE): change "
                "both together (the topic's schema and the table follow this file)",
                file=sys.stderr,
            )
        else:
            print(f"error: {path} is stale: run scripts/analytics_catalogue.py --write", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
