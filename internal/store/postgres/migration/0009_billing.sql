-- Billing (internal/billing), the same logical schema as store/sqlite's
-- 0009_billing.sql: a provider's customers, their reservations with their
-- histories, and charges. Money itself is in the ledger tables; these rows
-- say what it is for.
CREATE TABLE billing_customers (
	id           text    PRIMARY KEY, -- "cus_" + time-ordered id
	org_id       text    NOT NULL,
	reference    text    NOT NULL,
	currency     text    NOT NULL,
	mode         text    NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
	credit_limit bigint  NOT NULL CHECK (credit_limit >= 0),
	account_id   bigint  NOT NULL,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	version      bigint  NOT NULL,
	UNIQUE (org_id, reference)
);
CREATE INDEX billing_customers_org ON billing_customers (org_id, id);

CREATE TABLE billing_reservations (
	id               text    PRIMARY KEY, -- "rsv_" + time-ordered id
	auth_number      text    NOT NULL UNIQUE,
	org_id           text    NOT NULL,
	customer_id      text    NOT NULL REFERENCES billing_customers (id),
	reference        text    NOT NULL, -- '' when the caller gave none
	currency         text    NOT NULL,
	amount           bigint  NOT NULL CHECK (amount > 0),
	authorized       bigint  NOT NULL,
	reserved         bigint  NOT NULL CHECK (reserved >= 0),
	charged          bigint  NOT NULL CHECK (charged >= 0),
	released         bigint  NOT NULL CHECK (released >= 0),
	state            text    NOT NULL,
	expires_at       timestamptz NOT NULL,
	hold_transfer_id bigint  NOT NULL, -- 0 when nothing is held
	events           bigint  NOT NULL,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	version          bigint  NOT NULL,
	CHECK (authorized = reserved + charged + released)
);
CREATE UNIQUE INDEX billing_reservations_reference ON billing_reservations (org_id, reference) WHERE reference <> '';
CREATE INDEX billing_reservations_org ON billing_reservations (org_id, id);
CREATE INDEX billing_reservations_customer ON billing_reservations (customer_id, id);
CREATE INDEX billing_reservations_due ON billing_reservations (expires_at) WHERE state = 'active';

CREATE TABLE billing_reservation_events (
	reservation_id text    NOT NULL REFERENCES billing_reservations (id),
	seq            bigint  NOT NULL,
	at             timestamptz NOT NULL,
	kind           text    NOT NULL,
	amount         bigint  NOT NULL,
	released       bigint  NOT NULL,
	reference      text    NOT NULL, -- an increment's or a charge's; '' otherwise
	transfer_id    bigint  NOT NULL, -- 0 when no transfer was needed
	PRIMARY KEY (reservation_id, seq)
);
CREATE UNIQUE INDEX billing_reservation_events_reference ON billing_reservation_events (reservation_id, reference) WHERE reference <> '';

CREATE TABLE billing_charges (
	id             text    PRIMARY KEY, -- "chg_" + time-ordered id
	org_id         text    NOT NULL,
	customer_id    text    NOT NULL REFERENCES billing_customers (id),
	reservation_id text    NOT NULL, -- '' for a direct charge
	auth_number    text    NOT NULL,
	reference      text    NOT NULL,
	amount         bigint  NOT NULL CHECK (amount > 0),
	final          boolean NOT NULL,
	transfer_id    bigint  NOT NULL,
	created_at     timestamptz NOT NULL,
	UNIQUE (org_id, reference)
);
CREATE INDEX billing_charges_customer ON billing_charges (customer_id, id);
