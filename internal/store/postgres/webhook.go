package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/store"
	"github.com/kinko-pay/kinko/internal/webhook"
)

var _ webhook.Store = (*DB)(nil)

// endpointLockClass is the first key of the pg_advisory_xact_lock(int, int)
// that serialises the endpoint inserts of one organization across nodes; the
// second is hashtext(org_id). Two organizations that share a hash only wait
// for each other. ("wh" in ASCII.)
const endpointLockClass int32 = 0x7768

const (
	endpointCols = "id, org_id, url, description, event_types, secret, disabled, created_at, updated_at"
	deliveryCols = "endpoint_id, event_id, org_id, state, attempts, last_status, created_at, updated_at"
	attemptCols  = "id, endpoint_id, event_id, org_id, number, at, succeeded, status_code, latency_us, error, response_snippet"

	sqlEndpointLock = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
	// sqlEndpointInsert runs after sqlEndpointLock in the same transaction,
	// so its count (a fresh READ COMMITTED snapshot) sees every endpoint of
	// the organization that another node committed before the lock was
	// granted. No row comes back when the organization is full.
	sqlEndpointInsert = "INSERT INTO webhook_endpoints (org_id, url, description, event_types, secret, disabled, created_at, updated_at) " +
		"SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT count(*) FROM webhook_endpoints WHERE org_id = $1 AND deleted_at IS NULL) < $9 RETURNING id"
	sqlEndpointByID     = "SELECT " + endpointCols + " FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL"
	sqlEndpointList     = "SELECT " + endpointCols + " FROM webhook_endpoints WHERE org_id = $1 AND id > $2 AND deleted_at IS NULL ORDER BY id LIMIT $3"
	sqlEndpointsEnabled = "SELECT " + endpointCols + " FROM webhook_endpoints WHERE org_id = ANY($1::text[]) AND NOT disabled AND deleted_at IS NULL ORDER BY id"
	sqlEndpointUpdate   = "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, disabled = $4, updated_at = $5 " +
		"WHERE id = $6 AND org_id = $7 AND deleted_at IS NULL AND updated_at = $8"
	// sqlEndpointDelete deletes an endpoint and, in the same statement, gives
	// up its pending deliveries: no job will send them.
	sqlEndpointDelete = "WITH e AS (UPDATE webhook_endpoints SET disabled = true, secret = '', updated_at = $3, deleted_at = $3 " +
		"WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL RETURNING id), " +
		"d AS (UPDATE webhook_deliveries SET state = 'failed', updated_at = $3 WHERE endpoint_id IN (SELECT id FROM e) AND state = 'pending') " +
		"SELECT count(*) FROM e"

	// Dispatches run one at a time (sqlDispatchLock, held to the end of the
	// transaction), so each numbers its events after the last number the
	// previous one committed: seq is gap-free in commit order and a poller's
	// cursor never passes an event still to be listed (internal/event).
	// sqlEventsClaim walks events_undispatched in id order; the lock is taken
	// in a statement of its own, so the claim's snapshot sees the previous
	// dispatch committed.
	sqlDispatchLock     = "SELECT pg_advisory_xact_lock($1)"
	sqlEventsClaim      = "SELECT " + eventCols + " FROM events WHERE seq IS NULL ORDER BY id LIMIT $1 FOR UPDATE"
	sqlEventsLastSeq    = "SELECT coalesce(max(seq), 0) FROM events WHERE seq IS NOT NULL"
	sqlEventsDispatched = "UPDATE events SET seq = $2 + array_position($1::bigint[], id) WHERE id = ANY($1::bigint[])"

	sqlDeliveriesInsert = "INSERT INTO webhook_deliveries (" + deliveryCols + ") SELECT * FROM unnest(" +
		"$1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::integer[], $6::integer[], $7::timestamptz[], $8::timestamptz[]) " +
		"ON CONFLICT (endpoint_id, event_id) DO NOTHING"
	// sqlDeliveriesReplay makes each delivery pending, keeping the attempt
	// count, last status and creation time of one that exists.
	sqlDeliveriesReplay = "INSERT INTO webhook_deliveries (" + deliveryCols + ") " +
		"SELECT endpoint_id, event_id, org_id, 'pending', attempts, last_status, created_at, updated_at FROM unnest(" +
		"$1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::integer[], $6::integer[], $7::timestamptz[], $8::timestamptz[]) " +
		"AS u(" + deliveryCols + ") " +
		"ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', created_at = excluded.created_at, updated_at = excluded.updated_at"
	// sqlDeliveriesUpdate records one attempt's outcome per delivery. The
	// attempt count goes up by one and a success stays a success, both
	// judged on the row as it stands (READ COMMITTED re-reads a row another
	// job changed meanwhile), so two jobs sending one delivery at once
	// cannot lose a count or undo a success. Like the ledger's updates, its
	// generic plan on a table never analyzed hash-joins a scan of that (then
	// tiny) table; PostgreSQL replans once ANALYZE has run, and then probes
	// an index for each row.
	// A row requeued by a replay after the job read it (created_at moved)
	// stays pending unless this attempt succeeded: the replay's own job
	// sends it. A row given up meanwhile (its endpoint deleted) stays
	// failed unless this attempt succeeded.
	sqlDeliveriesUpdate = "UPDATE webhook_deliveries d SET " +
		"state = CASE WHEN d.state = 'succeeded' THEN d.state " +
		"WHEN d.state = 'failed' AND u.state <> 'succeeded' AND d.created_at = u.created_at THEN d.state WHEN u.state <> 'succeeded' AND d.created_at <> u.created_at THEN 'pending' ELSE u.state END, " +
		"attempts = d.attempts + u.tried, " +
		"last_status = CASE WHEN d.state = 'succeeded' AND u.state <> 'succeeded' THEN d.last_status ELSE u.last_status END, updated_at = u.updated_at " +
		"FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::timestamptz[], $6::timestamptz[], $7::integer[]) " +
		"AS u(endpoint_id, event_id, state, last_status, updated_at, created_at, tried) " +
		"WHERE d.endpoint_id = u.endpoint_id AND d.event_id = u.event_id"
	sqlDeliveryList = "SELECT " + deliveryCols + " FROM webhook_deliveries WHERE event_id = $1 ORDER BY endpoint_id"

	// sqlPendingEvents probes the deliveries' primary key and then the
	// events' for each id, whatever the statistics (the LATERAL … LIMIT 1
	// form of sqlTransfersByReference): a generic plan made while the tables
	// were empty must never scan events.
	sqlPendingEvents = "SELECT e.id, e.org_id, e.type, e.data, e.created_at, " +
		"d.endpoint_id, d.event_id, d.org_id, d.state, d.attempts, d.last_status, d.created_at, d.updated_at " +
		"FROM unnest($2::bigint[]) AS k(event_id) " +
		"CROSS JOIN LATERAL (SELECT * FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = k.event_id AND state = 'pending' LIMIT 1) d " +
		"CROSS JOIN LATERAL (SELECT * FROM events WHERE id = k.event_id LIMIT 1) e " +
		"ORDER BY k.event_id"

	sqlAttemptsInsert = "INSERT INTO webhook_attempts (endpoint_id, event_id, org_id, number, at, succeeded, status_code, latency_us, error, response_snippet) " +
		"SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::timestamptz[], $6::boolean[], " +
		"$7::integer[], $8::bigint[], $9::text[], $10::text[])"
)

