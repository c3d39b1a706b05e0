-- Recovery kits (docs/api.md "Recovery kits"; formats.md section 9). A patient's kit: the set it
-- named (guardians and threshold, as on chain), the shares' commitments and the shares sealed to
-- the guardians, kept as the JSON the patient sent (one kit per identity; a new one replaces it).
-- None of it opens without a guardian's key. `set_id` names the set the kit's shares belong to.
CREATE TABLE recovery_kits (
    identity TEXT PRIMARY KEY,
    set_id TEXT NOT NULL,
    kit TEXT NOT NULL,
    stored_at BIGINT NOT NULL
);

-- A guardian's share re-sealed to the transport key of a wallet's recovery request, handed to
-- that wallet once it controls the identity. One per guardian index, set and request.
CREATE TABLE recovery_releases (
    identity TEXT NOT NULL,
    new_wallet TEXT NOT NULL,
    set_id TEXT NOT NULL,
    request_id BIGINT NOT NULL,
    share_index BIGINT NOT NULL,
    guardian TEXT NOT NULL,
    sealed TEXT NOT NULL,
    released_at BIGINT NOT NULL,
    PRIMARY KEY (identity, new_wallet, set_id, request_id, share_index)
);
