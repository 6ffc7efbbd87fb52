"""What the edge caches on the API hostname: the live-board paths (issue 20, docs/game-api.md), as data.

One table, three readers: `edge.py` builds the zone's cache rules from it, `infra/policy/rules_cloudflare.py`
(POG-CF-009) checks the planned rules against it, and `bench/live_cdn_bench.py` generates its nginx config
from it, so the bench proxies exactly what the stacks declare. Nothing else on the API hostname matches a
rule here, so nothing else becomes cacheable (Cloudflare caches no JSON by default).

The latest document's edge TTL overrides the origin's to one publish interval rather than respecting its
``s-maxage``: the value is then in the plan, where policy can prove it is at most the interval (a
respected header is whatever the origin sends at run time), and the edge never holds "latest" longer
than an interval even if an origin change sends a longer ``max-age``. The cost is one number in two
places, held equal by a test (tests/infra/stacks/test_edge_cache.py) against the app's default interval.
Full pages and segments respect the origin, which marks them ``immutable`` for a year. Errors are never
cached (``no-store`` for 400-599): a 404 for a version not yet published must not outlive the publish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The app's ``leaderboard_stream_interval_s`` default (POG_LEADERBOARD_STREAM_INTERVAL_S, seconds): the
#: origin publishes a live page at most once per interval. No stack overrides it (a test checks).
LIVE_INTERVAL_S = 30
#: The only query parameters the live routes read: everything else stays out of the cache key, so a
#: cache-busting parameter cannot reach the origin.
LIVE_QUERY_KEYS: tuple[str, ...] = ("page", "country")
#: Status codes the edge must not cache (Cloudflare's ``status_code_ttls`` value -1: no-store).
NOT_CACHED_STATUS_RANGES: tuple[tuple[int, int], ...] = ((400, 499), (500, 599))
#: Cloudflare's edge TTL modes.
OVERRIDE_ORIGIN = "override_origin"
RESPECT_ORIGIN = "respect_origin"


@dataclass(frozen=True)
class LiveCacheRule:
    """One cache rule on the API hostname.

    ``path`` is a Cloudflare ``strict wildcard`` pattern (case-sensitive, like the origin's routing; ``*``
    matches any run of characters, ``/`` included): available on every plan, unlike regex ``matches``.
    ``edge_ttl_s`` is the edge TTL under ``override_origin``; None under ``respect_origin`` (the TTL is the
    one the origin sends; Cloudflare takes no default with that mode).
    """

    ref: str
    description: str
    path: str
    edge_ttl_mode: str
    edge_ttl_s: int | None
    browser_ttl_mode: str = RESPECT_ORIGIN
    query_keys: tuple[str, ...] = LIVE_QUERY_KEYS

    def expression(self, host: str) -> str:
        """The rule's Cloudflare expression on ``host``."""
        return f'http.host eq "{host}" and http.request.uri.path strict wildcard "{self.path}"'

    def regex(self) -> str:
        """The same path match as an anchored regular expression (nginx ``location ~``, the tests)."""
        return "^" + ".*".join(re.escape(part) for part in self.path.split("*")) + "$"

    def matches(self, path: str) -> bool:
        return re.fullmatch(self.regex(), path) is not None


LIVE_PREFIX = "/v1/leaderboards/"
#: ``/v1/leaderboards/{period}/{scope}/live`` (the latest document).
LATEST_PATH = f"{LIVE_PREFIX}*/*/live"
#: ``/v1/leaderboards/{period}/{scope}/live/{period_id}/{version}`` and ``…/{from}-{to}``.
IMMUTABLE_PATH = f"{LIVE_PREFIX}*/*/live/*/*"


def live_cache_rules(interval_s: int = LIVE_INTERVAL_S) -> tuple[LiveCacheRule, ...]:
    """The live-board rules, latest first, for a publish interval of ``interval_s`` (the bench's is short)."""
    if interval_s < 1:
        raise ValueError(f"interval_s must be a whole number of seconds >= 1, got {interval_s}")
    return (
        LiveCacheRule(
            ref="live-latest",
            description="Live boards: the latest document, one publish interval at the edge",
            path=LATEST_PATH,
            edge_ttl_mode=OVERRIDE_ORIGIN,
            edge_ttl_s=interval_s,
        ),
        LiveCacheRule(
            ref="live-immutable",
            description="Live boards: full pages and segments, immutable (the origin's year)",
            path=IMMUTABLE_PATH,
            edge_ttl_mode=RESPECT_ORIGIN,
            edge_ttl_s=None,
        ),
    )
