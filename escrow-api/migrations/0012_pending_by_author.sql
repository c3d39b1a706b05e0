-- An upload's pending-quota check sums its author's unanchored uploads
-- (`SELECT SUM(size) FROM records WHERE state = 'pending' AND author = $1`). Without this index
-- that query walked every pending record of every author (records_state leads with state), so each
-- upload cost more than the last while uploads awaited anchoring: bench/ingest.sh fell from 900 to
-- 500 uploads/s over 8,000 pending uploads (docs/qa-report.md, "Durable ingest").
CREATE INDEX records_author_state ON records (author, state);
