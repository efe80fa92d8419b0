package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// TestEscrowEndToEnd starts the real server in-process on a fresh SQLite
// file with --test-clock and drives deals through every path by the API,
// as two sites and the operator would; then checks the ledger.
func TestEscrowEndToEnd(t *testing.T) {
	escrowEndToEnd(t, filepath.Join(t.TempDir(), "kinko.db"), serveConfig{TestClock: true})
}

// TestPostgresEscrowEndToEnd is TestEscrowEndToEnd on PostgreSQL, where the
// test clock needs --allow-test-clock as well.
func TestPostgresEscrowEndToEnd(t *testing.T) {
	db := freshPostgres(t)
	t.Run("ErrTestClockWithoutAllow", func(t *testing.T) {
		r := runCLI(t, nil, "serve", "--db", db, "--addr", "127.0.0.1:0", "--test-clock")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--allow-test-clock") {
			t.Fatalf("serve --test-clock on PostgreSQL: exit %d, stderr %s", r.code, r.stderr)
		}
	})
	escrowEndToEnd(t, db, serveConfig{TestClock: true, AllowTestClock: true})
}

func TestServeTestClockFlags(t *testing.T) {
	r := runCLI(t, nil, "serve", "--db", filepath.Join(t.TempDir(), "kinko.db"), "--allow-test-clock")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--allow-test-clock goes with --test-clock") {
		t.Fatalf("--allow-test-clock alone: exit %d, stderr %s", r.code, r.stderr)
	}
	t.Run("OffByDefault", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "kinko.db")
		admin := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--db", db, "--scopes", "admin").stdout)
		srv := startServe(t, db)
		if _, err := client.New("http://"+srv.addr, admin, nil).GetTestClock(context.Background()); client.CodeOf(err) != "route_not_found" {
			t.Fatalf("GET /v1/test_clock on a normal server: %v", err)
		}
	})
}

