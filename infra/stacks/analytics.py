"""Analytics: events from the API through Pub/Sub into BigQuery, and the views that answer questions.

The API publishes each event (the envelope of contract/analytics/events.avsc, Avro JSON encoding) to
``pog-<env>-analytics``; the topic enforces that schema, and a BigQuery subscription writes every message
into ``pog_<env>_analytics.events`` (columns of contract/analytics/bigquery_schema.json) with no pipeline
to run. A message BigQuery refuses MAX_DELIVERY_ATTEMPTS times goes to ``pog-<env>-analytics-dead-letter``,
held by a pull subscription for inspection and replay (docs/analytics.md). The views in analytics_views/
deduplicate by event_id (Pub/Sub delivers at least once) before they count anything.

Where the data lives: one BigQuery location for every phase, chosen from the primary region (dataset
locations are immutable: a promotion must never replace the dataset). A US or EU primary region puts the
dataset in that multi-region: Firebase's own BigQuery exports (Analytics, Performance Monitoring) are
created in a multi-region by default, and BigQuery joins only tables of one location. The topic is global.
In prod the dataset and the topic are encrypted with a key of their own key ring, in the KMS location
that matches the dataset's (BigQuery takes a multi-region dataset's key from the matching multi-region
only: the stack's key ring is regional).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

import contract
from infra.locations import bigquery_location_for, kms_location_for
from infra.phases import PhaseProfile
from infra.stacks.common import child, labels
from infra.stacks.foundation import KEY_ROTATION_PERIOD

ANALYTICS_DIR = Path(contract.__file__).resolve().parent / "analytics"
AVRO_SCHEMA_FILE = ANALYTICS_DIR / "events.avsc"
BIGQUERY_SCHEMA_FILE = ANALYTICS_DIR / "bigquery_schema.json"
VIEWS_DIR = Path(__file__).resolve().parent / "analytics_views"

TABLE = "events"
PARTITION_FIELD = "occurred_at"
CLUSTER_FIELDS: tuple[str, ...] = ("name",)
#: How long an event is kept. Dev: a month of the team's and the bots' traffic is enough to check the
#: views. Prod: a year and a month, so a week or a live event can be compared with the same one a year
#: earlier; the events are pseudonymous, and nothing older is kept (docs/analytics.md).
PARTITION_EXPIRATION_DAYS: dict[str, int] = {"dev": 30, "prod": 400}
#: The window every view reads (the table requires a partition filter, so a view names one): 90 days of
#: daily actives, cohorts, funnels and revenue; older questions query the table with their own filter.
VIEW_LOOKBACK_DAYS = 90
VIEWS: tuple[str, ...] = (
    "daily_actives",
    "retention",
    "game_funnel",
    "revenue_daily",
    "live_event_participation",
)
#: The topic keeps published messages a week: the BigQuery subscription can be seeked back to replay a
#: weekend's events after a bad table change.
TOPIC_RETENTION = "604800s"
#: A dead-lettered message waits a week (the subscription's maximum default) for someone to read it.
DEAD_LETTER_RETENTION = "604800s"
#: Delivery attempts before a message BigQuery refuses goes to the dead-letter topic (5 to 100).
MAX_DELIVERY_ATTEMPTS = 10
RETRY_MIN_BACKOFF = "10s"
RETRY_MAX_BACKOFF = "600s"
MS_PER_DAY = 86_400_000


def avro_schema() -> str:
    """The Pub/Sub schema's definition: events.avsc as written (checked to be an Avro record)."""
    text = AVRO_SCHEMA_FILE.read_text()
    parsed = json.loads(text)
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise ValueError(f"{AVRO_SCHEMA_FILE}: expected an Avro record at the top")
    return text


