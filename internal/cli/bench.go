package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// Defaults and bounds of kinko bench ledger.
const (
	benchAccountsDefault    = 10000
	benchTransfersDefault   = 200000
	benchConcurrencyDefault = 64
	benchConcurrencyMax     = 100000
	benchAmountMax          = 1000    // amounts are uniform in 1..benchAmountMax
	benchAccountLimit       = 1 << 50 // overdraft allowance: checked on every transfer, never reached
	benchAsset              = "JPY"
)

func runBench(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(e.stderr, "Usage: kinko bench ledger|api|billing|webhooks [flags]   (run \"kinko bench ledger -h\" for its flags)")
		if len(args) == 0 {
			return exitError{exitUsage}
		}
		return nil
	}
	switch args[0] {
	case "ledger":
		return runBenchLedger(ctx, e, args[1:])
	case "api":
		return runBenchAPI(ctx, e, args[1:])
	case "billing":
		return runBenchBilling(ctx, e, args[1:])
	case "webhooks":
		return runBenchWebhooks(ctx, e, args[1:])
	}
	return usageError("unknown benchmark %q; there are: ledger, api, billing, webhooks", args[0])
}

// benchLedgerConfig is one run of the ledger benchmark.
type benchLedgerConfig struct {
	DB          string
	Accounts    int
	Transfers   int
	Concurrency int
	HotShare    float64 // fraction of transfers that touch account 0
	Owner       string  // accounts' owner; "" means a fresh one per run
}

// benchLedgerResult is what the ledger benchmark reports; with --json it is
// the last line of stdout.
type benchLedgerResult struct {
	Store            string           `json:"store"`
	RunID            string           `json:"run_id"`
	Accounts         int              `json:"accounts"`
	Transfers        int              `json:"transfers"`
	Concurrency      int              `json:"concurrency"`
	HotShare         float64          `json:"hot_share"`
	EngineWorkers    int              `json:"engine_workers"`
	AccountsElapsedS float64          `json:"accounts_elapsed_s"`
	ElapsedS         float64          `json:"elapsed_s"`
	TransfersPerSec  float64          `json:"transfers_per_sec"`
	P50Ms            float64          `json:"p50_ms"`
	P99Ms            float64          `json:"p99_ms"`
	MaxMs            float64          `json:"max_ms"`
	Batches          int64            `json:"batches"`
	BatchMean        float64          `json:"batch_mean"`
	Rejected         int64            `json:"rejected"`
	Rejections       map[string]int64 `json:"rejections,omitempty"`
	Errors           int64            `json:"errors"`
	FirstError       string           `json:"first_error,omitempty"`
}

func runBenchLedger(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench ledger")
	var cfg benchLedgerConfig
	db := dbFlag(fs, e)
	fs.IntVar(&cfg.Accounts, "accounts", benchAccountsDefault, "accounts to create (at least 2)")
	fs.IntVar(&cfg.Transfers, "transfers", benchTransfersDefault, "transfers to submit in total")
	fs.IntVar(&cfg.Concurrency, "concurrency", benchConcurrencyDefault, "concurrent clients, each submitting one transfer at a time")
	fs.Float64Var(&cfg.HotShare, "hot-share", 0, "fraction 0..1 of transfers with account 0 on one side (contention)")
	fs.StringVar(&cfg.Owner, "owner", "", "owner of the accounts; runs (and processes) with the same owner share the same accounts (default: a fresh owner per run)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.DB = *db
	switch {
	case cfg.Accounts < 2:
		return usageError("ledger: --accounts must be at least 2")
	case cfg.Transfers < 0:
		return usageError("ledger: --transfers must not be negative")
	case cfg.Concurrency < 1 || cfg.Concurrency > benchConcurrencyMax:
		return usageError("ledger: --concurrency must be between 1 and %d", benchConcurrencyMax)
	case !(cfg.HotShare >= 0 && cfg.HotShare <= 1):
		return usageError("ledger: --hot-share must be between 0 and 1")
	}

	res, err := benchLedger(ctx, cfg, newProgress(e.stderr))
	if err != nil {
		return fmt.Errorf("bench ledger: %w", err)
	}
	if *asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("bench ledger: encode result: %w", err)
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printBenchLedger(e.stdout, res)
	}
	if res.Rejected > 0 || res.Errors > 0 {
		fmt.Fprintf(e.stderr, "kinko bench ledger: %d transfers rejected, %d failed; every transfer should succeed\n", res.Rejected, res.Errors)
		return exitError{exitFailure}
	}
	return nil
}

