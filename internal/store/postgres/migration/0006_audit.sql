-- The audit log (internal/audit): append-only and hash-chained, the same
-- logical schema as store/sqlite's 0006_audit.sql. Entries are numbered
-- 1, 2, 3 … without gaps; each row's hash covers its fields and the previous
-- row's hash (the encoding is audit.Entry.ComputeHash's, documented in
-- docs/audit.md). Kinko never updates or deletes a row here; kinko verify
-- re-checks the chain. Plain tables and btree indexes only: nothing that
-- PostgreSQL-compatible distributed databases reject.
CREATE TABLE audit_entries (
	seq          bigint      PRIMARY KEY, -- 1, 2, 3 …, assigned under the head's lock (not a sequence, so a rollback leaves no gap)
	at           timestamptz NOT NULL,
	actor_type   text        NOT NULL,    -- staff, user, org or system
	actor_id     text        NOT NULL,
	action       text        NOT NULL,    -- e.g. staff.role_changed
	subject_type text        NOT NULL,
	subject_id   text        NOT NULL,
	org_id       text        NOT NULL,    -- '' when the subject has no owning organization
	data         text        NOT NULL,    -- a compact JSON object, byte for byte as hashed (not jsonb, which would reorder keys)
	prev_hash    bytea       NOT NULL,    -- empty for seq 1
	hash         bytea       NOT NULL     -- SHA-256, 32 bytes
);
CREATE INDEX audit_entries_subject ON audit_entries (subject_type, subject_id, seq);
CREATE INDEX audit_entries_org ON audit_entries (org_id, seq);

-- The head of the chain: one row, the seq and hash of the last entry (0 and
-- empty while the log is empty). Every append takes this row FOR UPDATE in
-- its transaction and moves it, so appends from any number of nodes are
-- serialised and the chain never forks; kinko verify checks that it names
-- the last entry, so removing the newest entries is noticed too.
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint  NOT NULL,
	hash bytea   NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ''::bytea);
