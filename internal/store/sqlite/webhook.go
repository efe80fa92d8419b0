package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/store"
	"github.com/kinko-pay/kinko/internal/webhook"
)

var _ webhook.Store = (*DB)(nil)

const (
	endpointCols = "id, org_id, url, description, event_types, secret, disabled, created_at, updated_at"
	deliveryCols = "endpoint_id, event_id, org_id, state, attempts, last_status, created_at, updated_at"
	attemptCols  = "id, endpoint_id, event_id, org_id, number, at, succeeded, status_code, latency_us, error, response_snippet"
)

// Statements of WebhookRecord, prepared with the ledger's (see statements):
// a job records up to webhook.DeliverBatchMax outcomes, at thousands of
// deliveries a second over all jobs, so each table costs one prepared
// statement per job, not one per row.
var (
	webhookAttemptsInsertSQL = "INSERT INTO webhook_attempts (" + strings.TrimPrefix(attemptCols, "id, ") + ") " +
		"SELECT " + jsonCols(10) + " FROM json_each(?) ORDER BY key"
	// A row requeued by a replay after the job read it (created_at moved)
	// stays pending unless this attempt succeeded: the replay's own job
	// sends it. A row given up meanwhile (its endpoint deleted) stays
	// failed unless this attempt succeeded.
	webhookDeliveriesUpdateSQL = "UPDATE webhook_deliveries SET " +
		"state = CASE WHEN webhook_deliveries.state = 'succeeded' THEN 'succeeded' " +
		"WHEN webhook_deliveries.state = 'failed' AND v.state <> 'succeeded' AND webhook_deliveries.created_at = v.created_at THEN 'failed' " +
		"WHEN v.state <> 'succeeded' AND webhook_deliveries.created_at <> v.created_at THEN 'pending' ELSE v.state END, " +
		"attempts = webhook_deliveries.attempts + v.tried, " +
		"last_status = CASE WHEN webhook_deliveries.state = 'succeeded' AND v.state <> 'succeeded' THEN webhook_deliveries.last_status ELSE v.last_status END, " +
		"updated_at = v.updated_at " +
		"FROM (SELECT value ->> 0 AS endpoint_id, value ->> 1 AS event_id, value ->> 2 AS state, value ->> 3 AS attempts, " +
		"value ->> 4 AS last_status, value ->> 5 AS updated_at, value ->> 6 AS created_at, value ->> 7 AS tried FROM json_each(?)) AS v " +
		"WHERE webhook_deliveries.endpoint_id = v.endpoint_id AND webhook_deliveries.event_id = v.event_id"
)

// deliveriesInsertSQL inserts one JSON array of deliveries (deliveryCols);
// onConflict says what becomes of a delivery that exists. (SQLite needs the
// WHERE before an upsert's ON CONFLICT when the rows come from a SELECT.)
func deliveriesInsertSQL(onConflict string) string {
	return "INSERT INTO webhook_deliveries (" + deliveryCols + ") SELECT " + jsonCols(8) + " FROM json_each(?) WHERE true " +
		"ON CONFLICT (endpoint_id, event_id) " + onConflict
}

func scanEndpoint(s scanner) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	var types string
	var created, updated int64
	if err := s.Scan(&e.ID, &e.OrgID, &e.URL, &e.Description, &types, &e.Secret, &e.Disabled, &created, &updated); err != nil {
		return webhook.Endpoint{}, err
	}
	if err := json.Unmarshal([]byte(types), &e.EventTypes); err != nil {
		return webhook.Endpoint{}, fmt.Errorf("sqlite: webhook endpoint %d event types: %w", e.ID, err)
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return e, nil
}

// eventTypesJSON renders an endpoint's event types as the JSON array stored.
func eventTypesJSON(types []string) string {
	if types == nil {
		return "[]"
	}
	return stringsJSON(types)
}

// WebhookEndpointInsert implements webhook.Store: the count of the
// organization's endpoints and the insert share one write transaction, so two
// concurrent inserts cannot both pass the limit.
//
// Errors: conflict (url) at webhook.EndpointsPerOrgMax endpoints.
func (db *DB) WebhookEndpointInsert(ctx context.Context, e webhook.Endpoint, keep func(idempotency.Tx, webhook.Endpoint) error) (webhook.Endpoint, error) {
	err := db.transact(ctx, func(t *txn) error {
		tx := t.tx
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM webhook_endpoints WHERE org_id = ? AND deleted_at IS NULL", e.OrgID).Scan(&n); err != nil {
			return err
		}
		if n >= webhook.EndpointsPerOrgMax {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "url",
				Message: fmt.Sprintf("an organization has at most %d webhook endpoints; delete one first", webhook.EndpointsPerOrgMax)}
		}
		if err := tx.QueryRowContext(ctx, "INSERT INTO webhook_endpoints ("+strings.TrimPrefix(endpointCols, "id, ")+") "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			e.OrgID, e.URL, e.Description, eventTypesJSON(e.EventTypes), e.Secret, e.Disabled, micros(e.CreatedAt), micros(e.UpdatedAt)).
			Scan(&e.ID); err != nil || keep == nil {
			return err
		}
		return keep(t, e)
	})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("sqlite: insert webhook endpoint: %w", err)
	}
	return e, nil
}

