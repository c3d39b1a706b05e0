-- The licensing contract's events (docs/licensing.md), one row per log: the console's audit export
-- of licence events, seat assignments and enrolments over a period, and each organisation's name
-- (kept in its creation event only). Keyed like the other event tables by the log's position, so
-- a replayed batch inserts nothing twice and a reorganisation deletes by block. `time` is the
-- block's timestamp, which the export's period is over.
CREATE TABLE licence_events (
    block        BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    time         BIGINT NOT NULL,
    organisation BIGINT NOT NULL,
    event        TEXT NOT NULL,
    account      TEXT,
    actor        TEXT,
    detail       TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX licence_events_time ON licence_events (time, block, log_index);
CREATE INDEX licence_events_organisation ON licence_events (organisation, time);
