-- Players active per day (any event that carries a player), their sessions and their events.
-- Every view first keeps one row per event_id: Pub/Sub delivers at least once.
WITH deduped AS (
  SELECT *
  FROM {events}
  WHERE occurred_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {lookback_days} DAY)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at) = 1
)
SELECT
  DATE(occurred_at) AS day,
  COUNT(DISTINCT player) AS active_players,
  COUNTIF(name = 'session_started') AS sessions,
  COUNT(*) AS events
FROM deduped
WHERE player IS NOT NULL
GROUP BY day
