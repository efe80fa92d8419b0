package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
	"github.com/kinko-pay/kinko/internal/api"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// server runs the real API on a fresh SQLite file behind wrap (nil: none)
// and returns the admin secret and a merchant organization's secret.
func server(t *testing.T, wrap func(http.Handler) http.Handler) (url, admin, merchant string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kinko.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := ledger.NewEngine(db, ledger.Config{Events: api.EventEncoder{}})
	t.Cleanup(e.Close)
	keys := auth.NewService(db, auth.Config{})
	admin, _, err = keys.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	org, err := keys.CreateOrganization(ctx, "Merchant")
	if err != nil {
		t.Fatal(err)
	}
	_, merchant, err = keys.CreateKey(ctx, org.ID, "test", []auth.Scope{"accounts:write", "transfers:write", "assets:read", "events:read", "webhooks:write", "escrow:write"})
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.NewService(db, db, nil)
	// The server's dispatcher lists events (and plans their deliveries).
	dctx, stop := context.WithCancel(ctx)
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		for dctx.Err() == nil {
			if n, err := hooks.Dispatch(dctx); err == nil && n > 0 {
				continue
			}
			select {
			case <-dctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { stop(); <-dispatched })
	tc := &clock.Offset{}
	deals := escrow.NewService(escrow.Config{Store: db, Ledger: e, Clock: tc.Now, PayTo: "Test Bank", Events: api.EventEncoder{EscrowPayTo: "Test Bank"}})
	var h http.Handler = api.New(api.Config{Ledger: e, Auth: keys, Idempotency: idempotency.NewService(db, nil),
		Events: event.NewService(db), Webhooks: hooks, Escrow: deals, EscrowPayTo: "Test Bank", TestClock: tc})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, admin, merchant
}

func TestLedgerThroughTheClient(t *testing.T) {
	ctx := context.Background()
	url, adminKey, key := server(t, nil)
	admin, c := client.New(url, adminKey, nil), client.New(url, key, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAsset(ctx, client.Asset{Code: "USD", Scale: 2}); client.CodeOf(err) != "forbidden" {
		t.Fatalf("merchant created an asset: %v", err)
	}
	src, res, err := c.CreateAccount(ctx, client.AccountParams{Reference: "src", Currency: "JPY"})
	if err != nil || res.Status != 201 {
		t.Fatalf("CreateAccount = %+v, %+v, %v", src, res, err)
	}
	wallet, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: "wallet", Currency: "JPY", DebitsMustNotExceedCredits: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateTransfer(ctx, client.TransferParams{Reference: "fund", DebitAccount: src.ID, CreditAccount: wallet.ID, Amount: client.Money{Amount: 100, Currency: "JPY"}}); err != nil {
		t.Fatal(err)
	}
	hold, _, err := c.CreateTransfer(ctx, client.TransferParams{Reference: "hold", Kind: "pending", DebitAccount: wallet.ID, CreditAccount: src.ID, Amount: client.Money{Amount: 80, Currency: "JPY"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CreateTransfer(ctx, client.TransferParams{Reference: "over", DebitAccount: wallet.ID, CreditAccount: src.ID, Amount: client.Money{Amount: 30, Currency: "JPY"}})
	var apiErr *client.Error
	if client.CodeOf(err) != "insufficient_funds" || !errorsAs(err, &apiErr) || apiErr.Status != 422 || apiErr.RequestID == "" {
		t.Fatalf("overdraft: %v", err)
	}
	if _, err := c.PostTransfer(ctx, hold.ID, client.ResolveParams{Reference: "capture", Amount: &client.Money{Amount: 50, Currency: "JPY"}}); err != nil {
		t.Fatal(err)
	}
	bal, err := c.GetBalance(ctx, wallet.ID, hold.CreatedAt)
	if err != nil || bal.DebitsPending != 80 || bal.CreditsPosted != 100 {
		t.Fatalf("balance at the hold = %+v, %v", bal, err)
	}
	bal, err = c.GetBalance(ctx, wallet.ID, time.Time{})
	if err != nil || bal.DebitsPosted != 50 || bal.DebitsPending != 0 {
		t.Fatalf("balance now = %+v, %v", bal, err)
	}
	page, err := c.ListAccountTransfers(ctx, wallet.ID, client.ListParams{Limit: 2})
	if err != nil || len(page.Data) != 2 || !page.HasMore {
		t.Fatalf("page = %+v, %v", page, err)
	}
	rest, err := c.ListAccountTransfers(ctx, wallet.ID, client.ListParams{StartingAfter: page.Data[1].ID})
	if err != nil || len(rest.Data) != 1 || rest.HasMore {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
	pending, err := c.ListTransfers(ctx, client.TransferQuery{Kind: "pending", Account: wallet.ID})
	if err != nil || len(pending.Data) != 1 || pending.Data[0].ID != hold.ID {
		t.Fatalf("pending transfers = %+v, %v", pending, err)
	}
	results, err := c.CreateTransfers(ctx, []client.TransferParams{
		{Reference: "b1", DebitAccount: src.ID, CreditAccount: wallet.ID, Amount: client.Money{Amount: 1, Currency: "JPY"}, Linked: true},
		{Reference: "b2", DebitAccount: wallet.ID, CreditAccount: src.ID, Amount: client.Money{Amount: 1000, Currency: "JPY"}},
	})
	if err != nil || results[0].Error == nil || results[0].Error.Code != "linked_event_failed" || results[1].Error.Code != "insufficient_funds" {
		t.Fatalf("batch = %+v, %v", results, err)
	}
}

// TestLostResponseIsRetriedNotRepeated: the server commits a transfer but
// the connection breaks before the answer arrives. The client retries with
// the same Idempotency-Key and gets the first answer; the money moved once.
func TestLostResponseIsRetriedNotRepeated(t *testing.T) {
	ctx := context.Background()
	var dropped atomic.Bool
	url, adminKey, key := server(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/v1/transfers") && dropped.CompareAndSwap(false, true) {
				next.ServeHTTP(httptest.NewRecorder(), r) // the server acts…
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close() // …and the answer is lost
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	admin, c := client.New(url, adminKey, nil), client.New(url, key, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	a, _, _ := c.CreateAccount(ctx, client.AccountParams{Reference: "a", Currency: "JPY"})
	b, _, _ := c.CreateAccount(ctx, client.AccountParams{Reference: "b", Currency: "JPY"})
	tr, res, err := c.CreateTransfer(ctx, client.TransferParams{Reference: "pay-1", DebitAccount: a.ID, CreditAccount: b.ID, Amount: client.Money{Amount: 700, Currency: "JPY"}})
	if err != nil || !dropped.Load() {
		t.Fatalf("CreateTransfer = %v (dropped=%v)", err, dropped.Load())
	}
	if !res.Replayed || res.Status != 201 || tr.ID == "" {
		t.Fatalf("the retry was not answered from the first call: %+v %+v", res, tr)
	}
	page, err := c.ListAccountTransfers(ctx, a.ID, client.ListParams{})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("transfers of a = %+v, %v; want exactly one", page, err)
	}
	acct, err := c.GetAccount(ctx, a.ID)
	if err != nil || acct.Balance.DebitsPosted != 700 {
		t.Fatalf("account a = %+v, %v; want 700 debited once", acct, err)
	}
}

func errorsAs(err error, target **client.Error) bool { return errors.As(err, target) }