// WebhookEndpointByID implements webhook.Store. Errors: not_found.
func (db *DB) WebhookEndpointByID(ctx context.Context, id int64) (webhook.Endpoint, error) {
	e, err := scanEndpoint(db.read.QueryRowContext(ctx, "SELECT "+endpointCols+" FROM webhook_endpoints WHERE id = ? AND deleted_at IS NULL", id))
	if err != nil {
		return webhook.Endpoint{}, notFound(err, "webhook endpoint")
	}
	return e, nil
}

// WebhookEndpointList implements webhook.Store: one page of an
// organization's endpoints by ascending id.
func (db *DB) WebhookEndpointList(ctx context.Context, f webhook.EndpointFilter) ([]webhook.Endpoint, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+endpointCols+" FROM webhook_endpoints WHERE org_id = ? AND id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?",
		f.OrgID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhook endpoints: %w", err)
	}
	return collect(rows, scanEndpoint, "sqlite: scan webhook endpoint")
}

// WebhookEndpointUpdate implements webhook.Store. An endpoint of another
// organization than e.OrgID is not found.
//
// Errors: not_found.
func (db *DB) WebhookEndpointUpdate(ctx context.Context, e webhook.Endpoint, read time.Time) error {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, disabled = ?, updated_at = ? "+
			"WHERE id = ? AND org_id = ? AND deleted_at IS NULL AND updated_at = ?", e.URL, e.Description, eventTypesJSON(e.EventTypes), e.Disabled,
			micros(e.UpdatedAt), e.ID, e.OrgID, micros(read))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: update webhook endpoint: %w", err)
	}
	if n == 0 {
		return apperr.NotFound("webhook endpoint")
	}
	return nil
}

// WebhookEndpointDelete implements webhook.Store in one write
// transaction. Errors: not_found.
func (db *DB) WebhookEndpointDelete(ctx context.Context, orgID string, id int64, at time.Time) error {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_endpoints SET disabled = 1, secret = '', updated_at = ?, deleted_at = ? "+
			"WHERE id = ? AND org_id = ? AND deleted_at IS NULL", micros(at), micros(at), id, orgID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE webhook_deliveries SET state = ?, updated_at = ? WHERE endpoint_id = ? AND state = ?",
			string(webhook.DeliveryFailed), micros(at), id, string(webhook.DeliveryPending))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete webhook endpoint: %w", err)
	}
	if n == 0 {
		return apperr.NotFound("webhook endpoint")
	}
	return nil
}

// WebhookGiveUp implements webhook.Store.
func (db *DB) WebhookGiveUp(ctx context.Context, endpointID int64, eventIDs []int64, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE webhook_deliveries SET state = 'failed', updated_at = ? "+
			"WHERE endpoint_id = ? AND event_id IN (SELECT value FROM json_each(?)) AND state = 'pending'", micros(at), endpointID, idsJSON(eventIDs))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: give up webhook deliveries: %w", err)
	}
	return nil
}

