-- The hub's Stats as additive counters (sync/hub/store.go): every commit adds what it counted
-- (n = n + delta), so the counters of several replicas on one database add up. Before, each
-- replica saved its own copy in hub_meta 'stats' and the last commit won; that copy is converted
-- once and removed.

-- +goose Up
CREATE TABLE hub_stats (
    name text COLLATE "C" PRIMARY KEY,
    n    bigint NOT NULL
);

INSERT INTO hub_stats (name, n)
SELECT e.key, e.value::bigint
  FROM hub_meta m, jsonb_each_text(convert_from(m.doc, 'UTF8')::jsonb) e
 WHERE m.key = 'stats' AND e.key <> 'orders_per_state' AND e.value ~ '^-?[0-9]+$'
UNION ALL
SELECT 'orders_per_state/' || s.key, s.value::bigint
  FROM hub_meta m, jsonb_each_text(convert_from(m.doc, 'UTF8')::jsonb -> 'orders_per_state') s
 WHERE m.key = 'stats' AND s.value ~ '^-?[0-9]+$';

DELETE FROM hub_meta WHERE key = 'stats';

-- +goose Down
DROP TABLE hub_stats;
