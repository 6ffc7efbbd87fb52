"""Fixtures of the analytics pipeline's rules (rules_analytics.py POG-ANL-*, issue 21)."""

from __future__ import annotations

from typing import Any

from infra.policy.model import Resource
from infra.policy.rules_analytics import DATASET, DATASET_ACCESS, SCHEMA, SUBSCRIPTION, TABLE, TOPIC

from .cases import Case, bad, ok
from .helpers import res

KEY = "projects/p/locations/us/keyRings/pog-prod-analytics-keyring/cryptoKeys/pog-prod-analytics-key"


def dataset(**overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "datasetId": "pog_prod_analytics",
        "location": "US",
        "defaultEncryptionConfiguration": {"kmsKeyName": KEY},
    }
    props.update(overrides)
    return res(DATASET, "pog-prod-analytics-dataset", protect=True, **props)


def topic(name: str = "pog-prod-analytics", **overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "name": name,
        "kmsKeyName": KEY,
        "schemaSettings": {"schema": "pog-prod-analytics-event-id", "encoding": "JSON"},
    }
    props.update(overrides)
    return res(TOPIC, name, **props)


def schema() -> Resource:
    return res(SCHEMA, "pog-prod-analytics-event", name="pog-prod-analytics-event", type="AVRO")


def events_table(**overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "tableId": "events",
        "timePartitioning": {"type": "DAY", "field": "occurred_at", "expirationMs": 400 * 86_400_000},
        "clusterings": ["name"],
        "requirePartitionFilter": True,
    }
    props.update(overrides)
    return res(TABLE, "pog-prod-analytics-events", protect=True, **props)


def bigquery_subscription(**overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "name": "pog-prod-analytics-bigquery",
        "topic": "pog-prod-analytics-id",
        "bigqueryConfig": {"table": "p.pog_prod_analytics.events", "useTopicSchema": True},
        "deadLetterPolicy": {
            "deadLetterTopic": "pog-prod-analytics-dead-letter-id",
            "maxDeliveryAttempts": 10,
        },
    }
    props.update(overrides)
    return res(SUBSCRIPTION, "pog-prod-analytics-bigquery", **props)


def inspect_subscription() -> Resource:
    return res(
        SUBSCRIPTION,
        "pog-prod-analytics-dead-letter-inspect",
        name="pog-prod-analytics-dead-letter-inspect",
        topic="pog-prod-analytics-dead-letter-id",
    )


def pipeline(*, inspected: bool = True, **subscription: Any) -> tuple[Resource, ...]:
    """The topic, its schema, the dead-letter topic (and its subscription), the BigQuery subscription."""
    resources = [
        schema(),
        topic(),
        topic("pog-prod-analytics-dead-letter", schemaSettings=None),
        bigquery_subscription(**subscription),
    ]
    return (*resources, inspect_subscription()) if inspected else tuple(resources)


ANALYTICS_CASES: list[Case] = [
    ok(
        "POG-ANL-001",
        "named-readers",
        dataset(accesses=[{"role": "READER", "groupByEmail": "data@example.com"}]),
    ),
    ok(
        "POG-ANL-001",
        "agent-writes",
        res(
            "gcp:bigquery/datasetIamMember:DatasetIamMember",
            "w",
            role="roles/bigquery.dataEditor",
            member="serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com",
        ),
    ),
    bad(
        "POG-ANL-001",
        "special-group",
        dataset(accesses=[{"role": "READER", "specialGroup": "allAuthenticatedUsers"}]),
        expect="dataset access gives READER to allAuthenticatedUsers",
    ),
    bad(
        "POG-ANL-001",
        "dataset-access-resource",
        res(DATASET_ACCESS, "a", datasetId="pog_prod_analytics", role="READER", iamMember="allUsers"),
        expect="to allUsers",
    ),
    bad(
        "POG-ANL-001",
        "dataset-iam",
        res(
            "gcp:bigquery/datasetIamMember:DatasetIamMember",
            "v",
            role="roles/bigquery.dataViewer",
            member="allUsers",
        ),
        expect="grants roles/bigquery.dataViewer on BigQuery data to allUsers",
    ),
    ok("POG-ANL-002", "prod-encrypted", dataset(), topic()),
    ok(
        "POG-ANL-002",
        "dev-google-key",
        dataset(defaultEncryptionConfiguration=None),
        topic(kmsKeyName=None),
        environment="dev",
    ),
    ok("POG-ANL-002", "other-topics-are-not-analytics", topic("pog-prod-secret-rotation", kmsKeyName=None)),
    bad(
        "POG-ANL-002",
        "prod-dataset-google-key",
        dataset(defaultEncryptionConfiguration=None),
        expect="no defaultEncryptionConfiguration.kmsKeyName",
    ),
    bad("POG-ANL-002", "prod-topic-google-key", topic(kmsKeyName=None), expect="no kmsKeyName"),
    ok("POG-ANL-003", "dead-letters-held", *pipeline()),
    bad(
        "POG-ANL-003",
        "no-dead-letter-policy",
        *pipeline(deadLetterPolicy=None),
        expect="no dead-letter policy",
    ),
    bad("POG-ANL-003", "nobody-holds-them", *pipeline(inspected=False), expect="nothing subscribes"),
    bad(
        "POG-ANL-003",
        "undeclared-topic",
        *pipeline(deadLetterPolicy={"deadLetterTopic": "pog-prod-elsewhere-id", "maxDeliveryAttempts": 10}),
        expect="dead-letter topic pog-prod-elsewhere-id is not declared",
    ),
    bad(
        "POG-ANL-003",
        "too-many-attempts",
        *pipeline(
            deadLetterPolicy={
                "deadLetterTopic": "pog-prod-analytics-dead-letter-id",
                "maxDeliveryAttempts": 500,
            }
        ),
        expect="maxDeliveryAttempts 500 is outside 5-100",
    ),
    ok("POG-ANL-004", "bounded", events_table()),
    ok(
        "POG-ANL-004",
        "views-hold-no-data",
        res(TABLE, "v", tableId="daily_actives", view={"query": "SELECT 1"}),
    ),
    bad(
        "POG-ANL-004",
        "kept-for-ever",
        events_table(timePartitioning={"type": "DAY", "field": "occurred_at"}),
        expect="no expirationMs",
    ),
    bad(
        "POG-ANL-004",
        "unbounded",
        events_table(timePartitioning=None, clusterings=[], requirePartitionFilter=False),
        expect="not partitioned",
        violations=3,
    ),
    ok("POG-ANL-005", "schema-enforced", *pipeline()),
    bad(
        "POG-ANL-005",
        "no-schema",
        schema(),
        topic(schemaSettings=None),
        bigquery_subscription(),
        expect="topic pog-prod-analytics enforces no schema",
    ),
    bad(
        "POG-ANL-005",
        "undeclared-schema",
        topic(),
        bigquery_subscription(),
        expect="names schema pog-prod-analytics-event-id, which the stack does not declare",
    ),
    bad(
        "POG-ANL-005",
        "table-schema",
        schema(),
        topic(),
        bigquery_subscription(bigqueryConfig={"table": "p.d.events", "useTopicSchema": False}),
        expect="useTopicSchema is not true",
    ),
]
