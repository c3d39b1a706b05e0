-- The escrow's index. Portable SQL: the same text runs on SQLite and PostgreSQL (through sqlx's
-- Any driver). Byte strings are stored as lower-case hex TEXT, times as Unix seconds.

CREATE TABLE records (
    record_id   TEXT PRIMARY KEY,
    patient     TEXT NOT NULL,
    author      TEXT NOT NULL,
    category    BIGINT NOT NULL,
    h1          TEXT NOT NULL,
    size        BIGINT NOT NULL,
    blob_key    TEXT,
    c2_size     BIGINT NOT NULL,
    wrapped_k2  TEXT,
    state       TEXT NOT NULL,
    created     BIGINT NOT NULL,
    committed_block BIGINT,
    shredded_at BIGINT
);
CREATE INDEX records_patient ON records (patient);
CREATE INDEX records_state ON records (state, created);

CREATE TABLE wrapped_deks (
    record_id TEXT NOT NULL,
    reader    TEXT NOT NULL,
    wrap      TEXT NOT NULL,
    PRIMARY KEY (record_id, reader)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);

CREATE TABLE siwe_nonces (
    nonce   TEXT PRIMARY KEY,
    expires BIGINT NOT NULL
);

CREATE TABLE follower_cursor (
    id         BIGINT PRIMARY KEY,
    next_block BIGINT NOT NULL
);

CREATE TABLE access_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    patient     TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    action      TEXT NOT NULL,
    granted     BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    score_milli BIGINT NOT NULL,
    prev_hash   TEXT NOT NULL,
    entry_hash  TEXT NOT NULL
);
CREATE INDEX access_log_patient ON access_log (patient, seq);

CREATE TABLE log_anchors (
    anchor_index BIGINT PRIMARY KEY,
    first_seq    BIGINT NOT NULL,
    last_seq     BIGINT NOT NULL,
    root         TEXT NOT NULL,
    tx_hash      TEXT NOT NULL,
    at           BIGINT NOT NULL
);

CREATE TABLE shred_receipts (
    record_id    TEXT PRIMARY KEY,
    receipt      TEXT NOT NULL,
    signature    TEXT NOT NULL,
    receipt_hash TEXT NOT NULL,
    confirm_tx   TEXT,
    at           BIGINT NOT NULL
);
