package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/event"
)

var _ event.Store = (*DB)(nil)

const (
	eventCols = "id, org_id, type, data, created_at, coalesce(seq, 0)"

	// sqlEventsInsert takes the ids from the events sequence, in the order
	// of the arrays.
	sqlEventsInsert = "INSERT INTO events (org_id, type, data, created_at) " +
		"SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
	sqlEventByID = "SELECT " + eventCols + " FROM events WHERE id = $1"
	// Each list walks its index (events_org_seq or events_org_type_seq)
	// from the cursor and stops after limit rows (plan_test.go pins them).
	// seq > $2 with $2 ≥ 0 implies seq IS NOT NULL, but the partial indexes
	// need the predicate spelled out for a generic plan to use them.
	sqlEventList       = "SELECT " + eventCols + " FROM events WHERE org_id = $1 AND seq IS NOT NULL AND seq > $2 ORDER BY seq LIMIT $3"
	sqlEventListByType = "SELECT " + eventCols + " FROM events WHERE org_id = $1 AND seq IS NOT NULL AND seq > $2 AND type = $3 ORDER BY seq LIMIT $4"
)

// EventsInsert implements ledger.Tx; the insert is sent with the next
// statement of the transaction.
func (t *txn) EventsInsert(_ context.Context, events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	orgs, types := make([]string, n), make([]string, n)
	data, created := make([][]byte, n), make([]time.Time, n)
	for i, e := range events {
		orgs[i], types[i], data[i], created[i] = e.OrgID, e.Type, e.Data, e.CreatedAt
	}
	t.queue(sqlEventsInsert, orgs, types, data, created)
	return nil
}

// EventByID implements event.Store. Errors: not_found.
func (db *DB) EventByID(ctx context.Context, id int64) (event.Event, error) {
	e, err := scanEvent(db.pool.QueryRow(ctx, sqlEventByID, id))
	if err != nil {
		return event.Event{}, notFound(err, "event")
	}
	return e, nil
}

// EventList implements event.Store.
func (db *DB) EventList(ctx context.Context, f event.Filter) ([]event.Event, error) {
	var rows pgx.Rows
	var err error
	if f.Type == "" {
		rows, err = db.pool.Query(ctx, sqlEventList, f.OrgID, f.AfterSeq, f.Limit)
	} else {
		rows, err = db.pool.Query(ctx, sqlEventListByType, f.OrgID, f.AfterSeq, f.Type, f.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	out, err := collect(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	return out, nil
}

// scanEvent scans eventCols.
func scanEvent(r pgx.Row) (event.Event, error) {
	var e event.Event
	if err := r.Scan(&e.ID, &e.OrgID, &e.Type, &e.Data, &e.CreatedAt, &e.Seq); err != nil {
		return event.Event{}, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, nil
}
