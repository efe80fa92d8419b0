-- Escrow (internal/escrow), the same logical schema as store/sqlite's
-- 0008_escrow.sql: deals, their timelines and dispute threads, and
-- the bank credits matched to them. Money itself is in the ledger tables;
-- these rows say what it is for.
CREATE TABLE escrow_deals (
	id                 text    PRIMARY KEY, -- "dl_" + time-ordered id
	org_id             text    NOT NULL,    -- '' for a portal deal
	external_ref       text    NOT NULL,    -- '' when the site gave none
	title              text    NOT NULL,
	description        text    NOT NULL,
	currency           text    NOT NULL,
	scale              bigint NOT NULL,
	price              bigint NOT NULL CHECK (price > 0),
	shipping_fee       bigint NOT NULL CHECK (shipping_fee >= 0),
	fee                bigint NOT NULL CHECK (fee >= 0),
	fee_payer          text    NOT NULL,
	buyer_fee          bigint NOT NULL CHECK (buyer_fee >= 0),
	amount_due         bigint NOT NULL,
	amount_paid        bigint NOT NULL,
	released           bigint NOT NULL,
	refunded           bigint NOT NULL,
	fee_taken          bigint NOT NULL,
	payment_method     text    NOT NULL,
	payment_ref        text    NOT NULL UNIQUE,
	seller_email       text    NOT NULL, -- lower case
	seller_user_id     text    NOT NULL,
	seller_locale      text    NOT NULL,
	buyer_email        text    NOT NULL, -- lower case
	buyer_user_id      text    NOT NULL,
	buyer_locale       text    NOT NULL,
	state              text    NOT NULL,
	pay_within_days    bigint NOT NULL,
	ship_within_days   bigint NOT NULL,
	inspection_days    bigint NOT NULL,
	due_at             timestamptz,          -- the current state's deadline
	carrier            text    NOT NULL,
	tracking_number    text    NOT NULL,
	milestones         jsonb   NOT NULL,
	resolution         text    NOT NULL,
	review_hold        boolean NOT NULL,
	review_reasons     jsonb   NOT NULL,
	holding_account_id bigint NOT NULL,
	dispute_reason     text    NOT NULL,
	created_at         timestamptz NOT NULL,
	updated_at         timestamptz NOT NULL,
	accepted_at        timestamptz,
	funded_at          timestamptz,
	shipped_at         timestamptz,
	received_at        timestamptz,
	closed_at          timestamptz,
	version            bigint NOT NULL,
	CHECK (amount_paid - released - refunded - fee_taken >= 0)
);
CREATE UNIQUE INDEX escrow_deals_external_ref ON escrow_deals (org_id, external_ref) WHERE external_ref <> '';
CREATE INDEX escrow_deals_org ON escrow_deals (org_id, id);
CREATE INDEX escrow_deals_review ON escrow_deals (id) WHERE review_hold;
CREATE INDEX escrow_deals_seller ON escrow_deals (seller_email, id);
CREATE INDEX escrow_deals_buyer ON escrow_deals (buyer_email, id);
CREATE INDEX escrow_deals_due ON escrow_deals (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE escrow_timeline (
	deal_id    text    NOT NULL REFERENCES escrow_deals (id),
	seq        bigint NOT NULL,
	at         timestamptz NOT NULL,
	actor_kind text    NOT NULL,
	actor_id   text    NOT NULL,
	action     text    NOT NULL,
	from_state text    NOT NULL,
	to_state   text    NOT NULL,
	data       jsonb,
	PRIMARY KEY (deal_id, seq)
);

CREATE TABLE escrow_messages (
	id         text    PRIMARY KEY,
	deal_id    text    NOT NULL REFERENCES escrow_deals (id),
	at         timestamptz NOT NULL,
	actor_kind text    NOT NULL,
	actor_id   text    NOT NULL,
	party      text    NOT NULL,
	body       text    NOT NULL
);
CREATE INDEX escrow_messages_deal ON escrow_messages (deal_id, at, id);

CREATE TABLE escrow_deposits (
	id           text    PRIMARY KEY, -- "dep_" + time-ordered id
	source       text    NOT NULL,
	bank_account text    NOT NULL,
	bank_ref     text    NOT NULL,
	currency     text    NOT NULL,
	amount       bigint NOT NULL CHECK (amount > 0),
	value_date   timestamptz NOT NULL,
	payer_name   text    NOT NULL,
	remittance   text    NOT NULL,
	deal_id      text    NOT NULL,    -- '' when unmatched
	status       text    NOT NULL,
	applied      bigint NOT NULL CHECK (applied >= 0 AND applied <= amount),
	review       text    NOT NULL,    -- '', 'open', 'cleared'
	note         text    NOT NULL,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	UNIQUE (bank_account, bank_ref)
);
CREATE INDEX escrow_deposits_review ON escrow_deposits (review, id) WHERE review <> '';
CREATE INDEX escrow_deposits_deal ON escrow_deposits (deal_id, id) WHERE deal_id <> '';

-- Where each payee's payouts go (one account per payee email).
CREATE TABLE escrow_bank_accounts (
	email          text        PRIMARY KEY, -- lower case
	bank_code      text        NOT NULL,
	bank_name      text        NOT NULL,
	branch_code    text        NOT NULL,
	branch_name    text        NOT NULL,
	account_type   text        NOT NULL,
	account_number text        NOT NULL,
	holder_name    text        NOT NULL,
	fingerprint    text        NOT NULL, -- bank-branch-number: one real account
	invalid        boolean     NOT NULL,
	updated_at     timestamptz NOT NULL
);
CREATE INDEX escrow_bank_accounts_fingerprint ON escrow_bank_accounts (fingerprint);
CREATE INDEX escrow_bank_accounts_payout ON escrow_bank_accounts (updated_at, email) WHERE NOT invalid;

CREATE TABLE escrow_payout_batches (
	id            text        PRIMARY KEY, -- "pb_" + time-ordered id
	currency      text        NOT NULL,
	transfer_date timestamptz NOT NULL,
	state         text        NOT NULL,
	total         bigint      NOT NULL,
	count         bigint      NOT NULL,
	created_by    text        NOT NULL,
	created_at    timestamptz NOT NULL,
	settled_at    timestamptz
);

CREATE TABLE escrow_payout_items (
	id          text        PRIMARY KEY,
	batch_id    text        NOT NULL REFERENCES escrow_payout_batches (id),
	seq         bigint      NOT NULL,
	account     jsonb       NOT NULL, -- the bank account as it was when the batch was built
	amount      bigint      NOT NULL CHECK (amount > 0),
	transfer_id bigint      NOT NULL, -- the ledger hold
	state       text        NOT NULL,
	reason      text        NOT NULL,
	updated_at  timestamptz NOT NULL,
	UNIQUE (batch_id, seq)
);