// benchLedger creates an asset and cfg.Accounts accounts under a fresh owner
// (or opens them again under cfg.Owner: creation is idempotent), then has
// cfg.Concurrency clients call Engine.CreateTransfer, the path the server
// takes, until cfg.Transfers were submitted. Every account has a balance rule
// with a limit no run reaches, so each transfer pays for a balance check and
// none is rejected. Transfer references carry the run id, so runs, and
// several processes on the same accounts, share a database.
func benchLedger(ctx context.Context, cfg benchLedgerConfig, prog *progress) (benchLedgerResult, error) {
	st, _, err := openStore(ctx, cfg.DB)
	if err != nil {
		return benchLedgerResult{}, err
	}
	defer st.Close()

	var batches, batched atomic.Int64
	ecfg := engineConfig(st.Kind())
	ecfg.Observe = func(b ledger.BatchStats) {
		if b.Err == nil {
			batches.Add(1)
			batched.Add(int64(b.Requests))
		}
	}
	engine := ledger.NewEngine(st, ecfg)
	defer engine.Close()

	res := benchLedgerResult{
		Store:         st.Kind(),
		RunID:         fmt.Sprintf("bench-%d", time.Now().UnixNano()),
		Accounts:      cfg.Accounts,
		Concurrency:   cfg.Concurrency,
		HotShare:      cfg.HotShare,
		EngineWorkers: ecfg.Workers,
	}

	if err := engine.CreateAsset(ctx, money.Asset{Code: benchAsset, Scale: 0}); err != nil {
		return res, fmt.Errorf("create asset %s: %w", benchAsset, err)
	}
	owner := cfg.Owner
	if owner == "" {
		owner = res.RunID
	}
	start := time.Now()
	ids, err := benchCreateAccounts(ctx, engine, owner, cfg.Accounts, prog)
	if err != nil {
		return res, err
	}
	res.AccountsElapsedS = time.Since(start).Seconds()

	run := benchTransfers(ctx, engine, owner, res.RunID, ids, cfg, prog)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("transfers: interrupted after %d: %w", run.submitted, err)
	}
	res.Transfers = int(run.submitted)
	res.ElapsedS = run.elapsed.Seconds()
	if res.ElapsedS > 0 {
		res.TransfersPerSec = float64(res.Transfers) / res.ElapsedS
	}
	slices.Sort(run.latencies)
	res.P50Ms = durationMs(percentile(run.latencies, 0.50))
	res.P99Ms = durationMs(percentile(run.latencies, 0.99))
	res.MaxMs = durationMs(percentile(run.latencies, 1))
	res.Rejections = run.rejections
	for _, n := range run.rejections {
		res.Rejected += n
	}
	res.Errors = run.errors
	if run.firstErr != nil {
		res.FirstError = run.firstErr.Error()
	}
	res.Batches = batches.Load()
	if res.Batches > 0 {
		res.BatchMean = float64(batched.Load()) / float64(res.Batches)
	}
	return res, nil
}

// benchCreateAccounts opens n accounts for owner in chunks of at most
// ledger.AccountsCreateMax and returns their ids in creation order.
func benchCreateAccounts(ctx context.Context, engine *ledger.Engine, owner string, n int, prog *progress) ([]int64, error) {
	ids := make([]int64, 0, n)
	for start := 0; start < n; start += ledger.AccountsCreateMax {
		end := min(start+ledger.AccountsCreateMax, n)
		reqs := make([]ledger.AccountRequest, 0, end-start)
		for i := start; i < end; i++ {
			reqs = append(reqs, ledger.AccountRequest{
				Owner:                      owner,
				Reference:                  fmt.Sprintf("a-%d", i),
				Asset:                      benchAsset,
				Code:                       "bench",
				DebitsMustNotExceedCredits: true,
				Limit:                      benchAccountLimit,
			})
		}
		accounts, err := engine.CreateAccounts(ctx, reqs)
		if err != nil {
			return nil, fmt.Errorf("create accounts %d..%d: %w", start, end-1, err)
		}
		for _, a := range accounts {
			ids = append(ids, a.ID)
		}
		prog.Update("bench: accounts %d/%d", len(ids), n)
	}
	prog.Done("bench: accounts %d/%d", len(ids), n)
	return ids, nil
}

// benchRun is what the transfer phase measured.
type benchRun struct {
	submitted  int64
	elapsed    time.Duration
	latencies  []time.Duration // one per call, unsorted
	rejections map[string]int64
	errors     int64
	firstErr   error
}

