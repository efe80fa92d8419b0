package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/billing"
)

var (
	_ billing.Store = (*DB)(nil)
	_ billing.Tx    = (*txn)(nil)
)

const (
	billingCustomerCols = "id, org_id, reference, currency, mode, credit_limit, account_id, created_at, updated_at, version"
	reservationCols     = "id, auth_number, org_id, customer_id, reference, currency, amount, authorized, reserved, charged, released, " +
		"state, expires_at, hold_transfer_id, events, created_at, updated_at, version, request_key"
	reservationEventCols = "reservation_id, seq, at, kind, amount, released, reference, transfer_id"
	chargeCols           = "id, org_id, customer_id, reservation_id, auth_number, reference, amount, final, transfer_id, created_at"
)

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func scanBillingCustomer(s scanner) (billing.Customer, error) {
	var c billing.Customer
	var mode string
	var created, updated int64
	err := s.Scan(&c.ID, &c.OrgID, &c.Reference, &c.Currency, &mode, &c.CreditLimit, &c.AccountID, &created, &updated, &c.Version)
	c.Mode, c.CreatedAt, c.UpdatedAt = billing.Mode(mode), fromMicros(created), fromMicros(updated)
	return c, err
}

func billingCustomerArgs(c billing.Customer) []any {
	return []any{c.ID, c.OrgID, c.Reference, c.Currency, string(c.Mode), c.CreditLimit, c.AccountID, micros(c.CreatedAt), micros(c.UpdatedAt), c.Version}
}

func scanReservation(s scanner) (billing.Reservation, error) {
	var r billing.Reservation
	var state string
	var expires, created, updated int64
	err := s.Scan(&r.ID, &r.AuthNumber, &r.OrgID, &r.CustomerID, &r.Reference, &r.Currency, &r.Amount, &r.Authorized, &r.Reserved,
		&r.Charged, &r.Released, &state, &expires, &r.HoldTransferID, &r.Events, &created, &updated, &r.Version, &r.RequestKey)
	r.State, r.ExpiresAt, r.CreatedAt, r.UpdatedAt = billing.State(state), fromMicros(expires), fromMicros(created), fromMicros(updated)
	return r, err
}

func reservationArgs(r billing.Reservation) []any {
	return []any{r.ID, r.AuthNumber, r.OrgID, r.CustomerID, r.Reference, r.Currency, r.Amount, r.Authorized, r.Reserved,
		r.Charged, r.Released, string(r.State), micros(r.ExpiresAt), r.HoldTransferID, r.Events, micros(r.CreatedAt), micros(r.UpdatedAt), r.Version, r.RequestKey}
}

func scanReservationEvent(s scanner) (billing.ReservationEvent, error) {
	var e billing.ReservationEvent
	var at int64
	var kind string
	err := s.Scan(&e.ReservationID, &e.Seq, &at, &kind, &e.Amount, &e.Released, &e.Reference, &e.TransferID)
	e.At, e.Kind = fromMicros(at), billing.EventKind(kind)
	return e, err
}

func scanCharge(s scanner) (billing.Charge, error) {
	var c billing.Charge
	var created int64
	err := s.Scan(&c.ID, &c.OrgID, &c.CustomerID, &c.ReservationID, &c.AuthNumber, &c.Reference, &c.Amount, &c.Final, &c.TransferID, &created)
	c.CreatedAt = fromMicros(created)
	return c, err
}

func uniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

// BillingTransact implements billing.Store. fn runs in the next group
// write (groupCommit): in its own savepoint of a transaction shared with
// other billing operations and idempotency records, committed with one
// fsync for all of them. SQLite has one writer, so the operations were
// serial before as well; what the group saves is a commit per operation.
// The write lock serialises every billing writer, so a customer's limit is
// checked and its hold written with no other writer in between. fn's
// statements run under a context its caller cannot cancel (an interrupted
// write would roll back the whole shared transaction); if ctx ends while
// fn waits for its turn, fn does not run.
func (db *DB) BillingTransact(ctx context.Context, fn func(context.Context, billing.Tx) error) error {
	st, err := db.prepare(ctx)
	if err != nil {
		return err
	}
	// The wait is detached too: the answer is always what happened to fn
	// (not run, refused, or committed), never a guess made on cancellation.
	detached := context.WithoutCancel(ctx)
	return db.group.Do(detached, func(_ context.Context, tx *sql.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(detached, &txn{st: st, tx: tx, db: db})
	})
}

