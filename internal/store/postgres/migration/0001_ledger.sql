-- Ledger schema, the same logical schema as store/sqlite's 0001_ledger.sql.
-- Times are timestamptz (microseconds, UTC on read). Ids and amounts are int64.
-- Only plain tables, btree indexes and foreign keys: nothing that
-- PostgreSQL-compatible distributed databases reject.
CREATE TABLE assets (
	code  text    PRIMARY KEY,
	scale integer NOT NULL CHECK (scale BETWEEN 0 AND 18)
);

CREATE TABLE id_sequences (
	name    text   PRIMARY KEY,
	next_id bigint NOT NULL
);

CREATE TABLE accounts (
	id              bigint      PRIMARY KEY,
	owner           text        NOT NULL,
	reference       text        NOT NULL,
	asset           text        NOT NULL REFERENCES assets (code),
	code            text        NOT NULL,
	flags           integer     NOT NULL, -- 1: debits_must_not_exceed_credits, 2: credits_must_not_exceed_debits
	limit_amount    bigint      NOT NULL,
	debits_posted   bigint      NOT NULL,
	credits_posted  bigint      NOT NULL,
	debits_pending  bigint      NOT NULL,
	credits_pending bigint      NOT NULL,
	created_at      timestamptz NOT NULL,
	UNIQUE (owner, reference)
);

-- Transfers and holds carry no foreign keys: the engine reads and locks both
-- accounts (and the hold) in the same transaction before it writes, and
-- accounts are never deleted, so a per-row check would repeat that work on
-- the hot path (12% of PostgreSQL throughput, docs/benchmarks.md). kinko
-- verify reports any transfer or hold whose account, pending transfer or
-- hold is missing.
CREATE TABLE transfers (
	id                bigint      PRIMARY KEY,
	owner             text        NOT NULL,
	reference         text,                 -- NULL only for expiries the ledger writes itself
	kind              text        NOT NULL,
	debit_account_id  bigint      NOT NULL,
	credit_account_id bigint      NOT NULL,
	amount            bigint      NOT NULL,
	asset             text        NOT NULL,
	code              text        NOT NULL,
	pending_id        bigint,
	timeout_at        timestamptz,
	metadata          text,                 -- JSON object of strings; NULL when empty
	created_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX transfers_owner_reference ON transfers (owner, reference);
CREATE INDEX transfers_debit_account ON transfers (debit_account_id, id);
CREATE INDEX transfers_credit_account ON transfers (credit_account_id, id);
CREATE INDEX transfers_pending ON transfers (pending_id) WHERE pending_id IS NOT NULL;

-- The mutable state of each pending transfer.
CREATE TABLE holds (
	transfer_id       bigint      PRIMARY KEY,
	owner             text        NOT NULL,
	debit_account_id  bigint      NOT NULL,
	credit_account_id bigint      NOT NULL,
	amount            bigint      NOT NULL,
	asset             text        NOT NULL,
	code              text        NOT NULL,
	timeout_at        timestamptz,
	state             text        NOT NULL,
	resolved_at       timestamptz
);
CREATE INDEX holds_due ON holds (timeout_at) WHERE state = 'pending' AND timeout_at IS NOT NULL;
