-- Escrow (internal/escrow): deals, their timelines and dispute threads, and
-- the bank credits matched to them. Money itself is in the ledger tables;
-- these rows say what it is for. Times are unix microseconds (UTC).
CREATE TABLE escrow_deals (
	id                 TEXT    PRIMARY KEY, -- "dl_" + time-ordered id
	org_id             TEXT    NOT NULL,    -- '' for a portal deal
	external_ref       TEXT    NOT NULL,    -- '' when the site gave none
	title              TEXT    NOT NULL,
	description        TEXT    NOT NULL,
	currency           TEXT    NOT NULL,
	scale              INTEGER NOT NULL,
	price              INTEGER NOT NULL CHECK (price > 0),
	shipping_fee       INTEGER NOT NULL CHECK (shipping_fee >= 0),
	fee                INTEGER NOT NULL CHECK (fee >= 0),
	fee_payer          TEXT    NOT NULL,
	buyer_fee          INTEGER NOT NULL CHECK (buyer_fee >= 0),
	amount_due         INTEGER NOT NULL,
	amount_paid        INTEGER NOT NULL,
	released           INTEGER NOT NULL,
	refunded           INTEGER NOT NULL,
	fee_taken          INTEGER NOT NULL,
	payment_method     TEXT    NOT NULL,
	payment_ref        TEXT    NOT NULL UNIQUE,
	seller_email       TEXT    NOT NULL, -- lower case
	seller_user_id     TEXT    NOT NULL,
	seller_locale      TEXT    NOT NULL,
	buyer_email        TEXT    NOT NULL, -- lower case
	buyer_user_id      TEXT    NOT NULL,
	buyer_locale       TEXT    NOT NULL,
	state              TEXT    NOT NULL,
	pay_within_days    INTEGER NOT NULL,
	ship_within_days   INTEGER NOT NULL,
	inspection_days    INTEGER NOT NULL,
	due_at             INTEGER,          -- the current state's deadline
	carrier            TEXT    NOT NULL,
	tracking_number    TEXT    NOT NULL,
	milestones         TEXT    NOT NULL, -- JSON array
	resolution         TEXT    NOT NULL,
	review_hold        INTEGER NOT NULL,
	review_reasons     TEXT    NOT NULL, -- JSON array
	holding_account_id INTEGER NOT NULL,
	dispute_reason     TEXT    NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	accepted_at        INTEGER,
	funded_at          INTEGER,
	shipped_at         INTEGER,
	received_at        INTEGER,
	closed_at          INTEGER,
	version            INTEGER NOT NULL,
	CHECK (amount_paid - released - refunded - fee_taken >= 0)
) WITHOUT ROWID;
CREATE UNIQUE INDEX escrow_deals_external_ref ON escrow_deals (org_id, external_ref) WHERE external_ref <> '';
CREATE INDEX escrow_deals_org ON escrow_deals (org_id, id);
CREATE INDEX escrow_deals_review ON escrow_deals (id) WHERE review_hold = 1;
CREATE INDEX escrow_deals_seller ON escrow_deals (seller_email, id);
CREATE INDEX escrow_deals_buyer ON escrow_deals (buyer_email, id);
CREATE INDEX escrow_deals_due ON escrow_deals (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE escrow_timeline (
	deal_id    TEXT    NOT NULL REFERENCES escrow_deals (id),
	seq        INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	actor_kind TEXT    NOT NULL,
	actor_id   TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	from_state TEXT    NOT NULL,
	to_state   TEXT    NOT NULL,
	data       TEXT,             -- JSON object
	PRIMARY KEY (deal_id, seq)
) WITHOUT ROWID;

CREATE TABLE escrow_messages (
	id         TEXT    PRIMARY KEY,
	deal_id    TEXT    NOT NULL REFERENCES escrow_deals (id),
	at         INTEGER NOT NULL,
	actor_kind TEXT    NOT NULL,
	actor_id   TEXT    NOT NULL,
	party      TEXT    NOT NULL,
	body       TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX escrow_messages_deal ON escrow_messages (deal_id, at, id);

CREATE TABLE escrow_deposits (
	id           TEXT    PRIMARY KEY, -- "dep_" + time-ordered id
	source       TEXT    NOT NULL,
	bank_account TEXT    NOT NULL,
	bank_ref     TEXT    NOT NULL,
	currency     TEXT    NOT NULL,
	amount       INTEGER NOT NULL CHECK (amount > 0),
	value_date   INTEGER NOT NULL,
	payer_name   TEXT    NOT NULL,
	remittance   TEXT    NOT NULL,
	deal_id      TEXT    NOT NULL,    -- '' when unmatched
	status       TEXT    NOT NULL,
	applied      INTEGER NOT NULL CHECK (applied >= 0 AND applied <= amount),
	review       TEXT    NOT NULL,    -- '', 'open', 'cleared'
	note         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	UNIQUE (bank_account, bank_ref)
) WITHOUT ROWID;
CREATE INDEX escrow_deposits_review ON escrow_deposits (review, id) WHERE review <> '';
CREATE INDEX escrow_deposits_deal ON escrow_deposits (deal_id, id) WHERE deal_id <> '';

-- Where each payee's payouts go (one account per payee email).
CREATE TABLE escrow_bank_accounts (
	email          TEXT    PRIMARY KEY, -- lower case
	bank_code      TEXT    NOT NULL,
	bank_name      TEXT    NOT NULL,
	branch_code    TEXT    NOT NULL,
	branch_name    TEXT    NOT NULL,
	account_type   TEXT    NOT NULL,
	account_number TEXT    NOT NULL,
	holder_name    TEXT    NOT NULL,
	fingerprint    TEXT    NOT NULL, -- bank-branch-number: one real account
	invalid        INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX escrow_bank_accounts_fingerprint ON escrow_bank_accounts (fingerprint);
CREATE INDEX escrow_bank_accounts_payout ON escrow_bank_accounts (updated_at, email) WHERE invalid = 0;

CREATE TABLE escrow_payout_batches (
	id            TEXT    PRIMARY KEY, -- "pb_" + time-ordered id
	currency      TEXT    NOT NULL,
	transfer_date INTEGER NOT NULL,
	state         TEXT    NOT NULL,
	total         INTEGER NOT NULL,
	count         INTEGER NOT NULL,
	created_by    TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	settled_at    INTEGER
) WITHOUT ROWID;

CREATE TABLE escrow_payout_items (
	id          TEXT    PRIMARY KEY,
	batch_id    TEXT    NOT NULL REFERENCES escrow_payout_batches (id),
	seq         INTEGER NOT NULL,
	account     TEXT    NOT NULL, -- JSON: the bank account as it was when the batch was built
	amount      INTEGER NOT NULL CHECK (amount > 0),
	transfer_id INTEGER NOT NULL, -- the ledger hold
	state       TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	updated_at  INTEGER NOT NULL,
	UNIQUE (batch_id, seq)
) WITHOUT ROWID;
