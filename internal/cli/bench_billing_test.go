package cli

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// TestBenchBilling runs kinko bench billing briefly against the real server:
// every pair commits, and the ledger and the customers agree afterwards.
func TestBenchBilling(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	admin := cliOut(t, "keys", "create", "--db", db, "--scopes", "admin")
	org := cliOut(t, "orgs", "create", "--db", db, "--name", "Provider")
	key := cliOut(t, "keys", "create", "--db", db, "--org", org, "--scopes", "billing:write")
	srv := startServeConfig(t, serveConfig{DB: db, RatePerKey: -1})
	if _, err := client.New("http://"+srv.addr, admin, nil).CreateAsset(ctx, client.Asset{Code: benchAsset}); err != nil {
		t.Fatal(err)
	}
	res, err := benchBilling(ctx, benchBillingConfig{URL: "http://" + srv.addr, Key: key, Concurrency: 4, Duration: 300 * time.Millisecond, Customers: 3},
		newProgress(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pairs == 0 || res.Rejected != 0 || res.Errors != 0 {
		t.Fatalf("bench billing: %+v", res)
	}
	// Every pair charged in full with final: nothing stays reserved.
	cs, err := client.New("http://"+srv.addr, key, nil).ListBillingCustomers(ctx, client.ListParams{Limit: 10})
	if err != nil || len(cs.Data) != 3 {
		t.Fatalf("customers: %+v, %v", cs, err)
	}
	var used int64
	for _, c := range cs.Data {
		bal, err := client.New("http://"+srv.addr, key, nil).GetBillingBalance(ctx, c.ID, 0)
		if err != nil || bal.Reserved.Amount != 0 {
			t.Fatalf("balance of %s: %+v, %v", c.ID, bal, err)
		}
		used += bal.Used.Amount
	}
	if used < res.Pairs || used > res.Pairs*benchAmountMax {
		t.Fatalf("customers used %d over %d pairs", used, res.Pairs)
	}
}
