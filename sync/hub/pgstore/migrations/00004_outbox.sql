-- The hub's outbox: notifications to people (reminders, breaker notices), one row per
-- (site, order, rule). A dispatcher claims a pending, due row with a lease (lease_owner,
-- lease_until) under FOR UPDATE SKIP LOCKED, so one replica sends it; a claim whose lease ran out
-- (the replica died) is claimable again. doc is the hub's own JSON.

-- +goose Up
CREATE TABLE hub_outbox (
    site        text COLLATE "C" NOT NULL,
    order_id    text COLLATE "C" NOT NULL,
    rule        text COLLATE "C" NOT NULL,
    state       text NOT NULL,
    due         timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    lease_owner text NOT NULL DEFAULT '',
    lease_until timestamptz,
    doc         bytea NOT NULL,
    PRIMARY KEY (site, order_id, rule)
);
CREATE INDEX hub_outbox_due ON hub_outbox (due) WHERE state = 'pending';

-- +goose Down
DROP TABLE hub_outbox;
