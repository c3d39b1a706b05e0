-- Access risk (docs/risk.md). Each scored read attempt keeps, beside its hash-chained entry:
-- `flagged` (the score reached the policy's threshold when it was written, or an emergency
-- release), `reasons` (a JSON array of the score's main reasons in words, flagged entries only)
-- and `risk_access` (the attempt's raw fields as one line of the risk log format, from which the
-- readers' histories and the rolling reference set are rebuilt after a restart). None of the
-- three is covered by the entry's hash; the score is.
ALTER TABLE access_log ADD COLUMN flagged BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_log ADD COLUMN reasons TEXT;
ALTER TABLE access_log ADD COLUMN risk_access TEXT;
-- Before the model, a score of 1000 meant an emergency release, and the app flagged it.
UPDATE access_log SET flagged = 1 WHERE score_milli >= 500;
CREATE INDEX access_log_flagged ON access_log (flagged, seq);

-- The deployment's policy: one row, absent until an admin sets one (then `flag` at 950 applies).
CREATE TABLE risk_policy (
    id              BIGINT PRIMARY KEY,
    mode            TEXT NOT NULL,
    threshold_milli BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);

-- Reads held for the patient's approval under `hold`, and the patient's signed decisions.
CREATE TABLE holds (
    id            BIGINT PRIMARY KEY,
    reader        TEXT NOT NULL,
    patient       TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    score_milli   BIGINT NOT NULL,
    reasons       TEXT NOT NULL,
    state         TEXT NOT NULL,
    decided_at    BIGINT,
    applies_until BIGINT,
    signature     TEXT
);
CREATE INDEX holds_patient ON holds (patient, id);
CREATE INDEX holds_reader_record ON holds (reader, record_id, id);