def bigquery_columns() -> list[dict[str, Any]]:
    """The events table's columns: bigquery_schema.json, every column named, typed and with a mode."""
    columns = json.loads(BIGQUERY_SCHEMA_FILE.read_text())
    if not isinstance(columns, list):
        raise ValueError(f"{BIGQUERY_SCHEMA_FILE}: expected a list of columns")
    for index, column in enumerate(columns):
        missing = [key for key in ("name", "type", "mode") if not column.get(key)]
        if missing:
            raise ValueError(f"{BIGQUERY_SCHEMA_FILE}: column {index} has no {', '.join(missing)}")
    return columns


def dataset_id(prefix: str) -> str:
    """pog-prod -> pog_prod_analytics (BigQuery ids take no dashes)."""
    return f"{prefix.replace('-', '_')}_analytics"


def events_table_ref(project: str, dataset: str) -> str:
    """The events table as a view's SQL names it (standard SQL, back-quoted)."""
    return f"`{project}.{dataset}.{TABLE}`"


def view_sql(view: str, events: str, lookback_days: int = VIEW_LOOKBACK_DAYS) -> str:
    """A view's BigQuery standard SQL over ``events`` (analytics_views/<view>.sql, its first CTE
    analytics_views/_deduped.sql)."""
    path = VIEWS_DIR / f"{view}.sql"
    if not path.is_file():
        raise ValueError(f"no view {view!r}: expected {path}")
    window = {"events": events, "lookback_days": lookback_days}
    deduped = _uncommented((VIEWS_DIR / "_deduped.sql").read_text()).strip().format(**window)
    return path.read_text().format(deduped=deduped, **window)


def _uncommented(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.startswith("--"))


def topic_path(project: str, name: str) -> str:
    """What the app publishes to (POG_ANALYTICS_TOPIC): projects/<project>/topics/<name>."""
    return f"projects/{project}/topics/{name}"


