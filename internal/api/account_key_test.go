package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// lostAnswer is a ledger store whose next transaction, once armed,
// commits and then reports a failure: the node died after COMMIT, before
// it could answer.
type lostAnswer struct {
	*sqlite.DB
	armed atomic.Bool
}

func (s *lostAnswer) Transact(ctx context.Context, fn func(ledger.Tx) error) error {
	if err := s.DB.Transact(ctx, fn); err != nil || !s.armed.CompareAndSwap(true, false) {
		return err
	}
	return errors.New("simulated: the answer to a committed transaction was lost")
}

// TestKeyedAccountSurvivesALostAnswer: an account was opened but the
// service reported a failure. On the generic path the request answers
// 500 and gives its key back, and a retry runs again and answers 200 (the
// account existed), not what the first request did. Kept in the account's
// own transaction, the response is there: the request answers it (found
// as the key's record) and so does every retry, byte for byte.
func TestKeyedAccountSurvivesALostAnswer(t *testing.T) {
	for _, generic := range []bool{false, true} {
		db, _ := openLedger(t, ledger.Config{})
		st := &lostAnswer{DB: db}
		e := ledger.NewEngine(st, ledger.Config{Events: EventEncoder{}})
		t.Cleanup(e.Close)
		s := New(Config{Ledger: e, Idempotency: idempotency.NewService(db, nil), Logger: slog.New(&errorLog{}), Auth: keys{
			"k": {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"accounts:write"}},
		}})
		if generic {
			s.keyedInTx = nil
		}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		h := &harness{t: t, srv: srv, db: db}

		body := `{"reference":"acct-1","currency":"JPY"}`
		st.armed.Store(true)
		first := h.do("POST", "/v1/accounts", "k", body, "Idempotency-Key", "i-1")
		r := h.do("POST", "/v1/accounts", "k", body, "Idempotency-Key", "i-1")
		list := h.want(h.do("GET", "/v1/accounts", "k", ""), 200, "")
		if n := len(list.body["data"].([]any)); n != 1 {
			t.Fatalf("generic %v: %d accounts, want 1", generic, n)
		}
		replayed := r.header.Get("Idempotent-Replayed") == "true"
		switch {
		case !generic && (first.status != 201 || r.status != 201 || !replayed || r.raw != first.raw):
			t.Errorf("keyed: %d %s, then %d (replayed %v) %s; want the kept 201 twice", first.status, first.raw, r.status, replayed, r.raw)
		case generic && first.status != 500:
			t.Errorf("generic: the first request answered %d %s; want 500", first.status, first.raw)
		case generic && (r.status != 200 || replayed):
			t.Errorf("generic: the retry answered %d (replayed %v); the test expects it to run again and find the account", r.status, replayed)
		}
	}
}