// CustomerByID implements billing.Store. Errors: not_found.
func (db *DB) CustomerByID(ctx context.Context, id string) (billing.Customer, error) {
	c, err := scanBillingCustomer(db.read.QueryRowContext(ctx, "SELECT "+billingCustomerCols+" FROM billing_customers WHERE id = ?", id))
	if err != nil {
		return c, notFound(err, "customer")
	}
	return c, nil
}

// CustomerList implements billing.Store.
func (r reads) CustomerList(ctx context.Context, f billing.CustomerFilter) ([]billing.Customer, error) {
	q := "SELECT " + billingCustomerCols + " FROM billing_customers WHERE true"
	var args []any
	if f.OrgID != "" {
		q += " AND org_id = ?"
		args = append(args, f.OrgID)
	}
	if f.AfterID != "" {
		q += " AND id < ?"
		args = append(args, f.AfterID)
	}
	rows, err := r.q.QueryContext(ctx, q+" ORDER BY id DESC LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list billing customers: %w", err)
	}
	return collect(rows, scanBillingCustomer, "sqlite: scan billing customer")
}

// CustomerAccountTotals implements billing.SnapshotReader with one
// statement: the organization's customers' accounts, summed per currency.
func (r reads) CustomerAccountTotals(ctx context.Context, org string) ([]billing.AccountTotals, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT c.currency, sum(a.debits_posted), sum(a.debits_pending), sum(a.credits_posted), sum(a.credits_pending) "+
		"FROM billing_customers c JOIN accounts a ON a.id = c.account_id WHERE c.org_id = ? GROUP BY c.currency ORDER BY c.currency", org)
	if err != nil {
		return nil, fmt.Errorf("sqlite: customer account totals: %w", err)
	}
	defer rows.Close()
	var out []billing.AccountTotals
	for rows.Next() {
		var t billing.AccountTotals
		if err := rows.Scan(&t.Currency, &t.DebitsPosted, &t.DebitsPending, &t.CreditsPosted, &t.CreditsPending); err != nil {
			return nil, fmt.Errorf("sqlite: customer account totals: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: customer account totals: %w", err)
	}
	return out, nil
}

func (r reads) reservationBy(ctx context.Context, where string, args ...any) (billing.Reservation, error) {
	x, err := scanReservation(r.q.QueryRowContext(ctx, "SELECT "+reservationCols+" FROM billing_reservations WHERE "+where, args...))
	if err != nil {
		return x, notFound(err, "reservation")
	}
	return x, nil
}

// ReservationByID implements billing.Store. Errors: not_found.
func (r reads) ReservationByID(ctx context.Context, id string) (billing.Reservation, error) {
	return r.reservationBy(ctx, "id = ?", id)
}

// ReservationByAuthNumber implements billing.Store. Errors: not_found.
func (r reads) ReservationByAuthNumber(ctx context.Context, n string) (billing.Reservation, error) {
	return r.reservationBy(ctx, "auth_number = ?", n)
}

// ReservationByReference implements billing.Store. Errors: not_found.
func (r reads) ReservationByReference(ctx context.Context, orgID, ref string) (billing.Reservation, error) {
	return r.reservationBy(ctx, "org_id = ? AND reference = ? AND reference <> ''", orgID, ref)
}

// orgPage is one page of an organization's rows of table (reservations,
// sessions), newest first: of one customer and in one state where they are
// not "", after the cursor afterID where it is not "".
type orgPage struct {
	table, cols                       string
	orgID, customerID, state, afterID string
	limit                             int
}

func (p orgPage) query(ctx context.Context, q querier) (*sql.Rows, error) {
	stmt := "SELECT " + p.cols + " FROM " + p.table + " WHERE org_id = ?"
	args := []any{p.orgID}
	for _, c := range []struct{ cond, v string }{{" AND customer_id = ?", p.customerID}, {" AND state = ?", p.state}, {" AND id < ?", p.afterID}} {
		if c.v != "" {
			stmt += c.cond
			args = append(args, c.v)
		}
	}
	return q.QueryContext(ctx, stmt+" ORDER BY id DESC LIMIT ?", append(args, p.limit)...)
}