@dataclass
class AnalyticsArgs:
    prefix: str
    project: str
    primary_region: str
    publisher_account: gcp.serviceaccount.Account
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class Analytics(pulumi.ComponentResource):
    """Public attributes:

    topic: gcp.pubsub.Topic                the events (schema-enforced, Avro JSON)
    topic_path: str                        projects/<project>/topics/pog-<env>-analytics (POG_ANALYTICS_TOPIC)
    dead_letter_topic, dead_letter_subscription   what BigQuery refused, for inspection and replay
    dataset: gcp.bigquery.Dataset; table: gcp.bigquery.Table; views: dict[str, gcp.bigquery.Table]
    bigquery_subscription: gcp.pubsub.Subscription   writes the topic into the table
    crypto_key: gcp.kms.CryptoKey | None   prod's CMEK of the dataset and the topic
    """

    def __init__(self, name: str, args: AnalyticsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:analytics:Analytics", name, None, opts)
        self._args = args
        p = args.prefix
        prod = args.profile.is_prod
        self.location = bigquery_location_for(args.primary_region)
        project_number = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        self._pubsub_agent = project_number.apply(
            lambda n: f"serviceAccount:service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )
        key_grants: list[pulumi.Resource] = []
        self.crypto_key: gcp.kms.CryptoKey | None = None
        if prod:
            self.crypto_key, key_grants = self._cmek()
        kms_key = None if self.crypto_key is None else self.crypto_key.id
        after = [*args.depends_on, *key_grants]

        self.schema = gcp.pubsub.Schema(
            f"{p}-analytics-event",
            name=f"{p}-analytics-event",
            project=args.project,
            type="AVRO",
            definition=avro_schema(),
            opts=child(self, depends_on=args.depends_on),
        )
        self.topic = gcp.pubsub.Topic(
            f"{p}-analytics",
            name=f"{p}-analytics",
            project=args.project,
            schema_settings=gcp.pubsub.TopicSchemaSettingsArgs(schema=self.schema.id, encoding="JSON"),
            message_retention_duration=TOPIC_RETENTION,
            kms_key_name=kms_key,
            labels=labels(p, "analytics"),
            opts=child(self, depends_on=[*after, self.schema]),
        )
        self.topic_path = topic_path(args.project, f"{p}-analytics")
        gcp.pubsub.TopicIAMMember(
            f"{p}-analytics-api-publisher",
            project=args.project,
            topic=self.topic.name,
            role="roles/pubsub.publisher",
            member=args.publisher_account.member,
            opts=child(self),
        )
        self._dead_letter(kms_key, after)
        self._warehouse(kms_key, after)
        self._bigquery_subscription()
        self.register_outputs(
            {
                "topic": self.topic_path,
                "deadLetterSubscription": self.dead_letter_subscription.name,
                "dataset": self.dataset.dataset_id,
                "location": self.location,
            }
        )

    def _cmek(self) -> tuple[gcp.kms.CryptoKey, list[pulumi.Resource]]:
        """Prod's key, in the KMS location of the dataset, usable by the BigQuery and Pub/Sub agents."""
        args, p = self._args, self._args.prefix
        # Key rings and keys cannot be deleted in Cloud KMS: protected, like the stack's own.
        ring = gcp.kms.KeyRing(
            f"{p}-analytics-keyring",
            name=f"{p}-analytics-keyring",
            project=args.project,
            location=kms_location_for(self.location),
            opts=child(self, protect=True, depends_on=args.depends_on),
        )
        key = gcp.kms.CryptoKey(
            f"{p}-analytics-key",
            name=f"{p}-analytics-key",
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION_PERIOD,
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"
            ),
            labels=labels(p, "analytics"),
            opts=child(self, protect=True),
        )
        # BigQuery's encryption account exists once asked for: the data source asks.
        bigquery_agent = gcp.bigquery.get_default_service_account_output(
            project=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).member
        grants: list[pulumi.Resource] = [
            gcp.kms.CryptoKeyIAMMember(
                f"{p}-analytics-key-{agent}-encrypter-decrypter",
                crypto_key_id=key.id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=member,
                opts=child(self),
            )
            for agent, member in (("bigquery", bigquery_agent), ("pubsub", self._pubsub_agent))
        ]
        return key, grants

    def _dead_letter(self, kms_key: pulumi.Input[str] | None, after: Sequence[pulumi.Resource]) -> None:
        args, p = self._args, self._args.prefix
        self.dead_letter_topic = gcp.pubsub.Topic(
            f"{p}-analytics-dead-letter",
            name=f"{p}-analytics-dead-letter",
            project=args.project,
            message_retention_duration=TOPIC_RETENTION,
            kms_key_name=kms_key,
            labels=labels(p, "analytics"),
            opts=child(self, depends_on=after),
        )
        # Pub/Sub's agent forwards a refused message here after MAX_DELIVERY_ATTEMPTS.
        self._dead_letter_publisher = gcp.pubsub.TopicIAMMember(
            f"{p}-analytics-dead-letter-pubsub-publisher",
            project=args.project,
            topic=self.dead_letter_topic.name,
            role="roles/pubsub.publisher",
            member=self._pubsub_agent,
            opts=child(self),
        )
        # Nobody consumes it automatically: on-call pulls, reads why, fixes and republishes
        # (docs/analytics.md#dead-letters); an unacknowledged message is the backlog.
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{p}-analytics-dead-letter-inspect",
            name=f"{p}-analytics-dead-letter-inspect",
            project=args.project,
            topic=self.dead_letter_topic.id,
            ack_deadline_seconds=600,
            message_retention_duration=DEAD_LETTER_RETENTION,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=labels(p, "analytics"),
            opts=child(self),
        )

    def _warehouse(self, kms_key: pulumi.Input[str] | None, after: Sequence[pulumi.Resource]) -> None:
        args, p = self._args, self._args.prefix
        prod = args.profile.is_prod
        self.dataset_name = dataset_id(p)
        self.dataset = gcp.bigquery.Dataset(
            f"{p}-analytics-dataset",
            dataset_id=self.dataset_name,
            project=args.project,
            location=self.location,
            description="Game analytics events (docs/analytics.md); written by the Pub/Sub subscription",
            default_encryption_configuration=(
                None
                if kms_key is None
                else gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=kms_key)
            ),
            delete_contents_on_destroy=False,
            labels=labels(p, "analytics"),
            opts=child(self, protect=prod, depends_on=after),
        )
        self.table = gcp.bigquery.Table(
            f"{p}-analytics-events",
            dataset_id=self.dataset.dataset_id,
            project=args.project,
            table_id=TABLE,
            description="One row per delivered event; deduplicate by event_id (the views do)",
            schema=json.dumps(bigquery_columns()),
            time_partitioning=gcp.bigquery.TableTimePartitioningArgs(
                type="DAY",
                field=PARTITION_FIELD,
                expiration_ms=PARTITION_EXPIRATION_DAYS[args.profile.environment] * MS_PER_DAY,
            ),
            clusterings=list(CLUSTER_FIELDS),
            # A query without a date range would scan (and bill) every retained day.
            require_partition_filter=True,
            encryption_configuration=(
                None
                if kms_key is None
                else gcp.bigquery.TableEncryptionConfigurationArgs(kms_key_name=kms_key)
            ),
            deletion_protection=prod,
            labels=labels(p, "analytics"),
            opts=child(self, protect=prod),
        )
        self._writer = gcp.bigquery.DatasetIamMember(
            f"{p}-analytics-dataset-pubsub-data-editor",
            project=args.project,
            dataset_id=self.dataset.dataset_id,
            role="roles/bigquery.dataEditor",
            member=self._pubsub_agent,
            opts=child(self),
        )
        events = events_table_ref(args.project, self.dataset_name)
        self.views: dict[str, gcp.bigquery.Table] = {
            view: gcp.bigquery.Table(
                f"{p}-analytics-view-{view.replace('_', '-')}",
                dataset_id=self.dataset.dataset_id,
                project=args.project,
                table_id=view,
                description=f"analytics_views/{view}.sql over the last {VIEW_LOOKBACK_DAYS} days",
                view=gcp.bigquery.TableViewArgs(query=view_sql(view, events), use_legacy_sql=False),
                # A view holds no data: rebuilt from its SQL.
                deletion_protection=False,
                labels=labels(p, "analytics"),
                opts=child(self, depends_on=[self.table]),
            )
            for view in VIEWS
        }

    def _bigquery_subscription(self) -> None:
        args, p = self._args, self._args.prefix
        table = pulumi.Output.concat(args.project, ".", self.dataset.dataset_id, ".", self.table.table_id)
        self.bigquery_subscription = gcp.pubsub.Subscription(
            f"{p}-analytics-bigquery",
            name=f"{p}-analytics-bigquery",
            project=args.project,
            topic=self.topic.id,
            bigquery_config=gcp.pubsub.SubscriptionBigqueryConfigArgs(
                table=table,
                # The topic's Avro fields are the table's columns; an unknown field is an error to see in
                # the dead letters, never data dropped in silence.
                use_topic_schema=True,
                drop_unknown_fields=False,
                write_metadata=False,
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=self.dead_letter_topic.id, max_delivery_attempts=MAX_DELIVERY_ATTEMPTS
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=RETRY_MIN_BACKOFF, maximum_backoff=RETRY_MAX_BACKOFF
            ),
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=labels(p, "analytics"),
            # Creating a BigQuery subscription checks that Pub/Sub's agent may write the table.
            opts=child(self, depends_on=[self._writer, self._dead_letter_publisher]),
        )
        # Forwarding to the dead letters acknowledges the message on this subscription.
        gcp.pubsub.SubscriptionIAMMember(
            f"{p}-analytics-bigquery-pubsub-subscriber",
            project=args.project,
            subscription=self.bigquery_subscription.name,
            role="roles/pubsub.subscriber",
            member=self._pubsub_agent,
            opts=child(self),
        )
