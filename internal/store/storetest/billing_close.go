package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/billing"
)

// endOfJanuary moves f's clock (in January 2026) to d after January's end.
func (f *billingFixture) endOfJanuary(d time.Duration) {
	f.t.Helper()
	f.clock.Advance(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Add(d).Sub(f.clock.Now()))
}

// closeMonth runs the month-end close on svc and wants n invoices written.
func (f *billingFixture) closeMonth(t testing.TB, svc *billing.Service, n int) {
	t.Helper()
	if got, err := svc.CloseEndedMonth(f.ctx); err != nil || got != n {
		t.Fatalf("month-end close: %d invoices, %v; want %d", got, err, n)
	}
}

// invoices returns a customer's invoices.
func (f *billingFixture) invoices(t testing.TB, actor billing.Actor, c billing.Customer) []billing.Invoice {
	t.Helper()
	list, err := f.svc.FindInvoices(f.ctx, actor, billing.InvoiceFilter{CustomerID: c.ID, Limit: billing.PageLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func testBillingMonthClose(t *testing.T, h Harness) {
	t.Run("ClosesLastEndedMonth", func(t *testing.T) {
		f := newBillingFixture(t, h)
		jan := f.customer("jan", billing.Postpaid, 10000)
		pre := f.customer("pre", billing.Prepaid, 0)
		other, err := f.svc.CreateCustomer(f.ctx, provB, billing.CustomerParams{Reference: "b", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: jan.ID, Amount: 300, Reference: "d1"}); err != nil {
			t.Fatal(err)
		}
		// December ended, but nobody existed in it.
		f.closeMonth(t, f.svc, 0)
		// January ended, less than MonthCloseDelay ago: not yet.
		f.endOfJanuary(billing.MonthCloseDelay - time.Second)
		f.closeMonth(t, f.node(), 0)
		feb := f.customer("feb", billing.Postpaid, 10000) // registered after January
		f.clock.Advance(time.Second)
		f.closeMonth(t, f.svc, 2)
		inv := f.invoices(t, provA, jan)
		if len(inv) != 1 || inv[0].Period != "2026-01" || inv[0].Total != 300 || inv[0].Count != 1 || inv[0].OrgID != provA.ID {
			t.Fatalf("January invoice of a customer with one charge: %+v", inv)
		}
		if got := f.invoices(t, provB, other); len(got) != 1 || got[0].Total != 0 || got[0].Count != 0 {
			t.Fatalf("January invoice of a customer without charges: %+v", got)
		}
		if got := f.invoices(t, provA, feb); len(got) != 0 {
			t.Fatalf("a customer registered in February has January invoices %+v", got)
		}
		if got := f.invoices(t, provA, pre); len(got) != 0 {
			t.Fatalf("a prepaid customer has invoices %+v", got)
		}
		if data := f.wantEvents(t, "billing.invoice.created", 1); data["id"] != inv[0].ID || data["period"] != "2026-01" {
			t.Fatalf("invoice event data %v", data)
		}
		entries, err := f.store.(audit.Store).AuditList(f.ctx, audit.Filter{SubjectType: "billing_invoice", SubjectID: inv[0].ID, Limit: 10})
		if err != nil || len(entries) != 1 || entries[0].Action != "billing.invoice.created" ||
			entries[0].Actor != (audit.Actor{Type: audit.ActorSystem, ID: "billing_month_close"}) || entries[0].OrgID != provA.ID {
			t.Fatalf("audit of the invoice %+v, %v", entries, err)
		}

		// Again: this node remembers its clean pass; another node (no
		// memory) finds nothing left. Neither writes anything.
		f.closeMonth(t, f.svc, 0)
		f.closeMonth(t, f.node(), 0)
		if again, err := f.svc.ClosePeriod(f.ctx, provA, jan.ID, "2026-01"); err != nil || again != inv[0] {
			t.Fatalf("closing the closed month explicitly: %+v, %v", again, err)
		}
		f.wantEvents(t, "billing.invoice.created", 1)
		// Only an organization closes a month explicitly.
		_, err = f.svc.ClosePeriod(f.ctx, billing.Actor{Kind: billing.ActorSystem, ID: "billing_month_close"}, feb.ID, "2026-01")
		wantErrCode(t, err, apperr.CodeForbidden)
		// Nor does it invoice a month before its customer was registered,
		// any more than the month-end close does.
		_, err = f.svc.ClosePeriod(f.ctx, provA, feb.ID, "2026-01")
		wantErrParam(t, err, apperr.CodeInvalid, "period")
		if got := f.invoices(t, provA, feb); len(got) != 0 {
			t.Fatalf("a refused close wrote %+v", got)
		}
		f.wantEvents(t, "billing.invoice.created", 1)

		// February ends: the customer registered in it is closed now.
		f.clock.Advance(29*24*time.Hour + billing.MonthCloseDelay)
		f.closeMonth(t, f.svc, 3)
		if got := f.invoices(t, provA, feb); len(got) != 1 || got[0].Period != "2026-02" {
			t.Fatalf("February invoice %+v", got)
		}
		f.verifyClean()
	})

	t.Run("InvoicePages", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		other := f.customer("other", billing.Postpaid, 10000)
		f.clock.Advance(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Add(billing.MonthCloseDelay + time.Second).Sub(f.clock.Now()))
		var made []billing.Invoice
		for _, period := range []string{"2026-02", "2026-01", "2026-03"} {
			inv, err := f.svc.ClosePeriod(f.ctx, provA, c.ID, period)
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, inv)
		}
		theirs, err := f.svc.ClosePeriod(f.ctx, provA, other.ID, "2026-03")
		if err != nil {
			t.Fatal(err)
		}
		page := func(after string, limit int) []string {
			t.Helper()
			list, err := f.svc.FindInvoices(f.ctx, provA, billing.InvoiceFilter{CustomerID: c.ID, AfterID: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			var periods []string
			for _, inv := range list {
				periods = append(periods, inv.Period)
			}
			return periods
		}
		// Newest period first, whatever order the periods were closed in.
		if got := page("", 2); !slices.Equal(got, []string{"2026-03", "2026-02"}) {
			t.Fatalf("first page %v", got)
		}
		if got := page(made[0].ID, 2); !slices.Equal(got, []string{"2026-01"}) {
			t.Fatalf("after February: %v", got)
		}
		if got := page(made[1].ID, 2); len(got) != 0 {
			t.Fatalf("after January: %v", got)
		}
		if got := page(theirs.ID, 2); len(got) != 0 {
			t.Fatalf("after another customer's invoice: %v", got)
		}
		_, err = f.svc.FindInvoices(f.ctx, provA, billing.InvoiceFilter{CustomerID: c.ID, Limit: billing.PageLimitMax + 1})
		wantErrParam(t, err, apperr.CodeInvalid, "limit")
		_, err = f.svc.FindInvoices(f.ctx, provB, billing.InvoiceFilter{CustomerID: c.ID, Limit: 1})
		wantErrCode(t, err, apperr.CodeNotFound)
	})
	t.Run("ClosesMonthsMissedWhileDown", func(t *testing.T) {
		// No node ran from January's end until March's: the first pass
		// after closes January and February.
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		charge := func(ref string, amount int64) {
			if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: amount, Reference: ref}); err != nil {
				t.Fatal(err)
			}
		}
		charge("jan", 100)
		f.endOfJanuary(time.Hour)
		charge("feb", 250)
		f.clock.Advance(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(billing.MonthCloseDelay).Sub(f.clock.Now()))
		f.closeMonth(t, f.node(), 2)
		inv := f.invoices(t, provA, c)
		if len(inv) != 2 || inv[0].Period != "2026-02" || inv[0].Total != 250 || inv[1].Period != "2026-01" || inv[1].Total != 100 {
			t.Fatalf("invoices after a month missed %+v", inv)
		}
		f.closeMonth(t, f.svc, 0)
		f.billingVerifyClean()
	})

	t.Run("ClockSkewAtMonthEnd", func(t *testing.T) {
		// A node whose clock runs 2 s ahead registers a customer at
		// January's last second: the row says February. A node with the
		// right clock then charges it, stamped in January. The charge must
		// be on January's invoice; a late customer never charged gets none.
		f := newBillingFixture(t, h)
		f.endOfJanuary(time.Second)
		late := f.customer("late", billing.Postpaid, 10000)
		idle := f.customer("idle", billing.Postpaid, 10000)
		f.endOfJanuary(-500 * time.Millisecond)
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: late.ID, Amount: 500, Reference: "skewed"}); err != nil {
			t.Fatal(err)
		}
		f.endOfJanuary(billing.MonthCloseDelay)
		f.closeMonth(t, f.svc, 1)
		if inv := f.invoices(t, provA, late); len(inv) != 1 || inv[0].Period != "2026-01" || inv[0].Total != 500 || inv[0].Count != 1 {
			t.Fatalf("January invoice of a customer charged in January: %+v", inv)
		}
		if inv := f.invoices(t, provA, idle); len(inv) != 0 {
			t.Fatalf("a customer registered after January and never charged in it has invoices %+v", inv)
		}
		f.closeMonth(t, f.node(), 0)
	})

	t.Run("Batches", func(t *testing.T) {
		f := newBillingFixture(t, h)
		n := billing.MonthCloseBatchMax + 5
		cs := make([]billing.Customer, n)
		for i := range cs {
			cs[i] = f.customer(fmt.Sprintf("c-%03d", i), billing.Postpaid, 1000)
		}
		f.endOfJanuary(billing.MonthCloseDelay)
		// Some are closed by their provider first; the close skips them.
		manual := 0
		for i := 0; i < n; i += 7 {
			if _, err := f.svc.ClosePeriod(f.ctx, provA, cs[i].ID, "2026-01"); err != nil {
				t.Fatal(err)
			}
			manual++
		}
		// A pass that fails (here: its context ends) is not remembered.
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		if _, err := f.svc.CloseEndedMonth(ctx); err == nil {
			t.Fatal("a month-end close with an ended context did not fail")
		}
		f.closeMonth(t, f.svc, n-manual)
		for _, c := range cs {
			if inv := f.invoices(t, provA, c); len(inv) != 1 {
				t.Fatalf("customer %s has %d invoices", c.Reference, len(inv))
			}
		}
		f.wantEvents(t, "billing.invoice.created", n)
	})

	t.Run("TwoNodes", func(t *testing.T) {
		f, f2 := newBillingPair(t, h)
		const customers, passes = 30, 3
		cs := make([]billing.Customer, customers)
		for i := range cs {
			cs[i] = f.customer(fmt.Sprintf("c-%02d", i), billing.Postpaid, 1000)
		}
		f.endOfJanuary(billing.MonthCloseDelay)
		// Both nodes close the same customer at once, explicitly...
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			svc := f.svc
			if i%2 == 1 {
				svc = f2.svc
			}
			wg.Go(func() {
				inv, err := svc.ClosePeriod(context.Background(), provA, cs[0].ID, "2026-01")
				if err != nil {
					t.Errorf("close period: %v", err)
				}
				ids[i] = inv.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent closes of one customer returned invoices %v", ids)
			}
		}
		// ...and every customer through several month-end closes at once,
		// on both nodes (fresh services: a service skips a month its own
		// clean pass closed).
		var mu sync.Mutex
		closed := 0
		for i := range passes * 2 {
			node := f
			if i%2 == 1 {
				node = f2
			}
			svc := node.node()
			wg.Go(func() {
				n, err := svc.CloseEndedMonth(context.Background())
				if err != nil {
					t.Errorf("month-end close: %v", err)
				}
				mu.Lock()
				closed += n
				mu.Unlock()
			})
		}
		wg.Wait()
		if closed != customers-1 {
			t.Fatalf("the passes wrote %d invoices, want %d", closed, customers-1)
		}
		for _, c := range cs {
			if inv := f.invoices(t, provA, c); len(inv) != 1 {
				t.Fatalf("customer %s has %d invoices", c.Reference, len(inv))
			}
		}
		f.wantEvents(t, "billing.invoice.created", customers)
		entries, err := f.store.(audit.Store).AuditList(f.ctx, audit.Filter{OrgID: provA.ID, Limit: audit.PageLimitMax})
		if err != nil {
			t.Fatal(err)
		}
		audited := 0
		for _, e := range entries {
			if e.Action == "billing.invoice.created" {
				audited++
			}
		}
		if audited != customers {
			t.Fatalf("%d invoices audited, want %d", audited, customers)
		}
		f.verifyClean()
	})
}
