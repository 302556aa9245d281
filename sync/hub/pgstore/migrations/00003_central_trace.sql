-- The central queries (order trace, cross-site lists): their index tables, written by the hub in
-- the transaction that stores the order or the entry (hub.CentralTx). A database migrated from an
-- older version gets them empty; the hub fills them from the stored orders and entries on its
-- first start (a marker in hub_meta says when that is done).

-- +goose Up
-- One row per order: its lookup keys and its place in the state lists.
CREATE TABLE hub_cx_orders (
    order_id         text COLLATE "C" PRIMARY KEY,
    site             text COLLATE "C" NOT NULL,
    agent            text COLLATE "C" NOT NULL DEFAULT '',
    state            text COLLATE "C" NOT NULL,
    since            text COLLATE "C" NOT NULL DEFAULT '',
    channel_order_no text COLLATE "C" NOT NULL DEFAULT '',
    waybill          text COLLATE "C" NOT NULL DEFAULT '',
    assigned_waybill text COLLATE "C" NOT NULL DEFAULT '',
    fingerprint      text COLLATE "C" NOT NULL DEFAULT '',
    doc              bytea NOT NULL
);
-- Lookups by key (partial: most orders lack one key or another), the lists by state and time.
CREATE INDEX hub_cx_orders_channel_order_no ON hub_cx_orders (channel_order_no, order_id) WHERE channel_order_no <> '';
CREATE INDEX hub_cx_orders_waybill ON hub_cx_orders (waybill, order_id) WHERE waybill <> '';
CREATE INDEX hub_cx_orders_assigned_waybill ON hub_cx_orders (assigned_waybill, order_id) WHERE assigned_waybill <> '';
CREATE INDEX hub_cx_orders_fingerprint ON hub_cx_orders (fingerprint, order_id) WHERE fingerprint <> '';
CREATE INDEX hub_cx_orders_state ON hub_cx_orders (state, since, order_id);

-- Orders an agent holds behind its open breaker (暂停进入), since at.
CREATE TABLE hub_cx_holds (
    order_id text COLLATE "C" NOT NULL,
    site     text COLLATE "C" NOT NULL,
    agent    text COLLATE "C" NOT NULL,
    at       text COLLATE "C" NOT NULL,
    PRIMARY KEY (order_id, site, agent)
);
CREATE INDEX hub_cx_holds_at ON hub_cx_holds (at, order_id, site, agent);

-- Reject entries (refused scans and intakes), by time.
CREATE TABLE hub_cx_rejects (
    at       text COLLATE "C" NOT NULL,
    site     text COLLATE "C" NOT NULL,
    agent    text COLLATE "C" NOT NULL,
    journal  text COLLATE "C" NOT NULL,
    seq      bigint NOT NULL,
    order_id text COLLATE "C" NOT NULL DEFAULT '',
    reason   text COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (at, site, agent, journal, seq)
);
CREATE INDEX hub_cx_rejects_site ON hub_cx_rejects (site, at);

-- Copies of unverified entries (evidence) by order, for the trace.
CREATE TABLE hub_cx_evidence (
    order_id text COLLATE "C" NOT NULL,
    n        bigint GENERATED ALWAYS AS IDENTITY,
    doc      bytea NOT NULL,
    PRIMARY KEY (order_id, n)
);

-- +goose Down
DROP TABLE hub_cx_evidence, hub_cx_rejects, hub_cx_holds, hub_cx_orders;
