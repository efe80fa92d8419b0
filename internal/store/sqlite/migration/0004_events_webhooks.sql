-- Events (the outbox, internal/event) and their webhook deliveries
-- (internal/webhook). Times are unix microseconds (UTC).
--
-- Ids are AUTOINCREMENT so that an id is never used twice, even after the
-- newest rows are deleted: clients page events and attempts by id, and
-- deliveries and River jobs refer to events and endpoints by id.

-- An event's data is the JSON object exactly as its producer rendered it,
-- byte for byte. seq is NULL until the dispatcher has recorded the event's
-- deliveries and enqueued their jobs; it then numbers the event in the order
-- events become listable (internal/event), which is the order pollers page in.
CREATE TABLE events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id     TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	data       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	seq        INTEGER
);
CREATE UNIQUE INDEX events_seq ON events (seq) WHERE seq IS NOT NULL;
CREATE INDEX events_org_seq ON events (org_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX events_org_type_seq ON events (org_id, type, seq) WHERE seq IS NOT NULL; -- a page of one type never walks the others
CREATE INDEX events_undispatched ON events (id) WHERE seq IS NULL; -- the dispatcher's queue

CREATE TABLE webhook_endpoints (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id      TEXT    NOT NULL,
	url         TEXT    NOT NULL,
	description TEXT    NOT NULL,
	event_types TEXT    NOT NULL, -- JSON array of event types, or ["*"]
	secret      TEXT    NOT NULL,
	disabled    INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, id);

-- One event's delivery to one endpoint. state: pending, succeeded, failed.
CREATE TABLE webhook_deliveries (
	endpoint_id INTEGER NOT NULL,
	event_id    INTEGER NOT NULL,
	org_id      TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL,
	last_status INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- The log of every POST of an event to an endpoint.
CREATE TABLE webhook_attempts (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	endpoint_id      INTEGER NOT NULL,
	event_id         INTEGER NOT NULL,
	org_id           TEXT    NOT NULL,
	number           INTEGER NOT NULL,
	at               INTEGER NOT NULL,
	succeeded        INTEGER NOT NULL,
	status_code      INTEGER NOT NULL,
	latency_us       INTEGER NOT NULL,
	error            TEXT    NOT NULL,
	response_snippet TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_org ON webhook_attempts (org_id, id);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (org_id, endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (org_id, event_id, id);