// errEndpointsFull is the conflict of an organization that has
// webhook.EndpointsPerOrgMax endpoints already.
var errEndpointsFull = &apperr.Error{Code: apperr.CodeConflict, Param: "url",
	Message: fmt.Sprintf("an organization has at most %d webhook endpoints; delete one first", webhook.EndpointsPerOrgMax)}

// inTx runs fn in one READ COMMITTED transaction on a pooled connection,
// retried by store.Retry on serialization failures, deadlocks and unique
// violations. It is for work that enqueues River jobs, which need a pgx.Tx;
// other writes use the pipelined txn (attempt).
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return store.Retry(ctx, retryable, func() error {
		return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
	})
}

// WebhookEndpointInsert implements webhook.Store in one pipelined
// transaction: the organization's advisory lock, then the insert if the
// organization has room. Errors: conflict (url) when it has
// webhook.EndpointsPerOrgMax endpoints; invalid (description) when the
// description holds a NUL byte, which PostgreSQL text cannot.
func (db *DB) WebhookEndpointInsert(ctx context.Context, e webhook.Endpoint, keep func(idempotency.Tx, webhook.Endpoint) error) (webhook.Endpoint, error) {
	if !storable(e.Description) {
		return webhook.Endpoint{}, apperr.Invalid("description", "description must be UTF-8 text without NUL characters")
	}
	err := store.Retry(ctx, retryable, func() error {
		return db.attempt(ctx, func(t *txn) error {
			t.queue(sqlEndpointLock, endpointLockClass, e.OrgID)
			if err := t.queryRow(ctx, sqlEndpointInsert, []any{e.OrgID, e.URL, e.Description, eventTypes(e.EventTypes),
				e.Secret, e.Disabled, e.CreatedAt, e.UpdatedAt, webhook.EndpointsPerOrgMax}, &e.ID); err != nil || keep == nil {
				return err
			}
			return keep(t, e)
		})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Endpoint{}, errEndpointsFull
	}
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("postgres: insert webhook endpoint: %w", err)
	}
	return e, nil
}

