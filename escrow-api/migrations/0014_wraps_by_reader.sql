-- A key rotation lists and replaces every DEK wrapped to one reader (`GET`/`PUT /api/wraps/mine`:
-- `WHERE reader = $1 AND record_id > $2 ORDER BY record_id`). The table's key leads with the
-- record, so without this index each page of that list walked every wrap of every reader.
CREATE INDEX wrapped_deks_reader ON wrapped_deks (reader, record_id);
