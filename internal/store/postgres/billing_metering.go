package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/billing"
)

const (
	meterSessionCols = "id, org_id, customer_id, reservation_id, auth_number, reference, currency, quota, threshold_percent, used, settled, " +
		"unsettled, last_seq, reports, settlements, state, expires_at, created_at, updated_at, version"
	usageReportCols = "session_id, seq, amount, used, unsettled, remaining, settled, transfer_id, at"
	invoiceCols     = "id, org_id, customer_id, period, currency, total, count, period_start, period_end, closed_at"
)

var (
	sqlMeterSessionInsert = "INSERT INTO billing_sessions (" + meterSessionCols + ") VALUES (" + placeholders(1, 20) + ")"
	sqlMeterSessionUpdate = "UPDATE billing_sessions SET (" + meterSessionCols + ") = (" + placeholders(1, 20) + ") WHERE id = $21 AND version = $22"
)

func scanMeterSession(r pgx.Row) (billing.Session, error) {
	var x billing.Session
	var state string
	err := r.Scan(&x.ID, &x.OrgID, &x.CustomerID, &x.ReservationID, &x.AuthNumber, &x.Reference, &x.Currency, &x.Quota, &x.ThresholdPercent,
		&x.Used, &x.Settled, &x.Unsettled, &x.LastSeq, &x.Reports, &x.Settlements, &state, &x.ExpiresAt, &x.CreatedAt, &x.UpdatedAt, &x.Version)
	x.State, x.ExpiresAt, x.CreatedAt, x.UpdatedAt = billing.SessionState(state), x.ExpiresAt.UTC(), x.CreatedAt.UTC(), x.UpdatedAt.UTC()
	return x, err
}

func meterSessionArgs(x billing.Session) []any {
	return []any{x.ID, x.OrgID, x.CustomerID, x.ReservationID, x.AuthNumber, x.Reference, x.Currency, x.Quota, x.ThresholdPercent,
		x.Used, x.Settled, x.Unsettled, x.LastSeq, x.Reports, x.Settlements, string(x.State), x.ExpiresAt, x.CreatedAt, x.UpdatedAt, x.Version}
}

func scanUsageReport(r pgx.Row) (billing.UsageReport, error) {
	var u billing.UsageReport
	err := r.Scan(&u.SessionID, &u.Seq, &u.Amount, &u.Used, &u.Unsettled, &u.Remaining, &u.Settled, &u.TransferID, &u.At)
	u.At = u.At.UTC()
	return u, err
}

func scanInvoice(r pgx.Row) (billing.Invoice, error) {
	var v billing.Invoice
	err := r.Scan(&v.ID, &v.OrgID, &v.CustomerID, &v.Period, &v.Currency, &v.Total, &v.Count, &v.PeriodStart, &v.PeriodEnd, &v.ClosedAt)
	v.PeriodStart, v.PeriodEnd, v.ClosedAt = v.PeriodStart.UTC(), v.PeriodEnd.UTC(), v.ClosedAt.UTC()
	return v, err
}

// SessionByID implements billing.Store. Errors: not_found.
func (db *DB) SessionByID(ctx context.Context, id string) (billing.Session, error) {
	x, err := scanMeterSession(db.pool.QueryRow(ctx, "SELECT "+meterSessionCols+" FROM billing_sessions WHERE id = $1", id))
	if err != nil {
		return x, notFound(err, "session")
	}
	return x, nil
}

// SessionList implements billing.Store.
func (r reads) SessionList(ctx context.Context, f billing.SessionFilter) ([]billing.Session, error) {
	rows, err := orgPage{table: "billing_sessions", cols: meterSessionCols, orgID: f.OrgID, customerID: f.CustomerID,
		state: string(f.State), afterID: f.AfterID, limit: f.Limit}.query(ctx, r.q)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	return collect(rows, scanMeterSession)
}

// UsageReportTotals implements billing.SnapshotReader.
func (r reads) UsageReportTotals(ctx context.Context, sessionID string) (count, total int64, err error) {
	err = r.q.QueryRow(ctx, "SELECT count(*), coalesce(sum(amount), 0) FROM billing_usage_reports WHERE session_id = $1", sessionID).
		Scan(&count, &total)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: usage report totals: %w", err)
	}
	return count, total, nil
}

// ChargeList implements billing.Store.
func (r reads) ChargeList(ctx context.Context, f billing.ChargeFilter) ([]billing.Charge, error) {
	q := "SELECT " + chargeCols + " FROM billing_charges WHERE customer_id = $1 AND id > $2"
	args := []any{f.CustomerID, f.AfterID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.CreatedFrom.IsZero() {
		q += " AND created_at >= " + arg(f.CreatedFrom)
	}
	if !f.CreatedBefore.IsZero() {
		q += " AND created_at < " + arg(f.CreatedBefore)
	}
	q += " ORDER BY id LIMIT " + arg(f.Limit)
	rows, err := r.q.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list charges: %w", err)
	}
	return collect(rows, scanCharge)
}

// InvoiceList implements billing.Store: the cursor's period is read in the
// same statement; a cursor that is not the customer's invoice matches
// nothing.
func (r reads) InvoiceList(ctx context.Context, f billing.InvoiceFilter) ([]billing.Invoice, error) {
	rows, err := r.q.Query(ctx, "SELECT "+invoiceCols+" FROM billing_invoices WHERE customer_id = $1 "+
		"AND ($2 = '' OR period < coalesce((SELECT period FROM billing_invoices WHERE id = $2 AND customer_id = $1), '')) "+
		"ORDER BY period DESC LIMIT $3", f.CustomerID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list invoices: %w", err)
	}
	return collect(rows, scanInvoice)
}

