package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/billing"
)

const (
	meterSessionCols = "id, org_id, customer_id, reservation_id, auth_number, reference, currency, quota, threshold_percent, used, settled, " +
		"unsettled, last_seq, reports, settlements, state, expires_at, created_at, updated_at, version"
	usageReportCols = "session_id, seq, amount, used, unsettled, remaining, settled, transfer_id, at"
	invoiceCols     = "id, org_id, customer_id, period, currency, total, count, period_start, period_end, closed_at"
)

func scanMeterSession(s scanner) (billing.Session, error) {
	var x billing.Session
	var state string
	var expires, created, updated int64
	err := s.Scan(&x.ID, &x.OrgID, &x.CustomerID, &x.ReservationID, &x.AuthNumber, &x.Reference, &x.Currency, &x.Quota, &x.ThresholdPercent,
		&x.Used, &x.Settled, &x.Unsettled, &x.LastSeq, &x.Reports, &x.Settlements, &state, &expires, &created, &updated, &x.Version)
	x.State, x.ExpiresAt, x.CreatedAt, x.UpdatedAt = billing.SessionState(state), fromMicros(expires), fromMicros(created), fromMicros(updated)
	return x, err
}

func meterSessionArgs(x billing.Session) []any {
	return []any{x.ID, x.OrgID, x.CustomerID, x.ReservationID, x.AuthNumber, x.Reference, x.Currency, x.Quota, x.ThresholdPercent,
		x.Used, x.Settled, x.Unsettled, x.LastSeq, x.Reports, x.Settlements, string(x.State), micros(x.ExpiresAt), micros(x.CreatedAt),
		micros(x.UpdatedAt), x.Version}
}

func scanUsageReport(s scanner) (billing.UsageReport, error) {
	var u billing.UsageReport
	var at int64
	err := s.Scan(&u.SessionID, &u.Seq, &u.Amount, &u.Used, &u.Unsettled, &u.Remaining, &u.Settled, &u.TransferID, &at)
	u.At = fromMicros(at)
	return u, err
}

func scanInvoice(s scanner) (billing.Invoice, error) {
	var v billing.Invoice
	var start, end, closed int64
	err := s.Scan(&v.ID, &v.OrgID, &v.CustomerID, &v.Period, &v.Currency, &v.Total, &v.Count, &start, &end, &closed)
	v.PeriodStart, v.PeriodEnd, v.ClosedAt = fromMicros(start), fromMicros(end), fromMicros(closed)
	return v, err
}

// SessionByID implements billing.Store. Errors: not_found.
func (db *DB) SessionByID(ctx context.Context, id string) (billing.Session, error) {
	x, err := scanMeterSession(db.read.QueryRowContext(ctx, "SELECT "+meterSessionCols+" FROM billing_sessions WHERE id = ?", id))
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
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	return collect(rows, scanMeterSession, "sqlite: scan session")
}

// UsageReportTotals implements billing.SnapshotReader.
func (r reads) UsageReportTotals(ctx context.Context, sessionID string) (count, total int64, err error) {
	err = r.q.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(amount), 0) FROM billing_usage_reports WHERE session_id = ?", sessionID).
		Scan(&count, &total)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: usage report totals: %w", err)
	}
	return count, total, nil
}

// ChargeList implements billing.Store.
func (r reads) ChargeList(ctx context.Context, f billing.ChargeFilter) ([]billing.Charge, error) {
	q := "SELECT " + chargeCols + " FROM billing_charges WHERE customer_id = ? AND id > ?"
	args := []any{f.CustomerID, f.AfterID}
	if !f.CreatedFrom.IsZero() {
		q += " AND created_at >= ?"
		args = append(args, micros(f.CreatedFrom))
	}
	if !f.CreatedBefore.IsZero() {
		q += " AND created_at < ?"
		args = append(args, micros(f.CreatedBefore))
	}
	rows, err := r.q.QueryContext(ctx, q+" ORDER BY id LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list charges: %w", err)
	}
	return collect(rows, scanCharge, "sqlite: scan charge")
}

// InvoiceList implements billing.Store: the cursor's period is read in the
// same statement; a cursor that is not the customer's invoice matches
// nothing.
func (r reads) InvoiceList(ctx context.Context, f billing.InvoiceFilter) ([]billing.Invoice, error) {
	q := "SELECT " + invoiceCols + " FROM billing_invoices WHERE customer_id = ?"
	args := []any{f.CustomerID}
	if f.AfterID != "" {
		q += " AND period < coalesce((SELECT period FROM billing_invoices WHERE id = ? AND customer_id = ?), '')"
		args = append(args, f.AfterID, f.CustomerID)
	}
	rows, err := r.q.QueryContext(ctx, q+" ORDER BY period DESC LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list invoices: %w", err)
	}
	return collect(rows, scanInvoice, "sqlite: scan invoice")
}

// CustomerListUninvoiced implements billing.Store. It walks the customers'
// primary key from the cursor and probes the invoices' unique (customer,
// period) index once per postpaid customer.
func (db *DB) CustomerListUninvoiced(ctx context.Context, f billing.UninvoicedFilter) ([]billing.Customer, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+billingCustomerCols+" FROM billing_customers c WHERE c.id > ? AND c.mode = 'postpaid' AND c.created_at < ? "+
		"AND NOT EXISTS (SELECT 1 FROM billing_invoices i WHERE i.customer_id = c.id AND i.period = ?) ORDER BY c.id LIMIT ?",
		f.AfterID, micros(f.CreatedBefore), f.Period, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list customers to invoice: %w", err)
	}
	return collect(rows, scanBillingCustomer, "sqlite: scan billing customer")
}

