-- From this version on the hub writes its order records (hub_orders.doc) and central index rows
-- (hub_cx_orders.doc) in a binary encoding whose first byte is 0x02 (docs/HUB-STORE.md, "Record
-- encodings"); JSON documents written before are still read. The tables do not change: the version
-- does, so a hub of the previous release refuses this database at Open ("newer than this hub's")
-- instead of failing on each binary record it meets. Migrate once every replica runs this release.

-- +goose Up
COMMENT ON COLUMN hub_orders.doc IS 'order record: binary (first byte 0x02) or JSON (first byte {)';

-- +goose Down
COMMENT ON COLUMN hub_orders.doc IS NULL;
