package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// TestBillingEndToEnd starts the real server in-process on a fresh SQLite
// file with --test-clock and drives billing through the API as a provider
// would; then kinko verify checks the ledger.
func TestBillingEndToEnd(t *testing.T) {
	billingEndToEnd(t, filepath.Join(t.TempDir(), "kinko.db"), serveConfig{TestClock: true})
}

// TestPostgresBillingEndToEnd is TestBillingEndToEnd on PostgreSQL.
func TestPostgresBillingEndToEnd(t *testing.T) {
	billingEndToEnd(t, freshPostgres(t), serveConfig{TestClock: true, AllowTestClock: true})
}

// billingE2E is a server for the billing end-to-end tests, on db with
// the asset JPY, and the keys they act with: the operator's (admin),
// provider A's (a: billing:write and events:read; ro: billing:read) and
// provider B's (b: billing:write).
type billingE2E struct {
	srv             *runningServer
	db, base        string
	keyA, keyRead   string
	admin, a, b, ro *client.Client
}

// startBillingE2E makes the organizations and keys with the CLI, then
// starts the server with cfg on db.
func startBillingE2E(t *testing.T, db string, cfg serveConfig) billingE2E {
	t.Helper()
	adminKey := cliOut(t, "keys", "create", "--db", db, "--scopes", "admin")
	orgA, orgB := cliOut(t, "orgs", "create", "--db", db, "--name", "Cloud A"), cliOut(t, "orgs", "create", "--db", db, "--name", "Calls B")
	e := billingE2E{db: db}
	e.keyA = cliOut(t, "keys", "create", "--db", db, "--org", orgA, "--scopes", "billing:write,events:read")
	keyB := cliOut(t, "keys", "create", "--db", db, "--org", orgB, "--scopes", "billing:write")
	e.keyRead = cliOut(t, "keys", "create", "--db", db, "--org", orgA, "--scopes", "billing:read")
	cfg.DB = db
	e.srv = startServeConfig(t, cfg)
	e.base = "http://" + e.srv.addr
	e.admin, e.a, e.b, e.ro = client.New(e.base, adminKey, nil), client.New(e.base, e.keyA, nil), client.New(e.base, keyB, nil), client.New(e.base, e.keyRead, nil)
	if _, err := e.admin.CreateAsset(context.Background(), client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// stopAndVerify stops the server, then kinko verify checks the ledger and
// reconciles billing's customers with it.
func (e billingE2E) stopAndVerify(t *testing.T) {
	t.Helper()
	if err := e.srv.stop(t); err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
	r := runCLI(t, nil, "verify", "--db", e.db)
	if r.code != exitOK || !strings.Contains(r.stdout, "no violations") || !regexp.MustCompile(`billing: +[1-9][0-9]* customers, [0-9]+ reservations, [0-9]+ charges`).MatchString(r.stdout) {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func jpy(n int64) client.Money { return client.Money{Amount: n, Currency: "JPY"} }

func billingEndToEnd(t *testing.T, db string, cfg serveConfig) {
	ctx := context.Background()
	e := startBillingE2E(t, db, cfg)
	base, keyA, admin, a, b, ro := e.base, e.keyA, e.admin, e.a, e.b, e.ro
	wantCode := func(what string, err error, code string) {
		t.Helper()
		if client.CodeOf(err) != code {
			t.Fatalf("%s: %v; want %s", what, err, code)
		}
	}
	customer := func(ref, mode string, limit int64) client.BillingCustomer {
		t.Helper()
		p := client.BillingCustomerParams{Reference: ref, Mode: mode, Currency: "JPY"}
		if mode == client.BillingPostpaid {
			l := jpy(limit)
			p.CreditLimit = &l
		}
		c, res, err := a.CreateBillingCustomer(ctx, p)
		if err != nil || res.Status != 201 || c.Mode != mode || c.CreditLimit != jpy(limit) {
			t.Fatalf("create customer %s: %+v %+v %v", ref, c, res, err)
		}
		return c
	}
	balance := func(id string, proposed int64) client.BillingBalance {
		t.Helper()
		bal, err := a.GetBillingBalance(ctx, id, proposed)
		if err != nil {
			t.Fatalf("balance of %s: %v", id, err)
		}
		return bal
	}
	reserve := func(cus string, amount int64, ref string, expires int64) client.Reservation {
		t.Helper()
		r, res, err := a.Reserve(ctx, client.ReservationParams{Customer: cus, Amount: jpy(amount), Reference: ref, ExpiresInSeconds: expires})
		if err != nil || res.Status != 201 || r.State != client.ReservationActive || len(r.AuthNumber) != 10 || r.Reserved != jpy(amount) {
			t.Fatalf("reserve %d for %s: %+v %+v %v", amount, cus, r, res, err)
		}
		return r
	}

	events := func(typ string, n int) []client.Event { t.Helper(); return waitEvents(t, a, typ, n) }

	pre := customer("pre-1", client.BillingPrepaid, 0)
	post := customer("post-1", client.BillingPostpaid, 10000)

	t.Run("PrepaidTopUpAndBalanceInquiry", func(t *testing.T) {
		if _, _, err := a.Reserve(ctx, client.ReservationParams{Customer: pre.ID, Amount: jpy(1)}); client.CodeOf(err) != "limit_exceeded" {
			t.Fatalf("reserve before any top-up: %v", err)
		}
		if _, err := a.TopUp(ctx, pre.ID, jpy(5000), "topup-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.TopUp(ctx, pre.ID, jpy(5000), "topup-1"); err != nil { // a retry changes nothing
			t.Fatal(err)
		}
		if _, err := a.TopUp(ctx, pre.ID, client.Money{Amount: 1, Currency: "USD"}, "topup-usd"); client.CodeOf(err) != "invalid" {
			t.Fatalf("top-up in another currency: %v", err)
		}
		if _, err := a.TopUp(ctx, post.ID, jpy(1), "topup-post"); client.CodeOf(err) != "invalid" {
			t.Fatalf("top-up of a postpaid customer: %v", err)
		}
		bal := balance(pre.ID, 6000)
		if bal.Balance != jpy(5000) || bal.Available != jpy(5000) || bal.Reserved != jpy(0) || bal.RemainingAfter == nil ||
			*bal.RemainingAfter != jpy(-1000) || !bal.WouldBeRefused {
			t.Fatalf("prepaid balance for 6000: %+v", bal)
		}
		if bal := balance(pre.ID, 0); bal.Proposed != nil || bal.WouldBeRefused {
			t.Fatalf("balance without a proposal: %+v", bal)
		}
		r := reserve(pre.ID, 3000, "", 0)
		if _, _, err := a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(2500), Reference: "pre-use", Final: true}); err != nil {
			t.Fatal(err)
		}
		if bal := balance(pre.ID, 2500); bal.Balance != jpy(2500) || bal.Used != jpy(2500) || bal.Available != jpy(2500) || bal.WouldBeRefused {
			t.Fatalf("prepaid balance after a charge: %+v", bal)
		}
	})

	t.Run("MultiCaptureAndReserveDifference", func(t *testing.T) {
		r := reserve(post.ID, 3000, "order-1", 3600)
		if bal := balance(post.ID, 8000); bal.Reserved != jpy(3000) || bal.Available != jpy(7000) || !bal.WouldBeRefused {
			t.Fatalf("postpaid balance with a reservation: %+v", bal)
		}
		ch, res, err := a.Charge(ctx, strings.ToLower(r.AuthNumber), client.ChargeParams{Amount: jpy(1000), Reference: "use-1"})
		if err != nil || res.Status != 201 || ch.Reservation == nil || ch.Reservation.Reserved != jpy(2000) || ch.Reservation.Charged != jpy(1000) || ch.AuthNumber != r.AuthNumber {
			t.Fatalf("first capture: %+v %v", ch, err)
		}
		_, _, err = a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(2500), Reference: "use-2"})
		wantCode("a charge above what remains", err, "reservation_exceeded")
		ch, _, err = a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(2500), Reference: "use-2", ReserveDifference: true})
		if err != nil || ch.Reservation.Reserved != jpy(0) || ch.Reservation.Charged != jpy(3500) || ch.Reservation.Authorized != jpy(3500) {
			t.Fatalf("charge with reserve_difference: %+v %v", ch, err)
		}
		if _, err := a.IncrementReservation(ctx, r.AuthNumber, jpy(1500), "more-1"); err != nil {
			t.Fatal(err)
		}
		again, err := a.IncrementReservation(ctx, r.AuthNumber, jpy(1500), "more-1") // a retry changes nothing
		if err != nil || again.Reserved != jpy(1500) || again.Authorized != jpy(5000) {
			t.Fatalf("increment retried: %+v %v", again, err)
		}
		ch, _, err = a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(500), Reference: "use-3", Final: true})
		if err != nil || ch.Reservation.State != client.ReservationClosed || ch.Reservation.Released != jpy(1000) {
			t.Fatalf("final charge: %+v %v", ch, err)
		}
		_, _, err = a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(1), Reference: "use-4"})
		wantCode("a charge after the final one", err, "reservation_closed")
		// Status lookup by authorization number and by reference, with history.
		st, err := ro.GetReservation(ctx, r.AuthNumber)
		if err != nil || st.Charged != jpy(4000) || st.State != client.ReservationClosed || len(st.History) != 6 {
			t.Fatalf("status by auth number: %+v %v", st, err)
		}
		kinds := []string{}
		for _, e := range st.History {
			kinds = append(kinds, e.Kind)
		}
		if got := strings.Join(kinds, ","); got != "reserve,charge,increment,charge,increment,charge" {
			t.Fatalf("history %s", got)
		}
		byRef, found, err := ro.FindReservationByReference(ctx, "order-1")
		if err != nil || !found || byRef.AuthNumber != r.AuthNumber || len(byRef.History) != 6 {
			t.Fatalf("status by reference: %+v %v %v", byRef, found, err)
		}
		if _, found, err := ro.FindReservationByReference(ctx, "no-such-order"); err != nil || found {
			t.Fatalf("unknown reference: %v %v", found, err)
		}
		if bal := balance(post.ID, 0); bal.Used != jpy(4000) || bal.Reserved != jpy(0) || bal.Available != jpy(6000) {
			t.Fatalf("postpaid balance after charges: %+v", bal)
		}
	})

	t.Run("CancelAndExpiry", func(t *testing.T) {
		r := reserve(post.ID, 1000, "", 0)
		c, err := a.CancelReservation(ctx, r.AuthNumber)
		if err != nil || c.State != client.ReservationCanceled || c.Released != jpy(1000) {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		_, _, err = a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(1), Reference: "after-cancel"})
		wantCode("a charge after cancel", err, "reservation_closed")

		r = reserve(post.ID, 2000, "short", 60)
		clk, err := admin.AdvanceTestClock(ctx, 61*time.Second)
		if err != nil || clk.ReservationsExpired != 1 {
			t.Fatalf("advance: %+v %v", clk, err)
		}
		_, _, err = a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(1), Reference: "after-expiry"})
		wantCode("a charge after expiry", err, "reservation_expired")
		st, err := a.GetReservation(ctx, r.AuthNumber)
		if err != nil || st.State != client.ReservationExpired || st.Released != jpy(2000) || st.History[len(st.History)-1].Kind != "expire" {
			t.Fatalf("expired reservation: %+v %v", st, err)
		}
		if bal := balance(post.ID, 0); bal.Reserved != jpy(0) {
			t.Fatalf("expiry left money held: %+v", bal)
		}
	})

	t.Run("DirectChargeAndLoweredLimit", func(t *testing.T) {
		c := customer("post-2", client.BillingPostpaid, 5000)
		if _, _, err := a.ChargeDirect(ctx, client.DirectChargeParams{Customer: c.ID, Amount: jpy(1500), Reference: "direct-1"}); err != nil {
			t.Fatal(err)
		}
		_, _, err := a.ChargeDirect(ctx, client.DirectChargeParams{Customer: c.ID, Amount: jpy(3600), Reference: "direct-2"})
		wantCode("a direct charge above the limit", err, "limit_exceeded")
		r := reserve(c.ID, 3000, "", 0)
		if _, err := a.SetCreditLimit(ctx, c.ID, jpy(1000)); err != nil {
			t.Fatal(err)
		}
		if bal := balance(c.ID, 0); bal.Available != jpy(-3500) {
			t.Fatalf("balance under a lowered limit: %+v", bal)
		}
		_, _, err = a.Reserve(ctx, client.ReservationParams{Customer: c.ID, Amount: jpy(1)})
		wantCode("a reservation under a lowered limit", err, "limit_exceeded")
		_, err = a.IncrementReservation(ctx, r.AuthNumber, jpy(1), "inc-low")
		wantCode("an increment under a lowered limit", err, "limit_exceeded")
		if _, _, err := a.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(3000), Reference: "low-use", Final: true}); err != nil {
			t.Fatalf("an existing reservation under a lowered limit: %v", err)
		}
	})

	t.Run("ConcurrentReservationsNeverExceedTheLimit", func(t *testing.T) {
		c := customer("post-busy", client.BillingPostpaid, 10000)
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Go(func() {
				_, _, err := a.Reserve(ctx, client.ReservationParams{Customer: c.ID, Amount: jpy(700), Reference: fmt.Sprintf("busy-%d", i)})
				switch client.CodeOf(err) {
				case "":
					ok.Add(1)
				case "limit_exceeded":
					refused.Add(1)
				default:
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if ok.Load() != 14 || refused.Load() != 26 {
			t.Fatalf("%d reserved, %d refused; want 14 and 26", ok.Load(), refused.Load())
		}
		if bal := balance(c.ID, 0); bal.Reserved != jpy(9800) || bal.Available != jpy(200) {
			t.Fatalf("balance after the rush: %+v", bal)
		}
	})

	t.Run("IdempotencyKeyReplaysByteForByte", func(t *testing.T) {
		send := func(path, key, body string) (int, string, string) {
			req, _ := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+keyA)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(raw), res.Header.Get("Idempotent-Replayed")
		}
		body := fmt.Sprintf(`{"customer":%q,"amount":{"amount":100,"currency":"JPY"}}`, post.ID)
		st1, b1, _ := send("/v1/billing/reservations", "rsv-key-1", body)
		st2, b2, replayed := send("/v1/billing/reservations", "rsv-key-1", body)
		if st1 != 201 || st2 != 201 || b1 != b2 || replayed != "true" {
			t.Fatalf("replay: %d %s / %d %s replayed=%q", st1, b1, st2, b2, replayed)
		}
		if st, _, _ := send("/v1/billing/reservations", "rsv-key-1", strings.Replace(body, "100", "101", 1)); st != 422 {
			t.Fatalf("same key, other body: %d", st)
		}
		// A refusal is kept too: the same answer, not a second try.
		big := fmt.Sprintf(`{"customer":%q,"amount":{"amount":999999,"currency":"JPY"},"reference":"too-big"}`, post.ID)
		st1, b1, _ = send("/v1/billing/charges", "chg-key-1", big)
		st2, b2, replayed = send("/v1/billing/charges", "chg-key-1", big)
		if st1 != 422 || !strings.Contains(b1, `"limit_exceeded"`) || !bytes.Equal([]byte(b1), []byte(b2)) || replayed != "true" {
			t.Fatalf("refusal replay: %d %s / %d %s", st1, b1, st2, b2)
		}
	})

	t.Run("OtherOrganizationsSeeNothing", func(t *testing.T) {
		r := reserve(post.ID, 10, "", 0)
		if _, err := b.GetBillingCustomer(ctx, post.ID); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reads org A's customer: %v", err)
		}
		if _, err := b.GetBillingBalance(ctx, post.ID, 0); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reads org A's balance: %v", err)
		}
		if _, err := b.GetReservation(ctx, r.AuthNumber); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reads org A's reservation: %v", err)
		}
		if _, _, err := b.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: jpy(1), Reference: "b"}); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B charges org A's reservation: %v", err)
		}
		if _, err := b.CancelReservation(ctx, r.AuthNumber); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B cancels org A's reservation: %v", err)
		}
		if _, _, err := b.ChargeDirect(ctx, client.DirectChargeParams{Customer: post.ID, Amount: jpy(1), Reference: "b"}); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B charges org A's customer: %v", err)
		}
		if page, err := b.ListBillingCustomers(ctx, client.ListParams{}); err != nil || len(page.Data) != 0 {
			t.Fatalf("org B lists customers: %+v %v", page, err)
		}
		if _, err := ro.CancelReservation(ctx, r.AuthNumber); client.CodeOf(err) != "forbidden" {
			t.Fatalf("a read-only key cancels: %v", err)
		}
	})

	t.Run("ListsAndEvents", func(t *testing.T) {
		page, err := a.ListBillingCustomers(ctx, client.ListParams{Limit: 2})
		if err != nil || len(page.Data) != 2 || !page.HasMore {
			t.Fatalf("customers page: %+v %v", page, err)
		}
		// The customer's charges, page by page, add up to what it used.
		var charges []client.BillingCharge
		for after := ""; ; {
			pg, err := a.ListBillingCharges(ctx, post.ID, client.ChargeQuery{ListParams: client.ListParams{Limit: 2, StartingAfter: after}})
			if err != nil {
				t.Fatal(err)
			}
			charges = append(charges, pg.Data...)
			if !pg.HasMore {
				break
			}
			after = pg.Data[len(pg.Data)-1].ID
		}
		var sum int64
		for i, ch := range charges {
			sum += ch.Amount.Amount
			if ch.Reservation != nil || ch.Customer != post.ID || (i > 0 && ch.ID <= charges[i-1].ID) {
				t.Fatalf("charge %d in the list: %+v", i, ch)
			}
		}
		if bal, err := a.GetBillingBalance(ctx, post.ID, 0); err != nil || len(charges) < 3 || sum != bal.Used.Amount {
			t.Fatalf("%d charges sum to %d; balance %+v, %v", len(charges), sum, bal, err)
		}
		if pg, err := a.ListBillingCharges(ctx, post.ID, client.ChargeQuery{CreatedBefore: charges[0].CreatedAt}); err != nil || len(pg.Data) != 0 {
			t.Fatalf("charges before the first: %+v %v", pg, err)
		}
		if _, err := e.b.ListBillingCharges(ctx, post.ID, client.ChargeQuery{}); client.CodeOf(err) != "not_found" {
			t.Fatalf("another provider lists the charges: %v", err)
		}
		rs, err := a.ListReservations(ctx, client.ReservationQuery{Customer: post.ID, State: client.ReservationExpired})
		if err != nil || len(rs.Data) != 1 || rs.Data[0].Reference != "short" {
			t.Fatalf("expired reservations: %+v %v", rs, err)
		}
		if r, err := events(client.EventBillingReservationExpired, 1)[0].Reservation(); err != nil || r.State != client.ReservationExpired || r.Reference != "short" {
			t.Fatalf("expired event: %+v %v", r, err)
		}
		// The events of top-ups, increments, direct charges and limit
		// changes, one per change (retries wrote none), with their objects.
		if tu, err := events(client.EventBillingTopUpCreated, 1)[0].BillingTopUp(); err != nil || tu.Customer != pre.ID || tu.Amount != jpy(5000) || tu.Reference != "topup-1" {
			t.Fatalf("top-up event: %+v %v", tu, err)
		}
		if r, err := events(client.EventBillingReservationIncremented, 1)[0].Reservation(); err != nil || r.Reference != "order-1" || r.Authorized != jpy(5000) {
			t.Fatalf("increment event: %+v %v", r, err)
		}
		if ch, err := events(client.EventBillingChargeCreated, 1)[0].BillingCharge(); err != nil || ch.Reference != "direct-1" || ch.Amount != jpy(1500) || ch.Reservation != nil || ch.AuthNumber != "" {
			t.Fatalf("direct charge event: %+v %v", ch, err)
		}
		if c, err := events(client.EventBillingCustomerLimitChanged, 1)[0].BillingCustomer(); err != nil || c.Reference != "post-2" || c.CreditLimit != jpy(1000) {
			t.Fatalf("limit event: %+v %v", c, err)
		}
	})

	t.Run("MonthEndClose", func(t *testing.T) {
		// Move the test clock past the end of its month and the close's
		// delay: the advance closes the month of every postpaid customer.
		clk, err := admin.GetTestClock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := clk.Now.UTC()
		period := now.Format("2006-01")
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		clk, err = admin.AdvanceTestClock(ctx, next.Add(11*time.Minute).Sub(now).Truncate(time.Second)+time.Second)
		if err != nil || clk.InvoicesClosed != 3 {
			t.Fatalf("advance past the month's end: %+v %v", clk, err)
		}
		invoices := map[string]client.BillingInvoice{}
		for _, e := range events(client.EventBillingInvoiceCreated, 3) {
			inv, err := e.BillingInvoice()
			if err != nil || inv.Period != period || !inv.PeriodEnd.Equal(next) {
				t.Fatalf("invoice event: %+v %v", inv, err)
			}
			invoices[inv.Customer] = inv
		}
		if inv := invoices[post.ID]; inv.Total != jpy(4000) || inv.ChargeCount != 3 {
			t.Fatalf("invoice of %s: %+v", post.Reference, inv)
		}
		if _, ok := invoices[pre.ID]; ok {
			t.Fatal("a prepaid customer was invoiced")
		}
		if clk, err := admin.AdvanceTestClock(ctx, time.Hour); err != nil || clk.InvoicesClosed != 0 {
			t.Fatalf("advance within the next month: %+v %v", clk, err)
		}
	})

	e.stopAndVerify(t)
}

