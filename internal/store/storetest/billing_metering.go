package storetest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// MeteredTransfersMaxPer1000 is the target: ledger transfers per
// 1,000 usage reports with sessions at default thresholds.
const MeteredTransfersMaxPer1000 = 5

// transfersOf counts the ledger transfers of a customer's account.
func (f *billingFixture) transfersOf(c billing.Customer) int {
	f.t.Helper()
	n := 0
	for after := int64(0); ; {
		page, err := f.store.TransferList(f.ctx, ledger.TransferQuery{Owner: billing.LedgerOwner, AccountID: c.AccountID, AfterID: after, Limit: ledger.PageLimitMax})
		if err != nil {
			f.t.Fatal(err)
		}
		n += len(page)
		if len(page) < ledger.PageLimitMax {
			return n
		}
		after = page[len(page)-1].ID
	}
}

// meter reports `reports` usages of 1 for a fresh postpaid customer, in one
// session (quota = reports, default threshold) or as one direct charge
// each, and returns the ledger transfers it took and the customer.
func (f *billingFixture) meter(tb testing.TB, ref string, reports int, sessions bool) (int, billing.Customer) {
	c := f.customer(ref, billing.Postpaid, int64(reports)*10)
	if sessions {
		ses, err := f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: c.ID, Quota: int64(reports), Reference: ref})
		if err != nil {
			tb.Fatal(err)
		}
		for i := 1; i <= reports; i++ {
			if _, _, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: int64(i), Amount: 1}); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := f.svc.EndSession(f.ctx, provA, ses.ID); err != nil {
			tb.Fatal(err)
		}
	} else {
		for i := 1; i <= reports; i++ {
			if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 1, Reference: fmt.Sprintf("%s-%d", ref, i)}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	f.wantBilling(c, int64(reports), 0)
	return f.transfersOf(c), c
}

// BenchMeteredSessions measures 1,000 usage reports per op, with a metered
// session and with one direct charge per report, and reports the ledger
// transfers they took per 1,000 reports.
func BenchMeteredSessions(b *testing.B, h Harness) {
	const reports = 1000
	for _, sessions := range []bool{true, false} {
		name := "without_sessions"
		if sessions {
			name = "with_sessions"
		}
		b.Run(name, func(b *testing.B) {
			f := newBillingFixture(b, h)
			transfers := 0
			i := 0
			for b.Loop() {
				i++
				n, _ := f.meter(b, fmt.Sprintf("bench-%d", i), reports, sessions)
				transfers += n
			}
			b.ReportMetric(float64(transfers)/float64(i), "transfers/1000reports")
			b.ReportMetric(float64(reports*i)/b.Elapsed().Seconds(), "reports/s")
		})
	}
}

