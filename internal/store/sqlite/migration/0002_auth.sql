-- Organizations and their API keys (internal/auth). Times are unix
-- microseconds (UTC). A key's secret is never stored: only its public prefix
-- (unique, how a request finds its key) and the SHA-256 of the whole secret.
CREATE TABLE organizations (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_keys (
	id           TEXT    PRIMARY KEY,
	org_id       TEXT    NOT NULL REFERENCES organizations (id),
	name         TEXT    NOT NULL,
	prefix       TEXT    NOT NULL UNIQUE,
	secret_hash  BLOB    NOT NULL CHECK (length(secret_hash) = 32),
	scopes       TEXT    NOT NULL, -- comma-separated, e.g. "accounts:read,transfers:write"
	created_at   INTEGER NOT NULL,
	revoked_at   INTEGER,          -- NULL while the key is active
	last_used_at INTEGER           -- NULL until first use; written at most once a minute
) WITHOUT ROWID;
CREATE INDEX api_keys_org ON api_keys (org_id, id);
