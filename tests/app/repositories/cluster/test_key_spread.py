"""Where the keys land on a 3-node Redis Cluster after traffic from many players: the per-player keys
(profile cache, rate limits) spread over the shards; every leaderboard key shares the ``{lb}``
slot, so one shard (docs/redis-topology.md)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.repositories.leaderboard_keys import ALIVE_KEY, TAG
from tests.app.conftest import MakeClient, Mint
from tests.app.repositories.cluster.conftest import Shards

PLAYERS = [f"player{i:02d}" for i in range(30)]
FINISHED = 3  # players who finish a game (which drops their cached profile)


def _traffic(client: TestClient, auth: Mint) -> None:
    for uid in PLAYERS:
        headers = auth(uid)
        assert client.get("/v1/me", headers=headers).status_code == 200
    for n, uid in enumerate(PLAYERS[:FINISHED]):
        headers = auth(uid)
        game_id = client.post("/v1/games", headers=headers).json()["game_id"]
        events = {"events": [{"type": "coin", "t_ms": 0, "points": 10 + n}]}
        assert client.post(f"/v1/games/{game_id}/events", headers=headers, json=events).status_code == 200
        assert (
            client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": 10 + n}).status_code
            == 200
        )
    assert client.get("/v1/leaderboards/daily/global").status_code == 200


def test_player_keys_spread_and_leaderboard_keys_share_one_shard(
    make_cluster_client: MakeClient, auth: Mint, shards: Shards
) -> None:
    _traffic(make_cluster_client(rate_limit_ip="100000/minute"), auth)

    profiles = shards.keys("user:*:profile")
    assert sum(len(keys) for keys in profiles.values()) == len(PLAYERS) - FINISHED
    user_limits = shards.keys("ratelimit:{LIMITER/user/*")
    assert sum(len(keys) for keys in user_limits.values()) >= len(PLAYERS)
    for found in (profiles, user_limits):
        assert len([port for port, keys in found.items() if keys]) == len(shards.clients)

    boards = shards.keys(f"{TAG}:*")
    assert sum(len(keys) for keys in boards.values()) >= 8  # 4 periods' boards, versions and lists
    assert {port for port, keys in boards.items() if keys} == {shards.owner(ALIVE_KEY)}
    renders = shards.holders("leaderboard:*")
    assert renders, "no rendered page was cached"
