package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kinko-pay/kinko/client"
)

// TestEndToEnd starts the real server in-process on a fresh SQLite file,
// with a key made by `kinko keys create` as a script would, and drives the
// ledger through the public client; then scrapes /metrics with Prometheus's
// parser and shuts down cleanly.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	r := runCLI(t, nil, "keys", "create", "--db", db, "--scopes", "admin", "--name", "e2e")
	if r.code != exitOK {
		t.Fatalf("keys create: exit %d: %s", r.code, r.stderr)
	}
	secret := strings.TrimSpace(r.stdout)
	srv := startServe(t, db)
	base := "http://" + srv.addr
	c := client.New(base, secret, nil)

	if _, err := c.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: "a", Currency: "JPY"})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: "b", Currency: "JPY", CreditsMustNotExceedDebits: true, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	params := client.TransferParams{Reference: "pay-1", DebitAccount: a.ID, CreditAccount: b.ID, Amount: client.Money{Amount: 400, Currency: "JPY"}}
	first, res, err := c.CreateTransfer(ctx, params, client.WithIdempotencyKey("idem-pay-1"))
	if err != nil || res.Status != 201 {
		t.Fatalf("transfer: %+v %v", res, err)
	}
	again, res, err := c.CreateTransfer(ctx, params, client.WithIdempotencyKey("idem-pay-1"))
	if err != nil || !res.Replayed || again.ID != first.ID {
		t.Fatalf("retry with the same key: %+v %+v %v", again, res, err)
	}
	params.Reference, params.Amount.Amount = "pay-2", 101
	if _, _, err := c.CreateTransfer(ctx, params); client.CodeOf(err) != "limit_exceeded" {
		t.Fatalf("over the limit: %v", err)
	}
	got, err := c.GetAccount(ctx, b.ID)
	if err != nil || got.Balance.CreditsPosted != 400 {
		t.Fatalf("account b = %+v, %v", got, err)
	}
	if _, err := client.New(base, "kinko_sk_wrong", nil).GetAccount(ctx, a.ID); client.CodeOf(err) != "unauthenticated" {
		t.Fatalf("wrong key: %v", err)
	}

	res2, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res2.Body)
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v", err)
	}
	found := false
	for _, m := range families["kinko_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && l.GetValue() == "POST /v1/transfers" {
				found = true
			}
		}
	}
	if !found || families["kinko_ledger_batch_requests"] == nil {
		t.Fatalf("metrics lack the transfer route or ledger batches: %v", families["kinko_http_requests_total"])
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
}

// TestAccountsAndTransfersCommands drives `kinko accounts` and `kinko
// transfers` against the real server.
func TestAccountsAndTransfersCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	r := runCLI(t, nil, "keys", "create", "--db", db, "--scopes", "admin")
	if r.code != exitOK {
		t.Fatalf("keys create: %s", r.stderr)
	}
	srv := startServe(t, db)
	remote := []string{"--url", "http://" + srv.addr, "--key", strings.TrimSpace(r.stdout)}
	run := func(want int, args ...string) map[string]any {
		t.Helper()
		r := runCLI(t, nil, append(args, remote...)...)
		if r.code != want {
			t.Fatalf("kinko %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, want, r.stdout, r.stderr)
		}
		var m map[string]any
		if want == exitOK {
			if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
				t.Fatalf("kinko %v printed no JSON: %v\n%s", args, err, r.stdout)
			}
		} else if !strings.Contains(r.stderr, `"code"`) {
			t.Fatalf("kinko %v: no problem on stderr: %s", args, r.stderr)
		}
		return m
	}
	if _, err := client.New("http://"+srv.addr, strings.TrimSpace(r.stdout), nil).CreateAsset(context.Background(), client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	a := run(exitOK, "accounts", "create", "--reference", "a", "--currency", "JPY")["id"].(string)
	b := run(exitOK, "accounts", "create", "--reference", "b", "--currency", "JPY", "--debits-must-not-exceed-credits")["id"].(string)
	hold := run(exitOK, "transfers", "create", "--reference", "h", "--kind", "pending", "--debit", a, "--credit", b, "--amount", "300", "--currency", "JPY")
	run(exitOK, "transfers", "post", "--id", hold["id"].(string), "--reference", "p", "--amount", "200", "--currency", "JPY")
	run(exitFailure, "transfers", "create", "--reference", "x", "--debit", b, "--credit", a, "--amount", "201", "--currency", "JPY")
	bal := run(exitOK, "accounts", "balance", "--id", b)
	if bal["credits_posted"] != 200.0 {
		t.Fatalf("balance %v", bal)
	}
	if got := run(exitOK, "transfers", "get", "--id", hold["id"].(string)); got["kind"] != "pending" {
		t.Fatalf("get %v", got)
	}
	if page := run(exitOK, "accounts", "list", "--limit", "1"); page["has_more"] != true {
		t.Fatalf("list %v", page)
	}
}

// TestTwoOrganizationsAreIsolated builds two organizations with the CLI, as
// an operator would, and checks through the API that neither sees the other.
func TestTwoOrganizationsAreIsolated(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	admin := cliOut(t, "keys", "create", "--db", db, "--scopes", "admin")
	orgA, orgB := cliOut(t, "orgs", "create", "--db", db, "--name", "Shop A"), cliOut(t, "orgs", "create", "--db", db, "--name", "Shop B")
	keyA := cliOut(t, "keys", "create", "--db", db, "--org", orgA, "--scopes", "accounts:write,transfers:write")
	keyB := cliOut(t, "keys", "create", "--db", db, "--org", orgB, "--scopes", "accounts:write,transfers:write")
	if r := runCLI(t, nil, "orgs", "create", "--db", db); r.code == exitOK {
		t.Fatal("an organization without a name was created")
	}
	srv := startServe(t, db)
	base := "http://" + srv.addr
	if _, err := client.New(base, admin, nil).CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	a, b := client.New(base, keyA, nil), client.New(base, keyB, nil)
	acct, _, err := a.CreateAccount(ctx, client.AccountParams{Reference: "till", Currency: "JPY"})
	if err != nil {
		t.Fatal(err)
	}
	_, errTheirs := b.GetAccount(ctx, acct.ID)
	_, errNone := b.GetAccount(ctx, "acc_999999999")
	if client.CodeOf(errTheirs) != "not_found" || client.CodeOf(errNone) != "not_found" {
		t.Fatalf("another org's account: %v; a missing one: %v", errTheirs, errNone)
	}
	if page, err := b.ListAccounts(ctx, client.ListParams{}); err != nil || len(page.Data) != 0 {
		t.Fatalf("org B lists %+v, %v", page, err)
	}
	// The same reference in another organization is another account.
	own, _, err := b.CreateAccount(ctx, client.AccountParams{Reference: "till", Currency: "JPY"})
	if err != nil || own.ID == acct.ID {
		t.Fatalf("org B's till = %+v, %v", own, err)
	}
}
