package billing

import (
	"context"
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

// InvoiceFilter selects one page of a customer's invoices, newest period
// first.
type InvoiceFilter struct {
	CustomerID string
	// AfterID is the cursor: the last invoice of the previous page; the
	// page holds the invoices of earlier periods. One that is not the
	// customer's invoice gives an empty page.
	AfterID string
	Limit   int // 1..PageLimitMax (FindInvoices)
}

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
// closes only once it has ended and MonthCloseDelay more has passed.
//
// Errors: forbidden, invalid (period; a prepaid customer), not_found,
// period_open.
func (s *Service) ClosePeriod(ctx context.Context, actor Actor, customerID, period string) (Invoice, error) {
	if !actor.isOrg() {
		return Invoice{}, forbidden()
	}
	inv, _, err := s.closePeriod(ctx, actor, customerID, period, false)
	return inv, err
}

// closePeriod is ClosePeriod for an actor its caller allowed; created
// says whether this call wrote the invoice (false: it was closed before).
// With sweep, a customer registered after the period's end with no charge
// in it gets no invoice (and the zero Invoice is returned): the sweep lists
// customers registered up to MonthCloseDelay after the end, because a node
// whose clock runs ahead may stamp a registration after the end that
// another node's charge then precedes.
func (s *Service) closePeriod(ctx context.Context, actor Actor, customerID, period string, sweep bool) (inv Invoice, created bool, err error) {
	start, end, err := ParsePeriod(period)
	if err != nil {
		return Invoice{}, false, err
	}
	c, err := s.lockCustomer(ctx, actor, customerID, "billing.invoice.created", func(c *change) error {
		if c.cus.Mode != Postpaid {
			return apperr.Invalid("customer_id", "only a postpaid customer is invoiced")
		}
		old, err := c.tx.InvoiceByPeriod(c.ctx, c.cus.ID, period)
		switch {
		case err == nil:
			c.invoice, c.noop = &old, true
			c.result = func() any { return *c.invoice }
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		// Not before MonthCloseDelay has passed: another node whose clock
		// runs behind may still stamp a charge in the month.
		if closable := end.Add(MonthCloseDelay); c.now.Before(closable) {
			return apperr.New(CodePeriodOpen, "period %s can be closed from %s", period, closable.Format(time.RFC3339))
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
		if n == 0 && !c.cus.CreatedAt.Before(end) {
			if !sweep {
				// As the month-end close does: a customer registered in
				// December has no November invoice (nor its event).
				return apperr.Invalid("period", "customer %s was registered at %s, after period %s ended: it has no invoice for it",
					c.cus.ID, c.cus.CreatedAt.UTC().Format(time.RFC3339), period)
			}
			c.noop = true
			return nil
		}
		c.result = func() any { return *c.invoice }
		c.invoice = &Invoice{ID: newID("inv_"), OrgID: c.cus.OrgID, CustomerID: c.cus.ID, Period: period, Currency: c.cus.Currency,
			Total: total, Count: n, PeriodStart: start, PeriodEnd: end, ClosedAt: c.now}
		c.eventType = event.TypeBillingInvoiceCreated
		c.subject = audit.Subject{Type: "billing_invoice", ID: c.invoice.ID}
		c.data["customer"], c.data["period"], c.data["total"], c.data["count"] = c.cus.ID, period, total, n
		return nil
	})
	if err != nil {
		return Invoice{}, false, fmt.Errorf("billing: close period %s of customer %s: %w", period, customerID, err)
	}
	if c.invoice == nil {
		return Invoice{}, false, nil
	}
	return *c.invoice, !c.noop, nil
}

// MonthCloseDelay is how long after a month ends the month-end close
// starts closing it. Every node stamps charges with its own clock, so a
// node whose clock is behind may still stamp a charge in the month just
// ended; the delay keeps such a charge out of no invoice as long as the
// nodes' clocks disagree by less than it. It also bounds how late a
// customer registered in the month's last instant may commit.
const MonthCloseDelay = 10 * time.Minute

// closableMonth returns the last calendar month (UTC) that ended at least
// MonthCloseDelay before now: its period, and its end.
func closableMonth(now time.Time) (period string, end time.Time) {
	t := now.UTC().Add(-MonthCloseDelay)
	end = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return end.AddDate(0, -1, 0).Format(PeriodLayout), end
}

// MonthCloseLookback is how many ended months each month-end close pass
// looks at, the last one and those before it: months that ended while no
// node ran (or that a test clock jumped over) are closed too, as long as
// they are this recent. Older ones are closed with ClosePeriod.
const MonthCloseLookback = 3

// CloseEndedMonth is the month-end close: for each of the last
// MonthCloseLookback calendar months (UTC) that ended at least
// MonthCloseDelay ago, oldest first, it closes the month for every postpaid
// customer that existed in it (registered before its end) and has no
// invoice for it yet (and every customer registered within MonthCloseDelay
// after the end that was charged in the month: clocks differ), with
// ClosePeriod as the system actor billing_month_close, and returns how many
// invoices it wrote. It reads the customers in id order,
// MonthCloseBatchMax at a time, and closes each in its own transaction. A
// month without charges closes too, into an invoice of zero.
//
// Closing is idempotent (one invoice per customer and period, unique in
// the store), so nodes closing at once write each invoice, its event and
// its audit entry once; a node that finds the invoice written counts
// nothing. A customer that fails is skipped and the pass goes on; the
// pass then returns the first failure, and the next pass tries again. A
// pass that completes without failure is remembered: later passes on this
// Service return 0 at once, until the next month ends.
func (s *Service) CloseEndedMonth(ctx context.Context) (int, error) {
	last, end := closableMonth(s.now())
	if p := s.monthClosed.Load(); p != nil && *p == last {
		return 0, nil
	}
	closed, failed := 0, 0
	var first error
	for i := MonthCloseLookback - 1; i >= 0; i-- {
		monthEnd := end.AddDate(0, -i, 0)
		period := monthEnd.AddDate(0, -1, 0).Format(PeriodLayout)
		n, f, err := s.closeMonth(ctx, period, monthEnd)
		closed, failed = closed+n, failed+f
		switch {
		case err != nil && f == 0:
			return closed, err // the store failed: stop
		case err != nil && first == nil:
			first = err
		}
	}
	if first != nil {
		return closed, fmt.Errorf("billing: month-end close up to %s: %d customers failed, the first: %w", last, failed, first)
	}
	s.monthClosed.Store(&last)
	return closed, nil
}

// closeMonth is CloseEndedMonth for one period ending at end: the invoices
// it wrote, the customers that failed, and the first failure (or the
// store's error, with failed 0).
func (s *Service) closeMonth(ctx context.Context, period string, end time.Time) (closed, failed int, first error) {
	for after := ""; ; {
		// Customers registered up to MonthCloseDelay after the end: see
		// closePeriod's sweep.
		batch, err := s.cfg.Store.CustomerListUninvoiced(ctx, UninvoicedFilter{Period: period, CreatedBefore: end.Add(MonthCloseDelay),
			AfterID: after, Limit: MonthCloseBatchMax})
		if err != nil {
			return closed, 0, fmt.Errorf("billing: month-end close of %s: list customers: %w", period, err)
		}
		for _, cus := range batch {
			if err := ctx.Err(); err != nil {
				return closed, 0, fmt.Errorf("billing: month-end close of %s: %w", period, err)
			}
			_, created, err := s.closePeriod(ctx, actorMonthClose, cus.ID, period, true)
			switch {
			case err != nil:
				failed++
				if first == nil {
					first = err
				}
			case created:
				closed++
			}
		}
		if len(batch) < MonthCloseBatchMax {
			return closed, failed, first
		}
		after = batch[len(batch)-1].ID
	}
}

// UninvoicedFilter selects one batch of the customers the month-end close
// has still to invoice.
type UninvoicedFilter struct {
	Period        string    // "2026-01"
	CreatedBefore time.Time // customers registered before it (the period's end plus MonthCloseDelay)
	AfterID       string    // cursor: customers come in id order
	Limit         int       // at most MonthCloseBatchMax
}

// FindInvoices returns one page of a customer's invoices, newest period
// first.
//
// Errors: forbidden, invalid (limit), not_found.
func (s *Service) FindInvoices(ctx context.Context, actor Actor, f InvoiceFilter) ([]Invoice, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	c, err := s.FindCustomerByID(ctx, actor, f.CustomerID)
	if err != nil {
		return nil, err
	}
	f.CustomerID = c.ID
	return s.cfg.Store.InvoiceList(ctx, f)
}
