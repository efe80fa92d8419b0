-- Billing metering (internal/billing): metered sessions with their usage
-- reports, and month-end invoices. The same logical schema as store/sqlite's 0010_billing_metering.sql.
CREATE TABLE billing_sessions (
	id                text    PRIMARY KEY, -- "ses_" + time-ordered id
	org_id            text    NOT NULL,
	customer_id       text    NOT NULL REFERENCES billing_customers (id),
	reservation_id    text    NOT NULL UNIQUE REFERENCES billing_reservations (id),
	auth_number       text    NOT NULL,
	reference         text    NOT NULL,
	currency          text    NOT NULL,
	quota             bigint  NOT NULL CHECK (quota > 0),
	threshold_percent bigint  NOT NULL CHECK (threshold_percent BETWEEN 1 AND 100),
	used              bigint  NOT NULL,
	settled           bigint  NOT NULL CHECK (settled >= 0),
	unsettled         bigint  NOT NULL CHECK (unsettled >= 0),
	last_seq          bigint  NOT NULL,
	reports           bigint  NOT NULL,
	settlements       bigint  NOT NULL,
	state             text    NOT NULL,
	expires_at        timestamptz NOT NULL,
	created_at        timestamptz NOT NULL,
	updated_at        timestamptz NOT NULL,
	version           bigint  NOT NULL,
	UNIQUE (org_id, reference),
	CHECK (used = settled + unsettled AND used <= quota)
);
CREATE INDEX billing_sessions_customer ON billing_sessions (customer_id, id);

CREATE TABLE billing_usage_reports (
	session_id  text    NOT NULL REFERENCES billing_sessions (id),
	seq         bigint  NOT NULL,
	amount      bigint  NOT NULL CHECK (amount > 0),
	used        bigint  NOT NULL,
	unsettled   bigint  NOT NULL,
	remaining   bigint  NOT NULL,
	settled     bigint  NOT NULL, -- what this report charged; 0 when nothing
	transfer_id bigint  NOT NULL, -- that charge's post; 0 when none
	at          timestamptz NOT NULL,
	PRIMARY KEY (session_id, seq)
);

CREATE TABLE billing_invoices (
	id           text    PRIMARY KEY, -- "inv_" + time-ordered id
	org_id       text    NOT NULL,
	customer_id  text    NOT NULL REFERENCES billing_customers (id),
	period       text    NOT NULL, -- "2026-01"
	currency     text    NOT NULL,
	total        bigint  NOT NULL CHECK (total >= 0),
	count        bigint  NOT NULL CHECK (count >= 0),
	period_start timestamptz NOT NULL,
	period_end   timestamptz NOT NULL,
	closed_at    timestamptz NOT NULL,
	UNIQUE (customer_id, period)
);

-- A period's charges of one customer, for invoices and statements.
CREATE INDEX billing_charges_customer_created ON billing_charges (customer_id, created_at);
