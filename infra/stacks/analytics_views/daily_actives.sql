-- Players active per day (any event that carries a player), their sessions and their events.
WITH {deduped}
SELECT
  DATE(occurred_at) AS day,
  COUNT(DISTINCT player) AS active_players,
  COUNTIF(name = 'session_started') AS sessions,
  COUNT(*) AS events
FROM deduped
WHERE player IS NOT NULL
GROUP BY day
