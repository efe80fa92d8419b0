package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// Defaults and bounds of kinko bench billing.
const (
	benchBillingCustomers    = 100
	benchBillingCustomersMax = 10000
	benchBillingLimit        = 1_000_000_000_000_000 // each customer's credit limit (billing's maximum): checked on every reservation, never reached
)

type benchBillingConfig struct {
	URL, Key    string
	Concurrency int
	Duration    time.Duration
	Customers   int
}

type benchBillingResult struct {
	RunID       string  `json:"run_id"`
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	Customers   int     `json:"customers"`
	Pairs       int64   `json:"pairs"`
	ElapsedS    float64 `json:"elapsed_s"`
	PairsPerSec float64 `json:"pairs_per_sec"`
	P50Ms       float64 `json:"p50_ms"` // of one reserve + charge pair
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	Rejected    int64   `json:"rejected"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

// runBenchBilling measures reserve + final charge pairs through the HTTP
// API (issue 5's target): each client reserves an amount for a random
// postpaid customer and charges it in full, each POST with its own
// Idempotency-Key, until the duration ends.
func runBenchBilling(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench billing")
	var cfg benchBillingConfig
	fs.StringVar(&cfg.URL, "url", envOr(e, "KINKO_URL", "http://"+addrDefault), "server base URL (env KINKO_URL)")
	key := secretFlag(fs, e, "key", "KINKO_KEY", "", "API key secret with billing:write (env KINKO_KEY)")
	fs.IntVar(&cfg.Concurrency, "concurrency", benchConcurrencyDefault, "concurrent clients, each running one pair at a time")
	fs.DurationVar(&cfg.Duration, "duration", benchAPIDurationDflt, "how long to run pairs")
	fs.IntVar(&cfg.Customers, "customers", benchBillingCustomers, "postpaid customers to spread reservations over")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Key = *key
	switch {
	case cfg.Key == "":
		return usageError("billing: --key (or KINKO_KEY) is required")
	case cfg.Concurrency < 1 || cfg.Concurrency > benchConcurrencyMax:
		return usageError("billing: --concurrency must be between 1 and %d", benchConcurrencyMax)
	case cfg.Duration <= 0 || cfg.Duration > benchAPIDurationMax:
		return usageError("billing: --duration must be between 0 and %s", benchAPIDurationMax)
	case cfg.Customers < 1 || cfg.Customers > benchBillingCustomersMax:
		return usageError("billing: --customers must be between 1 and %d", benchBillingCustomersMax)
	}
	res, err := benchBilling(ctx, cfg, newProgress(e.stderr))
	if err != nil {
		return fmt.Errorf("bench billing: %w", err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(e.stdout, "pairs:       %d reserve+charge in %.1fs (%d clients, %d customers)\nthroughput:  %.0f pairs/s\nlatency:     p50 %.2f ms, p99 %.2f ms, max %.2f ms per pair\nrejected:    %d\nerrors:      %d %s\n",
			res.Pairs, res.ElapsedS, res.Concurrency, res.Customers, res.PairsPerSec, res.P50Ms, res.P99Ms, res.MaxMs, res.Rejected, res.Errors, res.FirstError)
	}
	if res.Rejected > 0 || res.Errors > 0 {
		return exitError{exitFailure}
	}
	return nil
}

func benchBilling(ctx context.Context, cfg benchBillingConfig, prog *progress) (benchBillingResult, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2, IdleConnTimeout: time.Minute,
	}}
	c := client.New(cfg.URL, cfg.Key, hc)
	res := benchBillingResult{RunID: fmt.Sprintf("bench-%d", time.Now().UnixNano()), URL: cfg.URL, Concurrency: cfg.Concurrency, Customers: cfg.Customers}
	customers := make([]string, cfg.Customers)
	for i := range customers {
		cu, _, err := c.CreateBillingCustomer(ctx, client.BillingCustomerParams{Reference: fmt.Sprintf("%s-c-%d", res.RunID, i), Mode: "postpaid",
			Currency: benchAsset, CreditLimit: &client.Money{Amount: benchBillingLimit, Currency: benchAsset}})
		if err != nil {
			return res, fmt.Errorf("create customer %d (is the %s asset configured?): %w", i, benchAsset, err)
		}
		customers[i] = cu.ID
		prog.Update("bench: customers %d/%d", i+1, cfg.Customers)
	}
	prog.Done("bench: customers %d/%d", cfg.Customers, cfg.Customers)

	st := runLoad(ctx, cfg.Concurrency, cfg.Duration, prog, "pairs", 500, func(ctx context.Context, i int64) error {
		amount := client.Money{Amount: 1 + rand.Int64N(benchAmountMax), Currency: benchAsset}
		ref := fmt.Sprintf("%s-%d", res.RunID, i)
		r, _, err := c.Reserve(ctx, client.ReservationParams{Customer: customers[rand.IntN(len(customers))], Amount: amount, Reference: ref},
			client.WithIdempotencyKey(ref+"-r"))
		if err != nil {
			return err
		}
		_, _, err = c.Charge(ctx, r.AuthNumber, client.ChargeParams{Amount: amount, Reference: ref + "-c", Final: true},
			client.WithIdempotencyKey(ref+"-c"))
		return err
	})
	res.Pairs, res.ElapsedS = st.Calls, st.Elapsed.Seconds()
	res.PairsPerSec = float64(res.Pairs) / res.ElapsedS
	res.P50Ms, res.P99Ms, res.MaxMs = durationMs(st.P50), durationMs(st.P99), durationMs(st.Max)
	res.Rejected, res.Errors, res.FirstError = st.Rejected, st.Errors, st.FirstError
	return res, nil
}
