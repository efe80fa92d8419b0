-- Events (the outbox, internal/event) and webhook delivery (internal/webhook),
-- the same logical schema as store/sqlite's 0004_events_webhooks.sql. Only
-- plain tables, btree indexes (one partial) and arrays: nothing that
-- PostgreSQL-compatible distributed databases reject. No foreign keys, as in
-- 0001: events are written on the ledger's hot path, and every row here is
-- written by the adapter from rows it has just read.

-- One row per committed change, written in the ledger's transaction. data is
-- the encoder's JSON byte for byte (text, not jsonb, which would reorder keys
-- and drop spaces). seq is NULL until the dispatcher has planned the event's
-- deliveries; it then numbers the event in the order events become listable
-- (internal/event): dispatches take an advisory lock, so they number one
-- after another and a poller's cursor never passes an event still to come.
-- The partial index on undispatched ids is the dispatcher's queue.
CREATE TABLE events (
	id         bigserial   PRIMARY KEY,
	org_id     text        NOT NULL,
	type       text        NOT NULL,
	data       text        NOT NULL,
	created_at timestamptz NOT NULL,
	seq        bigint
);
CREATE UNIQUE INDEX events_seq ON events (seq) WHERE seq IS NOT NULL;
CREATE INDEX events_org_seq ON events (org_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX events_org_type_seq ON events (org_id, type, seq) WHERE seq IS NOT NULL; -- a page of one type never walks the others
CREATE INDEX events_undispatched ON events (id) WHERE seq IS NULL;

CREATE TABLE webhook_endpoints (
	id          bigserial   PRIMARY KEY,
	org_id      text        NOT NULL,
	url         text        NOT NULL,
	description text        NOT NULL,
	event_types text[]      NOT NULL, -- event types, or just '*' for all
	secret      text        NOT NULL,
	disabled    boolean     NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, id);

-- One row per (endpoint, event) to deliver; state is pending, succeeded or failed.
CREATE TABLE webhook_deliveries (
	endpoint_id bigint      NOT NULL,
	event_id    bigint      NOT NULL,
	org_id      text        NOT NULL,
	state       text        NOT NULL,
	attempts    integer     NOT NULL,
	last_status integer     NOT NULL, -- HTTP status of the last attempt; 0 when none
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- The attempt log: one row per POST, never updated.
CREATE TABLE webhook_attempts (
	id               bigserial   PRIMARY KEY,
	endpoint_id      bigint      NOT NULL,
	event_id         bigint      NOT NULL,
	org_id           text        NOT NULL,
	number           integer     NOT NULL,
	at               timestamptz NOT NULL,
	succeeded        boolean     NOT NULL,
	status_code      integer     NOT NULL, -- 0 when no response arrived
	latency_us       bigint      NOT NULL,
	error            text        NOT NULL,
	response_snippet text        NOT NULL
);
CREATE INDEX webhook_attempts_org ON webhook_attempts (org_id, id);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (org_id, endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (org_id, event_id, id);
