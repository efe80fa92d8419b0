-- An owner's transfers in id order, for GET /v1/transfers. Ids rise within a
-- node, so this index grows at its end and costs the write path little.
CREATE INDEX transfers_owner_id ON transfers (owner, id);
