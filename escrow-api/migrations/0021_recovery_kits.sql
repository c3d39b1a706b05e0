-- Recovery kits (docs/api.md "Recovery kits"; formats.md section 9). A patient's kit: the set it
-- named (guardians and threshold, as on chain), the shares' commitments and the shares sealed to
-- the guardians, kept as the JSON the patient sent (one kit per identity; a new one replaces it).
-- None of it opens without a guardian's key. Its ids (set id, kit id) are derived from the kit.
CREATE TABLE recovery_kits (
    identity TEXT PRIMARY KEY,
    kit TEXT NOT NULL,
    stored_at BIGINT NOT NULL
);

-- A guardian's share of one kit re-sealed to the transport key of a wallet's recovery request,
-- handed to that wallet once the request moved the identity to it. One per kit, request and
-- guardian index; releases of a replaced kit are never served with another kit.
CREATE TABLE recovery_releases (
    identity TEXT NOT NULL,
    new_wallet TEXT NOT NULL,
    kit_id TEXT NOT NULL,
    request_id BIGINT NOT NULL,
    share_index BIGINT NOT NULL,
    guardian TEXT NOT NULL,
    sealed TEXT NOT NULL,
    released_at BIGINT NOT NULL,
    PRIMARY KEY (identity, new_wallet, kit_id, request_id, share_index)
);
