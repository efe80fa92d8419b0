-- Ledger schema. Times are unix microseconds (UTC). Amounts are int64 minor units.
CREATE TABLE assets (
	code  TEXT PRIMARY KEY,
	scale INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 18)
) WITHOUT ROWID;

CREATE TABLE id_sequences (
	name    TEXT PRIMARY KEY,
	next_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
	id              INTEGER PRIMARY KEY,
	owner           TEXT    NOT NULL,
	reference       TEXT    NOT NULL,
	asset           TEXT    NOT NULL REFERENCES assets (code),
	code            TEXT    NOT NULL,
	flags           INTEGER NOT NULL, -- 1: debits_must_not_exceed_credits, 2: credits_must_not_exceed_debits
	limit_amount    INTEGER NOT NULL,
	debits_posted   INTEGER NOT NULL,
	credits_posted  INTEGER NOT NULL,
	debits_pending  INTEGER NOT NULL,
	credits_pending INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	UNIQUE (owner, reference)
);

-- Transfers and holds carry no foreign keys: the engine reads and locks both
-- accounts (and the hold) in the same transaction before it writes, and
-- accounts are never deleted, so a per-row check would repeat that work on
-- the hot path (12% of PostgreSQL throughput, docs/benchmarks.md). kinko
-- verify reports any transfer or hold whose account, pending transfer or
-- hold is missing.
CREATE TABLE transfers (
	id                INTEGER PRIMARY KEY,
	owner             TEXT    NOT NULL,
	reference         TEXT,             -- NULL only for expiries the ledger writes itself
	kind              TEXT    NOT NULL,
	debit_account_id  INTEGER NOT NULL,
	credit_account_id INTEGER NOT NULL,
	amount            INTEGER NOT NULL,
	asset             TEXT    NOT NULL,
	code              TEXT    NOT NULL,
	pending_id        INTEGER,
	timeout_at        INTEGER,
	metadata          TEXT,
	created_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX transfers_owner_reference ON transfers (owner, reference);
CREATE INDEX transfers_debit_account ON transfers (debit_account_id, id);
CREATE INDEX transfers_credit_account ON transfers (credit_account_id, id);
CREATE INDEX transfers_pending ON transfers (pending_id) WHERE pending_id IS NOT NULL;

-- The mutable state of each pending transfer.
CREATE TABLE holds (
	transfer_id       INTEGER PRIMARY KEY,
	owner             TEXT    NOT NULL,
	debit_account_id  INTEGER NOT NULL,
	credit_account_id INTEGER NOT NULL,
	amount            INTEGER NOT NULL,
	asset             TEXT    NOT NULL,
	code              TEXT    NOT NULL,
	timeout_at        INTEGER,
	state             TEXT    NOT NULL,
	resolved_at       INTEGER
);
CREATE INDEX holds_due ON holds (timeout_at) WHERE state = 'pending' AND timeout_at IS NOT NULL;
