-- A record's sealed label (docs/formats.md section 7): its title and summary line, encrypted
-- under a key derived from the record's DEK, so lists can name records without the escrow
-- learning the names. Optional (records stored before labels, and uploads from clients that send
-- none, have NULL); cleared with the wrapped DEKs when the record is shredded.
ALTER TABLE records ADD COLUMN label TEXT;
