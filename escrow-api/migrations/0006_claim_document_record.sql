-- A claim's document is named on chain by its record id (submitClaim's documentRecordId), no
-- longer by the hash of its ciphertext. Rows indexed before come from an older contract, whose
-- deployment an escrow is not pointed at again, so only the column's name changes.
ALTER TABLE claims RENAME COLUMN document_hash TO document_record_id;
