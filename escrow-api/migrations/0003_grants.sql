-- Consent as the contract's events describe it (kept by the event follower). One row per
-- ConsentGranted or ConsentRevoked log, keyed by its position on chain; a pair's current grant is
-- its latest row. Keeping the events (not only the latest state) lets the follower undo the rows
-- of blocks a reorganisation removed by deleting them. uint256 masks and uint64 expiries are
-- decimal TEXT (they do not fit a BIGINT).

CREATE TABLE grants (
    block      BIGINT NOT NULL,
    log_index  BIGINT NOT NULL,
    patient    TEXT NOT NULL,
    grantee    TEXT NOT NULL,
    revoked    BIGINT NOT NULL,
    categories TEXT NOT NULL,
    can_write  BIGINT NOT NULL,
    expiry     TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX grants_patient ON grants (patient, grantee);
CREATE INDEX grants_grantee ON grants (grantee, patient);
