package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/billing"
)

// billingVerifyClean runs billing's Verify and fails on any violation.
func (f *billingFixture) billingVerifyClean() billing.VerifyReport {
	f.t.Helper()
	rep, err := f.svc.Verify(f.ctx, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, v := range rep.Violations {
		f.t.Errorf("billing verify: %s", v)
	}
	return rep
}

// wantBillingViolation runs Verify and wants one violation containing want.
func (f *billingFixture) wantBillingViolation(t *testing.T, want string) {
	t.Helper()
	rep, err := f.svc.Verify(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 1 || !strings.Contains(rep.Violations[0], want) {
		t.Fatalf("violations %q, want one saying %q", rep.Violations, want)
	}
}

// wantBillingViolations runs Verify and wants exactly one violation
// containing each of want, in order.
func (f *billingFixture) wantBillingViolations(t *testing.T, want ...string) {
	t.Helper()
	rep, err := f.svc.Verify(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := len(rep.Violations) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.Contains(rep.Violations[i], want[i])
	}
	if !ok {
		t.Fatalf("violations %q, want %q", rep.Violations, want)
	}
}

func testBillingVerify(t *testing.T, h Harness) {
	// workload leaves a closed reservation with two charges, a canceled
	// one, an expired one, a direct charge, a top-up, a finished metered
	// session, a closed month and, after it, a live reservation.
	workload := func(t *testing.T) (*billingFixture, billing.Customer, billing.Customer, billing.Reservation) {
		f := newBillingFixture(t, h)
		post := f.customer("post", billing.Postpaid, 100000)
		pre := f.customer("pre", billing.Prepaid, 0)
		if _, err := f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: pre.ID, Amount: 5000, Reference: "t1"}); err != nil {
			t.Fatal(err)
		}
		closed := f.reserve(post, 1000)
		f.must2(f.svc.Charge(f.ctx, provA, closed.AuthNumber, billing.ChargeParams{Amount: 300, Reference: "c1"}))
		f.must2(f.svc.Charge(f.ctx, provA, closed.AuthNumber, billing.ChargeParams{Amount: 200, Reference: "c2", Final: true}))
		if _, err := f.svc.CancelReservation(f.ctx, provA, f.reserve(pre, 400).AuthNumber); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: pre.ID, Amount: 100, ExpiresInSeconds: 60}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: pre.ID, Amount: 250, Reference: "d1"}); err != nil {
			t.Fatal(err)
		}
		ses, err := f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: post.ID, Quota: 100, Reference: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		for seq := int64(1); seq <= 7; seq++ {
			if _, _, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: seq, Amount: 9}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.EndSession(f.ctx, provA, ses.ID); err != nil {
			t.Fatal(err)
		}
		f.endOfJanuary(billing.MonthCloseDelay + time.Second) // the 60 s reservation expires too
		if n, err := f.svc.ExpireDue(f.ctx); err != nil || n != 1 {
			t.Fatalf("expired %d, %v", n, err)
		}
		f.closeMonth(t, f.svc, 1)
		live := f.reserve(post, 700)
		return f, post, pre, live
	}

	t.Run("Clean", func(t *testing.T) {
		f, _, _, _ := workload(t)
		rep := f.billingVerifyClean()
		if rep.Organizations != 1 || rep.Customers != 2 || rep.Reservations != 5 || rep.Charges != 5 || rep.Invoices != 1 || rep.Sessions != 1 {
			t.Fatalf("checked %+v", rep)
		}
	})
	t.Run("WhileCharging", func(t *testing.T) {
		// Verify reads each customer from one snapshot: charges and
		// reservations committed while it runs never look like violations.
		f, post, _, _ := workload(t)
		// Pages of charges: Verify's reads of this customer take a while.
		for i := range 3 * billing.PageLimitMax {
			if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: post.ID, Amount: 1, Reference: fmt.Sprint("pre-", i)}); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		stopped := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					stopped <- nil
					return
				default:
				}
				r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: post.ID, Amount: 3})
				if err == nil {
					_, err = f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: post.ID, Amount: 1, Reference: fmt.Sprint("load-", i)})
				}
				if err == nil {
					_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 2, Reference: fmt.Sprint("load-r-", i), Final: true})
				}
				if err != nil {
					stopped <- err
					return
				}
			}
		}()
		for range 20 {
			rep, err := f.svc.Verify(f.ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Violations) != 0 {
				close(done)
				t.Fatalf("violations while charging: %q", rep.Violations)
			}
		}
		close(done)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		f.billingVerifyClean()
	})
	t.Run("ReservationChargedTampered", func(t *testing.T) {
		f, _, _, live := workload(t)
		h.Exec(t, f.store, "UPDATE billing_reservations SET charged = charged + 5, authorized = authorized + 5 WHERE id = '"+live.ID+"'")
		f.wantBillingViolation(t, "says it charged 5; its charges sum to 0")
	})
	t.Run("HoldAmountTampered", func(t *testing.T) {
		f, _, _, live := workload(t)
		h.Exec(t, f.store, "UPDATE billing_reservations SET reserved = reserved - 1, released = released + 1 WHERE id = '"+live.ID+"'")
		rep, err := f.svc.Verify(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Violations) != 2 || !strings.Contains(strings.Join(rep.Violations, "\n"), "pending debits; its active reservations hold") {
			t.Fatalf("violations %q", rep.Violations)
		}
	})
	t.Run("PostpaidCredited", func(t *testing.T) {
		// Money from nowhere: the customer's account, and its
		// organization's, which no top-up paid.
		f, post, _, _ := workload(t)
		h.Tamper(t, f.store, post.AccountID, 10)
		f.wantBillingViolations(t, "is postpaid, but its account was credited 10",
			"billing organization org_provA (JPY): its top-up account was debited 5000 (0 pending); its customers' accounts were credited 5010 (0 pending)")
	})
	t.Run("RevenueCredited", func(t *testing.T) {
		f, post, _, _ := workload(t)
		rev, err := f.bs.AccountByReference(f.ctx, billing.LedgerOwner, billing.RevenueAccountReference(post))
		if err != nil {
			t.Fatal(err)
		}
		h.Tamper(t, f.store, rev.ID, 7)
		f.wantBillingViolation(t, "billing organization org_provA (JPY): its revenue accounts were credited 820 (700 pending); its customers' accounts were debited 813 (700 pending)")
	})
	t.Run("SessionTampered", func(t *testing.T) {
		f, _, _, _ := workload(t)
		h.Exec(t, f.store, "UPDATE billing_sessions SET settled = settled - 9, unsettled = unsettled + 9 WHERE reference = 's1'")
		f.wantBillingViolation(t, "(ended; quota 100, used 63, settled 54, unsettled 9) disagrees with its reservation")
	})
	t.Run("UsageReportMissing", func(t *testing.T) {
		f, _, _, _ := workload(t)
		h.Exec(t, f.store, "DELETE FROM billing_usage_reports WHERE seq = 7 AND session_id IN (SELECT id FROM billing_sessions WHERE reference = 's1')")
		f.wantBillingViolation(t, "says it accepted 7 reports using 63; its reports are 6 using 54")
	})
	t.Run("InvoiceTampered", func(t *testing.T) {
		f, post, _, _ := workload(t)
		h.Exec(t, f.store, "UPDATE billing_invoices SET total = total + 1 WHERE customer_id = '"+post.ID+"'")
		f.wantBillingViolation(t, "(2026-01) says")
	})
}
