-- The hub's state in PostgreSQL (sync/hub/pgstore). Documents (doc) are the hub's own JSON
-- records, kept as bytes; keys are real columns. Text keys sort bytewise (COLLATE "C"), as the
-- hub's bbolt keys do.

-- +goose Up
CREATE TABLE hub_entries (
    site    text COLLATE "C" NOT NULL,
    agent   text COLLATE "C" NOT NULL,
    journal text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    doc     bytea NOT NULL,
    PRIMARY KEY (site, agent, journal, seq)
);

-- Entries beyond a gap, waiting for their predecessor.
CREATE TABLE hub_pending (
    site    text COLLATE "C" NOT NULL,
    agent   text COLLATE "C" NOT NULL,
    journal text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    doc     bytea NOT NULL,
    PRIMARY KEY (site, agent, journal, seq)
);

-- doc NULL: a row made only to be locked (see Tx.Journal); reads as not stored.
CREATE TABLE hub_journals (
    site    text COLLATE "C" NOT NULL,
    agent   text COLLATE "C" NOT NULL,
    journal text COLLATE "C" NOT NULL,
    doc     bytea,
    PRIMARY KEY (site, agent, journal)
);

CREATE TABLE hub_orders (
    id  text COLLATE "C" PRIMARY KEY,
    doc bytea
);

CREATE TABLE hub_history (
    order_id text COLLATE "C" NOT NULL,
    at       text COLLATE "C" NOT NULL,
    site     text COLLATE "C" NOT NULL,
    agent    text COLLATE "C" NOT NULL,
    seq      bigint NOT NULL,
    journal  text COLLATE "C" NOT NULL,
    PRIMARY KEY (order_id, at, site, agent, seq, journal)
);

CREATE TABLE hub_agents (
    site  text COLLATE "C" NOT NULL,
    agent text COLLATE "C" NOT NULL,
    doc   bytea NOT NULL,
    PRIMARY KEY (site, agent)
);

-- One counter row per site: the last hseq given out. Advanced in the publishing transaction.
CREATE TABLE hub_downlink_seq (
    site text COLLATE "C" PRIMARY KEY,
    last bigint NOT NULL
);

CREATE TABLE hub_downlink (
    site text COLLATE "C" NOT NULL,
    hseq bigint NOT NULL,
    doc  bytea NOT NULL,
    PRIMARY KEY (site, hseq)
);

-- Named counters (commands).
CREATE TABLE hub_counters (
    name text COLLATE "C" PRIMARY KEY,
    last bigint NOT NULL
);

CREATE TABLE hub_commands (
    site  text COLLATE "C" NOT NULL,
    agent text COLLATE "C" NOT NULL,
    n     bigint NOT NULL,
    doc   bytea NOT NULL,
    PRIMARY KEY (site, agent, n)
);

CREATE TABLE hub_unverified (
    site    text COLLATE "C" NOT NULL,
    agent   text COLLATE "C" NOT NULL,
    journal text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    n       bigint GENERATED ALWAYS AS IDENTITY,
    doc     bytea NOT NULL,
    PRIMARY KEY (site, agent, journal, seq, n)
);

CREATE TABLE hub_meta (
    key text COLLATE "C" PRIMARY KEY,
    doc bytea NOT NULL
);

-- API tokens (apitoken.Store), by hash; one active token per name.
CREATE TABLE hub_api_tokens (
    hash       text COLLATE "C" PRIMARY KEY,
    name       text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    revoked    boolean NOT NULL DEFAULT false,
    doc        bytea NOT NULL
);
CREATE UNIQUE INDEX hub_api_tokens_active_name ON hub_api_tokens (name) WHERE NOT revoked;

-- +goose Down
DROP TABLE hub_api_tokens, hub_meta, hub_unverified, hub_commands, hub_counters, hub_downlink,
    hub_downlink_seq, hub_agents, hub_history, hub_orders, hub_journals, hub_pending, hub_entries;
