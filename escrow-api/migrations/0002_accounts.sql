-- Accounts as the contract's events describe them (kept by the event follower), and the off-chain
-- profiles practitioners and insurers submit, checked against the profile hash they registered.

CREATE TABLE accounts (
    address       TEXT PRIMARY KEY,
    kind          BIGINT NOT NULL,
    status        TEXT NOT NULL,
    profile_hash  TEXT NOT NULL,
    registered_block BIGINT NOT NULL,
    updated_block BIGINT NOT NULL
);
CREATE INDEX accounts_status ON accounts (status);

CREATE TABLE profiles (
    address      TEXT PRIMARY KEY,
    profile      TEXT NOT NULL,
    profile_hash TEXT NOT NULL,
    submitted    BIGINT NOT NULL
);
