-- +goose Up
-- Anomaly counters of the central measures (hub.MeasuresTx): per UTC hour ("2006-01-02T15"),
-- site and kind; concurrent replicas add with INSERT … ON CONFLICT DO UPDATE.
CREATE TABLE hub_anomalies (
    hour text COLLATE "C" NOT NULL,
    site text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    n    bigint NOT NULL,
    PRIMARY KEY (hour, site, kind)
);

-- +goose Down
DROP TABLE hub_anomalies;
