"""Data: Firebase project, Firestore databases, TTL, indexes, rules, Realtime Database shards, Identity
Platform."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.locations import rtdb_region_for
from infra.phases import PhaseProfile
from infra.stacks.app_check import app_check_services
from infra.stacks.common import child

DEFAULT_DATABASE = "(default)"
GAME_SESSIONS_DATABASE = "game-sessions"
GAMES_COLLECTION = "games"
# The app writes expires_at = created + 7 days on every game; TTL deletes the document after it.
GAME_TTL_FIELD = "expires_at"

RULES_FILE = Path(__file__).resolve().with_name("firestore.rules")

TOTP_ADJACENT_INTERVALS = 5

#: The one region whose databases keep the legacy firebaseio.com host (Firebase, "Database URLs").
RTDB_LEGACY_HOST_REGION = "us-central1"


@dataclass(frozen=True)
class CompositeIndex:
    collection: str
    fields: tuple[tuple[str, str], ...]  # (field path, ASCENDING | DESCENDING)


# The composite indexes the app's queries need. Games indexes go to every database holding games,
# the others to (default), where those collections live.
COMPOSITE_INDEXES: tuple[CompositeIndex, ...] = (
    CompositeIndex(GAMES_COLLECTION, (("uid", "ASCENDING"), ("finished_at", "DESCENDING"))),
    CompositeIndex(GAMES_COLLECTION, (("status", "ASCENDING"), ("final_score", "DESCENDING"))),
    # Leaderboard rebuilds: a period's finished games (app/repositories/leaderboard_archive.py).
    CompositeIndex(GAMES_COLLECTION, (("status", "ASCENDING"), ("finished_at", "ASCENDING"))),
    CompositeIndex("transactions", (("uid", "ASCENDING"), ("created_at", "DESCENDING"))),
    CompositeIndex("review_queue", (("status", "ASCENDING"), ("created_at", "ASCENDING"))),
    # A player's purchases in the velocity window when Redis is down (app/repositories/ledger_counts.py).
    CompositeIndex(
        "transactions", (("uid", "ASCENDING"), ("source", "ASCENDING"), ("created_at", "DESCENDING"))
    ),
    # A player's finished games in an event's window (app/repositories/events_progress.py).
    CompositeIndex(
        GAMES_COLLECTION, (("uid", "ASCENDING"), ("status", "ASCENDING"), ("finished_at", "ASCENDING"))
    ),
)

#: hotItems reads every event's reward_claims by claimed_at (a collection-group query, which Firestore
#: does not index by itself); the collection-scope indexes are listed too, as an override replaces them.
REWARD_CLAIMS_INDEXES: tuple[tuple[str, str], ...] = (
    ("ASCENDING", "COLLECTION"),
    ("DESCENDING", "COLLECTION"),
    ("DESCENDING", "COLLECTION_GROUP"),
)


def regional_games_database(region: str) -> str:
    return f"games-{region}"


def database_locations(
    firestore_location: str, api_regions: Sequence[str], profile: PhaseProfile
) -> dict[str, str]:
    """Database id -> location for this phase; later phases only add databases."""
    locations = {DEFAULT_DATABASE: firestore_location}
    if profile.game_sessions_database:
        locations[GAME_SESSIONS_DATABASE] = firestore_location
    if profile.regional_game_databases:
        locations.update({regional_games_database(r): r for r in api_regions})
    return locations


def game_database_ids(api_regions: Sequence[str], profile: PhaseProfile) -> dict[str, str]:
    """API region -> database that receives that region's new game sessions."""
    if profile.regional_game_databases:
        return {r: regional_games_database(r) for r in api_regions}
    if profile.game_sessions_database:
        return dict.fromkeys(api_regions, GAME_SESSIONS_DATABASE)
    return dict.fromkeys(api_regions, DEFAULT_DATABASE)


def rules_release_name(database_id: str) -> str:
    return "cloud.firestore" if database_id == DEFAULT_DATABASE else f"cloud.firestore/{database_id}"


def _slug(database_id: str) -> str:
    return "default" if database_id == DEFAULT_DATABASE else database_id


def rtdb_instance_ids(project: str, shards: int) -> list[str]:
    """Shard order: the project's default instance, then one USER_DATABASE instance per further shard.

    Firebase takes 6-30 characters of [a-z0-9-] for an instance we create: a project id over 22 characters
    leaves no room for "-rtdb-NN"; policy POG-RTDB-001 refuses such a plan before Firebase would."""
    return [f"{project}-default-rtdb", *(f"{project}-rtdb-{shard}" for shard in range(1, shards))]


def rtdb_url(instance_id: str, region: str) -> str:
    """An instance's database URL, as Firebase forms it from the id and the region."""
    if region == RTDB_LEGACY_HOST_REGION:
        return f"https://{instance_id}.firebaseio.com"
    return f"https://{instance_id}.{region}.firebasedatabase.app"


