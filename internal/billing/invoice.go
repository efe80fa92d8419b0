package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/event"
)

// CodePeriodOpen: the period asked to be closed has not ended yet.
const CodePeriodOpen = "period_open"

// PeriodLayout is how a month is written: "2026-01".
const PeriodLayout = "2006-01"

// InvoicesListMax bounds the invoices FindInvoices returns (eight years of
// months).
const InvoicesListMax = 100

// Invoice totals a postpaid customer's charges of one calendar month (UTC).
// There is at most one per customer and period.
type Invoice struct {
	ID          string // "inv_" + time-ordered id
	OrgID       string
	CustomerID  string
	Period      string // "2026-01"
	Currency    string
	Total       int64 // the sum of the period's charges
	Count       int64 // how many charges
	PeriodStart time.Time
	PeriodEnd   time.Time // exclusive: the first instant of the next month
	ClosedAt    time.Time
}

// InvoiceEventEncoder renders an invoice as its event's data. An
// EventEncoder that also implements it decides the shape; otherwise the
// invoice is written as {"object": {...}} with snake_case fields.
type InvoiceEventEncoder interface {
	InvoiceEventData(Invoice) []byte
}

func invoiceEventData(enc EventEncoder, inv Invoice) []byte {
	if e, ok := enc.(InvoiceEventEncoder); ok {
		return e.InvoiceEventData(inv)
	}
	b, _ := json.Marshal(map[string]any{"object": map[string]any{
		"object": "billing_invoice", "id": inv.ID, "customer_id": inv.CustomerID, "period": inv.Period,
		"total": map[string]any{"amount": inv.Total, "currency": inv.Currency}, "count": inv.Count,
		"period_start": inv.PeriodStart.Format(time.RFC3339), "period_end": inv.PeriodEnd.Format(time.RFC3339),
		"closed_at": inv.ClosedAt.Format(time.RFC3339Nano),
	}})
	return b
}

// ParsePeriod reads a month "YYYY-MM" and returns its first instant and the
// first instant of the next month, in UTC.
//
// Errors: invalid (param "period").
func ParsePeriod(period string) (start, end time.Time, err error) {
	t, perr := time.Parse(PeriodLayout, period)
	if perr != nil || t.Format(PeriodLayout) != period || t.Year() < 2000 {
		return time.Time{}, time.Time{}, apperr.Invalid("period", "a month as YYYY-MM, from 2000-01")
	}
	return t, t.AddDate(0, 1, 0), nil
}

// ClosePeriod closes a postpaid customer's month: it totals the charges
// created in it into an invoice and writes the event
// billing.invoice.created and an audit entry, in one transaction. Closing
// a closed period returns the same invoice and changes nothing. A month
// closes only once it has ended.
//
// Errors: forbidden, invalid (period; a prepaid customer), not_found,
// period_open.
func (s *Service) ClosePeriod(ctx context.Context, actor Actor, customerID, period string) (Invoice, error) {
	start, end, err := ParsePeriod(period)
	if err != nil {
		return Invoice{}, err
	}
	c, err := s.onCustomer(ctx, actor, customerID, "billing.invoice.created", func(c *change) error {
		if c.cus.Mode != Postpaid {
			return apperr.Invalid("customer_id", "only a postpaid customer is invoiced")
		}
		old, err := c.tx.InvoiceByPeriod(c.ctx, c.cus.ID, period)
		switch {
		case err == nil:
			c.invoice, c.noop = &old, true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		if c.now.Before(end) {
			return apperr.New(CodePeriodOpen, "period %s ends at %s", period, end.Format(time.RFC3339))
		}
		// The customer is locked and charges are written under its lock
		// with the transaction's clock, which is past end: no charge of
		// the period can commit after this count.
		n, total, err := c.tx.ChargeTotals(c.ctx, c.cus.ID, start, end)
		if err != nil {
			return err
		}
		if n < 0 || total < 0 {
			return fmt.Errorf("billing: charge totals of customer %s: %d charges of %d: invariant broken", c.cus.ID, n, total)
		}
		c.invoice = &Invoice{ID: newID("inv_"), OrgID: c.cus.OrgID, CustomerID: c.cus.ID, Period: period, Currency: c.cus.Currency,
			Total: total, Count: n, PeriodStart: start, PeriodEnd: end, ClosedAt: c.now}
		c.eventType = event.TypeBillingInvoiceCreated
		c.subject = audit.Subject{Type: "billing_invoice", ID: c.invoice.ID}
		c.data["customer"], c.data["period"], c.data["total"], c.data["count"] = c.cus.ID, period, total, n
		return nil
	})
	if err != nil {
		return Invoice{}, fmt.Errorf("billing: close period %s of customer %s: %w", period, customerID, err)
	}
	return *c.invoice, nil
}

// FindInvoices lists a customer's invoices, newest period first (at most
// InvoicesListMax).
//
// Errors: forbidden, not_found.
func (s *Service) FindInvoices(ctx context.Context, actor Actor, customerID string) ([]Invoice, error) {
	c, err := s.FindCustomerByID(ctx, actor, customerID)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.InvoiceList(ctx, c.ID, InvoicesListMax)
}
