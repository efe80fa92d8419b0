package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// receiver is a merchant's webhook endpoint: it knows only the secret, and
// counts each event id whose signature verifies.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	secret    string
	got       map[string]int // event id → verified deliveries
	forged    int            // requests whose signature did not verify
	failing   atomic.Bool    // answer 503 to everything
	delay     atomic.Int64   // nanoseconds to wait before answering
	mismatch  int            // Kinko-Event-Id disagreeing with the body
	requests  atomic.Int64
	lastError string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve)) // listens on 127.0.0.1
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	body, _ := io.ReadAll(req.Body)
	if d := r.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if r.failing.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := client.VerifySignature(req.Header.Get(client.SignatureHeader), body, r.secret, time.Now(), client.SignatureTolerance); err != nil {
		r.forged++
		r.lastError = err.Error()
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(client.EventIDHeader)
	if !strings.Contains(string(body), `"id":"`+id+`"`) {
		r.mismatch++
	}
	r.got[id]++
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

// waitAll waits until every id was received; it fails the test after
// waitMax. Ids received more than once are returned.
func (r *receiver) waitAll(t *testing.T, ids []string) (dups []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events delivered", len(ids)), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, id := range ids {
			if r.got[id] == 0 {
				return false
			}
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.got[id] > 1 {
			dups = append(dups, id)
		}
	}
	if r.forged > 0 || r.mismatch > 0 {
		t.Fatalf("%d requests failed verification (last: %s), %d had a Kinko-Event-Id unlike their body", r.forged, r.lastError, r.mismatch)
	}
	return dups
}

// waitMax bounds every wait for asynchronous work in these tests; it is a
// deadline against hanging, not a speed requirement.
const waitMax = 60 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, waitMax)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventIDs lists the ids of the organization's events after `after`,
// waiting until at least want are listed (events are listed once the
// server's dispatcher has claimed them, a moment after they commit); want 0
// takes what is listed now.
func eventIDs(t *testing.T, c *client.Client, after string, want int) []string {
	t.Helper()
	var ids []string
	waitFor(t, fmt.Sprintf("%d events listed", want), func() bool {
		ids = listEventIDs(t, c, after)
		return len(ids) >= want
	})
	return ids
}

