-- Billing metering (internal/billing): metered sessions with their usage
-- reports, and month-end invoices. Times are unix microseconds (UTC).
CREATE TABLE billing_sessions (
	id                TEXT    PRIMARY KEY, -- "ses_" + time-ordered id
	org_id            TEXT    NOT NULL,
	customer_id       TEXT    NOT NULL REFERENCES billing_customers (id),
	reservation_id    TEXT    NOT NULL UNIQUE REFERENCES billing_reservations (id),
	auth_number       TEXT    NOT NULL,
	reference         TEXT    NOT NULL,
	currency          TEXT    NOT NULL,
	quota             INTEGER NOT NULL CHECK (quota > 0),
	threshold_percent INTEGER NOT NULL CHECK (threshold_percent BETWEEN 1 AND 100),
	used              INTEGER NOT NULL,
	settled           INTEGER NOT NULL CHECK (settled >= 0),
	unsettled         INTEGER NOT NULL CHECK (unsettled >= 0),
	last_seq          INTEGER NOT NULL,
	reports           INTEGER NOT NULL,
	settlements       INTEGER NOT NULL,
	state             TEXT    NOT NULL,
	expires_at        INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	version           INTEGER NOT NULL,
	UNIQUE (org_id, reference),
	CHECK (used = settled + unsettled AND used <= quota)
) WITHOUT ROWID;
CREATE INDEX billing_sessions_customer ON billing_sessions (customer_id, id);

CREATE TABLE billing_usage_reports (
	session_id  TEXT    NOT NULL REFERENCES billing_sessions (id),
	seq         INTEGER NOT NULL,
	amount      INTEGER NOT NULL CHECK (amount > 0),
	used        INTEGER NOT NULL,
	unsettled   INTEGER NOT NULL,
	remaining   INTEGER NOT NULL,
	settled     INTEGER NOT NULL, -- what this report charged; 0 when nothing
	transfer_id INTEGER NOT NULL, -- that charge's post; 0 when none
	at          INTEGER NOT NULL,
	PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TABLE billing_invoices (
	id           TEXT    PRIMARY KEY, -- "inv_" + time-ordered id
	org_id       TEXT    NOT NULL,
	customer_id  TEXT    NOT NULL REFERENCES billing_customers (id),
	period       TEXT    NOT NULL, -- "2026-01"
	currency     TEXT    NOT NULL,
	total        INTEGER NOT NULL CHECK (total >= 0),
	count        INTEGER NOT NULL CHECK (count >= 0),
	period_start INTEGER NOT NULL,
	period_end   INTEGER NOT NULL,
	closed_at    INTEGER NOT NULL,
	UNIQUE (customer_id, period)
) WITHOUT ROWID;

-- A period's charges of one customer, for invoices and statements.
CREATE INDEX billing_charges_customer_created ON billing_charges (customer_id, created_at);