// WebhookEndpointByID implements webhook.Store. Errors: not_found.
func (db *DB) WebhookEndpointByID(ctx context.Context, id int64) (webhook.Endpoint, error) {
	e, err := scanEndpoint(db.pool.QueryRow(ctx, sqlEndpointByID, id))
	if err != nil {
		return webhook.Endpoint{}, notFound(err, "webhook endpoint")
	}
	return e, nil
}

// WebhookEndpointList implements webhook.Store.
func (db *DB) WebhookEndpointList(ctx context.Context, f webhook.EndpointFilter) ([]webhook.Endpoint, error) {
	rows, err := db.pool.Query(ctx, sqlEndpointList, f.OrgID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook endpoints: %w", err)
	}
	out, err := collect(rows, scanEndpoint)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook endpoints: %w", err)
	}
	return out, nil
}

// WebhookEndpointUpdate implements webhook.Store. Only the endpoint's own
// organization's row is changed. Errors: not_found; invalid (description)
// as WebhookEndpointInsert.
func (db *DB) WebhookEndpointUpdate(ctx context.Context, e webhook.Endpoint, read time.Time) error {
	if !storable(e.Description) {
		return apperr.Invalid("description", "description must be UTF-8 text without NUL characters")
	}
	tag, err := db.pool.Exec(ctx, sqlEndpointUpdate, e.URL, e.Description, eventTypes(e.EventTypes), e.Disabled, e.UpdatedAt, e.ID, e.OrgID, read)
	if err != nil {
		return fmt.Errorf("postgres: update webhook endpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFound("webhook endpoint")
	}
	return nil
}

// WebhookEndpointDelete implements webhook.Store in one statement.
// Errors: not_found.
func (db *DB) WebhookEndpointDelete(ctx context.Context, orgID string, id int64, at time.Time) error {
	var n int
	if err := db.pool.QueryRow(ctx, sqlEndpointDelete, id, orgID, at).Scan(&n); err != nil {
		return fmt.Errorf("postgres: delete webhook endpoint: %w", err)
	}
	if n == 0 {
		return apperr.NotFound("webhook endpoint")
	}
	return nil
}

// WebhookGiveUp implements webhook.Store.
func (db *DB) WebhookGiveUp(ctx context.Context, endpointID int64, eventIDs []int64, at time.Time) error {
	_, err := db.pool.Exec(ctx, "UPDATE webhook_deliveries SET state = 'failed', updated_at = $3 "+
		"WHERE endpoint_id = $1 AND event_id = ANY($2::bigint[]) AND state = 'pending'", endpointID, eventIDs, at)
	if err != nil {
		return fmt.Errorf("postgres: give up webhook deliveries: %w", err)
	}
	return nil
}

// WebhookDispatch implements webhook.Store in one transaction: take the
// dispatch lock (nodes dispatch one after another), claim the oldest
// undispatched events, load their organizations' enabled endpoints, plan,
// then write the deliveries, number the events (seq) and insert the River jobs.
// A limit of zero or less claims nothing.
func (db *DB) WebhookDispatch(ctx context.Context, now time.Time, limit int, plan webhook.DispatchPlan) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var claimed int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlDispatchLock, dispatchLockKey); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlEventsClaim, limit)
		if err != nil {
			return err
		}
		events, err := collect(rows, scanEvent)
		claimed = len(events)
		if err != nil || len(events) == 0 {
			return err
		}
		ids, orgs := make([]int64, len(events)), make([]string, 0, 1)
		for i, e := range events {
			ids[i] = e.ID
			if !slices.Contains(orgs, e.OrgID) {
				orgs = append(orgs, e.OrgID)
			}
		}
		rows, err = tx.Query(ctx, sqlEndpointsEnabled, orgs)
		if err != nil {
			return err
		}
		endpoints, err := collect(rows, scanEndpoint)
		if err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRow(ctx, sqlEventsLastSeq).Scan(&last); err != nil {
			return err
		}
		deliveries, jobs := plan(events, endpoints, now)
		b := &pgx.Batch{}
		if len(deliveries) > 0 {
			b.Queue(sqlDeliveriesInsert, deliveryArgs(deliveries)...)
		}
		b.Queue(sqlEventsDispatched, ids, last)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return db.enqueue(ctx, tx, jobs)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: dispatch events: %w", err)
	}
	return claimed, nil
}

