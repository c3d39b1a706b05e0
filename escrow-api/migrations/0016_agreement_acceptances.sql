-- Accounts' signed acceptances of the licence agreement's versions (docs/licensing.md, "The
-- agreement"): one row per account and version, written in the same transaction as the
-- access-log entry that records it (`log_seq`), so that neither exists without the other. The
-- signature over (account, version, text_hash, accepted_at) is the proof anyone can check later;
-- the entry puts it under the log's anchors on chain.
CREATE TABLE agreement_acceptances (
    account     TEXT NOT NULL,
    version     BIGINT NOT NULL,
    text_hash   TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    signature   TEXT NOT NULL,
    log_seq     BIGINT NOT NULL,
    -- When the escrow recorded it (the entry's time): the audit's periods are over this, so that
    -- an acceptance signed early and recorded late still falls in a period exported after it.
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (account, version)
);
CREATE INDEX agreement_acceptances_time ON agreement_acceptances (recorded_at);
