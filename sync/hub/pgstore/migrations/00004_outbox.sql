-- The hub's outbox and carrier tracking. The outbox: notifications to people (reminders, breaker notices), one row per
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

-- Carriers' tracking events by waybill (POST /v1/tracking); id sorts by the event's time and
-- makes a repeated push a no-op.
CREATE TABLE hub_tracking (
    waybill text COLLATE "C" NOT NULL,
    id      text COLLATE "C" NOT NULL,
    doc     bytea NOT NULL,
    PRIMARY KEY (waybill, id)
);

-- Which order a waybill belongs to (printed or assigned), for the carriers' events.
CREATE TABLE hub_waybills (
    waybill  text COLLATE "C" PRIMARY KEY,
    order_id text COLLATE "C" NOT NULL
);

-- +goose Down
DROP TABLE hub_waybills, hub_tracking, hub_outbox;