// ReservationList implements billing.Store.
func (r reads) ReservationList(ctx context.Context, f billing.ReservationFilter) ([]billing.Reservation, error) {
	rows, err := orgPage{table: "billing_reservations", cols: reservationCols, orgID: f.OrgID, customerID: f.CustomerID,
		state: string(f.State), afterID: f.AfterID, limit: f.Limit}.query(ctx, r.q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list reservations: %w", err)
	}
	return collect(rows, scanReservation, "sqlite: scan reservation")
}

// ReservationListDue implements billing.Store.
func (db *DB) ReservationListDue(ctx context.Context, now time.Time, after billing.DueCursor, limit int) ([]billing.Reservation, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+reservationCols+" FROM billing_reservations WHERE state = 'active' AND expires_at <= ? "+
		"AND expires_at >= ? AND (expires_at > ? OR id > ?) ORDER BY expires_at, id LIMIT ?",
		micros(now), micros(after.At), micros(after.At), after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due reservations: %w", err)
	}
	return collect(rows, scanReservation, "sqlite: scan reservation")
}

// ReservationEventList implements billing.Store.
func (db *DB) ReservationEventList(ctx context.Context, id string) ([]billing.ReservationEvent, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+reservationEventCols+" FROM billing_reservation_events WHERE reservation_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list reservation history: %w", err)
	}
	return collect(rows, scanReservationEvent, "sqlite: scan reservation history")
}

// CustomerInsert implements billing.Tx. Errors: conflict (reference taken).
func (t *txn) CustomerInsert(ctx context.Context, c billing.Customer) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_customers ("+billingCustomerCols+") VALUES ("+marks(10)+")", billingCustomerArgs(c)...); err != nil {
		if uniqueViolation(err) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "reference", Message: "a customer with this reference exists", Err: err}
		}
		return fmt.Errorf("sqlite: insert billing customer: %w", err)
	}
	return nil
}

func (t *txn) customerBy(ctx context.Context, where string, args ...any) (billing.Customer, error) {
	c, err := scanBillingCustomer(t.tx.QueryRowContext(ctx, "SELECT "+billingCustomerCols+" FROM billing_customers WHERE "+where, args...))
	if err != nil {
		return c, notFound(err, "customer")
	}
	return c, nil
}

// CustomerForUpdate implements billing.Tx; the IMMEDIATE transaction
// already holds the write lock. Errors: not_found.
func (t *txn) CustomerForUpdate(ctx context.Context, id string) (billing.Customer, error) {
	return t.customerBy(ctx, "id = ?", id)
}

// CustomerByReference implements billing.Tx. Errors: not_found.
func (t *txn) CustomerByReference(ctx context.Context, orgID, ref string) (billing.Customer, error) {
	return t.customerBy(ctx, "org_id = ? AND reference = ?", orgID, ref)
}

// CustomerUpdate implements billing.Tx. Errors: conflict (the version moved).
func (t *txn) CustomerUpdate(ctx context.Context, c billing.Customer) error {
	res, err := t.tx.ExecContext(ctx, "UPDATE billing_customers SET credit_limit = ?, updated_at = ?, version = ? WHERE id = ? AND version = ?",
		c.CreditLimit, micros(c.UpdatedAt), c.Version, c.ID, c.Version-1)
	if err != nil {
		return fmt.Errorf("sqlite: update billing customer: %w", err)
	}
	return versioned(res, "customer", c.ID)
}

// ReservationInsert implements billing.Tx. Errors: conflict.
func (t *txn) ReservationInsert(ctx context.Context, r billing.Reservation) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_reservations ("+reservationCols+") VALUES ("+marks(19)+")", reservationArgs(r)...); err != nil {
		if uniqueViolation(err) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "reference", Message: "a reservation with this reference exists", Err: err}
		}
		return fmt.Errorf("sqlite: insert reservation: %w", err)
	}
	return nil
}