// benchTransfers runs the transfer phase: cfg.Concurrency clients share one
// counter and each submits one transfer at a time until cfg.Transfers were taken.
func benchTransfers(ctx context.Context, engine *ledger.Engine, owner, runID string, ids []int64, cfg benchLedgerConfig, prog *progress) benchRun {
	total := int64(cfg.Transfers)
	var next, done atomic.Int64

	tickCtx, stopTicks := context.WithCancel(ctx)
	var ticker sync.WaitGroup
	start := time.Now()
	ticker.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case <-t.C:
				n := done.Load()
				prog.Update("bench: transfers %d/%d (%.0f/s)", n, total, float64(n)/time.Since(start).Seconds())
			}
		}
	})

	var (
		mu  sync.Mutex
		run = benchRun{rejections: map[string]int64{}}
		wg  sync.WaitGroup
	)
	for range cfg.Concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, total/int64(cfg.Concurrency)+1)
			rejected := map[string]int64{}
			var errs int64
			var firstErr error
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				req := benchTransfer(owner, runID, ids, i, cfg.HotShare)
				t0 := time.Now()
				r, err := engine.CreateTransfer(ctx, req)
				lat = append(lat, time.Since(t0))
				done.Add(1)
				switch {
				case err != nil:
					errs++
					if firstErr == nil {
						firstErr = err
					}
				case r.Result != ledger.ResultOK:
					rejected[string(r.Result)]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			run.latencies = append(run.latencies, lat...)
			for k, v := range rejected {
				run.rejections[k] += v
			}
			run.errors += errs
			if run.firstErr == nil {
				run.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	stopTicks()
	ticker.Wait()
	run.submitted = done.Load()
	prog.Done("bench: transfers %d/%d (%.0f/s)", run.submitted, total, float64(run.submitted)/run.elapsed.Seconds())
	if len(run.rejections) == 0 {
		run.rejections = nil
	}
	return run
}

// benchTransfer builds the i-th transfer: two distinct random accounts, or
// with probability hotShare account 0 and a random other one, account 0
// alternately debited and credited; amount uniform in 1..benchAmountMax.
func benchTransfer(owner, runID string, ids []int64, i int64, hotShare float64) ledger.TransferRequest {
	n := len(ids)
	var debit, credit int
	if hotShare > 0 && rand.Float64() < hotShare {
		other := 1 + rand.IntN(n-1)
		debit, credit = 0, other
		if i%2 == 1 {
			debit, credit = other, 0
		}
	} else {
		debit = rand.IntN(n)
		credit = rand.IntN(n - 1)
		if credit >= debit {
			credit++
		}
	}
	return ledger.TransferRequest{
		Owner:           owner,
		Reference:       fmt.Sprintf("%s-t-%d", runID, i),
		DebitAccountID:  ids[debit],
		CreditAccountID: ids[credit],
		Amount:          1 + rand.Int64N(benchAmountMax),
		Asset:           benchAsset,
		Code:            "bench",
	}
}

// percentile returns the nearest-rank q-quantile of sorted, 0 when empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func durationMs(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

func printBenchLedger(w io.Writer, r benchLedgerResult) {
	fmt.Fprintf(w, "store            %s\n", r.Store)
	fmt.Fprintf(w, "run              %s\n", r.RunID)
	fmt.Fprintf(w, "accounts         %d (created in %.2f s)\n", r.Accounts, r.AccountsElapsedS)
	fmt.Fprintf(w, "transfers        %d\n", r.Transfers)
	fmt.Fprintf(w, "concurrency      %d\n", r.Concurrency)
	fmt.Fprintf(w, "hot share        %g\n", r.HotShare)
	fmt.Fprintf(w, "engine workers   %d\n", r.EngineWorkers)
	fmt.Fprintf(w, "elapsed          %.2f s\n", r.ElapsedS)
	fmt.Fprintf(w, "throughput       %.0f transfers/s\n", r.TransfersPerSec)
	fmt.Fprintf(w, "latency ms       p50 %.2f  p99 %.2f  max %.2f\n", r.P50Ms, r.P99Ms, r.MaxMs)
	fmt.Fprintf(w, "batches          %d (mean %.1f transfers)\n", r.Batches, r.BatchMean)
	fmt.Fprintf(w, "rejected         %d\n", r.Rejected)
	for k, v := range r.Rejections {
		fmt.Fprintf(w, "  %-30s %d\n", k, v)
	}
	fmt.Fprintf(w, "errors           %d\n", r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error      %s\n", r.FirstError)
	}
}
