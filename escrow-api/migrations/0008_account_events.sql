-- Each practitioner's and insurer's life on chain, one row per event log (registered, verified,
-- suspended, reinstated), so that an admin deciding on an application sees the account's history,
-- not only its current status. Keyed like the other event tables by the log's position, so a
-- replayed batch inserts nothing twice and a reorganisation deletes by block.
CREATE TABLE account_events (
    block     BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    address   TEXT NOT NULL,
    event     TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX account_events_address ON account_events (address);

-- Accounts indexed before this table existed: their registration is the one event known. A
-- negative log index marks such a row and keeps it apart from every real log position.
INSERT INTO account_events (block, log_index, address, event)
SELECT registered_block, -ROW_NUMBER() OVER (ORDER BY address), address, 'registered'
FROM accounts;
