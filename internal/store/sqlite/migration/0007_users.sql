-- Portal users (internal/auth user.go): end users who sign up with an email
-- and a password; their email verification tokens; and the web sessions of
-- portal and staff users (session.go). Times are unix microseconds (UTC).
-- Passwords are kept only as argon2id PHC strings, tokens only as SHA-256
-- hashes.
CREATE TABLE users (
	id                TEXT    PRIMARY KEY,
	email             TEXT    NOT NULL UNIQUE, -- lower case
	password_hash     TEXT    NOT NULL,
	locale            TEXT    NOT NULL,        -- 'ja' | 'en'
	email_verified_at INTEGER,                 -- NULL until verified
	created_at        INTEGER NOT NULL,
	disabled_at       INTEGER                  -- NULL while the user may sign in
) WITHOUT ROWID;

-- At most one live verification token per user: re-sending replaces it.
CREATE TABLE email_verifications (
	user_id    TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	token_hash BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX email_verifications_expires ON email_verifications (expires_at);

-- kind 'user' names users.id, kind 'staff' staff_users.id. A session is
-- deleted on sign-out and purged once its idle deadline (never later than
-- expires_at) has passed.
CREATE TABLE web_sessions (
	id              TEXT    PRIMARY KEY,
	token_hash      BLOB    NOT NULL UNIQUE,
	kind            TEXT    NOT NULL,
	subject_id      TEXT    NOT NULL,
	csrf_token      TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_idle_expires ON web_sessions (idle_expires_at);
