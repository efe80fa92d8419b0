-- The first response to each Idempotency-Key (internal/idempotency), per
-- organization. Times are unix microseconds (UTC). Rows older than a day are
-- purged by created_at.
CREATE TABLE idempotency_keys (
	org_id       TEXT    NOT NULL,
	key          TEXT    NOT NULL,
	request_hash BLOB    NOT NULL,
	done         INTEGER NOT NULL DEFAULT 0, -- 0: claimed, the request runs; 1: response stored
	status       INTEGER,
	content_type TEXT,
	body         BLOB,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (org_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
