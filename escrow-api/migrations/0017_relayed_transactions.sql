-- Transactions the relayer paid for (docs/api.md "Sponsored transactions"): one row per forward
-- request the escrow sent to the forwarder, mined or not, so that an account's quota counts what
-- it cost the relayer. `tx_hash` is the relayer's transaction; `succeeded` 0 when it reverted or
-- was not seen mined.
CREATE TABLE relayed_transactions (
    account    TEXT NOT NULL,
    relayed_at BIGINT NOT NULL,
    function   TEXT NOT NULL,
    tx_hash    TEXT NOT NULL,
    succeeded  BIGINT NOT NULL
);
CREATE INDEX relayed_transactions_account ON relayed_transactions (account, relayed_at);
