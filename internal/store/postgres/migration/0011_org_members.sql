-- Members of organizations (internal/auth member.go): the same logical
-- schema as store/sqlite's 0011_org_members.sql. Portal users who act for an
-- organization in its own portal pages (a provider's billing pages); a user
-- may belong to several organizations.
CREATE TABLE org_members (
	org_id     text        NOT NULL REFERENCES organizations (id),
	user_id    text        NOT NULL REFERENCES users (id),
	created_at timestamptz NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
-- A user's organizations, read on every portal page a member opens.
CREATE INDEX org_members_user ON org_members (user_id, org_id);
