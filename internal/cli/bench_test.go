package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBenchLedger(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	for _, tc := range []struct {
		name     string
		hotShare string
	}{
		// The second and third runs find the first's data and must not collide with it.
		{"FreshDatabase", "0"},
		{"ExistingData", "0"},
		{"HotAccount", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "bench", "ledger", "--db", db, "--accounts", "30", "--transfers", "400",
				"--concurrency", "8", "--hot-share", tc.hotShare, "--json")
			if r.code != exitOK {
				t.Fatalf("bench: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
				t.Fatalf("last stdout line is not JSON: %v\n%s", err, r.stdout)
			}
			for _, key := range []string{"transfers_per_sec", "p50_ms", "p99_ms", "max_ms", "store", "accounts",
				"transfers", "concurrency", "hot_share", "rejected", "elapsed_s", "errors"} {
				if _, ok := got[key]; !ok {
					t.Errorf("result lacks %q: %v", key, got)
				}
			}
			if got["store"] != "sqlite" || got["accounts"] != 30.0 || got["transfers"] != 400.0 ||
				got["concurrency"] != 8.0 || got["rejected"] != 0.0 || got["errors"] != 0.0 {
				t.Errorf("result = %v; want sqlite, 30 accounts, 400 transfers, concurrency 8, none rejected or failed", got)
			}
			if !strings.Contains(r.stderr, "bench: transfers 400/400") {
				t.Errorf("stderr lacks the final progress line:\n%s", r.stderr)
			}
		})
	}
	if r := runCLI(t, nil, "verify", "--db", db); r.code != exitOK {
		t.Fatalf("verify after three bench runs: exit %d\n%s", r.code, r.stdout)
	}
}

func TestBenchLedgerHumanOutput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	r := runCLI(t, nil, "bench", "ledger", "--db", db, "--accounts", "2", "--transfers", "10", "--concurrency", "3")
	if r.code != exitOK {
		t.Fatalf("bench: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"store            sqlite", "transfers        10", "throughput", "rejected         0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
}

func TestBenchTransfer(t *testing.T) {
	ids := []int64{100, 101, 102, 103, 104}
	t.Run("DistinctAccounts", func(t *testing.T) {
		for i := range int64(2000) {
			req := benchTransfer("o", "run", ids, i, 0)
			if req.DebitAccountID == req.CreditAccountID {
				t.Fatalf("transfer %d: debit = credit = %d", i, req.DebitAccountID)
			}
			if !slices.Contains(ids, req.DebitAccountID) || !slices.Contains(ids, req.CreditAccountID) {
				t.Fatalf("transfer %d: accounts %d, %d not among %v", i, req.DebitAccountID, req.CreditAccountID, ids)
			}
			if req.Amount < 1 || req.Amount > benchAmountMax {
				t.Fatalf("transfer %d: amount %d outside 1..%d", i, req.Amount, benchAmountMax)
			}
		}
	})
	t.Run("HotShareOneAlternatesSides", func(t *testing.T) {
		for i := range int64(200) {
			req := benchTransfer("o", "run", ids, i, 1)
			hotDebited := req.DebitAccountID == ids[0]
			if hotDebited != (i%2 == 0) || (!hotDebited && req.CreditAccountID != ids[0]) {
				t.Fatalf("transfer %d: debit %d credit %d; want account %d debited on even, credited on odd", i, req.DebitAccountID, req.CreditAccountID, ids[0])
			}
		}
	})
	t.Run("UniqueReferences", func(t *testing.T) {
		a, b := benchTransfer("o", "run", ids, 1, 0), benchTransfer("o", "run", ids, 2, 0)
		if a.Reference == b.Reference {
			t.Fatalf("two transfers share reference %q", a.Reference)
		}
	})
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	var oneTo100ms []time.Duration
	for i := 1; i <= 100; i++ {
		oneTo100ms = append(oneTo100ms, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"Empty", nil, 0.5, 0},
		{"One", ms(7), 0.99, 7 * time.Millisecond},
		{"Median", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"P99Of100", oneTo100ms, 0.99, 99 * time.Millisecond},
		{"Max", ms(1, 5, 9), 1, 9 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.q, got, tc.want)
			}
		})
	}
}

// TestBenchLedgerSharedOwnerConcurrentRuns runs two benches at once on the
// same accounts of one file, as two processes would: both succeed, they
// share the accounts instead of creating them twice, and the ledger verifies.
func TestBenchLedgerSharedOwnerConcurrentRuns(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			r := runCLI(t, nil, "bench", "ledger", "--db", db, "--owner", "shared", "--accounts", "20", "--transfers", "300",
				"--concurrency", "6", "--hot-share", "0.5", "--json")
			if r.code != exitOK {
				t.Errorf("bench: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
		})
	}
	wg.Wait()
	r := runCLI(t, nil, "verify", "--db", db)
	if r.code != exitOK {
		t.Fatalf("verify after two concurrent runs: exit %d\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "accounts: 20 checked") {
		t.Fatalf("the two runs did not share their 20 accounts:\n%s", r.stdout)
	}
}
