-- Records anchored under a Merkle root (docs/contract.md, "Records under a root"). An upload may
-- name its place under a root: the root, its leaf index and its proof (0x and the proof's hashes,
-- concatenated). NULL for a record anchored alone by addRecord.
ALTER TABLE records ADD COLUMN root TEXT;
ALTER TABLE records ADD COLUMN leaf_index BIGINT;
ALTER TABLE records ADD COLUMN proof TEXT;
CREATE INDEX records_root ON records (root);

-- The roots anchored on chain (RecordRootAnchored), as the chain stored them: whose, by whom, how
-- many leaves, the categories they may have (decimal text of the uint256 mask) and the block, so
-- that a rewind forgets roots of blocks that are gone.
CREATE TABLE record_roots (
    root       TEXT PRIMARY KEY,
    patient    TEXT NOT NULL,
    author     TEXT NOT NULL,
    leaf_count BIGINT NOT NULL,
    categories TEXT NOT NULL,
    block      BIGINT NOT NULL
);
CREATE INDEX record_roots_block ON record_roots (block);
