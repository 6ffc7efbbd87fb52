"""Data layer: Firestore databases per phase, TTL, indexes, security rules, RTDB, Identity Platform."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import infra.stacks.data as data_module
from infra.phases import profile_for
from infra.plan.engine import Plan, PlannedResource
from infra.stacks.data import RULES_FILE, game_database_ids, rtdb_instance_ids, rtdb_url
from tests.infra.stacks.layers import Layer, api_member, prefix, project

DATABASE = "gcp:firestore/database:Database"
FIELD = "gcp:firestore/field:Field"
INDEX = "gcp:firestore/index:Index"
RULESET = "gcp:firebaserules/ruleset:Ruleset"
RELEASE = "gcp:firebaserules/release:Release"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
RTDB = "gcp:firebase/databaseInstance:DatabaseInstance"
FIREBASE = "gcp:firebase/project:Project"
IDENTITY = "gcp:identityplatform/config:Config"
APP_CHECK = "gcp:firebase/appCheckServiceConfig:AppCheckServiceConfig"

REGIONS = ("us-central1", "us-east4", "europe-west4")
DATABASES_BY_PHASE = {
    1: {"(default)"},
    2: {"(default)", "game-sessions"},
    3: {"(default)", "game-sessions", "games-us-central1", "games-us-east4", "games-europe-west4"},
}
GAMES_INDEXES = {
    ("games", (("uid", "ASCENDING"), ("finished_at", "DESCENDING"))),
    ("games", (("status", "ASCENDING"), ("final_score", "DESCENDING"))),
    ("games", (("status", "ASCENDING"), ("finished_at", "ASCENDING"))),
    ("games", (("uid", "ASCENDING"), ("status", "ASCENDING"), ("finished_at", "ASCENDING"))),
}
DEFAULT_ONLY_INDEXES = {
    ("transactions", (("uid", "ASCENDING"), ("created_at", "DESCENDING"))),
    ("review_queue", (("status", "ASCENDING"), ("created_at", "ASCENDING"))),
    ("transactions", (("uid", "ASCENDING"), ("source", "ASCENDING"), ("created_at", "DESCENDING"))),
}


LAYER = Layer("potgold:data:Data", "data")
children = LAYER.children
mine = LAYER.mine


def databases(plan: Plan) -> dict[str, PlannedResource]:
    found = {r.inputs["name"]: r for r in mine(plan, DATABASE)}
    assert set(found) == DATABASES_BY_PHASE[plan.outputs["phase"]]  # never none: loops over them must run
    return found


def test_children_are_parented_and_prefixed(plan: Plan) -> None:
    kids = children(plan)
    assert kids  # how many of each type: test_resource_counts / tests/infra/resource_counts.json
    for r in kids:
        assert r.name.startswith(f"{prefix(plan)}-"), r.name
        assert r.provider == f"pulumi:providers:gcp::{prefix(plan)}-gcp", r.name


#: Realtime Database shards per stack and phase (infra/phases.py _REALTIME_SHARDS).
SHARDS = {("dev", 1): 1, ("dev", 2): 1, ("dev", 3): 2, ("prod", 1): 1, ("prod", 2): 1, ("prod", 3): 20}


def test_resource_counts(plan: Plan, stack_phase: tuple[str, int]) -> None:
    databases_, indexes = {1: (1, 7), 2: (2, 11), 3: (5, 23)}[stack_phase[1]]
    counts: dict[str, int] = {}
    for r in children(plan):
        counts[r.type] = counts.get(r.type, 0) + 1
    assert counts == {
        FIREBASE: 1,
        DATABASE: databases_,
        FIELD: databases_ + 1,  # the games TTL per database, reward_claims.claimed_at
        INDEX: indexes,
        RULESET: 1,
        RELEASE: databases_,
        PROJECT_IAM: 2,
        RTDB: SHARDS[stack_phase],
        IDENTITY: 1,
        APP_CHECK: 3,  # enforcement on Auth, Firestore and the Realtime Database
    }


def test_databases_per_phase(plan: Plan, stack_phase: tuple[str, int]) -> None:
    dbs = databases(plan)
    assert set(dbs) == DATABASES_BY_PHASE[stack_phase[1]]
    assert dbs["(default)"].name == f"{prefix(plan)}-firestore-default"
    for name, db in dbs.items():
        expected = name.removeprefix("games-") if name.startswith("games-") else "nam5"
        assert db.inputs["locationId"] == expected
        assert db.inputs["type"] == "FIRESTORE_NATIVE"
        assert db.inputs["appEngineIntegrationMode"] == "DISABLED"


def test_point_in_time_recovery_everywhere(plan: Plan) -> None:
    for db in databases(plan).values():
        assert db.inputs["pointInTimeRecoveryEnablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"


def test_prod_databases_are_protected_and_dev_ones_deletable(plan: Plan) -> None:
    prod = plan.stack == "prod"
    for db in databases(plan).values():
        assert db.protect is prod
        if prod:
            assert db.inputs["deleteProtectionState"] == "DELETE_PROTECTION_ENABLED"
            assert db.inputs["deletionPolicy"] == "ABANDON"
        else:
            assert db.inputs["deleteProtectionState"] == "DELETE_PROTECTION_DISABLED"
            assert db.inputs["deletionPolicy"] == "DELETE"


@pytest.mark.parametrize("phase", [1, 2, 3])
def test_every_api_region_has_a_games_database_that_exists(phase: int) -> None:
    regions = REGIONS if phase == 3 else REGIONS[:1]
    ids = game_database_ids(regions, profile_for("prod", phase))
    assert set(ids) == set(regions)
    assert set(ids.values()) <= DATABASES_BY_PHASE[phase]
    expected = {1: "(default)", 2: "game-sessions"}
    for region, database_id in ids.items():
        assert database_id == expected.get(phase, f"games-{region}")


def test_game_session_ttl_in_every_database_holding_games(plan: Plan) -> None:
    ttl = {
        r.inputs["database"]: r
        for r in mine(plan, FIELD)
        if r.inputs["collection"] == "games" and r.inputs["field"] == "expires_at"
    }
    assert set(ttl) == set(databases(plan))
    for r in ttl.values():
        assert "ttlConfig" in r.inputs
        assert r.inputs["indexConfig"] == {"indexes": []}


def test_reward_claims_are_indexed_for_the_collection_group_query(plan: Plan) -> None:
    [field] = [r for r in mine(plan, FIELD) if r.inputs["collection"] == "reward_claims"]
    assert field.inputs["field"] == "claimed_at"
    scopes = {(i["order"], i["queryScope"]) for i in field.inputs["indexConfig"]["indexes"]}
    assert ("DESCENDING", "COLLECTION_GROUP") in scopes
    # An override replaces the automatic single-field indexes: the collection scope keeps both orders.
    assert {("ASCENDING", "COLLECTION"), ("DESCENDING", "COLLECTION")} <= scopes


def test_composite_indexes_live_where_their_collection_lives(plan: Plan) -> None:
    found: dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]] = {}
    for r in mine(plan, INDEX):
        assert r.inputs["queryScope"] == "COLLECTION"
        key = (r.inputs["collection"], tuple((f["fieldPath"], f["order"]) for f in r.inputs["fields"]))
        found.setdefault(r.inputs["database"], set()).add(key)
    expected = {db: set(GAMES_INDEXES) for db in databases(plan)}
    expected["(default)"] |= DEFAULT_ONLY_INDEXES
    assert found == expected


def test_index_table_matches_the_app_queries_pinned_here() -> None:
    declared = {(i.collection, i.fields) for i in data_module.COMPOSITE_INDEXES}
    assert declared == GAMES_INDEXES | DEFAULT_ONLY_INDEXES


# --- security rules ---------------------------------------------------------------------------

_ALLOW = re.compile(r"^allow ([a-z, ]+): if (.+);$")


def rules_allows() -> list[tuple[str, frozenset[str], str]]:
    """(match path, operations, condition) of every allow statement, with nested paths joined."""
    stack: list[str] = []
    allows = []
    for raw in RULES_FILE.read_text().splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            head = line[:-1].strip()
            stack.append(head.removeprefix("match ").strip() if head.startswith("match ") else "")
        elif line == "}":
            stack.pop()
        elif m := _ALLOW.match(line):
            ops = frozenset(op.strip() for op in m[1].split(","))
            allows.append(("".join(stack), ops, m[2].strip()))
    assert not stack, "unbalanced braces in firestore.rules"
    return allows


DOCS = "/databases/{database}/documents"


def test_rules_file_is_version_2_and_found_from_the_module_not_the_working_directory() -> None:
    assert RULES_FILE.is_absolute()
    assert RULES_FILE.parent == Path(data_module.__file__).resolve().parent
    assert RULES_FILE.read_text().startswith("rules_version = '2';")


def test_rules_grant_clients_only_own_profile_reads_and_leaderboard_reads() -> None:
    granted = {(path, ops, cond) for path, ops, cond in rules_allows() if cond != "false"}
    assert granted == {
        (f"{DOCS}/users/{{uid}}", frozenset({"get"}), "signedIn() && request.auth.uid == uid"),
        (f"{DOCS}/leaderboards/{{document=**}}", frozenset({"read"}), "signedIn()"),
    }


@pytest.mark.parametrize(
    "collection", ["transactions", "review_queue", "processed_sources", "games", "events"]
)
def test_rules_deny_server_only_collections(collection: str) -> None:
    allows = [a for a in rules_allows() if a[0].startswith(f"{DOCS}/{collection}/")]
    assert allows == [(f"{DOCS}/{collection}/{{document=**}}", frozenset({"read", "write"}), "false")]


def test_rules_never_let_clients_write_or_match_every_document() -> None:
    writes = {"write", "create", "update", "delete"}
    for path, ops, cond in rules_allows():
        if ops & writes:
            assert cond == "false", path
        assert path != f"{DOCS}/{{document=**}}"


def test_ruleset_is_the_rules_file_released_to_every_database(plan: Plan) -> None:
    (ruleset,) = mine(plan, RULESET)
    assert ruleset.inputs["source"]["files"] == [
        {"name": "firestore.rules", "content": RULES_FILE.read_text()}
    ]
    releases = {r.inputs["name"]: r for r in mine(plan, RELEASE)}
    assert set(releases) == {
        "cloud.firestore" if db == "(default)" else f"cloud.firestore/{db}" for db in databases(plan)
    }
    assert "cloud.firestore" in releases
    for release in releases.values():
        assert release.inputs["rulesetName"] == f"projects/{project(plan)}/rulesets/{ruleset.name}"


# --- IAM, RTDB, Identity Platform ---------------------------------------------------------------


def test_api_gets_firestore_on_this_stacks_databases_and_auth_viewer(plan: Plan) -> None:
    grants = {r.inputs["role"]: r for r in mine(plan, PROJECT_IAM)}
    assert set(grants) == {"roles/datastore.user", "roles/firebaseauth.viewer"}
    for r in grants.values():
        assert r.inputs["member"] == api_member(plan)
    expression = grants["roles/datastore.user"].inputs["condition"]["expression"]
    named = set(re.findall(rf'resource\.name == "projects/{project(plan)}/databases/([^"]+)"', expression))
    assert named == set(databases(plan))


def shards(plan: Plan) -> list[PlannedResource]:
    """The Realtime Database instances in shard order (pog-<env>-rtdb, then pog-<env>-rtdb-<n>)."""
    found = sorted(
        mine(plan, RTDB), key=lambda r: int(r.name.rsplit("-", 1)[1]) if r.name[-1].isdigit() else 0
    )
    assert found  # shard 0 always exists: loops over the shards must run
    return found


def test_shard_0_is_the_default_instance_under_its_old_name(plan: Plan) -> None:
    """Sharding must not replace the instance clients already use: same resource name, id and type."""
    first = shards(plan)[0]
    assert first.name == f"{prefix(plan)}-rtdb"
    assert first.inputs["instanceId"] == f"{project(plan)}-default-rtdb"
    assert first.inputs["type"] == "DEFAULT_DATABASE"


def test_realtime_shards_per_phase_in_one_rtdb_region(plan: Plan, stack_phase: tuple[str, int]) -> None:
    found = shards(plan)
    assert len(found) == SHARDS[stack_phase]
    assert [r.inputs["instanceId"] for r in found] == rtdb_instance_ids(project(plan), len(found))
    for shard, instance in enumerate(found[1:], start=1):
        assert instance.name == f"{prefix(plan)}-rtdb-{shard}"
        assert instance.inputs["instanceId"] == f"{project(plan)}-rtdb-{shard}"
        assert instance.inputs["type"] == "USER_DATABASE"
    for instance in found:
        # Players are hashed to shards, not placed by geography: all in the primary's RTDB region.
        assert instance.inputs["region"] == "us-central1"
        assert instance.protect is (plan.stack == "prod")
        # An instance id cannot be reused after a delete: a removed shard is abandoned, never deleted.
        assert instance.inputs["deletionPolicy"] == "ABANDON"


def test_the_shards_urls_reach_every_process_and_the_client_config_in_shard_order(plan: Plan) -> None:
    urls = [f"https://{r.inputs['instanceId']}.firebaseio.com" for r in shards(plan)]
    assert plan.outputs["clientConfig"] == {"realtimeDatabaseUrls": urls}
    processes = [*plan.of_type("gcp:cloudrunv2/service:Service"), *plan.of_type("gcp:cloudrunv2/job:Job")]
    assert processes
    for process in processes:
        template = process.inputs["template"]
        containers = template.get("template", template)["containers"]
        envs = {e["name"]: e.get("value") for c in containers for e in c.get("envs") or []}
        assert envs["POG_REALTIME_DATABASE_URLS"] == ",".join(urls), process.name


def test_app_check_covers_every_shard(plan: Plan) -> None:
    """The Realtime Database's App Check enforcement is created once every shard exists."""
    [rtdb_check] = [
        r for r in mine(plan, APP_CHECK) if r.inputs["serviceId"] == "firebasedatabase.googleapis.com"
    ]
    for instance in shards(plan):
        assert instance.key in rtdb_check.depends_on


