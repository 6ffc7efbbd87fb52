-- The first CTE of every view (WITH {deduped}): the view's window of events, one row per event_id, as
-- Pub/Sub delivers at least once and the API's outbox may publish an event twice. The window is also the
-- partition filter the events table requires.
deduped AS (
  SELECT *
  FROM {events}
  WHERE occurred_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {lookback_days} DAY)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at) = 1
)
