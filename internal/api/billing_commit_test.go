package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// errCommit is the failure of a group commit that oneBatch simulates.
var errCommit = errors.New("simulated: COMMIT failed")

// pairOp is the second call of oneBatch's shared transaction.
type pairOp struct {
	fn   func(context.Context, billing.Tx) error
	done chan error
}

// oneBatch puts the next two billing calls, once armed, in one
// transaction whose commit fails, as SQLite's group writer shares one
// transaction between calls.
type oneBatch struct {
	*sqlite.DB
	mu    sync.Mutex
	armed bool
	slot  chan pairOp
}

func (b *oneBatch) BillingTransact(ctx context.Context, fn func(context.Context, billing.Tx) error) error {
	b.mu.Lock()
	if !b.armed {
		b.mu.Unlock()
		return b.DB.BillingTransact(ctx, fn)
	}
	if b.slot == nil {
		ch := make(chan pairOp, 1)
		b.slot = ch
		b.mu.Unlock()
		p := <-ch
		b.DB.BillingTransact(ctx, func(ctx context.Context, tx billing.Tx) error {
			if err := fn(ctx, tx); err != nil {
				return err
			}
			p.done <- p.fn(ctx, tx)
			return errCommit // the shared transaction's COMMIT fails: all is undone
		})
		return errCommit
	}
	ch := b.slot
	b.slot, b.armed = nil, false
	b.mu.Unlock()
	p := pairOp{fn: fn, done: make(chan error, 1)}
	ch <- p
	<-p.done
	return errCommit
}

// TestKeyedBillingSharedCommitFails: two requests with one key share a
// transaction whose commit fails. The second's keep read the first's
// record in that transaction; once the commit is undone, neither may
// answer as if a reservation existed, and a retry makes one.
func TestKeyedBillingSharedCommitFails(t *testing.T) {
	db, e := openLedger(t, ledger.Config{})
	st := &oneBatch{DB: db}
	s := New(Config{Ledger: e, Idempotency: idempotency.NewService(db, nil), Logger: slog.New(&errorLog{}),
		Billing: billing.NewService(billing.Config{Store: st, Ledger: e, Events: EventEncoder{}}), Auth: keys{
			"b1": {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"billing:write"}},
		}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, db: db}
	cus := h.want(h.do("POST", "/v1/billing/customers", "b1", `{"reference":"c1","mode":"postpaid","currency":"JPY","credit_limit":{"amount":1000,"currency":"JPY"}}`), 201, "")
	id := cus.body["id"].(string)
	st.mu.Lock()
	st.armed = true
	st.mu.Unlock()
	body := `{"customer":"` + id + `","amount":{"amount":100,"currency":"JPY"}}`
	answers := make([]response, 2)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { answers[i] = h.do("POST", "/v1/billing/reservations", "b1", body, "Idempotency-Key", "k") })
	}
	wg.Wait()
	for i, a := range answers {
		if a.status < 400 {
			t.Fatalf("request %d answered %d (replayed %q) for a commit that failed: %s", i, a.status, a.header.Get("Idempotent-Replayed"), a.raw)
		}
	}
	if bal := h.want(h.do("GET", "/v1/billing/customers/"+id+"/balance", "b1", ""), 200, ""); !strings.Contains(bal.raw, `"reserved":{"amount":0,`) {
		t.Fatalf("balance after the failed commit: %s", bal.raw)
	}
	r := h.want(h.do("POST", "/v1/billing/reservations", "b1", body, "Idempotency-Key", "k"), 201, "")
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the retry was a replay: %s", r.raw)
	}
	if bal := h.want(h.do("GET", "/v1/billing/customers/"+id+"/balance", "b1", ""), 200, ""); !strings.Contains(bal.raw, `"reserved":{"amount":100,`) {
		t.Fatalf("balance after the retry: %s", bal.raw)
	}
}