// TestBillingReserveRetryAfterLostKeyRecord: a reservation without a
// reference whose Idempotency-Key record is lost (as after a crash between
// the reservation's commit and the record, or past the key's retention) is
// not made twice by a retry with the same key.
func TestBillingReserveRetryAfterLostKeyRecord(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	e := startBillingE2E(t, db, serveConfig{})
	cus, _, err := e.a.CreateBillingCustomer(ctx, client.BillingCustomerParams{Reference: "c", Mode: "postpaid", Currency: "JPY", CreditLimit: &client.Money{Amount: 10000, Currency: "JPY"}})
	if err != nil {
		t.Fatal(err)
	}
	p := client.ReservationParams{Customer: cus.ID, Amount: jpy(700)}
	first, _, err := e.a.Reserve(ctx, p, client.WithIdempotencyKey("order-7"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3_kinko", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if res, err := raw.Exec("DELETE FROM idempotency_keys WHERE key = 'order-7'"); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d idempotency records", n)
	}
	again, _, err := e.a.Reserve(ctx, p, client.WithIdempotencyKey("order-7"))
	if err != nil || again.ID != first.ID || again.AuthNumber != first.AuthNumber {
		t.Fatalf("retry: %+v, %v; first %s", again, err, first.ID)
	}
	bal, err := e.a.GetBillingBalance(ctx, cus.ID, 0)
	if err != nil || bal.Reserved.Amount != 700 {
		t.Fatalf("balance after the retry: %+v, %v", bal, err)
	}
	// The retry kept a record again: the same key with another amount is
	// refused by it, and holds nothing.
	_, _, err = e.a.Reserve(ctx, client.ReservationParams{Customer: cus.ID, Amount: jpy(800)}, client.WithIdempotencyKey("order-7"))
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 422 {
		t.Fatalf("another amount under the key: %v", err)
	}
	e.stopAndVerify(t)
}

