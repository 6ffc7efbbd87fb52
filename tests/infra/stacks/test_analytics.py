"""Analytics layer: the topic and its schema, the BigQuery subscription, the table, the views, prod's CMEK."""

from __future__ import annotations

import json

import pytest

from infra.plan.engine import Plan
from infra.plan.mocks import PROJECT_NUMBER
from infra.stacks.analytics import (
    MAX_DELIVERY_ATTEMPTS,
    PARTITION_EXPIRATION_DAYS,
    VIEWS,
    avro_schema,
    bigquery_columns,
    dataset_id,
)
from tests.infra.stacks.layers import Layer, api_member, prefix, project

TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
TABLE = "gcp:bigquery/table:Table"
DATASET = "gcp:bigquery/dataset:Dataset"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_RING = "gcp:kms/keyRing:KeyRing"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SERVICE = "gcp:cloudrunv2/service:Service"
PUBSUB_AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"

LAYER = Layer("potgold:analytics:Analytics", "analytics")


def _named(plan: Plan, type_: str) -> dict[str, dict[str, object]]:
    return {str(r.inputs.get("name") or r.inputs.get("tableId")): r.inputs for r in LAYER.mine(plan, type_)}


def test_the_topic_enforces_the_contracts_schema_and_only_the_api_publishes(plan: Plan) -> None:
    p = prefix(plan)
    topics = _named(plan, TOPIC)
    assert set(topics) == {f"{p}-analytics", f"{p}-analytics-dead-letter"}
    assert topics[f"{p}-analytics"]["schemaSettings"] == {
        "schema": f"{p}-analytics-event-id",
        "encoding": "JSON",
    }
    [schema] = LAYER.mine(plan, "gcp:pubsub/schema:Schema")
    assert (schema.inputs["type"], schema.inputs["definition"]) == ("AVRO", avro_schema())
    grants = sorted(
        (g.inputs["topic"], g.inputs["role"], g.inputs["member"]) for g in LAYER.mine(plan, TOPIC_IAM)
    )
    assert grants == [
        (f"{p}-analytics", "roles/pubsub.publisher", api_member(plan)),
        (f"{p}-analytics-dead-letter", "roles/pubsub.publisher", PUBSUB_AGENT),
    ]


def test_every_process_publishes_to_the_topic_by_its_full_path(plan: Plan) -> None:
    services = [r for r in plan.resources if r.type == SERVICE]
    assert services
    for service in services:
        envs = {e["name"]: e for e in service.inputs["template"]["containers"][0]["envs"]}
        assert (
            envs["POG_ANALYTICS_TOPIC"]["value"]
            == f"projects/{project(plan)}/topics/{prefix(plan)}-analytics"
        )
        assert envs["POG_ANALYTICS_PSEUDONYM_KEY"]["valueSource"]["secretKeyRef"]["secret"] == (
            f"{prefix(plan)}-analytics-pseudonym-key"
        )


def test_the_bigquery_subscription_writes_by_the_topic_schema_and_dead_letters(plan: Plan) -> None:
    p = prefix(plan)
    subscriptions = _named(plan, SUBSCRIPTION)
    assert set(subscriptions) == {f"{p}-analytics-bigquery", f"{p}-analytics-dead-letter-inspect"}
    writer = subscriptions[f"{p}-analytics-bigquery"]
    assert writer["bigqueryConfig"] == {
        "table": f"{project(plan)}.{dataset_id(p)}.events",
        "useTopicSchema": True,
        "dropUnknownFields": False,
        "writeMetadata": False,
    }
    assert writer["deadLetterPolicy"] == {
        "deadLetterTopic": f"{p}-analytics-dead-letter-id",
        "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS,
    }
    assert writer["expirationPolicy"] == {"ttl": ""}
    assert subscriptions[f"{p}-analytics-dead-letter-inspect"]["topic"] == f"{p}-analytics-dead-letter-id"


def test_the_table_is_bounded_and_protected_in_prod(plan: Plan) -> None:
    tables = _named(plan, TABLE)
    assert set(tables) == {"events", *VIEWS}
    events = tables["events"]
    assert json.loads(str(events["schema"])) == bigquery_columns()
    assert events["timePartitioning"] == {
        "type": "DAY",
        "field": "occurred_at",
        "expirationMs": PARTITION_EXPIRATION_DAYS[plan.stack] * 86_400_000,
    }
    assert (events["clusterings"], events["requirePartitionFilter"]) == (["name"], True)
    assert events["deletionProtection"] is (plan.stack == "prod")
    for view in VIEWS:
        query = tables[view]["view"]["query"]  # type: ignore[index]
        assert f"`{project(plan)}.{dataset_id(prefix(plan))}.events`" in query


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_dataset_lives_in_the_primary_regions_multi_region(stack: str) -> None:
    from tests.infra.conftest import plan_for

    for phase in (1, 3):
        [dataset] = LAYER.mine(plan_for(stack, phase), DATASET)
        assert (dataset.inputs["datasetId"], dataset.inputs["location"]) == (f"pog_{stack}_analytics", "US")


def test_prod_encrypts_dataset_and_topics_with_its_own_multi_region_key(plan: Plan) -> None:
    keys = LAYER.mine(plan, KEY)
    [dataset] = LAYER.mine(plan, DATASET)
    topics = LAYER.mine(plan, TOPIC)
    if plan.stack == "dev":
        assert keys == []
        assert dataset.inputs.get("defaultEncryptionConfiguration") is None
        assert all(t.inputs.get("kmsKeyName") is None for t in topics)
        return
    [ring] = LAYER.mine(plan, KEY_RING)
    assert (ring.inputs["location"], ring.protect) == ("us", True)
    [key] = keys
    assert key.protect
    assert key.inputs["rotationPeriod"] == "2592000s"
    key_id = f"{prefix(plan)}-analytics-key-id"
    assert dataset.inputs["defaultEncryptionConfiguration"] == {"kmsKeyName": key_id}
    assert [t.inputs["kmsKeyName"] for t in topics] == [key_id, key_id]
    members = sorted(g.inputs["member"] for g in LAYER.mine(plan, KEY_IAM))
    assert members == sorted(
        [f"serviceAccount:bq-{PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com", PUBSUB_AGENT]
    )
