-- The texts of the licence agreement that some account has accepted (docs/licensing.md, "The
-- agreement"): one row per (version, text hash), written with each acceptance, so that the check
-- at start-up that no accepted version was edited or withdrawn reads a handful of rows instead of
-- scanning every account's acceptance.
CREATE TABLE agreement_texts (
    version   BIGINT NOT NULL,
    text_hash TEXT NOT NULL,
    PRIMARY KEY (version, text_hash)
);
INSERT INTO agreement_texts (version, text_hash)
    SELECT DISTINCT version, text_hash FROM agreement_acceptances;