// ChargeTotals implements billing.Tx.
func (t *txn) ChargeTotals(ctx context.Context, customerID string, from, before time.Time) (int64, int64, error) {
	var n, total int64
	err := t.tx.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(amount), 0) FROM billing_charges WHERE customer_id = ? AND created_at >= ? AND created_at < ?",
		customerID, micros(from), micros(before)).Scan(&n, &total)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: total charges: %w", err)
	}
	return n, total, nil
}

// SessionInsert implements billing.Tx. Errors: conflict (reference taken).
func (t *txn) SessionInsert(ctx context.Context, x billing.Session) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_sessions ("+meterSessionCols+") VALUES ("+marks(20)+")", meterSessionArgs(x)...); err != nil {
		if uniqueViolation(err) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "reference", Message: "a session with this reference exists", Err: err}
		}
		return fmt.Errorf("sqlite: insert session: %w", err)
	}
	return nil
}

func (t *txn) meterSessionBy(ctx context.Context, where string, args ...any) (billing.Session, error) {
	x, err := scanMeterSession(t.tx.QueryRowContext(ctx, "SELECT "+meterSessionCols+" FROM billing_sessions WHERE "+where, args...))
	if err != nil {
		return x, notFound(err, "session")
	}
	return x, nil
}

// SessionForUpdate implements billing.Tx; the IMMEDIATE transaction
// already holds the write lock. Errors: not_found.
func (t *txn) SessionForUpdate(ctx context.Context, id string) (billing.Session, error) {
	return t.meterSessionBy(ctx, "id = ?", id)
}

// SessionByReservationForUpdate implements billing.Tx. Errors: not_found.
func (t *txn) SessionByReservationForUpdate(ctx context.Context, reservationID string) (billing.Session, error) {
	return t.meterSessionBy(ctx, "reservation_id = ?", reservationID)
}

// SessionByReference implements billing.Tx. Errors: not_found.
func (t *txn) SessionByReference(ctx context.Context, orgID, ref string) (billing.Session, error) {
	return t.meterSessionBy(ctx, "org_id = ? AND reference = ?", orgID, ref)
}

// SessionUpdate implements billing.Tx. Errors: conflict (the version moved).
func (t *txn) SessionUpdate(ctx context.Context, x billing.Session) error {
	res, err := t.tx.ExecContext(ctx, "UPDATE billing_sessions SET ("+meterSessionCols+") = ("+marks(20)+") WHERE id = ? AND version = ?",
		append(meterSessionArgs(x), x.ID, x.Version-1)...)
	if err != nil {
		return fmt.Errorf("sqlite: update session: %w", err)
	}
	return versioned(res, "session", x.ID)
}

// UsageReportInsert implements billing.Tx. Errors: conflict (seq taken).
func (t *txn) UsageReportInsert(ctx context.Context, u billing.UsageReport) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_usage_reports ("+usageReportCols+") VALUES ("+marks(9)+")",
		u.SessionID, u.Seq, u.Amount, u.Used, u.Unsettled, u.Remaining, u.Settled, u.TransferID, micros(u.At)); err != nil {
		if uniqueViolation(err) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "seq", Message: "this seq was reported", Err: err}
		}
		return fmt.Errorf("sqlite: insert usage report: %w", err)
	}
	return nil
}

// UsageReportBySeq implements billing.Tx. Errors: not_found.
func (t *txn) UsageReportBySeq(ctx context.Context, sessionID string, seq int64) (billing.UsageReport, error) {
	u, err := scanUsageReport(t.tx.QueryRowContext(ctx, "SELECT "+usageReportCols+" FROM billing_usage_reports WHERE session_id = ? AND seq = ?", sessionID, seq))
	if err != nil {
		return u, notFound(err, "usage report")
	}
	return u, nil
}

// InvoiceInsert implements billing.Tx. Errors: conflict (period taken).
func (t *txn) InvoiceInsert(ctx context.Context, v billing.Invoice) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO billing_invoices ("+invoiceCols+") VALUES ("+marks(10)+")",
		v.ID, v.OrgID, v.CustomerID, v.Period, v.Currency, v.Total, v.Count, micros(v.PeriodStart), micros(v.PeriodEnd), micros(v.ClosedAt)); err != nil {
		if uniqueViolation(err) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "period", Message: "this period is closed", Err: err}
		}
		return fmt.Errorf("sqlite: insert invoice: %w", err)
	}
	return nil
}

// InvoiceByPeriod implements billing.Tx. Errors: not_found.
func (t *txn) InvoiceByPeriod(ctx context.Context, customerID, period string) (billing.Invoice, error) {
	v, err := scanInvoice(t.tx.QueryRowContext(ctx, "SELECT "+invoiceCols+" FROM billing_invoices WHERE customer_id = ? AND period = ?", customerID, period))
	if err != nil {
		return v, notFound(err, "invoice")
	}
	return v, nil
}