// sqlCustomerListUninvoiced walks the customers' primary key from the
// cursor and probes the invoices' unique (customer_id, period) index once
// per postpaid customer. The probe is a LATERAL subquery with LIMIT 1 on
// purpose: written as NOT EXISTS, PostgreSQL prefers a merge anti join
// that reads every invoice of the period from the first customer on, in
// every batch (TestMonthCloseProbesInvoices).
const sqlCustomerListUninvoiced = "SELECT " + billingCustomerCols + " FROM billing_customers c " +
	"LEFT JOIN LATERAL (SELECT true AS invoiced FROM billing_invoices i WHERE i.customer_id = c.id AND i.period = $3 LIMIT 1) i ON true " +
	"WHERE c.id > $1 AND c.mode = 'postpaid' AND c.created_at < $2 AND i.invoiced IS NULL ORDER BY c.id LIMIT $4"

// CustomerListUninvoiced implements billing.Store.
func (db *DB) CustomerListUninvoiced(ctx context.Context, f billing.UninvoicedFilter) ([]billing.Customer, error) {
	rows, err := db.pool.Query(ctx, sqlCustomerListUninvoiced, f.AfterID, f.CreatedBefore, f.Period, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list customers to invoice: %w", err)
	}
	return collect(rows, scanBillingCustomer)
}

// ChargeTotals implements billing.Tx.
func (t *txn) ChargeTotals(ctx context.Context, customerID string, from, before time.Time) (int64, int64, error) {
	var n, total int64
	err := t.readOne(ctx, "charge totals", "SELECT count(*), coalesce(sum(amount), 0)::bigint FROM billing_charges "+
		"WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3", []any{customerID, from, before}, func(r pgx.Row) error {
		return r.Scan(&n, &total)
	})
	return n, total, err
}

// SessionInsert implements billing.Tx. A unique violation fails the
// transaction, and Transact retries it.
func (t *txn) SessionInsert(_ context.Context, x billing.Session) error {
	t.queue(sqlMeterSessionInsert, meterSessionArgs(x)...)
	return nil
}

func (t *txn) meterSessionBy(ctx context.Context, lock bool, where string, args ...any) (billing.Session, error) {
	q := "SELECT " + meterSessionCols + " FROM billing_sessions WHERE " + where
	if lock {
		q += " FOR UPDATE"
	}
	return readRow(ctx, t, "session", q, args, scanMeterSession)
}

// SessionForUpdate implements billing.Tx. Errors: not_found.
func (t *txn) SessionForUpdate(ctx context.Context, id string) (billing.Session, error) {
	return t.meterSessionBy(ctx, true, "id = $1", id)
}

// SessionByReservationForUpdate implements billing.Tx. Errors: not_found.
func (t *txn) SessionByReservationForUpdate(ctx context.Context, reservationID string) (billing.Session, error) {
	return t.meterSessionBy(ctx, true, "reservation_id = $1", reservationID)
}

// SessionByReference implements billing.Tx. Errors: not_found.
func (t *txn) SessionByReference(ctx context.Context, orgID, ref string) (billing.Session, error) {
	return t.meterSessionBy(ctx, false, "org_id = $1 AND reference = $2", orgID, ref)
}

// SessionUpdate implements billing.Tx. Errors: conflict (the version moved).
func (t *txn) SessionUpdate(ctx context.Context, x billing.Session) error {
	return t.updateVersioned(ctx, "session", x.ID, sqlMeterSessionUpdate, append(meterSessionArgs(x), x.ID, x.Version-1)...)
}

// UsageReportInsert implements billing.Tx. A unique violation fails the
// transaction, and Transact retries it.
func (t *txn) UsageReportInsert(_ context.Context, u billing.UsageReport) error {
	t.queue("INSERT INTO billing_usage_reports ("+usageReportCols+") VALUES ("+placeholders(1, 9)+")",
		u.SessionID, u.Seq, u.Amount, u.Used, u.Unsettled, u.Remaining, u.Settled, u.TransferID, u.At)
	return nil
}

// UsageReportBySeq implements billing.Tx. Errors: not_found.
func (t *txn) UsageReportBySeq(ctx context.Context, sessionID string, seq int64) (billing.UsageReport, error) {
	return readRow(ctx, t, "usage report", "SELECT "+usageReportCols+" FROM billing_usage_reports WHERE session_id = $1 AND seq = $2",
		[]any{sessionID, seq}, scanUsageReport)
}

// InvoiceInsert implements billing.Tx. A unique violation fails the
// transaction, and Transact retries it.
func (t *txn) InvoiceInsert(_ context.Context, v billing.Invoice) error {
	t.queue("INSERT INTO billing_invoices ("+invoiceCols+") VALUES ("+placeholders(1, 10)+")",
		v.ID, v.OrgID, v.CustomerID, v.Period, v.Currency, v.Total, v.Count, v.PeriodStart, v.PeriodEnd, v.ClosedAt)
	return nil
}

// InvoiceByPeriod implements billing.Tx. Errors: not_found.
func (t *txn) InvoiceByPeriod(ctx context.Context, customerID, period string) (billing.Invoice, error) {
	return readRow(ctx, t, "invoice", "SELECT "+invoiceCols+" FROM billing_invoices WHERE customer_id = $1 AND period = $2",
		[]any{customerID, period}, scanInvoice)
}
