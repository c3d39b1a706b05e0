-- The relayer's quota over all accounts counts the rows of a window by time alone, and old rows
-- are pruned by time: an index on it.
CREATE INDEX relayed_transactions_time ON relayed_transactions (relayed_at);
