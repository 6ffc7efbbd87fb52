-- Day-1 and day-7 retention by cohort: a player's cohort is the first day they are active in the window;
-- day N counts the cohort's players active again exactly N days later. A day not over yet is NULL, not 0.
WITH {deduped},
active AS (
  SELECT DISTINCT player, DATE(occurred_at) AS day
  FROM deduped
  WHERE player IS NOT NULL
),
cohorts AS (
  SELECT player, MIN(day) AS cohort_day
  FROM active
  GROUP BY player
)
SELECT
  c.cohort_day,
  COUNT(*) AS cohort_players,
  IF(DATE_ADD(c.cohort_day, INTERVAL 1 DAY) < CURRENT_DATE(), COUNTIF(d1.player IS NOT NULL), NULL)
    AS day1_players,
  IF(
    DATE_ADD(c.cohort_day, INTERVAL 1 DAY) < CURRENT_DATE(),
    SAFE_DIVIDE(COUNTIF(d1.player IS NOT NULL), COUNT(*)),
    NULL
  ) AS day1_retention,
  IF(DATE_ADD(c.cohort_day, INTERVAL 7 DAY) < CURRENT_DATE(), COUNTIF(d7.player IS NOT NULL), NULL)
    AS day7_players,
  IF(
    DATE_ADD(c.cohort_day, INTERVAL 7 DAY) < CURRENT_DATE(),
    SAFE_DIVIDE(COUNTIF(d7.player IS NOT NULL), COUNT(*)),
    NULL
  ) AS day7_retention
FROM cohorts AS c
LEFT JOIN active AS d1
  ON d1.player = c.player AND d1.day = DATE_ADD(c.cohort_day, INTERVAL 1 DAY)
LEFT JOIN active AS d7
  ON d7.player = c.player AND d7.day = DATE_ADD(c.cohort_day, INTERVAL 7 DAY)
GROUP BY c.cohort_day
