package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
	"github.com/kinko-pay/kinko/internal/billing"
)

// TestBillingSessionEndToEnd starts the real server in-process on a fresh
// SQLite file with --test-clock and drives metered sessions, statements
// (JSON and CSV) and month-end invoices through the API; then kinko verify
// checks the ledger.
func TestBillingSessionEndToEnd(t *testing.T) {
	billingSessionEndToEnd(t, filepath.Join(t.TempDir(), "kinko.db"), serveConfig{TestClock: true})
}

// TestPostgresBillingSessionEndToEnd is TestBillingSessionEndToEnd on PostgreSQL.
func TestPostgresBillingSessionEndToEnd(t *testing.T) {
	billingSessionEndToEnd(t, freshPostgres(t), serveConfig{TestClock: true, AllowTestClock: true})
}

func billingSessionEndToEnd(t *testing.T, db string, cfg serveConfig) {
	ctx := context.Background()
	e := startBillingE2E(t, db, cfg)
	base, keyRead, admin, a, b, ro := e.base, e.keyRead, e.admin, e.a, e.b, e.ro
	// wantCode checks a refusal's code and param ("" when it names none).
	wantCode := func(what string, err error, code, param string) {
		t.Helper()
		var e *client.Error
		if !errors.As(err, &e) || e.Code != code || e.Param != param {
			t.Fatalf("%s: %v; want %s (param %q)", what, err, code, param)
		}
	}
	// advanceTo moves the test clock to the first instant at or after at,
	// to the second.
	advanceTo := func(at time.Time) time.Time {
		t.Helper()
		clk, err := admin.GetTestClock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d := at.Sub(clk.Now).Truncate(time.Second) + time.Second
		if clk, err = admin.AdvanceTestClock(ctx, d); err != nil || clk.Now.Before(at) {
			t.Fatalf("advance by %v to %v: %+v %v", d, at, clk, err)
		}
		return clk.Now
	}
	// Everything below happens in one calendar month (UTC), which starts
	// an hour before the clock.
	now, err := admin.GetTestClock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	monthStart := time.Date(now.Now.Year(), now.Now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	advanceTo(monthStart.Add(time.Hour))
	month, nextMonth := monthStart.Format("2006-01"), monthStart.AddDate(0, 1, 0)

	cus, _, err := a.CreateBillingCustomer(ctx, client.BillingCustomerParams{Reference: "meter-1", Mode: client.BillingPostpaid, Currency: "JPY",
		CreditLimit: &client.Money{Amount: 100000, Currency: "JPY"}})
	if err != nil {
		t.Fatal(err)
	}
	var ses client.BillingSession
	report := func(seq, amount int64) client.UsageReport {
		t.Helper()
		u, res, err := a.ReportUsage(ctx, ses.ID, seq, jpy(amount))
		if err != nil || res.Status != 201 || u.Seq != seq || u.Amount != jpy(amount) {
			t.Fatalf("report seq %d of %d: %+v %+v %v", seq, amount, u, res, err)
		}
		return u
	}

	t.Run("Session", func(t *testing.T) {
		var res client.Response
		ses, res, err = a.StartSession(ctx, client.SessionParams{Customer: cus.ID, Quota: jpy(1000), Reference: "call-1", ExpiresInSeconds: 3600})
		if err != nil || res.Status != 201 || ses.State != client.SessionActive || ses.Quota != jpy(1000) || ses.ThresholdPercent != 50 ||
			ses.Remaining != jpy(1000) || len(ses.AuthNumber) != 10 || ses.Customer != cus.ID {
			t.Fatalf("start: %+v %+v %v", ses, res, err)
		}
		again, res, err := a.StartSession(ctx, client.SessionParams{Customer: cus.ID, Quota: jpy(1000), Reference: "call-1", ExpiresInSeconds: 3600})
		if err != nil || res.Status != 201 || again.ID != ses.ID {
			t.Fatalf("start again with the same reference: %+v %v", again, err)
		}
		_, _, err = a.StartSession(ctx, client.SessionParams{Customer: cus.ID, Quota: jpy(999), Reference: "call-1", ExpiresInSeconds: 3600})
		wantCode("the reference with another quota", err, "conflict", "quota")
		_, _, err = a.StartSession(ctx, client.SessionParams{Customer: cus.ID, Quota: client.Money{Amount: 1000, Currency: "USD"}, Reference: "call-usd"})
		wantCode("a quota in another currency", err, "invalid", "quota.currency")

		u := report(1, 100)
		if u.Used != jpy(100) || u.Unsettled != jpy(100) || u.Remaining != jpy(900) || u.Settled != jpy(0) || u.Transfer != nil || u.Session.LastSeq != 1 {
			t.Fatalf("seq 1: %+v", u)
		}
		// The same seq and amount again: the first answer, nothing added.
		if replay := report(1, 100); replay.Used != jpy(100) || !replay.At.Equal(u.At) || replay.Session.Used != jpy(100) || replay.Session.Reports != 1 {
			t.Fatalf("seq 1 again: %+v", replay)
		}
		// The same Idempotency-Key: the first response, byte for byte.
		k1, res1, err1 := a.ReportUsage(ctx, ses.ID, 2, jpy(50), client.WithIdempotencyKey("ses-seq-2"))
		k2, res2, err2 := a.ReportUsage(ctx, ses.ID, 2, jpy(50), client.WithIdempotencyKey("ses-seq-2"))
		if err1 != nil || err2 != nil || res1.Replayed || !res2.Replayed || k2.Used != k1.Used || k1.Used != jpy(150) {
			t.Fatalf("keyed replay: %+v %+v %v / %+v %+v %v", k1, res1, err1, k2, res2, err2)
		}
		_, _, err = a.ReportUsage(ctx, ses.ID, 1, jpy(101))
		wantCode("seq 1 with another amount", err, "conflict", "amount")
		report(4, 150) // a gap is allowed
		if late := report(3, 10); late.Used != jpy(310) || late.Session.LastSeq != 4 {
			t.Fatalf("seq 3 after seq 4: %+v", late)
		}

		// 290 more makes 600 unsettled, past half the quota: one settlement.
		u = report(5, 290)
		if u.Used != jpy(600) || u.Unsettled != jpy(0) || u.Settled != jpy(600) || u.Transfer == nil || u.Remaining != jpy(400) ||
			u.Session.Settled != jpy(600) || u.Session.Settlements != 1 {
			t.Fatalf("settling report: %+v", u)
		}
		_, _, err = a.ReportUsage(ctx, ses.ID, 6, jpy(500))
		wantCode("usage above the quota", err, "quota_exceeded", "amount")
		top, err := a.TopUpSession(ctx, ses.ID, jpy(500), "call-1-more")
		if err != nil || top.Quota != jpy(1500) || top.Remaining != jpy(900) {
			t.Fatalf("top-up: %+v %v", top, err)
		}
		if top, err := a.TopUpSession(ctx, ses.ID, jpy(500), "call-1-more"); err != nil || top.Quota != jpy(1500) {
			t.Fatalf("top-up retried: %+v %v", top, err)
		}
		_, err = a.TopUpSession(ctx, ses.ID, jpy(501), "call-1-more")
		wantCode("the top-up's reference with another amount", err, "conflict", "amount")
		// The refused seq, again after the top-up: accepted; 500 unsettled
		// is below half of 1500, so nothing is charged.
		if u := report(6, 500); u.Used != jpy(1100) || u.Unsettled != jpy(500) || u.Settled != jpy(0) || u.Transfer != nil {
			t.Fatalf("seq 6 after the top-up: %+v", u)
		}

		// The session's reservation moves only through the session.
		_, _, err = a.Charge(ctx, ses.AuthNumber, client.ChargeParams{Amount: jpy(1), Reference: "around"})
		wantCode("a charge on the session's reservation", err, "reservation_in_session", "")
		_, err = a.CancelReservation(ctx, ses.AuthNumber)
		wantCode("a cancel of the session's reservation", err, "reservation_in_session", "")
		_, err = a.IncrementReservation(ctx, ses.AuthNumber, jpy(1), "around-inc")
		wantCode("an increment of the session's reservation", err, "reservation_in_session", "")

		got, err := ro.GetSession(ctx, ses.ID)
		if err != nil || got.Used != jpy(1100) || got.Settled != jpy(600) || got.Unsettled != jpy(500) || got.LastSeq != 6 || got.Reports != 6 ||
			got.Settlements != 1 || got.Quota != jpy(1500) {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := b.GetSession(ctx, ses.ID); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reads org A's session: %v", err)
		}
		if _, _, err := b.ReportUsage(ctx, ses.ID, 7, jpy(1)); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reports on org A's session: %v", err)
		}
		if _, err := ro.EndSession(ctx, ses.ID); client.CodeOf(err) != "forbidden" {
			t.Fatalf("a read-only key ends the session: %v", err)
		}
		if _, err := a.GetSession(ctx, "ses_nosuchsession"); client.CodeOf(err) != "not_found" {
			t.Fatalf("an unknown session: %v", err)
		}

		ended, err := a.EndSession(ctx, ses.ID)
		if err != nil || ended.State != client.SessionEnded || ended.Settled != jpy(1100) || ended.Unsettled != jpy(0) || ended.Settlements != 2 {
			t.Fatalf("end: %+v %v", ended, err)
		}
		if again, err := a.EndSession(ctx, ses.ID); err != nil || again != ended {
			t.Fatalf("end again: %+v %v; want %+v", again, err, ended)
		}
		// The customer's sessions: this one, ended; another provider lists none.
		if pg, err := a.ListSessions(ctx, cus.ID, "ended", client.ListParams{}); err != nil || len(pg.Data) != 1 || pg.Data[0] != ended {
			t.Fatalf("ended sessions: %+v %v", pg, err)
		}
		if pg, err := a.ListSessions(ctx, cus.ID, "active", client.ListParams{}); err != nil || len(pg.Data) != 0 {
			t.Fatalf("active sessions: %+v %v", pg, err)
		}
		if pg, err := b.ListSessions(ctx, cus.ID, "", client.ListParams{}); err != nil || len(pg.Data) != 0 {
			t.Fatalf("another provider's list: %+v %v", pg, err)
		}
		// The session's events carry it as the API shows it; the repeated
		// end wrote none.
		for _, typ := range []string{client.EventBillingSessionStarted, client.EventBillingSessionToppedUp, client.EventBillingSessionEnded} {
			got, err := waitEvents(t, a, typ, 1)[0].BillingSession()
			if err != nil || got.ID != ses.ID || (typ == client.EventBillingSessionEnded && got != ended) {
				t.Fatalf("%s event's session: %+v, %v; ended %+v", typ, got, err, ended)
			}
		}
		_, _, err = a.ReportUsage(ctx, ses.ID, 7, jpy(1))
		wantCode("a report after the end", err, "session_ended", "")
		_, err = a.TopUpSession(ctx, ses.ID, jpy(1), "after-end")
		wantCode("a top-up after the end", err, "session_ended", "")
		// A retry of an accepted seq is still answered from its report.
		if u, _, err := a.ReportUsage(ctx, ses.ID, 6, jpy(500)); err != nil || u.Used != jpy(1100) || u.Session.State != client.SessionEnded {
			t.Fatalf("seq 6 retried after the end: %+v %v", u, err)
		}
		rsv, err := a.GetReservation(ctx, ses.AuthNumber)
		if err != nil || rsv.State != client.ReservationClosed || rsv.Authorized != jpy(1500) || rsv.Charged != jpy(1100) || rsv.Released != jpy(400) {
			t.Fatalf("the session's reservation: %+v %v", rsv, err)
		}
	})

	// A direct charge and a canceled reservation give the statement every
	// kind of row a postpaid customer has.
	if _, _, err := a.ChargeDirect(ctx, client.DirectChargeParams{Customer: cus.ID, Amount: jpy(800), Reference: "direct-1"}); err != nil {
		t.Fatal(err)
	}
	r, _, err := a.Reserve(ctx, client.ReservationParams{Customer: cus.ID, Amount: jpy(300), Reference: "order-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CancelReservation(ctx, r.AuthNumber); err != nil {
		t.Fatal(err)
	}

	var st client.BillingStatement
	t.Run("Statement", func(t *testing.T) {
		st, err = ro.GetStatement(ctx, cus.ID, client.StatementQuery{Period: month})
		if err != nil {
			t.Fatal(err)
		}
		if !st.From.Equal(monthStart) || !st.To.Equal(nextMonth) || st.Currency != "JPY" || st.OpeningBalance != jpy(0) || st.OpeningReserved != jpy(0) {
			t.Fatalf("statement: %+v", st)
		}
		// The session: its hold; the settlement (a post, the rest held);
		// the top-up (the hold voided, a larger one); the end (a final post
		// that releases the rest). Then the direct charge and the canceled
		// reservation.
		want := []struct {
			kind              string
			amount, released  int64
			balance, reserved int64
			auth, charged     bool
		}{
			{"hold", 1000, 0, 0, 1000, true, false},
			{"charge", 600, 400, -600, 0, true, true},
			{"hold", 400, 0, -600, 400, true, false},
			{"release", 400, 400, -600, 0, true, false},
			{"hold", 900, 0, -600, 900, true, false},
			{"charge", 500, 400, -1100, 0, true, true},
			{"charge", 800, 0, -1900, 0, false, true},
			{"hold", 300, 0, -1900, 300, true, false},
			{"release", 300, 300, -1900, 0, true, false},
		}
		if len(st.Rows) != len(want) {
			t.Fatalf("%d rows, want %d: %+v", len(st.Rows), len(want), st.Rows)
		}
		charges := int64(0)
		for i, w := range want {
			row := st.Rows[i]
			if row.Kind != w.kind || row.Amount != jpy(w.amount) || row.Released != jpy(w.released) || row.Balance != jpy(w.balance) ||
				row.Reserved != jpy(w.reserved) || (row.AuthNumber != nil) != w.auth || (row.Charge != nil) != w.charged {
				t.Errorf("row %d: %+v; want %+v", i, row, w)
			}
			if row.Kind == "charge" {
				charges += row.Amount.Amount
			}
		}
		if an := st.Rows[0].AuthNumber; an == nil || *an != ses.AuthNumber {
			t.Errorf("the session's hold names reservation %v, want %s", an, ses.AuthNumber)
		}
		if ref := st.Rows[6].Reference; ref != "direct-1" {
			t.Errorf("the direct charge's reference %q", ref)
		}
		if charges != 1900 || st.ClosingBalance != jpy(-charges) || st.ClosingReserved != jpy(0) {
			t.Fatalf("charges %d, closing %+v %+v", charges, st.ClosingBalance, st.ClosingReserved)
		}

		// The balance inquiry and the ledger account agree with it.
		bal, err := a.GetBillingBalance(ctx, cus.ID, 0)
		if err != nil || bal.Balance != st.ClosingBalance || bal.Used != jpy(charges) || bal.Reserved != st.ClosingReserved {
			t.Fatalf("balance %+v %v; statement closes at %+v reserved %+v", bal, err, st.ClosingBalance, st.ClosingReserved)
		}
		acc := ledgerAccountByReference(t, ctx, admin, "billing:cus:"+cus.ID)
		if acc.Balance.CreditsPosted-acc.Balance.DebitsPosted != st.ClosingBalance.Amount || acc.Balance.DebitsPending != st.ClosingReserved.Amount {
			t.Fatalf("ledger account %+v; statement closes at %+v reserved %+v", acc.Balance, st.ClosingBalance, st.ClosingReserved)
		}
		trs, err := admin.ListAccountTransfers(ctx, acc.ID, client.ListParams{Limit: 100})
		if err != nil || len(trs.Data) != len(st.Rows) || trs.HasMore {
			t.Fatalf("ledger transfers of the account: %d (%v), statement rows %d", len(trs.Data), err, len(st.Rows))
		}
		inLedger := map[string]bool{}
		for _, tr := range trs.Data {
			inLedger[tr.ID] = true
		}
		for _, row := range st.Rows {
			if !inLedger[row.Transfer] {
				t.Errorf("row transfer %s is not a transfer of the ledger account", row.Transfer)
			}
		}

		// The same period by from and to.
		byTimes, err := a.GetStatement(ctx, cus.ID, client.StatementQuery{From: monthStart, To: nextMonth})
		if err != nil || len(byTimes.Rows) != len(st.Rows) || byTimes.ClosingBalance != st.ClosingBalance {
			t.Fatalf("statement by from and to: %+v %v", byTimes, err)
		}
		_, err = a.GetStatement(ctx, cus.ID, client.StatementQuery{From: monthStart, To: monthStart.AddDate(0, 0, 32)})
		wantCode("a period of 32 days", err, "invalid", "to")
		if _, err := b.GetStatement(ctx, cus.ID, client.StatementQuery{Period: month}); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reads org A's statement: %v", err)
		}
	})

	t.Run("StatementCSV", func(t *testing.T) {
		raw, err := ro.GetStatementCSV(ctx, cus.ID, client.StatementQuery{Period: month})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, raw)
		}
		header := "transfer_id,at,kind,amount,currency,balance,reserved,released,reservation_id,auth_number,charge_id,reference,description"
		if len(recs) != 1+len(st.Rows) || strings.Join(recs[0], ",") != header {
			t.Fatalf("%d records, header %v", len(recs), recs[0])
		}
		if !bytes.HasSuffix(raw, []byte("\r\n")) {
			t.Error("CSV lines do not end in CRLF")
		}
		for i, row := range st.Rows {
			rec := recs[i+1]
			want := []string{strings.TrimPrefix(row.Transfer, "tr_"), row.At.UTC().Format(time.RFC3339Nano), row.Kind, strconv.FormatInt(row.Amount.Amount, 10), "JPY",
				strconv.FormatInt(row.Balance.Amount, 10), strconv.FormatInt(row.Reserved.Amount, 10), strconv.FormatInt(row.Released.Amount, 10)}
			if got := rec[:len(want)]; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("CSV row %d: %v; want %v", i, got, want)
			}
			if rec[11] != row.Reference || rec[12] != row.Description {
				t.Errorf("CSV row %d: reference %q description %q; JSON %q %q", i, rec[11], rec[12], row.Reference, row.Description)
			}
		}
		// Asked for by Accept, with the file's name.
		get := func(accept string) (*http.Response, []byte) {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/billing/customers/"+cus.ID+"/statement?period="+month, nil)
			req.Header.Set("Authorization", "Bearer "+keyRead)
			req.Header.Set("Accept", accept)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res, body
		}
		res, body := get("text/csv")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !bytes.Equal(body, raw) ||
			res.Header.Get("Content-Disposition") != `attachment; filename="statement-`+cus.ID+"-"+month+`.csv"` {
			t.Fatalf("Accept: text/csv: %d %v", res.StatusCode, res.Header)
		}
		if res, _ := get("application/json, text/csv;q=0.5"); res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("Accept preferring JSON: %v", res.Header)
		}
	})

	t.Run("Invoice", func(t *testing.T) {
		_, _, err := a.CloseInvoicePeriod(ctx, cus.ID, month)
		wantCode("closing the month before it ends", err, "period_open", "")
		advanceTo(nextMonth.Add(time.Minute))
		_, _, err = a.CloseInvoicePeriod(ctx, cus.ID, month)
		wantCode("closing the month within MonthCloseDelay of its end", err, "period_open", "")
		advanceTo(nextMonth.Add(billing.MonthCloseDelay + time.Minute))

		inv, res, err := a.CloseInvoicePeriod(ctx, cus.ID, month)
		if err != nil || res.Status != 201 || inv.Period != month || inv.Customer != cus.ID || !inv.PeriodStart.Equal(monthStart) ||
			!inv.PeriodEnd.Equal(nextMonth) {
			t.Fatalf("close %s: %+v %+v %v", month, inv, res, err)
		}
		// The invoice is the month's statement charges.
		var total, count int64
		for _, row := range st.Rows {
			if row.Kind == "charge" {
				total, count = total+row.Amount.Amount, count+1
			}
		}
		if inv.Total != jpy(total) || inv.ChargeCount != count || total != 1900 || count != 3 {
			t.Fatalf("invoice %+v; the statement charged %d in %d charges", inv, total, count)
		}
		again, res, err := a.CloseInvoicePeriod(ctx, cus.ID, month)
		if err != nil || res.Status != 201 || again != inv {
			t.Fatalf("close again: %+v %+v %v; want %+v", again, res, err, inv)
		}
		list, err := ro.ListInvoices(ctx, cus.ID, client.ListParams{})
		if err != nil || len(list.Data) != 1 || list.Data[0] != inv || list.HasMore {
			t.Fatalf("invoices: %+v %v", list, err)
		}
		_, _, err = a.CloseInvoicePeriod(ctx, cus.ID, nextMonth.Format("2006-01"))
		wantCode("closing the current month", err, "period_open", "")
		_, _, err = a.CloseInvoicePeriod(ctx, cus.ID, "2026-13")
		wantCode("a malformed period", err, "invalid", "period")
		pre, _, err := a.CreateBillingCustomer(ctx, client.BillingCustomerParams{Reference: "pre-1", Mode: client.BillingPrepaid, Currency: "JPY"})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = a.CloseInvoicePeriod(ctx, pre.ID, month)
		wantCode("invoicing a prepaid customer", err, "invalid", "id")
		if _, err := b.ListInvoices(ctx, cus.ID, client.ListParams{}); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B lists org A's invoices: %v", err)
		}

		// billing.invoice.created carries the invoice as the API shows it.
		if got, err := waitEvents(t, a, client.EventBillingInvoiceCreated, 1)[0].BillingInvoice(); err != nil || got != inv {
			t.Fatalf("invoice event: %+v %v; want %+v", got, err, inv)
		}
	})

	e.stopAndVerify(t)
}

// ledgerAccountByReference pages through the operator's accounts (the
// admin key) for the one with reference ref.
func ledgerAccountByReference(t *testing.T, ctx context.Context, admin *client.Client, ref string) client.Account {
	t.Helper()
	p := client.ListParams{Limit: 100}
	for {
		page, err := admin.ListAccounts(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, acc := range page.Data {
			if acc.Reference == ref {
				return acc
			}
		}
		if !page.HasMore || len(page.Data) == 0 {
			t.Fatalf("no ledger account has reference %q", ref)
		}
		p.StartingAfter = page.Data[len(page.Data)-1].ID
	}
}
