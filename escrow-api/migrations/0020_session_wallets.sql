-- A session's wallet beside its account: since a recovery can move an identity to a new wallet
-- (MedLedgerRecovery), the account a session acts as (the identity, `identityOf` on chain at
-- sign-in) and the wallet that signed in and signs its messages can differ. Sessions from before
-- were opened by the account's own wallet. Indexed: an IdentityMoved event ends every session of
-- the wallet it retires.
ALTER TABLE sessions ADD COLUMN wallet TEXT NOT NULL DEFAULT '';
UPDATE sessions SET wallet = address;
CREATE INDEX sessions_wallet ON sessions (wallet);