def test_database_urls_follow_firebases_hosts_per_region() -> None:
    assert rtdb_url("p-rtdb-1", "us-central1") == "https://p-rtdb-1.firebaseio.com"
    assert rtdb_url("p-rtdb-1", "europe-west1") == "https://p-rtdb-1.europe-west1.firebasedatabase.app"
    assert rtdb_instance_ids("p", 3) == ["p-default-rtdb", "p-rtdb-1", "p-rtdb-2"]


def test_identity_platform_sign_in_and_totp_mfa(plan: Plan) -> None:
    (config,) = mine(plan, IDENTITY)
    sign_in = config.inputs["signIn"]
    assert sign_in["anonymous"] == {"enabled": True}
    assert sign_in["email"] == {"enabled": True, "passwordRequired": True}
    assert sign_in["phoneNumber"]["enabled"] is True
    assert config.inputs["autodeleteAnonymousUsers"] is False
    mfa = config.inputs["mfa"]
    assert mfa["state"] == "ENABLED"
    assert mfa["providerConfigs"] == [{"state": "ENABLED", "totpProviderConfig": {"adjacentIntervals": 5}}]
    domain = "potofgold.games" if plan.stack == "prod" else "potofgold-dev.games"
    api = f"api.{domain}"
    assert {domain, api} <= set(config.inputs["authorizedDomains"])
    assert config.protect is (plan.stack == "prod")


def test_firebase_is_added_to_the_project(plan: Plan) -> None:
    (firebase,) = mine(plan, FIREBASE)
    assert firebase.inputs["project"] == project(plan)
    assert firebase.protect is (plan.stack == "prod")
