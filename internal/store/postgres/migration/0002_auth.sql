-- Organizations and their API keys (internal/auth), the same logical schema
-- as store/sqlite's 0002_auth.sql. A key's secret is never stored: only its
-- public prefix (unique, how a request finds its key) and the SHA-256 of the
-- whole secret.
CREATE TABLE organizations (
	id         text        PRIMARY KEY,
	name       text        NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
	id           text        PRIMARY KEY,
	org_id       text        NOT NULL REFERENCES organizations (id),
	name         text        NOT NULL,
	prefix       text        NOT NULL UNIQUE,
	secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
	scopes       text        NOT NULL, -- comma-separated, e.g. "accounts:read,transfers:write"
	created_at   timestamptz NOT NULL,
	revoked_at   timestamptz,          -- NULL while the key is active
	last_used_at timestamptz           -- NULL until first use; written at most once a minute
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);
