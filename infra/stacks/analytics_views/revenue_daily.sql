-- Purchases per day and product: grants that name a product, minus the refunds and revocations of one,
-- each counted on the day it happened. Units, not money: the events carry no price, and the stores'
-- reports are the revenue of record (docs/analytics.md#revenue); multiply by a price list to estimate.
WITH {deduped},
moves AS (
  SELECT
    DATE(occurred_at) AS day,
    JSON_VALUE(params, '$.product_id') AS product_id,
    name,
    player,
    IF(name = 'grant', 1, -1) AS sign,
    CAST(JSON_VALUE(params, '$.coins') AS INT64) AS coins,
    CAST(JSON_VALUE(params, '$.items') AS INT64) AS items
  FROM deduped
  WHERE name IN ('grant', 'refund') AND JSON_VALUE(params, '$.product_id') IS NOT NULL
)
SELECT
  day,
  product_id,
  COUNTIF(name = 'grant') AS purchases,
  COUNTIF(name = 'refund') AS refunds,
  COUNTIF(name = 'grant') - COUNTIF(name = 'refund') AS net_purchases,
  COUNT(DISTINCT IF(name = 'grant', player, NULL)) AS paying_players,
  SUM(sign * coins) AS net_coins,
  SUM(sign * items) AS net_items
FROM moves
GROUP BY day, product_id
