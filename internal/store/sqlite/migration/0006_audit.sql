-- The audit log (internal/audit): append-only and hash-chained. Entries are
-- numbered 1, 2, 3 … without gaps; each row's hash covers its fields and the
-- previous row's hash (the encoding is audit.Entry.ComputeHash's, documented
-- in docs/audit.md). Times are unix microseconds (UTC). Kinko never updates
-- or deletes a row here; kinko verify re-checks the chain.
CREATE TABLE audit_entries (
	seq          INTEGER PRIMARY KEY, -- 1, 2, 3 …, assigned under the head's lock
	at           INTEGER NOT NULL,
	actor_type   TEXT    NOT NULL,    -- staff, user, org or system
	actor_id     TEXT    NOT NULL,
	action       TEXT    NOT NULL,    -- e.g. staff.role_changed
	subject_type TEXT    NOT NULL,
	subject_id   TEXT    NOT NULL,
	org_id       TEXT    NOT NULL,    -- '' when the subject has no owning organization
	data         TEXT    NOT NULL,    -- a compact JSON object, byte for byte as hashed
	prev_hash    BLOB    NOT NULL,    -- empty for seq 1
	hash         BLOB    NOT NULL     -- SHA-256, 32 bytes
);
CREATE INDEX audit_entries_subject ON audit_entries (subject_type, subject_id, seq);
CREATE INDEX audit_entries_org ON audit_entries (org_id, seq);

-- The head of the chain: one row, the seq and hash of the last entry (0 and
-- empty while the log is empty). Every append reads and moves it in its
-- write transaction, and SQLite has one writer, so appends never fork the
-- chain; kinko verify checks that it names the last entry, so removing the
-- newest entries is noticed too.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash BLOB    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, X'');
