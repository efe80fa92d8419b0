-- The first response to each Idempotency-Key (internal/idempotency), per
-- organization. Rows older than a day are purged by created_at.
CREATE TABLE idempotency_keys (
	org_id       text        NOT NULL,
	key          text        NOT NULL,
	request_hash bytea       NOT NULL,
	done         boolean     NOT NULL DEFAULT false, -- false: claimed, the request runs; true: response stored
	status       integer,
	content_type text,
	body         bytea,
	created_at   timestamptz NOT NULL,
	PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
