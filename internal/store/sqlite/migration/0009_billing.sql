-- Billing (internal/billing): a provider's customers, their reservations
-- with their histories, and charges. Money itself is in the ledger tables
-- (accounts "billing:cus:<id>", "billing:revenue:<org>:<cur>",
-- "billing:topups:<org>:<cur>"); these rows say what it is for. Times are
-- unix microseconds (UTC).
CREATE TABLE billing_customers (
	id           TEXT    PRIMARY KEY, -- "cus_" + time-ordered id
	org_id       TEXT    NOT NULL,
	reference    TEXT    NOT NULL,
	currency     TEXT    NOT NULL,
	mode         TEXT    NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
	credit_limit INTEGER NOT NULL CHECK (credit_limit >= 0),
	account_id   INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL,
	UNIQUE (org_id, reference)
) WITHOUT ROWID;
CREATE INDEX billing_customers_org ON billing_customers (org_id, id);

CREATE TABLE billing_reservations (
	id               TEXT    PRIMARY KEY, -- "rsv_" + time-ordered id
	auth_number      TEXT    NOT NULL UNIQUE,
	org_id           TEXT    NOT NULL,
	customer_id      TEXT    NOT NULL REFERENCES billing_customers (id),
	reference        TEXT    NOT NULL, -- '' when the caller gave none
	currency         TEXT    NOT NULL,
	amount           INTEGER NOT NULL CHECK (amount > 0),
	authorized       INTEGER NOT NULL,
	reserved         INTEGER NOT NULL CHECK (reserved >= 0),
	charged          INTEGER NOT NULL CHECK (charged >= 0),
	released         INTEGER NOT NULL CHECK (released >= 0),
	state            TEXT    NOT NULL,
	expires_at       INTEGER NOT NULL,
	hold_transfer_id INTEGER NOT NULL, -- 0 when nothing is held
	events           INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	version          INTEGER NOT NULL,
	CHECK (authorized = reserved + charged + released)
) WITHOUT ROWID;
CREATE UNIQUE INDEX billing_reservations_reference ON billing_reservations (org_id, reference) WHERE reference <> '';
CREATE INDEX billing_reservations_org ON billing_reservations (org_id, id);
CREATE INDEX billing_reservations_customer ON billing_reservations (customer_id, id);
CREATE INDEX billing_reservations_due ON billing_reservations (expires_at) WHERE state = 'active';

CREATE TABLE billing_reservation_events (
	reservation_id TEXT    NOT NULL REFERENCES billing_reservations (id),
	seq            INTEGER NOT NULL,
	at             INTEGER NOT NULL,
	kind           TEXT    NOT NULL,
	amount         INTEGER NOT NULL,
	released       INTEGER NOT NULL,
	reference      TEXT    NOT NULL, -- an increment's or a charge's; '' otherwise
	transfer_id    INTEGER NOT NULL, -- 0 when no transfer was needed
	PRIMARY KEY (reservation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX billing_reservation_events_reference ON billing_reservation_events (reservation_id, reference) WHERE reference <> '';

CREATE TABLE billing_charges (
	id             TEXT    PRIMARY KEY, -- "chg_" + time-ordered id
	org_id         TEXT    NOT NULL,
	customer_id    TEXT    NOT NULL REFERENCES billing_customers (id),
	reservation_id TEXT    NOT NULL, -- '' for a direct charge
	auth_number    TEXT    NOT NULL,
	reference      TEXT    NOT NULL,
	amount         INTEGER NOT NULL CHECK (amount > 0),
	final          INTEGER NOT NULL,
	transfer_id    INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	UNIQUE (org_id, reference)
) WITHOUT ROWID;
CREATE INDEX billing_charges_customer ON billing_charges (customer_id, id);