// waitEvents waits (the dispatcher lists events in the background) until c's
// organization has n events of typ, and returns them; more is a failure.
func waitEvents(t *testing.T, c *client.Client, typ string, n int) []client.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := c.ListEvents(context.Background(), client.EventQuery{ListParams: client.ListParams{Limit: 100}, Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Data) > n {
			t.Fatalf("%d %s events, want %d", len(evs.Data), typ, n)
		}
		if len(evs.Data) == n {
			return evs.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s events, want %d", len(evs.Data), typ, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresBillingConcurrentKeys: keyed billing requests keep their key
// in the change's transaction; on PostgreSQL, requests racing with one key
// (two nodes would race the same way: each is its own transaction) make
// one reservation. With one body, every caller gets that reservation; with
// different amounts, one is made and the others are refused as a reused
// key, holding nothing.
func TestPostgresBillingConcurrentKeys(t *testing.T) {
	ctx := context.Background()
	e := startBillingE2E(t, freshPostgres(t), serveConfig{})
	limit := jpy(100000)
	cus, _, err := e.a.CreateBillingCustomer(ctx, client.BillingCustomerParams{Reference: "c", Mode: "postpaid", Currency: "JPY", CreditLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 12
	race := func(key string, amount func(i int) int64) ([]client.Reservation, []error) {
		rsvs, errs := make([]client.Reservation, racers), make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				rsvs[i], _, errs[i] = e.a.Reserve(ctx, client.ReservationParams{Customer: cus.ID, Amount: jpy(amount(i))}, client.WithIdempotencyKey(key))
			})
		}
		wg.Wait()
		return rsvs, errs
	}

	same, errs := race("same-body", func(int) int64 { return 70 })
	for i := range racers {
		if errs[i] != nil || same[i].ID != same[0].ID {
			t.Fatalf("racer %d with the same body: %+v, %v; the first got %s", i, same[i], errs[i], same[0].ID)
		}
	}
	diff, errs := race("other-bodies", func(i int) int64 { return 100 + int64(i) })
	made := -1
	for i := range racers {
		var ae *client.Error
		switch {
		case errs[i] == nil && made < 0:
			made = i
		case errors.As(errs[i], &ae) && ae.Status == 422 && ae.Code == "idempotency_key_reused":
		default:
			t.Fatalf("racer %d with amount %d: %+v, %v (made: %d)", i, 100+i, diff[i], errs[i], made)
		}
	}
	if made < 0 {
		t.Fatalf("no racer with other bodies made a reservation: %v", errs)
	}
	bal, err := e.a.GetBillingBalance(ctx, cus.ID, 0)
	if want := 70 + 100 + int64(made); err != nil || bal.Reserved.Amount != want {
		t.Fatalf("reserved %+v, %v; want %d", bal.Reserved, err, want)
	}
	e.stopAndVerify(t)
}
