package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/store"
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

var (
	sqlReservationInsert = "INSERT INTO billing_reservations (" + reservationCols + ") VALUES (" + placeholders(1, 19) + ")"
	sqlReservationUpdate = "UPDATE billing_reservations SET (" + reservationCols + ") = (" + placeholders(1, 19) + ") WHERE id = $20 AND version = $21"
)

func scanBillingCustomer(r pgx.Row) (billing.Customer, error) {
	var c billing.Customer
	var mode string
	err := r.Scan(&c.ID, &c.OrgID, &c.Reference, &c.Currency, &mode, &c.CreditLimit, &c.AccountID, &c.CreatedAt, &c.UpdatedAt, &c.Version)
	c.Mode, c.CreatedAt, c.UpdatedAt = billing.Mode(mode), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

func scanReservation(row pgx.Row) (billing.Reservation, error) {
	var r billing.Reservation
	var state string
	err := row.Scan(&r.ID, &r.AuthNumber, &r.OrgID, &r.CustomerID, &r.Reference, &r.Currency, &r.Amount, &r.Authorized, &r.Reserved,
		&r.Charged, &r.Released, &state, &r.ExpiresAt, &r.HoldTransferID, &r.Events, &r.CreatedAt, &r.UpdatedAt, &r.Version, &r.RequestKey)
	r.State, r.ExpiresAt, r.CreatedAt, r.UpdatedAt = billing.State(state), r.ExpiresAt.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

func reservationArgs(r billing.Reservation) []any {
	return []any{r.ID, r.AuthNumber, r.OrgID, r.CustomerID, r.Reference, r.Currency, r.Amount, r.Authorized, r.Reserved,
		r.Charged, r.Released, string(r.State), r.ExpiresAt, r.HoldTransferID, r.Events, r.CreatedAt, r.UpdatedAt, r.Version, r.RequestKey}
}

func scanReservationEvent(r pgx.Row) (billing.ReservationEvent, error) {
	var e billing.ReservationEvent
	var kind string
	err := r.Scan(&e.ReservationID, &e.Seq, &e.At, &kind, &e.Amount, &e.Released, &e.Reference, &e.TransferID)
	e.At, e.Kind = e.At.UTC(), billing.EventKind(kind)
	return e, err
}

func scanCharge(r pgx.Row) (billing.Charge, error) {
	var c billing.Charge
	err := r.Scan(&c.ID, &c.OrgID, &c.CustomerID, &c.ReservationID, &c.AuthNumber, &c.Reference, &c.Amount, &c.Final, &c.TransferID, &c.CreatedAt)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}

// BillingTransact implements billing.Store: one READ COMMITTED transaction
// per attempt, like Transact, whose txn is also the ledger's. A customer is
// locked (FOR UPDATE) before its reservations and both before any ledger
// account, and ledger batches lock no billing row, so the lock order stays
// acyclic; the customer's lock serialises every billing writer of that
// customer, on any node, so its limit is checked against balances nobody
// else is changing.
//
// fn runs under ctx: a caller that goes away while it runs (or waits for a
// lock) undoes it, and the caller is told so. The COMMIT, and the writes
// still waiting to be sent with it, run under a context the caller cannot
// cancel (bounded by commitTimeout), so a commit is never cut off halfway
// and reported as failed after it happened.
func (db *DB) BillingTransact(ctx context.Context, fn func(context.Context, billing.Tx) error) error {
	return store.Retry(ctx, retryable, func() error {
		commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		return db.attemptCommitting(ctx, commitCtx, func(t *txn) error { return fn(ctx, t) })
	})
}

// CustomerByID implements billing.Store. Errors: not_found.
func (db *DB) CustomerByID(ctx context.Context, id string) (billing.Customer, error) {
	c, err := scanBillingCustomer(db.pool.QueryRow(ctx, "SELECT "+billingCustomerCols+" FROM billing_customers WHERE id = $1", id))
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
		args = append(args, f.OrgID)
		q += " AND org_id = $" + strconv.Itoa(len(args))
	}
	if f.AfterID != "" {
		args = append(args, f.AfterID)
		q += " AND id < $" + strconv.Itoa(len(args))
	}
	args = append(args, f.Limit)
	rows, err := r.q.Query(ctx, q+" ORDER BY id DESC LIMIT $"+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list billing customers: %w", err)
	}
	return collect(rows, scanBillingCustomer)
}

// CustomerAccountTotals implements billing.SnapshotReader with one
// statement: the organization's customers' accounts, summed per currency.
func (r reads) CustomerAccountTotals(ctx context.Context, org string) ([]billing.AccountTotals, error) {
	rows, err := r.q.Query(ctx, "SELECT c.currency, sum(a.debits_posted), sum(a.debits_pending), sum(a.credits_posted), sum(a.credits_pending) "+
		"FROM billing_customers c JOIN accounts a ON a.id = c.account_id WHERE c.org_id = $1 GROUP BY c.currency ORDER BY c.currency", org)
	if err != nil {
		return nil, fmt.Errorf("postgres: customer account totals: %w", err)
	}
	defer rows.Close()
	var out []billing.AccountTotals
	for rows.Next() {
		var t billing.AccountTotals
		if err := rows.Scan(&t.Currency, &t.DebitsPosted, &t.DebitsPending, &t.CreditsPosted, &t.CreditsPending); err != nil {
			return nil, fmt.Errorf("postgres: customer account totals: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: customer account totals: %w", err)
	}
	return out, nil
}

func (r reads) reservationBy(ctx context.Context, where string, args ...any) (billing.Reservation, error) {
	x, err := scanReservation(r.q.QueryRow(ctx, "SELECT "+reservationCols+" FROM billing_reservations WHERE "+where, args...))
	if err != nil {
		return x, notFound(err, "reservation")
	}
	return x, nil
}

// ReservationByID implements billing.Store. Errors: not_found.
func (r reads) ReservationByID(ctx context.Context, id string) (billing.Reservation, error) {
	return r.reservationBy(ctx, "id = $1", id)
}

// ReservationByAuthNumber implements billing.Store. Errors: not_found.
func (r reads) ReservationByAuthNumber(ctx context.Context, n string) (billing.Reservation, error) {
	return r.reservationBy(ctx, "auth_number = $1", n)
}

// ReservationByReference implements billing.Store. Errors: not_found.
func (r reads) ReservationByReference(ctx context.Context, orgID, ref string) (billing.Reservation, error) {
	return r.reservationBy(ctx, "org_id = $1 AND reference = $2 AND reference <> ''", orgID, ref)
}

// orgPage is one page of an organization's rows of table (reservations,
// sessions), newest first: of one customer and in one state where they are
// not "", after the cursor afterID where it is not "".
type orgPage struct {
	table, cols                       string
	orgID, customerID, state, afterID string
	limit                             int
}

func (p orgPage) query(ctx context.Context, q querier) (pgx.Rows, error) {
	stmt := "SELECT " + p.cols + " FROM " + p.table + " WHERE org_id = $1"
	args := []any{p.orgID}
	for _, c := range []struct{ col, v string }{{"customer_id =", p.customerID}, {"state =", p.state}, {"id <", p.afterID}} {
		if c.v != "" {
			args = append(args, c.v)
			stmt += " AND " + c.col + " $" + strconv.Itoa(len(args))
		}
	}
	args = append(args, p.limit)
	return q.Query(ctx, stmt+" ORDER BY id DESC LIMIT $"+strconv.Itoa(len(args)), args...)
}

// ReservationList implements billing.Store.
func (r reads) ReservationList(ctx context.Context, f billing.ReservationFilter) ([]billing.Reservation, error) {
	rows, err := orgPage{table: "billing_reservations", cols: reservationCols, orgID: f.OrgID, customerID: f.CustomerID,
		state: string(f.State), afterID: f.AfterID, limit: f.Limit}.query(ctx, r.q)
	if err != nil {
		return nil, fmt.Errorf("postgres: list reservations: %w", err)
	}
	return collect(rows, scanReservation)
}

// ReservationListDue implements billing.Store.
func (db *DB) ReservationListDue(ctx context.Context, now time.Time, after billing.DueCursor, limit int) ([]billing.Reservation, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+reservationCols+" FROM billing_reservations WHERE state = 'active' AND expires_at <= $1 "+
		"AND expires_at >= $2 AND (expires_at > $2 OR id > $3) ORDER BY expires_at, id LIMIT $4", now, after.At, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list due reservations: %w", err)
	}
	return collect(rows, scanReservation)
}

// ReservationEventList implements billing.Store.
func (db *DB) ReservationEventList(ctx context.Context, id string) ([]billing.ReservationEvent, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+reservationEventCols+" FROM billing_reservation_events WHERE reservation_id = $1 ORDER BY seq", id)
	if err != nil {
		return nil, fmt.Errorf("postgres: list reservation history: %w", err)
	}
	return collect(rows, scanReservationEvent)
}

