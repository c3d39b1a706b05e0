-- The insurance contract this index follows beside the core (docs/contract.md, "How the contract
-- grows past EIP-170"). NULL in an index bound before the insurance contract existed: the next
-- start records it. When the deployment names another insurance contract (redeployed alone, the
-- core kept), the escrow drops the claim and policy rows of the old one and follows the new one
-- from its deployment block; the core's rows stay.
ALTER TABLE index_binding ADD COLUMN insurance TEXT;
