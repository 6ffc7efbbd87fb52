-- Per live event: the players who joined, those who claimed a reward, and what the claims paid out.
WITH {deduped}
SELECT
  JSON_VALUE(params, '$.live_event_id') AS live_event_id,
  MIN(DATE(occurred_at)) AS first_day,
  COUNT(DISTINCT IF(name = 'live_event_joined', player, NULL)) AS players_joined,
  COUNT(DISTINCT IF(name = 'live_event_reward_claimed', player, NULL)) AS players_claimed,
  SAFE_DIVIDE(
    COUNT(DISTINCT IF(name = 'live_event_reward_claimed', player, NULL)),
    COUNT(DISTINCT IF(name = 'live_event_joined', player, NULL))
  ) AS claim_rate,
  COUNTIF(name = 'live_event_reward_claimed') AS claims,
  SUM(IF(name = 'live_event_reward_claimed', CAST(JSON_VALUE(params, '$.coins') AS INT64), 0))
    AS coins_claimed,
  SUM(IF(name = 'live_event_reward_claimed', CAST(JSON_VALUE(params, '$.items') AS INT64), 0))
    AS items_claimed
FROM deduped
WHERE name IN ('live_event_joined', 'live_event_reward_claimed')
GROUP BY live_event_id