func testBillingMetering(t *testing.T, h Harness) {
	t.Run("SessionReports", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		p := billing.StartSessionParams{CustomerID: c.ID, Quota: 1000, Reference: "s1"}
		ses, err := f.svc.StartSession(f.ctx, provA, p)
		if err != nil || !strings.HasPrefix(ses.ID, "ses_") || ses.Quota != 1000 || ses.ThresholdPercent != billing.SettleThresholdPercentDefault || !billing.ValidAuthNumber(ses.AuthNumber) {
			t.Fatalf("start %+v, %v", ses, err)
		}
		if again, err := f.svc.StartSession(f.ctx, provA, p); err != nil || again.ID != ses.ID {
			t.Fatalf("repeated start %+v, %v", again, err)
		}
		_, err = f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: c.ID, Quota: 999, Reference: "s1"})
		wantErrParam(t, err, apperr.CodeConflict, "quota")
		_, err = f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: c.ID, Quota: 1, Reference: "s9", ThresholdPercent: 101})
		wantErrParam(t, err, apperr.CodeInvalid, "threshold_percent")
		f.wantBilling(c, 0, 1000)
		// The reservation is the session's alone.
		_, _, err = f.svc.Charge(f.ctx, provA, ses.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "x"})
		wantErrCode(t, err, billing.CodeReservationInSession)
		_, err = f.svc.CancelReservation(f.ctx, provA, ses.AuthNumber)
		wantErrCode(t, err, billing.CodeReservationInSession)

		u, s2, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 1, Amount: 100})
		if err != nil || u.Used != 100 || u.Unsettled != 100 || u.Remaining != 900 || u.Settled != 0 || s2.LastSeq != 1 {
			t.Fatalf("report 1: %+v %+v, %v", u, s2, err)
		}
		again, s3, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 1, Amount: 100})
		if err != nil || again != u || s3.Version != s2.Version {
			t.Fatalf("repeated report: %+v %+v, %v", again, s3, err)
		}
		_, _, err = f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 1, Amount: 101})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		// A gap is allowed, and a late seq never reported counts.
		if _, _, err = f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 5, Amount: 100}); err != nil {
			t.Fatal(err)
		}
		late, sl, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 3, Amount: 100})
		if err != nil || late.Used != 300 || sl.LastSeq != 5 || sl.Reports != 3 {
			t.Fatalf("late seq 3 after seq 5: %+v %+v, %v", late, sl, err)
		}
		if again, _, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 3, Amount: 100}); err != nil || again != late {
			t.Fatalf("seq 3 again: %+v, %v", again, err)
		}
		f.wantBilling(c, 0, 1000) // nothing reached the ledger yet
		before := f.transfersOf(c)
		// 500 unsettled crosses the default threshold (50% of 1000): one settlement.
		u, s4, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 6, Amount: 200})
		if err != nil || u.Settled != 500 || u.Unsettled != 0 || u.TransferID == 0 || s4.Settled != 500 || s4.Settlements != 1 {
			t.Fatalf("settling report: %+v %+v, %v", u, s4, err)
		}
		f.wantBilling(c, 500, 500)
		if got := f.transfersOf(c) - before; got != 2 {
			t.Fatalf("a settlement wrote %d transfers, want 2 (post, hold of the rest)", got)
		}
		// Beyond the quota: refused, nothing changes; after a top-up the same seq is accepted.
		_, _, err = f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 7, Amount: 600})
		wantErrParam(t, err, billing.CodeQuotaExceeded, "amount")
		if s, _ := f.svc.FindSession(f.ctx, provA, ses.ID); s.Version != s4.Version {
			t.Fatalf("refused report changed the session: %+v", s)
		}
		s5, err := f.svc.TopUpSession(f.ctx, provA, ses.ID, billing.TopUpSessionParams{Amount: 200, Reference: "t1"})
		if err != nil || s5.Quota != 1200 {
			t.Fatalf("top up %+v, %v", s5, err)
		}
		if again, err := f.svc.TopUpSession(f.ctx, provA, ses.ID, billing.TopUpSessionParams{Amount: 200, Reference: "t1"}); err != nil || again.Version != s5.Version {
			t.Fatalf("repeated top up %+v, %v", again, err)
		}
		_, err = f.svc.TopUpSession(f.ctx, provA, ses.ID, billing.TopUpSessionParams{Amount: 20000, Reference: "t2"})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		f.wantBilling(c, 500, 700)
		u, _, err = f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 7, Amount: 120})
		if err != nil || u.Used != 620 || u.Unsettled != 120 || u.Remaining != 580 {
			t.Fatalf("report after top up: %+v, %v", u, err)
		}
		// End charges exactly the unsettled usage and releases the rest.
		end, err := f.svc.EndSession(f.ctx, provA, ses.ID)
		if err != nil || end.State != billing.SessionEnded || end.Settled != 620 || end.Unsettled != 0 {
			t.Fatalf("end %+v, %v", end, err)
		}
		f.wantBilling(c, 620, 0)
		if again, err := f.svc.EndSession(f.ctx, provA, ses.ID); err != nil || again.Version != end.Version {
			t.Fatalf("repeated end %+v, %v", again, err)
		}
		_, _, err = f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 8, Amount: 1})
		wantErrCode(t, err, billing.CodeSessionEnded)
		if st := f.status(billing.Reservation{AuthNumber: ses.AuthNumber}); st.State != billing.StateClosed || st.Charged != 620 || st.Released != 580 {
			t.Fatalf("reservation after end: %+v", st.Reservation)
		}
		_, _, err = f.svc.ReportUsage(f.ctx, provB, ses.ID, billing.UsageParams{Seq: 9, Amount: 1})
		wantErrCode(t, err, apperr.CodeNotFound)
		// Events: the start, the top-up (not its repeat or its refusal),
		// the settlement at the threshold, and the end (not its repeat, and
		// not its final charge too: one change, one event).
		if d := f.wantEvents(t, "billing.session.started", 1); d["id"] != ses.ID {
			t.Fatalf("started event data %v", d)
		}
		f.wantEvents(t, "billing.session.topped_up", 1)
		f.wantEvents(t, "billing.reservation.charged", 1)
		if d := f.wantEvents(t, "billing.session.ended", 1); d["id"] != ses.ID || d["state"] != string(billing.SessionEnded) {
			t.Fatalf("ended event data %v", d)
		}
		f.wantEvents(t, "billing.reservation.created", 0)
		// Lists: by customer, by state; another provider sees none.
		for _, q := range []struct {
			actor billing.Actor
			state billing.SessionState
			want  int
		}{{provA, "", 1}, {provA, billing.SessionEnded, 1}, {provA, billing.SessionActive, 0}, {provB, "", 0}} {
			list, err := f.svc.FindSessions(f.ctx, q.actor, billing.SessionFilter{CustomerID: c.ID, State: q.state, Limit: 10})
			if err != nil || len(list) != q.want || (q.want == 1 && list[0].ID != ses.ID) {
				t.Fatalf("sessions of %s in state %q: %+v, %v", q.actor.ID, q.state, list, err)
			}
		}
		_, err = f.svc.FindSessions(f.ctx, provA, billing.SessionFilter{Limit: 10})
		wantErrParam(t, err, apperr.CodeInvalid, "customer_id")
		f.verifyClean()
	})

	t.Run("SessionExpiryChargesUsage", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		ses, err := f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: c.ID, Quota: 1000, Reference: "s", ExpiresInSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 1, Amount: 42}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(61 * time.Second)
		_, _, err = f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 2, Amount: 1})
		wantErrCode(t, err, billing.CodeReservationExpired)
		if n, err := f.svc.ExpireDue(f.ctx); err != nil || n != 1 {
			t.Fatalf("expire %d, %v", n, err)
		}
		s, _ := f.svc.FindSession(f.ctx, provA, ses.ID)
		if s.State != billing.SessionExpired || s.Settled != 42 {
			t.Fatalf("expired session %+v", s)
		}
		// Its reservation ended expired, as a state filter finds it, with
		// the accepted usage charged.
		if st, err := f.svc.FindReservation(f.ctx, provA, billing.ReservationLookup{AuthNumber: ses.AuthNumber}); err != nil || st.State != billing.StateExpired || st.Charged != 42 {
			t.Fatalf("the expired session's reservation: %+v, %v", st, err)
		}
		f.wantBilling(c, 42, 0)
		if d := f.wantEvents(t, "billing.session.expired", 1); d["id"] != ses.ID || d["state"] != string(billing.SessionExpired) {
			t.Fatalf("expired event data %v", d)
		}
		f.wantEvents(t, "billing.reservation.expired", 0)
		f.verifyClean()
	})

	t.Run("TransfersPer1000Reports", func(t *testing.T) {
		f := newBillingFixture(t, h)
		with, _ := f.meter(t, "with", 1000, true)
		without, _ := f.meter(t, "without", 1000, false)
		t.Logf("ledger transfers per 1,000 usage reports: %d with a session, %d without", with, without)
		if with > MeteredTransfersMaxPer1000 || without != 1000 {
			t.Fatalf("transfers per 1,000 reports: %d with a session (want ≤ %d), %d without (want 1000)", with, MeteredTransfersMaxPer1000, without)
		}
		f.verifyClean()
	})

	t.Run("Statement", func(t *testing.T) {
		f := newBillingFixture(t, h)
		pre := f.customer("pre", billing.Prepaid, 0)
		from := f.clock.Now()
		if _, err := f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: pre.ID, Amount: 5000, Reference: "=tu,1"}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		r := f.reserve(pre, 1000)
		f.clock.Advance(time.Second)
		f.must2(f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 300, Reference: "c1"}))
		f.clock.Advance(time.Second)
		f.must2(f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 200, Reference: "c2", Final: true}))
		f.clock.Advance(time.Second)
		r2 := f.reserve(pre, 400)
		f.clock.Advance(time.Second)
		if _, err := f.svc.CancelReservation(f.ctx, provA, r2.AuthNumber); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: pre.ID, Amount: 50, Reference: "d1"}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		st, err := f.svc.FindStatement(f.ctx, provA, billing.StatementParams{CustomerID: pre.ID, From: from, To: f.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, row := range st.Rows {
			kinds = append(kinds, string(row.Kind))
			// The running totals are the ledger's at the row's instant (one row per instant here but for a charge's post and new hold).
			b, err := f.bs.BalanceAt(f.ctx, pre.AccountID, row.At)
			if err != nil {
				t.Fatal(err)
			}
			last := row.TransferID == st.Rows[len(st.Rows)-1].TransferID
			for _, next := range st.Rows {
				if next.At.Equal(row.At) && next.TransferID > row.TransferID {
					last = false
				}
			}
			if last && (row.Balance != b.CreditsPosted-b.DebitsPosted || row.Reserved != b.DebitsPending) {
				t.Fatalf("row %+v: ledger at %s has balance %d reserved %d", row, row.At, b.CreditsPosted-b.DebitsPosted, b.DebitsPending)
			}
		}
		if got, want := strings.Join(kinds, " "), "top_up hold charge hold charge hold release charge"; got != want {
			t.Fatalf("statement kinds %q, want %q", got, want)
		}
		a, _ := f.bs.AccountByID(f.ctx, pre.AccountID)
		if st.OpeningBalance != 0 || st.ClosingBalance != a.CreditsPosted-a.DebitsPosted || st.ClosingBalance != 5000-550 || st.ClosingReserved != 0 {
			t.Fatalf("statement totals %+v", st)
		}
		if row := st.Rows[2]; row.AuthNumber != r.AuthNumber || row.Reference != "c1" || row.ChargeID == "" || row.Amount != 300 || row.Released != 700 {
			t.Fatalf("charge row %+v", row)
		}
		// A later period opens with the earlier one's closing totals.
		mid := st.Rows[4].At // the second charge; rows 2 and 3 (a charge and the hold of its rest) share an instant before it
		st2, err := f.svc.FindStatement(f.ctx, provA, billing.StatementParams{CustomerID: pre.ID, From: mid, To: f.clock.Now()})
		if err != nil || st2.OpeningBalance != st.Rows[3].Balance || st2.OpeningReserved != st.Rows[3].Reserved || len(st2.Rows) != len(st.Rows)-4 {
			t.Fatalf("later statement %+v, %v", st2, err)
		}
		_, err = f.svc.FindStatement(f.ctx, provA, billing.StatementParams{CustomerID: pre.ID, From: from, To: from.Add(billing.StatementPeriodMax + time.Second)})
		wantErrParam(t, err, apperr.CodeInvalid, "to")
		_, err = f.svc.FindStatement(f.ctx, provB, billing.StatementParams{CustomerID: pre.ID, From: from, To: f.clock.Now()})
		wantErrCode(t, err, apperr.CodeNotFound)
		var buf bytes.Buffer
		if err := billing.WriteStatementCSV(&buf, st); err != nil {
			t.Fatal(err)
		}
		text := buf.String()
		recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		if err != nil || len(recs) != len(st.Rows)+1 || strings.Join(recs[0], ",") != strings.Join(billing.StatementCSVHeader, ",") {
			t.Fatalf("csv %q, %v", recs, err)
		}
		if recs[1][11] != "'=tu,1" || !strings.HasSuffix(text, "\r\n") {
			t.Fatalf("csv top-up row %q", recs[1])
		}
	})

	t.Run("Invoice", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("post", billing.Postpaid, 100000)
		// The clock is in January 2026.
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 700, Reference: "d1"}); err != nil {
			t.Fatal(err)
		}
		ses, err := f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: c.ID, Quota: 1000, Reference: "s"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 10; i++ {
			if _, _, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: int64(i), Amount: 77}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.EndSession(f.ctx, provA, ses.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.ClosePeriod(f.ctx, provA, c.ID, "2026-01")
		wantErrCode(t, err, billing.CodePeriodOpen)
		_, err = f.svc.ClosePeriod(f.ctx, provA, c.ID, "2026-1")
		wantErrParam(t, err, apperr.CodeInvalid, "period")
		janEnd := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		f.clock.Advance(janEnd.Sub(f.clock.Now()) + time.Hour)
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 5, Reference: "feb"}); err != nil {
			t.Fatal(err)
		}
		inv, err := f.svc.ClosePeriod(f.ctx, provA, c.ID, "2026-01")
		if err != nil || !strings.HasPrefix(inv.ID, "inv_") || inv.Total != 700+770 || inv.Count != 3 || inv.Period != "2026-01" {
			t.Fatalf("invoice %+v, %v", inv, err)
		}
		f.clock.Advance(time.Hour)
		if again, err := f.svc.ClosePeriod(f.ctx, provA, c.ID, "2026-01"); err != nil || again != inv {
			t.Fatalf("closing again %+v, %v", again, err)
		}
		// The invoice reconciles with the statement of the month and the ledger.
		st, err := f.svc.FindStatement(f.ctx, provA, billing.StatementParams{CustomerID: c.ID, From: inv.PeriodStart, To: inv.PeriodEnd})
		if err != nil {
			t.Fatal(err)
		}
		var charged int64
		for _, row := range st.Rows {
			if row.Kind == billing.StatementCharge {
				charged += row.Amount
			}
		}
		b, err := f.bs.BalanceAt(f.ctx, c.AccountID, inv.PeriodEnd.Add(-time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		if charged != inv.Total || st.OpeningBalance-st.ClosingBalance != inv.Total || b.DebitsPosted-b.CreditsPosted != inv.Total {
			t.Fatalf("invoice %d, statement charges %d (balance %d → %d), ledger used %d", inv.Total, charged, st.OpeningBalance, st.ClosingBalance, b.DebitsPosted-b.CreditsPosted)
		}
		evs := f.events(t, "billing.invoice.created")
		if evs != 1 {
			t.Fatalf("%d billing.invoice.created events, want 1", evs)
		}
		list, err := f.svc.FindInvoices(f.ctx, provA, billing.InvoiceFilter{CustomerID: c.ID, Limit: billing.PageLimitMax})
		if err != nil || len(list) != 1 || list[0] != inv {
			t.Fatalf("invoices %+v, %v", list, err)
		}
		pre := f.customer("pre", billing.Prepaid, 0)
		_, err = f.svc.ClosePeriod(f.ctx, provA, pre.ID, "2026-01")
		wantErrParam(t, err, apperr.CodeInvalid, "customer_id")
		f.verifyClean()
	})
}
