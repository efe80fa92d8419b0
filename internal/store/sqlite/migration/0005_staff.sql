-- The operator's staff users (internal/auth): people who sign in to the
-- console with a role. Times are unix microseconds (UTC). A password is kept
-- only as its argon2id PHC string.
CREATE TABLE staff_users (
	id            TEXT    PRIMARY KEY,
	email         TEXT    NOT NULL UNIQUE, -- lower case
	name          TEXT    NOT NULL,
	role          TEXT    NOT NULL,
	password_hash TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	disabled_at   INTEGER             -- NULL while the user may sign in
) WITHOUT ROWID;