func listEventIDs(t *testing.T, c *client.Client, after string) []string {
	t.Helper()
	var ids []string
	for {
		page, err := c.ListEvents(context.Background(), client.EventQuery{ListParams: client.ListParams{Limit: 100, StartingAfter: after}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		if !page.HasMore {
			return ids
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

// TestWebhooksEndToEnd drives events and webhooks through the real server
// on SQLite: every event reaches a receiver that knows only the secret,
// signed and exactly once; a receiver that is down gets the events after it
// comes back, with the failures in the attempt log; a restart of the server
// in the middle of deliveries loses and duplicates nothing; replays resend;
// a disabled endpoint gets nothing new.
func TestWebhooksEndToEnd(t *testing.T) {
	testWebhooksEndToEnd(t, filepath.Join(t.TempDir(), "kinko.db"))
}

// TestPostgresWebhooksEndToEnd is the same on PostgreSQL (River's pgx driver).
func TestPostgresWebhooksEndToEnd(t *testing.T) {
	testWebhooksEndToEnd(t, freshPostgres(t))
}

func testWebhooksEndToEnd(t *testing.T, db string) {
	ctx := context.Background()
	r := runCLI(t, nil, "keys", "create", "--db", db, "--scopes", "admin", "--name", "webhooks")
	if r.code != exitOK {
		t.Fatalf("keys create: exit %d: %s", r.code, r.stderr)
	}
	key := strings.TrimSpace(r.stdout)
	cfg := serveConfig{DB: db, WebhookBackoffBase: 50 * time.Millisecond, WebhookAllowPrivate: true}
	srv := startServeConfig(t, cfg)
	c := client.New("http://"+srv.addr, key, nil)
	rcv := newReceiver(t)

	ep, err := c.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: rcv.URL + "/kinko", EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("endpoint secret = %q", ep.Secret)
	}
	rcv.secret = ep.Secret
	if again, err := c.GetWebhookEndpoint(ctx, ep.ID); err != nil || again.Secret != "" {
		t.Fatalf("GET shows the secret again: %+v, %v", again, err)
	}

	if _, err := c.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: "a", Currency: "JPY"})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: "b", Currency: "JPY"})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(ref string, kind string) client.Transfer {
		t.Helper()
		tr, _, err := c.CreateTransfer(ctx, client.TransferParams{Reference: ref, Kind: kind, DebitAccount: a.ID, CreditAccount: b.ID,
			Amount: client.Money{Amount: 100, Currency: "JPY"}})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	for i := range 20 {
		pay(fmt.Sprintf("pay-%d", i), "")
	}
	hold := pay("hold-1", "pending")
	if _, err := c.PostTransfer(ctx, hold.ID, client.ResolveParams{Reference: "post-1"}); err != nil {
		t.Fatal(err)
	}

	t.Run("EveryEventOnceSigned", func(t *testing.T) {
		ids := eventIDs(t, c, "", 24)
		if len(ids) != 2+20+2 {
			t.Fatalf("%d events, want 24 (2 accounts, 21 transfers, 1 post)", len(ids))
		}
		if dups := rcv.waitAll(t, ids); len(dups) > 0 {
			t.Fatalf("delivered more than once: %v", dups)
		}
		last, err := c.GetEvent(ctx, ids[len(ids)-1])
		if err != nil || last.Type != client.EventTransferPosted {
			t.Fatalf("last event = %+v, %v", last, err)
		}
		post, err := last.Transfer()
		if err != nil || post.PendingTransfer != hold.ID {
			t.Fatalf("posted event's transfer = %+v, %v", post, err)
		}
	})

	t.Run("RetriedAfterReceiverComesBack", func(t *testing.T) {
		before := eventIDs(t, c, "", 0)
		rcv.failing.Store(true)
		for i := range 3 {
			pay(fmt.Sprintf("while-down-%d", i), "")
		}
		fresh := eventIDs(t, c, before[len(before)-1], 3)
		if len(fresh) != 3 {
			t.Fatalf("%d new events, want 3", len(fresh))
		}
		// Each of the three must have failed at least once before the receiver returns.
		waitFor(t, "failed attempts in the log", func() bool {
			page, err := c.ListWebhookAttempts(ctx, ep.ID, client.WebhookAttemptQuery{Event: fresh[0], ListParams: client.ListParams{Limit: 10}})
			return err == nil && len(page.Data) > 0
		})
		rcv.failing.Store(false)
		if dups := rcv.waitAll(t, fresh); len(dups) > 0 {
			t.Fatalf("delivered more than once: %v", dups)
		}
		// The receiver has answered; the outcome is recorded just after.
		waitFor(t, "the delivery recorded as succeeded", func() bool {
			ds, err := c.ListEventDeliveries(ctx, fresh[0])
			return err == nil && len(ds) == 1 && ds[0].State == "succeeded"
		})
		page, err := c.ListWebhookAttempts(ctx, ep.ID, client.WebhookAttemptQuery{Event: fresh[0], ListParams: client.ListParams{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		n := len(page.Data)
		if n < 2 {
			t.Fatalf("%d attempts for %s, want a failure then a success: %+v", n, fresh[0], page.Data)
		}
		first, lastAttempt := page.Data[0], page.Data[n-1]
		if first.Succeeded || first.StatusCode != http.StatusServiceUnavailable || !strings.Contains(first.ResponseSnippet, "down for maintenance") || first.Number != 1 {
			t.Errorf("first attempt = %+v, want a logged 503", first)
		}
		if !lastAttempt.Succeeded || lastAttempt.StatusCode != http.StatusNoContent || lastAttempt.Number != n {
			t.Errorf("last attempt = %+v, want the %dth, a 204", lastAttempt, n)
		}
		ds, err := c.ListEventDeliveries(ctx, fresh[0])
		if err != nil || len(ds) != 1 || ds[0].State != "succeeded" || ds[0].Attempts != n || ds[0].LastStatus != http.StatusNoContent {
			t.Fatalf("deliveries of %s = %+v, %v", fresh[0], ds, err)
		}
	})

	t.Run("Replay", func(t *testing.T) {
		ids := eventIDs(t, c, "", 0)
		target := ids[5]
		rep, err := c.ReplayEvent(ctx, target, "")
		if err != nil || len(rep.WebhookEndpoints) != 1 || rep.WebhookEndpoints[0] != ep.ID {
			t.Fatalf("replay = %+v, %v", rep, err)
		}
		waitFor(t, "the replayed event", func() bool { return rcv.count(target) == 2 })
	})

	t.Run("DisabledEndpointGetsNothingNew", func(t *testing.T) {
		yes := true
		if _, err := c.UpdateWebhookEndpoint(ctx, ep.ID, client.WebhookEndpointUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		before := eventIDs(t, c, "", 0)
		pay("while-disabled", "")
		fresh := eventIDs(t, c, before[len(before)-1], 1)
		if len(fresh) != 1 {
			t.Fatalf("%d new events, want 1", len(fresh))
		}
		// A second endpoint, enabled, proves the event was dispatched; the
		// disabled one must have no delivery of it.
		other := newReceiver(t)
		ep2, err := c.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: other.URL, EventTypes: []string{client.EventTransferCreated}})
		if err != nil {
			t.Fatal(err)
		}
		other.secret = ep2.Secret
		pay("after-second-endpoint", "")
		last := eventIDs(t, c, fresh[0], 1)
		other.waitAll(t, last)
		for _, id := range append(fresh, last...) {
			if n := rcv.count(id); n != 0 {
				t.Errorf("disabled endpoint received %s %d times", id, n)
			}
		}
		if _, err := c.ReplayEvent(ctx, fresh[0], ep.ID); client.CodeOf(err) != "conflict" {
			t.Errorf("replay to a disabled endpoint: %v, want conflict", err)
		}
	})
	t.Run("NothingLostOrDuplicatedAcrossRestart", func(t *testing.T) {
		no := false
		if _, err := c.UpdateWebhookEndpoint(ctx, ep.ID, client.WebhookEndpointUpdate{Disabled: &no}); err != nil {
			t.Fatal(err)
		}
		before := eventIDs(t, c, "", 0)
		sent := rcv.requests.Load()
		rcv.delay.Store(int64(5 * time.Millisecond)) // keep deliveries in flight when the stop comes
		batch := make([]client.TransferParams, 300)
		for i := range batch {
			batch[i] = client.TransferParams{Reference: fmt.Sprintf("restart-%d", i), DebitAccount: a.ID, CreditAccount: b.ID,
				Amount: client.Money{Amount: 1, Currency: "JPY"}}
		}
		if _, err := c.CreateTransfers(ctx, batch); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first deliveries", func() bool { return rcv.requests.Load() > sent+10 })
		if err := srv.stop(t); err != nil {
			t.Fatalf("serve returned %v", err)
		}
		srv = startServeConfig(t, cfg) // the last subtest: this server stops with it
		c = client.New("http://"+srv.addr, key, nil)
		fresh := eventIDs(t, c, before[len(before)-1], 300)
		if len(fresh) != 300 {
			t.Fatalf("%d new events, want 300", len(fresh))
		}
		if dups := rcv.waitAll(t, fresh); len(dups) > 0 {
			t.Fatalf("%d events delivered more than once across a graceful restart: %v", len(dups), dups[:min(5, len(dups))])
		}
		rcv.delay.Store(0)
	})

}