func escrowEndToEnd(t *testing.T, db string, cfg serveConfig) {
	ctx := context.Background()
	adminKey := cliOut(t, "keys", "create", "--db", db, "--scopes", "admin")
	orgA, orgB := cliOut(t, "orgs", "create", "--db", db, "--name", "Auction A"), cliOut(t, "orgs", "create", "--db", db, "--name", "Market B")
	keyA := cliOut(t, "keys", "create", "--db", db, "--org", orgA, "--scopes", "escrow:write,events:read")
	keyB := cliOut(t, "keys", "create", "--db", db, "--org", orgB, "--scopes", "escrow:write")
	cfg.DB = db
	srv := startServeConfig(t, cfg)
	base := "http://" + srv.addr
	admin, a, b := client.New(base, adminKey, nil), client.New(base, keyA, nil), client.New(base, keyB, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}

	jpy := func(n int64) client.Money { return client.Money{Amount: n, Currency: "JPY"} }
	// 10,000 JPY, 500 shipping, fee 300 (the minimum) paid by the buyer:
	// 10,800 due.
	const due = 10800
	deals := map[string]string{} // name → id, every deal made
	newDeal := func(c *client.Client, name string) client.Deal {
		t.Helper()
		d, res, err := c.CreateDeal(ctx, client.DealParams{ExternalRef: name, Title: "Item " + name, Price: jpy(10000), ShippingFee: &client.Money{Amount: 500, Currency: "JPY"},
			FeePayer: "buyer", Seller: client.DealParty{Email: "seller-" + name + "@example.com"}, Buyer: client.DealParty{Email: "buyer@example.com"}})
		if err != nil || res.Status != 201 || d.AmountDue != jpy(due) {
			t.Fatalf("create %s: %+v %+v %v", name, d, res, err)
		}
		deals[name] = d.ID
		return d
	}
	bankRef := 0
	pay := func(d client.Deal, amount int64, wantStatus string) client.Deposit {
		t.Helper()
		bankRef++
		dep, res, err := admin.RecordDeposit(ctx, client.DepositParams{BankAccount: "MUFG-001", BankRef: "stmt-" + string(rune('a'+bankRef)),
			Amount: jpy(amount), ValueDate: "2026-01-05", PayerName: d.PaymentReference + " ﾔﾏﾀﾞ ﾀﾛｳ"})
		if err != nil || res.Status != 201 || dep.Status != wantStatus {
			t.Fatalf("deposit %d for %s: %+v %+v %v; want %s", amount, d.ID, dep, res, err, wantStatus)
		}
		return dep
	}
	state := func(c *client.Client, id, want string) client.Deal {
		t.Helper()
		d, err := c.GetDeal(ctx, id)
		if err != nil || d.State != want {
			t.Fatalf("deal %s: %+v, %v; want %s", id, d, err, want)
		}
		return d
	}
	ship := func(id string) {
		t.Helper()
		if _, err := a.ShipDeal(ctx, id, "Yamato", "4512-7788"); err != nil {
			t.Fatalf("ship %s: %v", id, err)
		}
		if _, err := a.ConfirmReceipt(ctx, id); err != nil {
			t.Fatalf("confirm %s: %v", id, err)
		}
	}

	t.Run("ExactPaymentThenRelease", func(t *testing.T) {
		d := newDeal(a, "exact")
		if _, err := b.GetDeal(ctx, d.ID); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B reads org A's deal: %v", err)
		}
		if _, err := b.AcceptDeal(ctx, d.ID); client.CodeOf(err) != "not_found" {
			t.Fatalf("org B accepts org A's deal: %v", err)
		}
		if _, err := a.ShipDeal(ctx, d.ID, "Yamato", "1"); client.CodeOf(err) != "deal_state_conflict" {
			t.Fatalf("shipped before payment: %v", err)
		}
		// An Idempotency-Key replays the first answer.
		first, err := a.AcceptDeal(ctx, d.ID, client.WithIdempotencyKey("accept-exact"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := a.AcceptDeal(ctx, d.ID, client.WithIdempotencyKey("accept-exact"))
		if err != nil || again.UpdatedAt != first.UpdatedAt || again.State != client.DealAwaitingPayment {
			t.Fatalf("replayed accept: %+v, %v", again, err)
		}
		if _, err := a.AcceptDeal(ctx, d.ID); client.CodeOf(err) != "deal_state_conflict" {
			t.Fatalf("accept again without the key: %v", err)
		}
		dep := pay(d, due, "matched")
		bank := operatorBalance(t, admin, "escrow:bank:JPY")
		// The same statement line imported again: the first record, no money.
		dup, res, err := admin.RecordDeposit(ctx, client.DepositParams{BankAccount: "MUFG-001", BankRef: dep.BankRef, Amount: jpy(due),
			ValueDate: "2026-01-05", PayerName: "again"})
		if err != nil || res.Status != 200 || dup.ID != dep.ID || dup.PayerName != dep.PayerName {
			t.Fatalf("duplicate import: %+v %+v %v", dup, res, err)
		}
		if after := operatorBalance(t, admin, "escrow:bank:JPY"); after != bank {
			t.Fatalf("a duplicate import moved the bank account from %d to %d", bank, after)
		}
		state(a, d.ID, client.DealFunded)
		ship(d.ID)
		rel, err := a.ApproveDeal(ctx, d.ID)
		if err != nil || rel.State != client.DealReleased || rel.Released != jpy(due-300) || rel.FeeTaken != jpy(300) || rel.Held != jpy(0) {
			t.Fatalf("approve: %+v, %v", rel, err)
		}
	})

	t.Run("PartialThenRest", func(t *testing.T) {
		d := newDeal(a, "partial")
		if _, err := a.AcceptDeal(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		part := pay(d, 4000, "partial")
		if part.Review != "open" || state(a, d.ID, client.DealAwaitingPayment).AmountPaid != jpy(4000) {
			t.Fatalf("part payment %+v", part)
		}
		pay(d, due-4000, "matched")
		state(a, d.ID, client.DealFunded)
		if _, err := admin.ClearDeposit(ctx, part.ID, "the rest arrived"); err != nil {
			t.Fatal(err)
		}
		ship(d.ID)
		if _, err := a.ApproveDeal(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("OverpaidAndUnmatched", func(t *testing.T) {
		d := newDeal(a, "over")
		if _, err := a.AcceptDeal(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		over := pay(d, due+500, "overpaid")
		if over.Applied != jpy(due) || over.Review != "open" {
			t.Fatalf("overpaid %+v", over)
		}
		funded := state(a, d.ID, client.DealFunded)
		if funded.AmountPaid != jpy(due) || funded.Held != jpy(due) {
			t.Fatalf("overpaid deal %+v", funded)
		}
		lost, _, err := admin.RecordDeposit(ctx, client.DepositParams{BankAccount: "MUFG-001", BankRef: "stmt-lost", Amount: jpy(777), ValueDate: "2026-01-05", PayerName: "NO REFERENCE"})
		if err != nil || lost.Status != "unmatched" || lost.Deal != "" {
			t.Fatalf("unmatched %+v, %v", lost, err)
		}
		if suspense := operatorBalance(t, admin, "escrow:suspense:JPY"); suspense != 500+777 {
			t.Fatalf("suspense holds %d, want %d", suspense, 500+777)
		}
		open, err := admin.ListDeposits(ctx, client.DepositQuery{Review: "open"})
		if err != nil || len(open.Data) != 2 {
			t.Fatalf("open reviews %+v, %v", open, err)
		}
	})

	t.Run("DisputeResolvedBySplit", func(t *testing.T) {
		d := newDeal(a, "dispute")
		if _, err := a.AcceptDeal(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		pay(d, due, "matched")
		ship(d.ID)
		if _, err := a.DisputeDeal(ctx, d.ID, "not as described"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.PostDealMessage(ctx, d.ID, "buyer sent photos"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ResolveDeal(ctx, d.ID, client.DealResolveParams{Resolution: "split", BuyerAmount: &client.Money{Amount: 6000, Currency: "JPY"}}); client.CodeOf(err) != "forbidden" {
			t.Fatalf("a site resolved its own dispute: %v", err)
		}
		res, err := admin.ResolveDeal(ctx, d.ID, client.DealResolveParams{Resolution: "split", BuyerAmount: &client.Money{Amount: 6000, Currency: "JPY"}, Note: "half each"})
		if err != nil || res.State != client.DealResolved || res.Refunded != jpy(6000) || res.FeeTaken != jpy(300) || res.Released != jpy(due-6000-300) {
			t.Fatalf("split: %+v, %v", res, err)
		}
	})

	t.Run("OtherSite", func(t *testing.T) {
		d := newDeal(b, "b-declined")
		if _, err := b.DeclineDeal(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		page, err := b.ListDeals(ctx, client.DealQuery{})
		if err != nil || len(page.Data) != 1 || page.Data[0].ID != d.ID {
			t.Fatalf("org B lists %+v, %v", page, err)
		}
	})

	t.Run("TestClockFiresDeadlines", func(t *testing.T) {
		unpaid := newDeal(a, "unpaid")
		if _, err := a.AcceptDeal(ctx, unpaid.ID); err != nil {
			t.Fatal(err)
		}
		pay(unpaid, 1000, "partial")
		unshipped := newDeal(a, "unshipped")
		if _, err := a.AcceptDeal(ctx, unshipped.ID); err != nil {
			t.Fatal(err)
		}
		pay(unshipped, due, "matched")
		inspected := newDeal(a, "inspected")
		if _, err := a.AcceptDeal(ctx, inspected.ID); err != nil {
			t.Fatal(err)
		}
		pay(inspected, due, "matched")
		ship(inspected.ID)

		// Two days: nothing is due yet.
		if _, err := admin.AdvanceTestClock(ctx, 2*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		state(a, inspected.ID, client.DealReceived)
		// Past inspection (3 days): released.
		if _, err := admin.AdvanceTestClock(ctx, 2*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if d := state(a, inspected.ID, client.DealReleased); d.Released != jpy(due-300) {
			t.Fatalf("released by the timer: %+v", d)
		}
		state(a, unpaid.ID, client.DealAwaitingPayment)
		// Past pay-by and ship-by (7 days).
		c, err := admin.AdvanceTestClock(ctx, 4*24*time.Hour)
		if err != nil || c.OffsetSeconds != 8*24*3600 || c.MoreDue {
			t.Fatalf("advance: %+v, %v", c, err)
		}
		if d := state(a, unpaid.ID, client.DealCanceled); d.Refunded != jpy(1000) || d.Held != jpy(0) {
			t.Fatalf("canceled by the timer: %+v", d)
		}
		if d := state(a, unshipped.ID, client.DealRefunded); d.Refunded != jpy(due) {
			t.Fatalf("refunded by the timer: %+v", d)
		}
		// The overpaid deal was funded and never shipped either.
		state(a, deals["over"], client.DealRefunded)
		tl, err := a.GetDealTimeline(ctx, unshipped.ID)
		if err != nil || tl[len(tl)-1].Action != "timer.ship_by" || tl[len(tl)-1].ActorKind != "system" {
			t.Fatalf("timeline %+v, %v", tl, err)
		}
	})

	t.Run("EventsCarryTheDeal", func(t *testing.T) {
		var evs []client.Event
		deadline := time.Now().Add(30 * time.Second)
		for {
			page, err := a.ListEvents(ctx, client.EventQuery{ListParams: client.ListParams{Limit: 100}, Type: client.EventDealReleased})
			if err != nil {
				t.Fatal(err)
			}
			if evs = page.Data; len(evs) == 3 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(evs) != 3 {
			t.Fatalf("%d deal.released events, want 3 (exact, partial, inspected)", len(evs))
		}
		d, err := evs[0].Deal()
		if err != nil || d.State != client.DealReleased || d.ID == "" {
			t.Fatalf("event deal %+v, %v", d, err)
		}
	})

	// Every deal's holding account holds exactly what the deal says it
	// holds; the admin key reads them, the sites cannot.
	for name, id := range deals {
		d, err := admin.GetDeal(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		bal, err := admin.GetBalance(ctx, d.HoldingAccount, time.Time{})
		if err != nil {
			t.Fatalf("holding account of %s: %v", name, err)
		}
		if held := bal.CreditsPosted - bal.DebitsPosted; held != d.Held.Amount || bal.CreditsPending != 0 || bal.DebitsPending != 0 {
			t.Errorf("deal %s (%s) holds %d by the ledger (%+v), %d by the deal", name, d.State, held, bal, d.Held.Amount)
		}
	}
	if _, err := a.GetBalance(ctx, state(a, deals["exact"], client.DealReleased).HoldingAccount, time.Time{}); err == nil {
		t.Error("a site read the operator's holding account")
	}

	if err := srv.stop(t); err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
	if r := runCLI(t, nil, "verify", "--db", db); r.code != exitOK || !strings.Contains(r.stdout, "no violations") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// operatorBalance returns the balance (credits less debits, posted) of the
// operator's account with the given reference.
func operatorBalance(t *testing.T, admin *client.Client, ref string) int64 {
	t.Helper()
	p := client.ListParams{Limit: 100}
	for {
		page, err := admin.ListAccounts(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, acct := range page.Data {
			if acct.Reference == ref {
				return acct.Balance.CreditsPosted - acct.Balance.DebitsPosted
			}
		}
		if !page.HasMore {
			t.Fatalf("the operator has no account %s", ref)
		}
		p.StartingAfter = page.Data[len(page.Data)-1].ID
	}
}

// TestDealsCommands drives `kinko deals` and `kinko deposits` against the
// real server: a site's key for the deal, the operator's for the deposit.
func TestDealsCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	out := func(args ...string) string {
		t.Helper()
		r := runCLI(t, nil, args...)
		if r.code != exitOK {
			t.Fatalf("kinko %v: %s", args, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	admin := out("keys", "create", "--db", db, "--scopes", "admin")
	org := out("orgs", "create", "--db", db, "--name", "Shop")
	site := out("keys", "create", "--db", db, "--org", org, "--scopes", "escrow:write")
	srv := startServe(t, db)
	if _, err := client.New("http://"+srv.addr, admin, nil).CreateAsset(context.Background(), client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	run := func(key string, want int, args ...string) map[string]any {
		t.Helper()
		r := runCLI(t, nil, append(args, "--url", "http://"+srv.addr, "--key", key)...)
		if r.code != want {
			t.Fatalf("kinko %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, want, r.stdout, r.stderr)
		}
		var m map[string]any
		if want == exitOK {
			if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
				t.Fatalf("kinko %v printed no JSON object: %v\n%s", args, err, r.stdout)
			}
		}
		return m
	}
	d := run(site, exitOK, "deals", "create", "--title", "Lamp", "--price", "8000", "--currency", "JPY", "--shipping-fee", "600",
		"--fee-payer", "seller", "--seller", "s@example.com", "--buyer", "b@example.com", "--external-ref", "lamp-1")
	id := d["id"].(string)
	run(site, exitOK, "deals", "accept", "--id", id)
	dep := run(admin, exitOK, "deposits", "record", "--bank-account", "A", "--bank-ref", "1", "--amount", "8600", "--currency", "JPY",
		"--value-date", "2026-01-05", "--payment-reference", d["payment_reference"].(string))
	if dep["status"] != "matched" {
		t.Fatalf("deposit %v", dep)
	}
	run(site, exitOK, "deals", "ship", "--id", id, "--carrier", "Sagawa", "--tracking-number", "99")
	run(site, exitOK, "deals", "confirm-receipt", "--id", id)
	if got := run(site, exitOK, "deals", "approve", "--id", id); got["state"] != "released" {
		t.Fatalf("approved %v", got)
	}
	run(site, exitFailure, "deals", "approve", "--id", id)
	run(site, exitUsage, "deals", "approve")
	if page := run(site, exitOK, "deals", "list", "--state", "released"); len(page["data"].([]any)) != 1 {
		t.Fatalf("list %v", page)
	}
	if got := run(site, exitOK, "deals", "get", "--id", id); got["carrier"] != "Sagawa" {
		t.Fatalf("get %v", got)
	}
	if page := run(admin, exitOK, "deposits", "list", "--deal", id); len(page["data"].([]any)) != 1 {
		t.Fatalf("deposits %v", page)
	}
}