// CustomerInsert implements billing.Tx. A unique violation (another writer
// took the reference) fails the transaction, and Transact retries it.
func (t *txn) CustomerInsert(_ context.Context, c billing.Customer) error {
	t.queue("INSERT INTO billing_customers ("+billingCustomerCols+") VALUES ("+placeholders(1, 10)+")",
		c.ID, c.OrgID, c.Reference, c.Currency, string(c.Mode), c.CreditLimit, c.AccountID, c.CreatedAt, c.UpdatedAt, c.Version)
	return nil
}

func (t *txn) customerBy(ctx context.Context, lock bool, where string, args ...any) (billing.Customer, error) {
	q := "SELECT " + billingCustomerCols + " FROM billing_customers WHERE " + where
	if lock {
		q += " FOR UPDATE"
	}
	return readRow(ctx, t, "customer", q, args, scanBillingCustomer)
}

// CustomerForUpdate implements billing.Tx. Errors: not_found.
func (t *txn) CustomerForUpdate(ctx context.Context, id string) (billing.Customer, error) {
	return t.customerBy(ctx, true, "id = $1", id)
}

// CustomerByReference implements billing.Tx. Errors: not_found.
func (t *txn) CustomerByReference(ctx context.Context, orgID, ref string) (billing.Customer, error) {
	return t.customerBy(ctx, false, "org_id = $1 AND reference = $2", orgID, ref)
}

