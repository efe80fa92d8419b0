-- Members of organizations (internal/auth member.go): portal users who act
-- for an organization in its own portal pages (a provider's billing pages).
-- A user may belong to several organizations. Times are unix microseconds
-- (UTC).
CREATE TABLE org_members (
	org_id     TEXT    NOT NULL REFERENCES organizations (id),
	user_id    TEXT    NOT NULL REFERENCES users (id),
	created_at INTEGER NOT NULL,
	PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
-- A user's organizations, read on every portal page a member opens.
CREATE INDEX org_members_user ON org_members (user_id, org_id);
