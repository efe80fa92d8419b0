package sqlite

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/event"
)

var _ event.Store = (*DB)(nil)

const eventCols = "id, org_id, type, data, created_at, coalesce(seq, 0)"

// eventsInsertSQL inserts the events of one JSON array of [org_id, type,
// data, created_at] rows in array order, so their ids (AUTOINCREMENT)
// increase in the order the producer gave them. Data travels as a JSON
// string and comes out of ->> unescaped: the stored text is the producer's
// bytes exactly.
var eventsInsertSQL = "INSERT INTO events (org_id, type, data, created_at) SELECT " + jsonCols(4) + " FROM json_each(?) ORDER BY key"

// EventsInsert implements ledger.Tx with one prepared statement for all the
// batch's events, as TransfersInsert does for its transfers.
func (t *txn) EventsInsert(ctx context.Context, events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	var j jsonRows
	for _, e := range events {
		j.row().str(e.OrgID).str(e.Type).str(string(e.Data)).int(micros(e.CreatedAt))
	}
	res, err := t.exec(ctx, t.st.eventsInsert, j.String())
	if err != nil {
		return fmt.Errorf("sqlite: insert events: %w", err)
	}
	return expectRows(res, len(events), "insert events")
}

func scanEvent(s scanner) (event.Event, error) {
	var e event.Event
	var created int64
	err := s.Scan(&e.ID, &e.OrgID, &e.Type, &e.Data, &created, &e.Seq)
	e.CreatedAt = fromMicros(created)
	return e, err
}

// EventByID implements event.Store. Errors: not_found.
func (db *DB) EventByID(ctx context.Context, id int64) (event.Event, error) {
	e, err := scanEvent(db.read.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE id = ?", id))
	if err != nil {
		return event.Event{}, notFound(err, "event")
	}
	return e, nil
}

// EventList implements event.Store: one page of an organization's
// dispatched events by ascending seq, of one type when f.Type is set.
func (db *DB) EventList(ctx context.Context, f event.Filter) ([]event.Event, error) {
	q := "SELECT " + eventCols + " FROM events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?"
	args := []any{f.OrgID, f.AfterSeq, f.Limit}
	if f.Type != "" {
		q = "SELECT " + eventCols + " FROM events WHERE org_id = ? AND type = ? AND seq > ? ORDER BY seq LIMIT ?"
		args = []any{f.OrgID, f.Type, f.AfterSeq, f.Limit}
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	return collect(rows, scanEvent, "sqlite: scan event")
}