// CustomerUpdate implements billing.Tx. Errors: conflict (the version moved).
func (t *txn) CustomerUpdate(ctx context.Context, c billing.Customer) error {
	return t.updateVersioned(ctx, "customer", c.ID, "UPDATE billing_customers SET credit_limit = $1, updated_at = $2, version = $3 WHERE id = $4 AND version = $5",
		c.CreditLimit, c.UpdatedAt, c.Version, c.ID, c.Version-1)
}

// ReservationInsert implements billing.Tx. A unique violation fails the
// transaction, and Transact retries it.
func (t *txn) ReservationInsert(_ context.Context, r billing.Reservation) error {
	t.queue(sqlReservationInsert, reservationArgs(r)...)
	return nil
}

func (t *txn) reservationBy(ctx context.Context, lock bool, where string, args ...any) (billing.Reservation, error) {
	q := "SELECT " + reservationCols + " FROM billing_reservations WHERE " + where
	if lock {
		q += " FOR UPDATE"
	}
	return readRow(ctx, t, "reservation", q, args, scanReservation)
}

// ReservationForUpdate implements billing.Tx. Errors: not_found.
func (t *txn) ReservationForUpdate(ctx context.Context, id string) (billing.Reservation, error) {
	return t.reservationBy(ctx, true, "id = $1", id)
}

// ReservationByAuthNumber implements billing.Tx. Errors: not_found.
func (t *txn) ReservationByAuthNumber(ctx context.Context, n string) (billing.Reservation, error) {
	return t.reservationBy(ctx, false, "auth_number = $1", n)
}

// ReservationByReference implements billing.Tx. Errors: not_found.
func (t *txn) ReservationByReference(ctx context.Context, orgID, ref string) (billing.Reservation, error) {
	return t.reservationBy(ctx, false, "org_id = $1 AND reference = $2 AND reference <> ''", orgID, ref)
}

// ReservationByRequestKey implements billing.Tx. Errors: not_found.
func (t *txn) ReservationByRequestKey(ctx context.Context, orgID, key string) (billing.Reservation, error) {
	return t.reservationBy(ctx, false, "org_id = $1 AND request_key = $2 AND request_key <> ''", orgID, key)
}

// ReservationUpdate implements billing.Tx. Errors: conflict (the version moved).
func (t *txn) ReservationUpdate(ctx context.Context, r billing.Reservation) error {
	return t.updateVersioned(ctx, "reservation", r.ID, sqlReservationUpdate, append(reservationArgs(r), r.ID, r.Version-1)...)
}

// ReservationEventsInsert implements billing.Tx.
func (t *txn) ReservationEventsInsert(_ context.Context, events []billing.ReservationEvent) error {
	for _, e := range events {
		t.queue("INSERT INTO billing_reservation_events ("+reservationEventCols+") VALUES ("+placeholders(1, 8)+")",
			e.ReservationID, e.Seq, e.At, string(e.Kind), e.Amount, e.Released, e.Reference, e.TransferID)
	}
	return nil
}

// ReservationEventByReference implements billing.Tx. Errors: not_found.
func (t *txn) ReservationEventByReference(ctx context.Context, id, ref string) (billing.ReservationEvent, error) {
	return readRow(ctx, t, "reservation history entry", "SELECT "+reservationEventCols+" FROM billing_reservation_events "+
		"WHERE reservation_id = $1 AND reference = $2 AND reference <> ''", []any{id, ref}, scanReservationEvent)
}

// ChargeInsert implements billing.Tx. A unique violation fails the
// transaction, and Transact retries it.
func (t *txn) ChargeInsert(_ context.Context, c billing.Charge) error {
	t.queue("INSERT INTO billing_charges ("+chargeCols+") VALUES ("+placeholders(1, 10)+")",
		c.ID, c.OrgID, c.CustomerID, c.ReservationID, c.AuthNumber, c.Reference, c.Amount, c.Final, c.TransferID, c.CreatedAt)
	return nil
}

// ChargeByReference implements billing.Tx. Errors: not_found.
func (t *txn) ChargeByReference(ctx context.Context, orgID, ref string) (billing.Charge, error) {
	return readRow(ctx, t, "charge", "SELECT "+chargeCols+" FROM billing_charges WHERE org_id = $1 AND reference = $2", []any{orgID, ref}, scanCharge)
}
