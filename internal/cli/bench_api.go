package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// Defaults and bounds of kinko bench api.
const (
	benchAPIAccounts     = 1000
	benchAPIDurationMax  = 10 * time.Minute
	benchAPIDurationDflt = 20 * time.Second
)

type benchAPIConfig struct {
	URL, Key    string
	Concurrency int
	Duration    time.Duration
	Accounts    int
	NoIdemKeys  bool // send no Idempotency-Key (measures the API without it)
}

type benchAPIResult struct {
	RunID          string  `json:"run_id"`
	URL            string  `json:"url"`
	Concurrency    int     `json:"concurrency"`
	Accounts       int     `json:"accounts"`
	Requests       int64   `json:"requests"`
	ElapsedS       float64 `json:"elapsed_s"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Rejected       int64   `json:"rejected"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
}

// runBenchAPI measures single-transfer POSTs, each with its own
// Idempotency-Key, against a running server.
func runBenchAPI(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench api")
	var cfg benchAPIConfig
	fs.StringVar(&cfg.URL, "url", envOr(e, "KINKO_URL", "http://"+addrDefault), "server base URL (env KINKO_URL)")
	key := secretFlag(fs, e, "key", "KINKO_KEY", "", "API key secret with accounts:write and transfers:write (env KINKO_KEY)")
	fs.IntVar(&cfg.Concurrency, "concurrency", benchConcurrencyDefault, "concurrent clients, each sending one request at a time")
	fs.DurationVar(&cfg.Duration, "duration", benchAPIDurationDflt, "how long to send transfers")
	fs.IntVar(&cfg.Accounts, "accounts", benchAPIAccounts, "accounts to spread transfers over")
	idemKeys := fs.Bool("idempotency-keys", true, "send an Idempotency-Key with every POST (false: rely on the transfer reference alone)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Key = *key
	cfg.NoIdemKeys = !*idemKeys
	switch {
	case cfg.Key == "":
		return usageError("api: --key (or KINKO_KEY) is required")
	case cfg.Concurrency < 1 || cfg.Concurrency > benchConcurrencyMax:
		return usageError("api: --concurrency must be between 1 and %d", benchConcurrencyMax)
	case cfg.Duration <= 0 || cfg.Duration > benchAPIDurationMax:
		return usageError("api: --duration must be between 0 and %s", benchAPIDurationMax)
	case cfg.Accounts < 2:
		return usageError("api: --accounts must be at least 2")
	}
	res, err := benchAPI(ctx, cfg, newProgress(e.stderr))
	if err != nil {
		return fmt.Errorf("bench api: %w", err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(e.stdout, "requests:    %d in %.1fs (%d clients)\nthroughput:  %.0f requests/s\nlatency:     p50 %.2f ms, p99 %.2f ms, max %.2f ms\nrejected:    %d\nerrors:      %d %s\n",
			res.Requests, res.ElapsedS, res.Concurrency, res.RequestsPerSec, res.P50Ms, res.P99Ms, res.MaxMs, res.Rejected, res.Errors, res.FirstError)
	}
	if res.Rejected > 0 || res.Errors > 0 {
		return exitError{exitFailure}
	}
	return nil
}

func benchAPI(ctx context.Context, cfg benchAPIConfig, prog *progress) (benchAPIResult, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2, IdleConnTimeout: time.Minute,
	}}
	c := client.New(cfg.URL, cfg.Key, hc)
	res := benchAPIResult{RunID: fmt.Sprintf("bench-%d", time.Now().UnixNano()), URL: cfg.URL, Concurrency: cfg.Concurrency, Accounts: cfg.Accounts}

	// The asset may exist already, and the key may not be allowed to make it.
	if _, err := c.CreateAsset(ctx, client.Asset{Code: benchAsset}); err != nil && client.CodeOf(err) != "forbidden" {
		return res, fmt.Errorf("create asset %s: %w", benchAsset, err)
	}
	ids := make([]string, cfg.Accounts)
	for i := range ids {
		a, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: fmt.Sprintf("%s-a-%d", res.RunID, i), Currency: benchAsset,
			DebitsMustNotExceedCredits: true, Limit: benchAccountLimit})
		if err != nil {
			return res, fmt.Errorf("create account %d: %w", i, err)
		}
		ids[i] = a.ID
		prog.Update("bench: accounts %d/%d", i+1, cfg.Accounts)
	}
	prog.Done("bench: accounts %d/%d", cfg.Accounts, cfg.Accounts)

	// Over plain HTTP each client keeps one connection of its own with
	// reused buffers (benchConn); over HTTPS the client package sends.
	send := func(ctx context.Context, t apiTransfer) error {
		opts := []client.CallOption{client.WithIdempotencyKey(t.IdempotencyKey)}
		if t.IdempotencyKey == "" {
			opts = []client.CallOption{client.WithoutIdempotencyKey()}
		}
		_, _, err := c.CreateTransfer(ctx, client.TransferParams{Reference: t.Reference, DebitAccount: t.DebitAccount,
			CreditAccount: t.CreditAccount, Amount: client.Money{Amount: t.Amount, Currency: t.Currency}}, opts...)
		return err
	}
	if bc, ok := newBenchConn(cfg.URL, cfg.Key); ok {
		conns := make(chan *benchConn, cfg.Concurrency)
		for range cfg.Concurrency {
			conns <- bc.clone()
		}
		defer func() {
			for range cfg.Concurrency {
				(<-conns).Close()
			}
		}()
		send = func(ctx context.Context, t apiTransfer) error {
			bc := <-conns
			defer func() { conns <- bc }()
			return bc.CreateTransfer(ctx, t)
		}
	}
	prefix := res.RunID + "-t-"
	st := runLoad(ctx, cfg.Concurrency, cfg.Duration, prog, "requests", 1000, func(ctx context.Context, i int64) error {
		d := rand.IntN(len(ids))
		cr := (d + 1 + rand.IntN(len(ids)-1)) % len(ids)
		t := apiTransfer{Reference: prefix + strconv.FormatInt(i, 10), DebitAccount: ids[d], CreditAccount: ids[cr],
			Amount: 1 + rand.Int64N(benchAmountMax), Currency: benchAsset}
		if !cfg.NoIdemKeys {
			t.IdempotencyKey = t.Reference
		}
		return send(ctx, t)
	})
	res.Requests, res.ElapsedS = st.Calls, st.Elapsed.Seconds()
	res.RequestsPerSec = float64(res.Requests) / res.ElapsedS
	res.P50Ms, res.P99Ms, res.MaxMs = durationMs(st.P50), durationMs(st.P99), durationMs(st.Max)
	res.Rejected, res.Errors, res.FirstError = st.Rejected, st.Errors, st.FirstError
	return res, nil
}
