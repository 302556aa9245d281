-- The orders waiting for an e-waybill number from a provider (sync/hub waybills.go), one hub
-- document per order id.

-- +goose Up
CREATE TABLE hub_ewaybills (
    order_id text COLLATE "C" PRIMARY KEY,
    doc      bytea NOT NULL
);

-- +goose Down
DROP TABLE hub_ewaybills;
