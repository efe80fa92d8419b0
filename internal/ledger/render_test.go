package ledger_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// TestRenderPanicFailsOneAnswer: a renderer that panics runs on the engine's
// worker; the panic must fail that submission's answer alone, keep nothing
// for its key, and leave the engine serving: the transfer committed, and a
// retry with a working renderer replays it and keeps its answer.
func TestRenderPanicFailsOneAnswer(t *testing.T) {
	ctx := context.Background()
	_, e := openEngine(t, ledger.Config{})
	accts, err := e.CreateAccounts(ctx, []ledger.AccountRequest{{Owner: "o", Reference: "a", Asset: "JPY"}, {Owner: "o", Reference: "b", Asset: "JPY"}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := []ledger.TransferRequest{{Owner: "o", Reference: "r", DebitAccountID: accts[0].ID, CreditAccountID: accts[1].ID, Amount: 1}}
	claim := ledger.KeyClaim{OrgID: "o", Key: "k", RequestHash: []byte("h"),
		Render: func([]ledger.TransferResult) idempotency.Response { panic("render bug") }}
	if _, err := e.SubmitKeyed(ctx, reqs, claim); err == nil {
		t.Fatal("SubmitKeyed with a panicking renderer = nil error")
	}
	claim.Render = func(rs []ledger.TransferResult) idempotency.Response {
		status := 201
		if rs[0].Replayed {
			status = 200
		}
		return idempotency.Response{Status: status, ContentType: "application/json", Body: []byte(`{}`)}
	}
	ans, err := e.SubmitKeyed(ctx, reqs, claim)
	if err != nil || ans.Replayed || len(ans.Results) != 1 || !ans.Results[0].Replayed || ans.Response.Status != 200 {
		t.Fatalf("retry = %+v, %v; want the committed transfer replayed, answered 200 and kept", ans, err)
	}
	again, err := e.SubmitKeyed(ctx, reqs, claim)
	if err != nil || !again.Replayed || again.Response.Status != 200 {
		t.Fatalf("third call = %+v, %v; want the kept answer", again, err)
	}
}

// openEngine opens a migrated SQLite store in a temporary directory and an
// engine on it with cfg, with the asset JPY.
func openEngine(t *testing.T, cfg ledger.Config) (*sqlite.DB, *ledger.Engine) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := ledger.NewEngine(db, cfg)
	t.Cleanup(e.Close)
	if err := e.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	return db, e
}