// WebhookDispatch implements webhook.Store in one write transaction, whose
// BEGIN IMMEDIATE lock excludes every other dispatcher on the file: no event
// is claimed twice, so there is nothing to skip.
func (db *DB) WebhookDispatch(ctx context.Context, now time.Time, limit int, plan webhook.DispatchPlan) (int, error) {
	var claimed int
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		claimed = 0
		rows, err := tx.QueryContext(ctx, "SELECT "+eventCols+" FROM events WHERE seq IS NULL ORDER BY id LIMIT ?", limit)
		if err != nil {
			return fmt.Errorf("claim events: %w", err)
		}
		events, err := collect(rows, scanEvent, "scan event")
		if err != nil || len(events) == 0 {
			return err
		}
		var orgs []string
		seen := map[string]bool{}
		for _, e := range events {
			if !seen[e.OrgID] {
				seen[e.OrgID] = true
				orgs = append(orgs, e.OrgID)
			}
		}
		rows, err = tx.QueryContext(ctx, "SELECT "+endpointCols+" FROM webhook_endpoints "+
			"WHERE org_id IN (SELECT value FROM json_each(?)) AND disabled = 0 AND deleted_at IS NULL ORDER BY id", stringsJSON(orgs))
		if err != nil {
			return fmt.Errorf("read endpoints: %w", err)
		}
		endpoints, err := collect(rows, scanEndpoint, "scan webhook endpoint")
		if err != nil {
			return err
		}
		deliveries, jobs := plan(events, endpoints, now)
		if err := insertDeliveries(ctx, tx, deliveries, "DO NOTHING"); err != nil {
			return err
		}
		if err := db.enqueueJobs(ctx, tx, store.DeliverJobs(jobs)); err != nil {
			return err
		}
		// Number the claimed events after the last number given; this
		// transaction holds SQLite's one write lock, so numbers are given
		// one dispatch after another.
		var last int64
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM events WHERE seq IS NOT NULL").Scan(&last); err != nil {
			return fmt.Errorf("read the last event seq: %w", err)
		}
		ids := make([]int64, len(events))
		for i, e := range events {
			ids[i] = e.ID
		}
		res, err := tx.ExecContext(ctx, "UPDATE events SET seq = ? + j.key + 1 FROM json_each(?) AS j WHERE events.id = j.value", last, idsJSON(ids))
		if err != nil {
			return fmt.Errorf("mark events dispatched: %w", err)
		}
		if err := expectRows(res, len(ids), "mark events dispatched"); err != nil {
			return err
		}
		claimed = len(events)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: dispatch events: %w", err)
	}
	return claimed, nil
}

// insertDeliveries inserts deliveries in one statement; onConflict is the
// upsert's action on an existing (endpoint, event) row.
func insertDeliveries(ctx context.Context, tx *sql.Tx, deliveries []webhook.Delivery, onConflict string) error {
	if len(deliveries) == 0 {
		return nil
	}
	var j jsonRows
	for _, d := range deliveries {
		j.row().int(d.EndpointID).int(d.EventID).str(d.OrgID).str(string(d.State)).int(int64(d.Attempts)).int(int64(d.LastStatus)).
			int(micros(d.CreatedAt)).int(micros(d.UpdatedAt))
	}
	if _, err := tx.ExecContext(ctx, deliveriesInsertSQL(onConflict), j.String()); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	return nil
}

// WebhookReplay implements webhook.Store: every given delivery becomes
// pending, a new one as given and an existing one keeping its attempts, last
// status and creation time; job is enqueued in the same transaction.
func (db *DB) WebhookReplay(ctx context.Context, deliveries []webhook.Delivery, job webhook.DeliverArgs) error {
	pending := make([]webhook.Delivery, len(deliveries))
	for i, d := range deliveries {
		d.State = webhook.DeliveryPending
		pending[i] = d
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := insertDeliveries(ctx, tx, pending, "DO UPDATE SET state = excluded.state, created_at = excluded.created_at, updated_at = excluded.updated_at"); err != nil {
			return err
		}
		return db.enqueueJobs(ctx, tx, store.DeliverJobs([]webhook.DeliverArgs{job}))
	})
	if err != nil {
		return fmt.Errorf("sqlite: replay deliveries: %w", err)
	}
	return nil
}

// WebhookPendingEvents implements webhook.Store. eventIDs is one job's, at
// most webhook.DeliverBatchMax.
func (db *DB) WebhookPendingEvents(ctx context.Context, endpointID int64, eventIDs []int64) ([]event.Event, []webhook.Delivery, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT e.id, e.org_id, e.type, e.data, e.created_at, "+
		"d.endpoint_id, d.event_id, d.org_id, d.state, d.attempts, d.last_status, d.created_at, d.updated_at "+
		"FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "+
		"WHERE d.endpoint_id = ? AND d.event_id IN (SELECT value FROM json_each(?)) AND d.state = 'pending' ORDER BY d.event_id",
		endpointID, idsJSON(eventIDs))
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: pending webhook events: %w", err)
	}
	type pair struct {
		e event.Event
		d webhook.Delivery
	}
	pairs, err := collect(rows, func(s scanner) (pair, error) {
		var p pair
		var created int64
		var d deliveryScan
		err := s.Scan(append([]any{&p.e.ID, &p.e.OrgID, &p.e.Type, &p.e.Data, &created}, d.dest()...)...)
		p.e.CreatedAt, p.d = fromMicros(created), d.delivery()
		return p, err
	}, "sqlite: scan pending webhook event")
	if err != nil {
		return nil, nil, err
	}
	events := make([]event.Event, len(pairs))
	deliveries := make([]webhook.Delivery, len(pairs))
	for i, p := range pairs {
		events[i], deliveries[i] = p.e, p.d
	}
	return events, deliveries, nil
}