func (t *txn) reservationBy(ctx context.Context, where string, args ...any) (billing.Reservation, error) {
	r, err := scanReservation(t.tx.QueryRowContext(ctx, "SELECT "+reservationCols+" FROM billing_reservations WHERE "+where, args...))
	if err != nil {
		return r, notFound(err, "reservation")
	}
	return r, nil
}

// ReservationForUpdate implements billing.Tx. Errors: not_found.
func (t *txn) ReservationForUpdate(ctx context.Context, id string) (billing.Reservation, error) {
	return t.reservationBy(ctx, "id = ?", id)
}

// ReservationByAuthNumber implements billing.Tx. Errors: not_found.
func (t *txn) ReservationByAuthNumber(ctx context.Context, n string) (billing.Reservation, error) {
	return t.reservationBy(ctx, "auth_number = ?", n)
}

// ReservationByReference implements billing.Tx. Errors: not_found.
func (t *txn) ReservationByReference(ctx context.Context, orgID, ref string) (billing.Reservation, error) {
	return t.reservationBy(ctx, "org_id = ? AND reference = ? AND reference <> ''", orgID, ref)
}

// ReservationByRequestKey implements billing.Tx. Errors: not_found.
func (t *txn) ReservationByRequestKey(ctx context.Context, orgID, key string) (billing.Reservation, error) {
	return t.reservationBy(ctx, "org_id = ? AND request_key = ? AND request_key <> ''", orgID, key)
}

// ReservationUpdate implements billing.Tx. Errors: conflict (the version moved).
func (t *txn) ReservationUpdate(ctx context.Context, r billing.Reservation) error {
	res, err := t.tx.ExecContext(ctx, "UPDATE billing_reservations SET ("+reservationCols+") = ("+marks(19)+") WHERE id = ? AND version = ?",
		append(reservationArgs(r), r.ID, r.Version-1)...)
	if err != nil {
		return fmt.Errorf("sqlite: update reservation: %w", err)
	}
	return versioned(res, "reservation", r.ID)
}

// ReservationEventsInsert implements billing.Tx.
func (t *txn) ReservationEventsInsert(ctx context.Context, events []billing.ReservationEvent) error {
	for _, e := range events {
		if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_reservation_events ("+reservationEventCols+") VALUES ("+marks(8)+")",
			e.ReservationID, e.Seq, micros(e.At), string(e.Kind), e.Amount, e.Released, e.Reference, e.TransferID); err != nil {
			return fmt.Errorf("sqlite: insert reservation history: %w", err)
		}
	}
	return nil
}

// ReservationEventByReference implements billing.Tx. Errors: not_found.
func (t *txn) ReservationEventByReference(ctx context.Context, id, ref string) (billing.ReservationEvent, error) {
	e, err := scanReservationEvent(t.tx.QueryRowContext(ctx, "SELECT "+reservationEventCols+" FROM billing_reservation_events "+
		"WHERE reservation_id = ? AND reference = ? AND reference <> ''", id, ref))
	if err != nil {
		return e, notFound(err, "reservation history entry")
	}
	return e, nil
}

// ChargeInsert implements billing.Tx. Errors: conflict (reference taken).
func (t *txn) ChargeInsert(ctx context.Context, c billing.Charge) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_charges ("+chargeCols+") VALUES ("+marks(10)+")",
		c.ID, c.OrgID, c.CustomerID, c.ReservationID, c.AuthNumber, c.Reference, c.Amount, c.Final, c.TransferID, micros(c.CreatedAt)); err != nil {
		if uniqueViolation(err) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "reference", Message: "a charge with this reference exists", Err: err}
		}
		return fmt.Errorf("sqlite: insert charge: %w", err)
	}
	return nil
}

// ChargeByReference implements billing.Tx. Errors: not_found.
func (t *txn) ChargeByReference(ctx context.Context, orgID, ref string) (billing.Charge, error) {
	c, err := scanCharge(t.tx.QueryRowContext(ctx, "SELECT "+chargeCols+" FROM billing_charges WHERE org_id = ? AND reference = ?", orgID, ref))
	if err != nil {
		return c, notFound(err, "charge")
	}
	return c, nil
}
