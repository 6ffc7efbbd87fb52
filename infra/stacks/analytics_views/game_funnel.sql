-- Games started per day (the day of the start) and how many of them finished, by plausibility verdict.
WITH {deduped},
started AS (
  SELECT
    JSON_VALUE(params, '$.game_id') AS game_id,
    MIN(DATE(occurred_at)) AS day,
    ANY_VALUE(player) AS player
  FROM deduped
  WHERE name = 'game_started'
  GROUP BY game_id
),
finished AS (
  SELECT
    JSON_VALUE(params, '$.game_id') AS game_id,
    ANY_VALUE(JSON_VALUE(params, '$.verdict')) AS verdict
  FROM deduped
  WHERE name = 'game_finished'
  GROUP BY game_id
)
SELECT
  s.day,
  COUNT(*) AS games_started,
  COUNT(f.game_id) AS games_finished,
  SAFE_DIVIDE(COUNT(f.game_id), COUNT(*)) AS finish_rate,
  COUNTIF(f.verdict = 'accepted') AS finished_accepted,
  COUNTIF(f.verdict = 'flagged') AS finished_flagged,
  COUNTIF(f.verdict = 'rejected') AS finished_rejected,
  COUNT(DISTINCT s.player) AS players_started
FROM started AS s
LEFT JOIN finished AS f
  ON f.game_id = s.game_id
GROUP BY s.day
