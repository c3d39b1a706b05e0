-- The deployment this index follows. An index holds one contract's state (records, grants,
-- claims, the follower's cursor): started against another deployment (a redeployed contract,
-- another chain) the escrow refuses to run rather than mix the two. One row at most.
CREATE TABLE index_binding (
    singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
    chain_id  BIGINT NOT NULL,
    contract  TEXT NOT NULL
);