// deliveryScan holds one row of deliveryCols as scanned.
type deliveryScan struct {
	d                webhook.Delivery
	state            string
	created, updated int64
}

func (s *deliveryScan) dest() []any {
	return []any{&s.d.EndpointID, &s.d.EventID, &s.d.OrgID, &s.state, &s.d.Attempts, &s.d.LastStatus, &s.created, &s.updated}
}

func (s *deliveryScan) delivery() webhook.Delivery {
	d := s.d
	d.State, d.CreatedAt, d.UpdatedAt = webhook.DeliveryState(s.state), fromMicros(s.created), fromMicros(s.updated)
	return d
}

func scanDelivery(s scanner) (webhook.Delivery, error) {
	var d deliveryScan
	err := s.Scan(d.dest()...)
	return d.delivery(), err
}

// WebhookRecord implements webhook.Store: one job's attempts and outcomes,
// in one transaction of two prepared statements. A delivery that does not
// exist is an error and nothing is recorded.
func (db *DB) WebhookRecord(ctx context.Context, attempts []webhook.Attempt, deliveries []webhook.Delivery) error {
	st, err := db.prepare(ctx)
	if err != nil {
		return err
	}
	var aj, dj jsonRows
	for _, a := range attempts {
		aj.row().int(a.EndpointID).int(a.EventID).str(a.OrgID).int(int64(a.Number)).int(micros(a.At)).int(boolInt(a.Succeeded)).
			int(int64(a.StatusCode)).int(a.LatencyMicros).str(a.Error).str(a.ResponseSnippet)
	}
	tried := webhook.Tried(attempts)
	for _, d := range deliveries {
		dj.row().int(d.EndpointID).int(d.EventID).str(string(d.State)).int(int64(d.Attempts)).int(int64(d.LastStatus)).int(micros(d.UpdatedAt)).
			int(micros(d.CreatedAt)).int(int64(tried[d.Key()]))
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		if len(attempts) > 0 {
			res, err := tx.StmtContext(ctx, st.webhookAttemptsInsert).ExecContext(ctx, aj.String())
			if err != nil {
				return fmt.Errorf("insert attempts: %w", err)
			}
			if err := expectRows(res, len(attempts), "insert attempts"); err != nil {
				return err
			}
		}
		if len(deliveries) > 0 {
			res, err := tx.StmtContext(ctx, st.webhookDeliveriesUpdate).ExecContext(ctx, dj.String())
			if err != nil {
				return fmt.Errorf("update deliveries: %w", err)
			}
			if err := expectRows(res, len(deliveries), "update deliveries"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: record webhook attempts: %w", err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func scanAttempt(s scanner) (webhook.Attempt, error) {
	var a webhook.Attempt
	var at int64
	err := s.Scan(&a.ID, &a.EndpointID, &a.EventID, &a.OrgID, &a.Number, &at, &a.Succeeded, &a.StatusCode, &a.LatencyMicros, &a.Error, &a.ResponseSnippet)
	a.At = fromMicros(at)
	return a, err
}

// WebhookAttemptList implements webhook.Store: one page of an
// organization's attempts by ascending id, of one endpoint and one event
// when those are set.
func (db *DB) WebhookAttemptList(ctx context.Context, f webhook.AttemptFilter) ([]webhook.Attempt, error) {
	where := []string{"org_id = ?", "id > ?"}
	args := []any{f.OrgID, f.AfterID}
	if f.EndpointID != 0 {
		where = append(where, "endpoint_id = ?")
		args = append(args, f.EndpointID)
	}
	if f.EventID != 0 {
		where = append(where, "event_id = ?")
		args = append(args, f.EventID)
	}
	args = append(args, f.Limit)
	rows, err := db.read.QueryContext(ctx, "SELECT "+attemptCols+" FROM webhook_attempts WHERE "+strings.Join(where, " AND ")+" ORDER BY id LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhook attempts: %w", err)
	}
	return collect(rows, scanAttempt, "sqlite: scan webhook attempt")
}

// WebhookDeliveryList implements webhook.Store: the deliveries of one event
// by endpoint id, at most webhook.EndpointsPerOrgMax (one per endpoint of
// the event's organization).
func (db *DB) WebhookDeliveryList(ctx context.Context, eventID int64) ([]webhook.Delivery, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE event_id = ? ORDER BY endpoint_id", eventID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhook deliveries: %w", err)
	}
	return collect(rows, scanDelivery, "sqlite: scan webhook delivery")
}
