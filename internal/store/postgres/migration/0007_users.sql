-- Portal users (internal/auth user.go), their email verification tokens and
-- the web sessions of portal and staff users (session.go): the same logical
-- schema as store/sqlite's 0007_users.sql. Passwords are kept only as
-- argon2id PHC strings, tokens only as SHA-256 hashes.
CREATE TABLE users (
	id                text        PRIMARY KEY,
	email             text        NOT NULL UNIQUE, -- lower case
	password_hash     text        NOT NULL,
	locale            text        NOT NULL,        -- 'ja' | 'en'
	email_verified_at timestamptz,                 -- NULL until verified
	created_at        timestamptz NOT NULL,
	disabled_at       timestamptz                  -- NULL while the user may sign in
);

-- At most one live verification token per user: re-sending replaces it.
CREATE TABLE email_verifications (
	user_id    text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	token_hash bytea       NOT NULL UNIQUE,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX email_verifications_expires ON email_verifications (expires_at);

-- kind 'user' names users.id, kind 'staff' staff_users.id. A session is
-- deleted on sign-out and purged once its idle deadline (never later than
-- expires_at) has passed.
CREATE TABLE web_sessions (
	id              text        PRIMARY KEY,
	token_hash      bytea       NOT NULL UNIQUE,
	kind            text        NOT NULL,
	subject_id      text        NOT NULL,
	csrf_token      text        NOT NULL,
	created_at      timestamptz NOT NULL,
	idle_expires_at timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL
);
CREATE INDEX web_sessions_idle_expires ON web_sessions (idle_expires_at);
