-- The operator's staff users (internal/auth): people who sign in to the
-- console with a role, the same logical schema as store/sqlite's
-- 0005_staff.sql. A password is kept only as its argon2id PHC string.
CREATE TABLE staff_users (
	id            text        PRIMARY KEY,
	email         text        NOT NULL UNIQUE, -- lower case
	name          text        NOT NULL,
	role          text        NOT NULL,
	password_hash text        NOT NULL,
	created_at    timestamptz NOT NULL,
	disabled_at   timestamptz            -- NULL while the user may sign in
);