@dataclass
class DataArgs:
    prefix: str
    project: str
    firestore_location: str
    primary_region: str
    api_regions: tuple[str, ...]
    api_service_account: gcp.serviceaccount.Account
    authorized_domains: tuple[str, ...]
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Data(pulumi.ComponentResource):
    """Public attributes:

    databases: dict[str, gcp.firestore.Database]  keyed by database id: "(default)", and per phase
                "game-sessions" (phase 2+), "games-<region>" (phase 3)
    game_database_ids: dict[str, str]  API region -> database id holding that region's game sessions
    rtdb_instances: list[gcp.firebase.DatabaseInstance]  the Realtime Database shards, shard 0 first
    realtime_database_urls: tuple[str, ...]  their URLs in shard order (POG_REALTIME_DATABASE_URLS and the
                                             client config): a player's shard is shard_for(uid, len(urls))
    app_check: dict[str, gcp.firebase.AppCheckServiceConfig]  keyed by service id (infra/stacks/app_check.py)
    """

    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:data:Data", name, None, opts)
        self._args = args
        p, prod = args.prefix, args.profile.is_prod
        apis = list(args.depends_on)

        # Adding Firebase to a project cannot be undone: on delete, forget it instead of failing.
        self.firebase_project = gcp.firebase.Project(
            f"{p}-firebase",
            project=args.project,
            opts=child(self, protect=prod, depends_on=apis, retain_on_delete=True),
        )
        firebase = [*apis, self.firebase_project]

        self.databases: dict[str, gcp.firestore.Database] = {
            database_id: gcp.firestore.Database(
                f"{p}-firestore-{_slug(database_id)}",
                project=args.project,
                name=database_id,
                location_id=location,
                type="FIRESTORE_NATIVE",
                point_in_time_recovery_enablement="POINT_IN_TIME_RECOVERY_ENABLED",
                delete_protection_state="DELETE_PROTECTION_ENABLED" if prod else "DELETE_PROTECTION_DISABLED",
                deletion_policy="ABANDON" if prod else "DELETE",
                app_engine_integration_mode="DISABLED",
                opts=child(self, protect=prod, depends_on=firebase),
            )
            for database_id, location in database_locations(
                args.firestore_location, args.api_regions, args.profile
            ).items()
        }
        self.game_database_ids: dict[str, str] = game_database_ids(args.api_regions, args.profile)

        self._ttl_and_indexes()
        self._rules()
        self._iam()

        self.rtdb_instances, self.realtime_database_urls = self._realtime_shards(firebase)

        self.identity_platform = self._identity_platform(firebase)
        # App Check on the services clients call directly, once they exist (infra/stacks/app_check.py).
        self.app_check = app_check_services(
            self,
            p,
            args.project,
            args.profile,
            [*firebase, *self.databases.values(), *self.rtdb_instances, self.identity_platform],
        )

        self.register_outputs(
            {
                "databases": {database_id: db.name for database_id, db in self.databases.items()},
                "gameDatabaseIds": self.game_database_ids,
                "realtimeDatabaseUrls": list(self.realtime_database_urls),
            }
        )

    def _realtime_shards(
        self, firebase: list[pulumi.Resource]
    ) -> tuple[list[gcp.firebase.DatabaseInstance], tuple[str, ...]]:
        """The Realtime Database shards (infra/phases.py realtime_shards), all in one region: players are
        assigned by a hash of their uid (app/domain/realtime.py shard_for), not by geography, so every
        shard serves players everywhere and the primary region's nearest RTDB region serves them best."""
        args, p, prod = self._args, self._args.prefix, self._args.profile.is_prod
        region = rtdb_region_for(args.primary_region)
        ids = rtdb_instance_ids(args.project, args.profile.realtime_shards)
        instances = [
            gcp.firebase.DatabaseInstance(
                # Shard 0 keeps the name it had before sharding: a new name would replace the instance.
                f"{p}-rtdb" if shard == 0 else f"{p}-rtdb-{shard}",
                project=args.project,
                region=region,
                instance_id=instance_id,
                # Shard 0 is the project's default instance, which cannot be deleted; the others are
                # Blaze USER_DATABASE instances.
                type="DEFAULT_DATABASE" if shard == 0 else "USER_DATABASE",
                # An instance id can never be reused once deleted: a removed shard is abandoned, so a later
                # promotion can import it back under the same id (and URL) instead of failing.
                deletion_policy="ABANDON",
                opts=child(self, protect=prod, depends_on=firebase),
            )
            for shard, instance_id in enumerate(ids)
        ]
        return instances, tuple(rtdb_url(instance_id, region) for instance_id in ids)

    def _identity_platform(self, firebase: list[pulumi.Resource]) -> gcp.identityplatform.Config:
        args, p, prod = self._args, self._args.prefix, self._args.profile.is_prod
        # Identity Platform's config cannot be deleted, only reconfigured.
        return gcp.identityplatform.Config(
            f"{p}-identity-platform",
            project=args.project,
            # Guest players keep their progress: never delete anonymous accounts automatically.
            autodelete_anonymous_users=False,
            sign_in=gcp.identityplatform.ConfigSignInArgs(
                allow_duplicate_emails=False,
                anonymous=gcp.identityplatform.ConfigSignInAnonymousArgs(enabled=True),
                email=gcp.identityplatform.ConfigSignInEmailArgs(enabled=True, password_required=True),
                phone_number=gcp.identityplatform.ConfigSignInPhoneNumberArgs(enabled=True),
            ),
            mfa=gcp.identityplatform.ConfigMfaArgs(
                state="ENABLED",
                enabled_providers=["PHONE_SMS"],
                provider_configs=[
                    gcp.identityplatform.ConfigMfaProviderConfigArgs(
                        state="ENABLED",
                        totp_provider_config=gcp.identityplatform.ConfigMfaProviderConfigTotpProviderConfigArgs(
                            adjacent_intervals=TOTP_ADJACENT_INTERVALS
                        ),
                    )
                ],
            ),
            # The list replaces Firebase's defaults: keep the auth handler domain (password reset links).
            authorized_domains=[f"{args.project}.firebaseapp.com", *args.authorized_domains],
            opts=child(self, protect=prod, depends_on=firebase, retain_on_delete=True),
        )

    def _ttl_and_indexes(self) -> None:
        args, p = self._args, self._args.prefix
        # A database keeps the games written before a later phase moves new sessions elsewhere,
        # so every database keeps the games TTL and indexes.
        for database_id, db in self.databases.items():
            gcp.firestore.Field(
                f"{p}-ttl-{_slug(database_id)}-{GAMES_COLLECTION}-{GAME_TTL_FIELD}",
                project=args.project,
                database=db.name,
                collection=GAMES_COLLECTION,
                field=GAME_TTL_FIELD,
                ttl_config=gcp.firestore.FieldTtlConfigArgs(),
                # No single-field indexes on the TTL timestamp: nothing queries it and a
                # monotonically increasing indexed field hotspots writes.
                index_config=gcp.firestore.FieldIndexConfigArgs(indexes=[]),
                opts=child(self),
            )
            for index in COMPOSITE_INDEXES:
                if index.collection != GAMES_COLLECTION and database_id != DEFAULT_DATABASE:
                    continue
                gcp.firestore.Index(
                    f"{p}-index-{_slug(database_id)}-{index.collection}-"
                    + "-".join(path for path, _ in index.fields),
                    project=args.project,
                    database=db.name,
                    collection=index.collection,
                    query_scope="COLLECTION",
                    api_scope="ANY_API",
                    fields=[
                        gcp.firestore.IndexFieldArgs(field_path=path, order=o) for path, o in index.fields
                    ],
                    opts=child(self),
                )
        gcp.firestore.Field(
            f"{p}-field-reward-claims-claimed-at",
            project=args.project,
            database=self.databases[DEFAULT_DATABASE].name,
            collection="reward_claims",
            field="claimed_at",
            index_config=gcp.firestore.FieldIndexConfigArgs(
                indexes=[
                    gcp.firestore.FieldIndexConfigIndexArgs(order=order, query_scope=scope)
                    for order, scope in REWARD_CLAIMS_INDEXES
                ]
            ),
            opts=child(self),
        )

    def _rules(self) -> None:
        args, p = self._args, self._args.prefix
        ruleset = gcp.firebaserules.Ruleset(
            f"{p}-firestore-rules",
            project=args.project,
            source=gcp.firebaserules.RulesetSourceArgs(
                files=[
                    gcp.firebaserules.RulesetSourceFileArgs(
                        name="firestore.rules", content=RULES_FILE.read_text(encoding="utf-8")
                    )
                ]
            ),
            opts=child(self, depends_on=[self.firebase_project]),
        )
        ruleset_name = ruleset.name.apply(lambda n: f"projects/{args.project}/rulesets/{n}")
        for database_id, db in self.databases.items():
            gcp.firebaserules.Release(
                f"{p}-rules-release-{_slug(database_id)}",
                project=args.project,
                name=rules_release_name(database_id),
                ruleset_name=ruleset_name,
                # A release name is unique per project: never create the new one beside the old.
                opts=child(self, depends_on=[db], delete_before_replace=True),
            )

    def _iam(self) -> None:
        args, p = self._args, self._args.prefix
        member = args.api_service_account.member
        # Firestore has no resource-level IAM: a project grant, conditioned on this stack's databases.
        expression = " || ".join(
            f'resource.name == "projects/{args.project}/databases/{database_id}"'
            for database_id in self.databases
        )
        gcp.projects.IAMMember(
            f"{p}-api-datastore-user",
            project=args.project,
            role="roles/datastore.user",
            member=member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title=f"{p}-firestore-databases",
                description="Only the Firestore databases of this stack",
                expression=expression,
            ),
            opts=child(self, depends_on=list(args.depends_on)),
        )
        # verify_id_token(check_revoked=True) reads the user record.
        gcp.projects.IAMMember(
            f"{p}-api-firebaseauth-viewer",
            project=args.project,
            role="roles/firebaseauth.viewer",
            member=member,
            opts=child(self, depends_on=list(args.depends_on)),
        )
