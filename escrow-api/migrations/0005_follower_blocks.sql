-- The hash of the last block of each batch the event follower processed (a window of the most
-- recent ones). At each step the follower checks that the block before its cursor still has the
-- hash it remembered; when it does not, the chain was reorganised beyond the confirmation depth
-- and the follower rewinds to the newest remembered block whose hash still matches.

CREATE TABLE follower_blocks (
    block BIGINT PRIMARY KEY,
    hash  TEXT NOT NULL
);
