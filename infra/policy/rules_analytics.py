"""Rules for the analytics pipeline (infra/stacks/analytics.py): Pub/Sub into BigQuery.

The events are pseudonymous but still about players: no dataset is public, prod's are encrypted with our
key, and so is the topic that carries them. Nothing is lost quietly: the BigQuery subscription sends what
BigQuery refuses to a dead-letter topic that someone subscribes to, and the topic enforces the schema so
a malformed event is refused at publish time. The table is partitioned by day, clustered and expires,
so neither a query nor the storage grows without bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import PUBLIC_MEMBERS, as_list, enabled, get, iam_grants, is_known, refers_to

rules = RuleSet()

DATASET = t.BIGQUERY_DATASET
DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"
TABLE = "gcp:bigquery/table:Table"
TOPIC = t.PUBSUB_TOPIC
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
SCHEMA = "gcp:pubsub/schema:Schema"
_ENCODINGS = frozenset({"JSON", "BINARY"})


def _analytics_topic(resource: Resource) -> bool:
    name = resource.props.get("name")
    return isinstance(name, str) and "-analytics" in name


def _public_access(access: Mapping[str, Any]) -> str | None:
    for key in ("specialGroup", "iamMember"):
        value = access.get(key)
        if isinstance(value, str) and value in PUBLIC_MEMBERS:
            return value
    return None


@rules.resource(
    "POG-ANL-001",
    Severity.CRITICAL,
    "No BigQuery dataset or table is open to allUsers or allAuthenticatedUsers",
    "Grant dataset access to named principals (the Pub/Sub agent writes, the team's group reads); never"
    " specialGroup allAuthenticatedUsers or iamMember allUsers.",
    types=[DATASET, DATASET_ACCESS, *t.BIGQUERY_IAM_TYPES],
)
def dataset_not_public(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == DATASET:
        accesses = [a for a in as_list(r.props.get("accesses")) if isinstance(a, Mapping)]
    elif r.type == DATASET_ACCESS:
        accesses = [r.props]
    else:
        accesses = []
        for role, member in iam_grants(r.props):
            if member in PUBLIC_MEMBERS:
                yield f"grants {role or 'a role'} on BigQuery data to {member}"
    for access in accesses:
        public = _public_access(access)
        if public is not None:
            yield f"dataset access gives {access.get('role', 'a role')} to {public}"


@rules.resource(
    "POG-ANL-002",
    Severity.HIGH,
    "In prod, BigQuery datasets and the analytics topics are encrypted with our KMS key",
    "Set default_encryption_configuration.kms_key_name on the dataset and kms_key_name on the topics, with"
    " a key in the dataset's KMS location (infra/stacks/analytics.py _cmek).",
    types=[DATASET, TOPIC],
)
def cmek_in_prod(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not ctx.is_prod:
        return
    if r.type == DATASET:
        key = get(r.props, "defaultEncryptionConfiguration.kmsKeyName")
        if is_known(key) and not key:
            yield "no defaultEncryptionConfiguration.kmsKeyName: the events are encrypted with Google's key"
    elif _analytics_topic(r):
        key = r.props.get("kmsKeyName")
        if is_known(key) and not key:
            yield "no kmsKeyName: the events in flight are encrypted with Google's key"


@rules.stack(
    "POG-ANL-003",
    Severity.HIGH,
    "Every BigQuery subscription dead-letters to a topic of the stack that a subscription holds",
    "Give the subscription a dead_letter_policy (dead_letter_topic, max_delivery_attempts 5-100) to a"
    " declared topic, and a pull subscription on that topic: a topic without one drops what it receives.",
)
def dead_letters_kept(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    topics = stack.of_type(TOPIC)
    subscriptions = stack.of_type(SUBSCRIPTION)
    for subscription in subscriptions:
        if not isinstance(subscription.props.get("bigqueryConfig"), Mapping):
            continue
        policy = subscription.props.get("deadLetterPolicy")
        if not is_known(policy):
            continue
        if not isinstance(policy, Mapping) or not policy.get("deadLetterTopic"):
            yield Finding(
                "no dead-letter policy: a message BigQuery refuses is retried for ever", subscription.key
            )
            continue
        target = policy["deadLetterTopic"]
        attempts = policy.get("maxDeliveryAttempts")
        if is_known(attempts) and attempts is not None and not 5 <= int(attempts) <= 100:
            yield Finding(f"maxDeliveryAttempts {attempts} is outside 5-100", subscription.key)
        if not is_known(target):
            continue
        topic = next((tp for tp in topics if refers_to(target, tp)), None)
        if topic is None:
            yield Finding(f"dead-letter topic {target} is not declared in the stack", subscription.key)
        elif not any(refers_to(s.props.get("topic"), topic) for s in subscriptions):
            yield Finding(
                f"nothing subscribes to dead-letter topic {topic.props.get('name', topic.name)}: the refused"
                " events would be dropped",
                subscription.key,
            )


@rules.resource(
    "POG-ANL-004",
    Severity.MEDIUM,
    "BigQuery tables are partitioned by day with an expiration, clustered, and require a partition filter",
    "Set time_partitioning (type DAY, field, expiration_ms), clusterings and require_partition_filter=True"
    " (infra/stacks/analytics.py): storage and every query stay bounded.",
    types=[TABLE],
)
def table_bounded(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.props.get("view") or r.props.get("materializedView"):
        return  # views hold no data
    partitioning = r.props.get("timePartitioning")
    if not is_known(partitioning):
        return
    if not isinstance(partitioning, Mapping) or not partitioning.get("type"):
        yield "not partitioned (timePartitioning): every query scans the whole table"
    else:
        expiration = partitioning.get("expirationMs")
        if is_known(expiration) and not expiration:
            yield "timePartitioning has no expirationMs: events are kept for ever"
    clusterings = r.props.get("clusterings")
    if is_known(clusterings) and not as_list(clusterings):
        yield "not clustered (clusterings): a query by event name reads every row of a day"
    required = r.props.get("requirePartitionFilter")
    if is_known(required) and not enabled(required):
        yield "requirePartitionFilter is not true: a query without a date range bills every retained day"


@rules.stack(
    "POG-ANL-005",
    Severity.HIGH,
    "A topic written into BigQuery enforces a declared schema that the subscription writes by",
    "Give the topic schema_settings (a declared pubsub.Schema, encoding JSON or BINARY) and the BigQuery"
    " subscription use_topic_schema=True (infra/stacks/analytics.py).",
)
def topic_schema_enforced(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    topics = stack.of_type(TOPIC)
    schemas = stack.of_type(SCHEMA)
    for subscription in stack.of_type(SUBSCRIPTION):
        config = subscription.props.get("bigqueryConfig")
        if not isinstance(config, Mapping):
            continue
        if is_known(config.get("useTopicSchema")) and not enabled(config.get("useTopicSchema")):
            yield Finding(
                "useTopicSchema is not true: columns would not follow the topic's schema", subscription.key
            )
        topic = next((tp for tp in topics if refers_to(subscription.props.get("topic"), tp)), None)
        if topic is None:
            continue
        settings = topic.props.get("schemaSettings")
        if not is_known(settings):
            continue
        schema = settings.get("schema") if isinstance(settings, Mapping) else None
        where = topic.props.get("name", topic.name)
        if not isinstance(settings, Mapping) or not schema:
            yield Finding(f"topic {where} enforces no schema: any message reaches BigQuery", topic.key)
            continue
        if is_known(schema) and not any(refers_to(schema, s) for s in schemas):
            yield Finding(f"topic {where} names schema {schema}, which the stack does not declare", topic.key)
        encoding = settings.get("encoding")
        if is_known(encoding) and encoding not in _ENCODINGS:
            yield Finding(f"topic {where} schema encoding {encoding!r} is not JSON or BINARY", topic.key)
