-- Insurance claims and policies as the contract's events describe them (kept by the event
-- follower). A claim is its ClaimSubmitted row; what happened to it since (ClaimPendingReview,
-- ClaimApproved, ClaimDenied, ClaimPaid) are rows of claim_updates, the latest giving its state.
-- Policies are their events (PolicyPublished, PolicyFunded, PolicyFundsWithdrawn). Every row
-- names its block, so the rows of blocks a reorganisation removed can be deleted. uint128 and
-- uint256 amounts and masks are decimal TEXT.

CREATE TABLE claims (
    claim_id        TEXT PRIMARY KEY,
    practitioner    TEXT NOT NULL,
    patient         TEXT NOT NULL,
    insurer         TEXT NOT NULL,
    document_hash   TEXT NOT NULL,
    amount          TEXT NOT NULL,
    category        BIGINT NOT NULL,
    submitted_block BIGINT NOT NULL,
    log_index       BIGINT NOT NULL,
    submitted_at    BIGINT NOT NULL
);
CREATE INDEX claims_practitioner ON claims (practitioner);
CREATE INDEX claims_patient ON claims (patient);
CREATE INDEX claims_insurer ON claims (insurer);
CREATE INDEX claims_block ON claims (submitted_block);

CREATE TABLE claim_updates (
    block            BIGINT NOT NULL,
    log_index        BIGINT NOT NULL,
    claim_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    pending_reason   BIGINT,
    payout           TEXT,
    automatic        BIGINT,
    deny_reason_hash TEXT,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX claim_updates_claim ON claim_updates (claim_id, block, log_index);

CREATE TABLE policy_events (
    block              BIGINT NOT NULL,
    log_index          BIGINT NOT NULL,
    insurer            TEXT NOT NULL,
    kind               TEXT NOT NULL,
    covered_categories TEXT,
    per_claim_limit    TEXT,
    annual_limit       TEXT,
    deductible         TEXT,
    amount             TEXT,
    funds              TEXT,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX policy_events_insurer ON policy_events (insurer, block, log_index);