// WebhookReplay implements webhook.Store in one transaction.
func (db *DB) WebhookReplay(ctx context.Context, deliveries []webhook.Delivery, job webhook.DeliverArgs) error {
	deliveries = uniqueDeliveries(deliveries)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if len(deliveries) > 0 {
			if _, err := tx.Exec(ctx, sqlDeliveriesReplay, deliveryArgs(deliveries)...); err != nil {
				return err
			}
		}
		return db.enqueue(ctx, tx, []webhook.DeliverArgs{job})
	})
	if err != nil {
		return fmt.Errorf("postgres: replay webhook deliveries: %w", err)
	}
	return nil
}

// enqueue inserts one River job per DeliverArgs in tx, each allowed
// webhook.JobAttemptsMax attempts.
func (db *DB) enqueue(ctx context.Context, tx pgx.Tx, jobs []webhook.DeliverArgs) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := db.jobs.InsertManyTx(ctx, tx, store.DeliverJobs(jobs)); err != nil {
		return fmt.Errorf("enqueue %d webhook jobs: %w", len(jobs), err)
	}
	return nil
}

// WebhookPendingEvents implements webhook.Store with one statement.
func (db *DB) WebhookPendingEvents(ctx context.Context, endpointID int64, eventIDs []int64) ([]event.Event, []webhook.Delivery, error) {
	ids := slices.Compact(slices.Sorted(slices.Values(eventIDs)))
	rows, err := db.pool.Query(ctx, sqlPendingEvents, endpointID, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: pending webhook events: %w", err)
	}
	defer rows.Close()
	events, deliveries := make([]event.Event, 0, len(ids)), make([]webhook.Delivery, 0, len(ids))
	for rows.Next() {
		var e event.Event
		var d webhook.Delivery
		if err := rows.Scan(&e.ID, &e.OrgID, &e.Type, &e.Data, &e.CreatedAt,
			&d.EndpointID, &d.EventID, &d.OrgID, &d.State, &d.Attempts, &d.LastStatus, &d.CreatedAt, &d.UpdatedAt); err != nil {
			return nil, nil, fmt.Errorf("postgres: pending webhook events: %w", err)
		}
		e.CreatedAt, d.CreatedAt, d.UpdatedAt = e.CreatedAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		events, deliveries = append(events, e), append(deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("postgres: pending webhook events: %w", err)
	}
	return events, deliveries, nil
}

// WebhookRecord implements webhook.Store: both statements and COMMIT go to
// the server in one round trip. A delivery given twice counts once.
func (db *DB) WebhookRecord(ctx context.Context, attempts []webhook.Attempt, deliveries []webhook.Delivery) error {
	if len(attempts) == 0 && len(deliveries) == 0 {
		return nil
	}
	deliveries = uniqueDeliveries(deliveries)
	n := len(attempts)
	endpoints, events, numbers, statuses, latencies := make([]int64, n), make([]int64, n), make([]int32, n), make([]int32, n), make([]int64, n)
	orgs, errs, snippets := make([]string, n), make([]string, n), make([]string, n)
	at, succeeded := make([]time.Time, n), make([]bool, n)
	for i, a := range attempts {
		endpoints[i], events[i], orgs[i], numbers[i], at[i] = a.EndpointID, a.EventID, a.OrgID, int32(a.Number), a.At
		succeeded[i], statuses[i], latencies[i] = a.Succeeded, int32(a.StatusCode), a.LatencyMicros
		errs[i], snippets[i] = storableText(a.Error), storableText(a.ResponseSnippet)
	}
	m := len(deliveries)
	dEndpoints, dEvents, dStates := make([]int64, m), make([]int64, m), make([]string, m)
	dStatuses, dUpdated, dCreated, dTried := make([]int32, m), make([]time.Time, m), make([]time.Time, m), make([]int32, m)
	tried := webhook.Tried(attempts)
	for i, d := range deliveries {
		dEndpoints[i], dEvents[i], dStates[i] = d.EndpointID, d.EventID, string(d.State)
		dStatuses[i], dUpdated[i], dCreated[i], dTried[i] = int32(d.LastStatus), d.UpdatedAt, d.CreatedAt, tried[d.Key()]
	}
	err := store.Retry(ctx, retryable, func() error {
		return db.attempt(ctx, func(t *txn) error {
			if n > 0 {
				t.queue(sqlAttemptsInsert, endpoints, events, orgs, numbers, at, succeeded, statuses, latencies, errs, snippets)
			}
			if m > 0 {
				t.queue(sqlDeliveriesUpdate, dEndpoints, dEvents, dStates, dStatuses, dUpdated, dCreated, dTried)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("postgres: record webhook attempts: %w", err)
	}
	return nil
}

// WebhookAttemptList implements webhook.Store.
func (db *DB) WebhookAttemptList(ctx context.Context, f webhook.AttemptFilter) ([]webhook.Attempt, error) {
	sql, args := attemptListSQL(f)
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook attempts: %w", err)
	}
	out, err := collect(rows, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook attempts: %w", err)
	}
	return out, nil
}

// attemptListSQL returns the statement and arguments that list the attempts
// f selects. Each combination of filters is its own prepared statement,
// walking the index that leads with its columns (plan_test.go pins them).
func attemptListSQL(f webhook.AttemptFilter) (string, []any) {
	where := []string{"org_id = $1"}
	args := []any{f.OrgID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.EndpointID != 0 {
		add("endpoint_id = $%d", f.EndpointID)
	}
	if f.EventID != 0 {
		add("event_id = $%d", f.EventID)
	}
	add("id > $%d", f.AfterID)
	args = append(args, f.Limit)
	return "SELECT " + attemptCols + " FROM webhook_attempts WHERE " + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY id LIMIT $%d", len(args)), args
}

// WebhookDeliveryList implements webhook.Store.
func (db *DB) WebhookDeliveryList(ctx context.Context, eventID int64) ([]webhook.Delivery, error) {
	rows, err := db.pool.Query(ctx, sqlDeliveryList, eventID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook deliveries: %w", err)
	}
	out, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook deliveries: %w", err)
	}
	return out, nil
}

// deliveryArgs returns the eight columns of deliveryCols, in order, as arrays.
func deliveryArgs(ds []webhook.Delivery) []any {
	n := len(ds)
	endpoints, events, orgs, states := make([]int64, n), make([]int64, n), make([]string, n), make([]string, n)
	attempts, statuses, created, updated := make([]int32, n), make([]int32, n), make([]time.Time, n), make([]time.Time, n)
	for i, d := range ds {
		endpoints[i], events[i], orgs[i], states[i] = d.EndpointID, d.EventID, d.OrgID, string(d.State)
		attempts[i], statuses[i], created[i], updated[i] = int32(d.Attempts), int32(d.LastStatus), d.CreatedAt, d.UpdatedAt
	}
	return []any{endpoints, events, orgs, states, attempts, statuses, created, updated}
}

// uniqueDeliveries returns ds ordered by (endpoint, event), keeping the last
// of any repeated pair: one statement may touch a row only once, and
// transactions that lock rows in one order cannot deadlock on them.
func uniqueDeliveries(ds []webhook.Delivery) []webhook.Delivery {
	key := func(a, b webhook.Delivery) int {
		return cmp.Or(cmp.Compare(a.EndpointID, b.EndpointID), cmp.Compare(a.EventID, b.EventID))
	}
	out := slices.Clone(ds)
	slices.SortStableFunc(out, key)
	// Keep the last of each run: compact from the end.
	slices.Reverse(out)
	out = slices.CompactFunc(out, func(a, b webhook.Delivery) bool { return key(a, b) == 0 })
	slices.Reverse(out)
	return out
}

// eventTypes is the value stored for an endpoint's event types: never NULL.
func eventTypes(types []string) []string {
	if types == nil {
		return []string{}
	}
	return types
}

// storableText returns s with what PostgreSQL text cannot hold (NUL bytes,
// invalid UTF-8) replaced by U+FFFD. Attempt errors and response snippets
// come from receivers; one stray byte must not fail the record of a whole job.
func storableText(s string) string {
	if storable(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

func scanEndpoint(r pgx.Row) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	err := r.Scan(&e.ID, &e.OrgID, &e.URL, &e.Description, &e.EventTypes, &e.Secret, &e.Disabled, &e.CreatedAt, &e.UpdatedAt)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, err
}

func scanDelivery(r pgx.Row) (webhook.Delivery, error) {
	var d webhook.Delivery
	err := r.Scan(&d.EndpointID, &d.EventID, &d.OrgID, &d.State, &d.Attempts, &d.LastStatus, &d.CreatedAt, &d.UpdatedAt)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, err
}

func scanAttempt(r pgx.Row) (webhook.Attempt, error) {
	var a webhook.Attempt
	err := r.Scan(&a.ID, &a.EndpointID, &a.EventID, &a.OrgID, &a.Number, &a.At, &a.Succeeded, &a.StatusCode,
		&a.LatencyMicros, &a.Error, &a.ResponseSnippet)
	a.At = a.At.UTC()
	return a, err
}
