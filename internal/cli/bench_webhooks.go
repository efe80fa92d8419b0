package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// Defaults and bounds of kinko bench webhooks.
const (
	benchWebhookEventsDefault = 20000
	benchWebhookEventsMax     = 1_000_000
	benchWebhookWaitMax       = 10 * time.Minute // for all deliveries, after the last transfer
	benchWebhookStallMax      = time.Minute      // without a single new delivery
	benchWebhookSubmitters    = 4                // concurrent batch POSTs
)

type benchWebhooksConfig struct {
	URL, Key string
	Events   int
	Listen   string // the receiver's address
}

type benchWebhooksResult struct {
	RunID            string  `json:"run_id"`
	URL              string  `json:"url"`
	Events           int     `json:"events"`
	Delivered        int     `json:"delivered"`  // distinct events received, signature verified
	Duplicates       int     `json:"duplicates"` // deliveries of an event already received
	BadSignatures    int     `json:"bad_signatures"`
	Missing          int     `json:"missing"`
	SubmitS          float64 `json:"submit_s"`           // creating the transfers
	DeliverS         float64 `json:"deliver_s"`          // first delivery to last
	EndToEndS        float64 `json:"end_to_end_s"`       // first transfer POST to last delivery
	DeliveriesPerSec float64 `json:"deliveries_per_sec"` // Events / DeliverS
	EndToEndPerSec   float64 `json:"end_to_end_per_sec"` // Events / EndToEndS
}

// runBenchWebhooks measures webhook delivery against a running server: it
// listens as a receiver, registers an endpoint for transfer.created, creates
// --events transfers through the batch API and waits until every event has
// arrived, each signature checked with the endpoint's secret alone.
func runBenchWebhooks(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench webhooks")
	var cfg benchWebhooksConfig
	fs.StringVar(&cfg.URL, "url", envOr(e, "KINKO_URL", "http://"+addrDefault), "server base URL (env KINKO_URL)")
	key := secretFlag(fs, e, "key", "KINKO_KEY", "", "API key secret with accounts, transfers and webhooks write scopes (env KINKO_KEY)")
	fs.IntVar(&cfg.Events, "events", benchWebhookEventsDefault, "transfers to create, so events to deliver")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address the receiver listens on; the server must reach it")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Key = *key
	switch {
	case cfg.Key == "":
		return usageError("webhooks: --key (or KINKO_KEY) is required")
	case cfg.Events < 1 || cfg.Events > benchWebhookEventsMax:
		return usageError("webhooks: --events must be between 1 and %d", benchWebhookEventsMax)
	}
	res, err := benchWebhooks(ctx, cfg, newProgress(e.stderr))
	if err != nil {
		return fmt.Errorf("bench webhooks: %w", err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(e.stdout, "events:      %d created in %.1fs\ndelivered:   %d in %.1fs (%.0f deliveries/s; %.0f/s from first POST to last delivery)\nduplicates:  %d\nbad sigs:    %d\nmissing:     %d\n",
			res.Events, res.SubmitS, res.Delivered, res.DeliverS, res.DeliveriesPerSec, res.EndToEndPerSec, res.Duplicates, res.BadSignatures, res.Missing)
	}
	if res.Duplicates > 0 || res.BadSignatures > 0 || res.Missing > 0 {
		return exitError{exitFailure}
	}
	return nil
}

// benchReceiver counts verified deliveries by event id.
type benchReceiver struct {
	secret string
	mu     sync.Mutex
	got    map[string]int
	bad    int
	first  time.Time
	last   time.Time
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	now := time.Now()
	ok := client.VerifySignature(req.Header.Get(client.SignatureHeader), body, r.secret, now, client.SignatureTolerance) == nil
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok {
		r.bad++
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if r.first.IsZero() {
		r.first = now
	}
	r.last = now
	r.got[req.Header.Get(client.EventIDHeader)]++
	w.WriteHeader(http.StatusNoContent)
}

func (r *benchReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func benchWebhooks(ctx context.Context, cfg benchWebhooksConfig, prog *progress) (benchWebhooksResult, error) {
	res := benchWebhooksResult{RunID: fmt.Sprintf("bench-%d", time.Now().UnixNano()), URL: cfg.URL, Events: cfg.Events}
	c := client.New(cfg.URL, cfg.Key, nil)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return res, fmt.Errorf("receiver: %w", err)
	}
	rcv := &benchReceiver{got: map[string]int{}}
	hs := &http.Server{Handler: rcv, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	if _, err := c.CreateAsset(ctx, client.Asset{Code: benchAsset}); err != nil && client.CodeOf(err) != "forbidden" {
		return res, fmt.Errorf("create asset %s: %w", benchAsset, err)
	}
	var accts [2]string
	for i := range accts {
		a, _, err := c.CreateAccount(ctx, client.AccountParams{Reference: fmt.Sprintf("%s-a-%d", res.RunID, i), Currency: benchAsset,
			DebitsMustNotExceedCredits: true, Limit: benchAccountLimit})
		if err != nil {
			return res, fmt.Errorf("create account: %w", err)
		}
		accts[i] = a.ID
	}
	ep, err := c.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: "http://" + ln.Addr().String() + "/" + res.RunID,
		EventTypes: []string{client.EventTransferCreated}, Description: "kinko bench webhooks " + res.RunID})
	if err != nil {
		return res, fmt.Errorf("create webhook endpoint: %w", err)
	}
	rcv.mu.Lock()
	rcv.secret = ep.Secret
	rcv.mu.Unlock()
	// The endpoint is the benchmark's own: disable it when done, so the
	// server stops sending to a receiver that is gone.
	defer func() {
		yes := true
		c.UpdateWebhookEndpoint(context.WithoutCancel(ctx), ep.ID, client.WebhookEndpointUpdate{Disabled: &yes})
	}()

	start := time.Now()
	const batch = 1000
	work := make(chan int)
	errs := make(chan error, benchWebhookSubmitters)
	var wg sync.WaitGroup
	for range benchWebhookSubmitters {
		wg.Go(func() {
			for from := range work {
				ps := make([]client.TransferParams, 0, batch)
				for i := from; i < min(from+batch, cfg.Events); i++ {
					ps = append(ps, client.TransferParams{Reference: fmt.Sprintf("%s-t-%d", res.RunID, i), DebitAccount: accts[i%2], CreditAccount: accts[1-i%2],
						Amount: client.Money{Amount: 1, Currency: benchAsset}})
				}
				results, err := c.CreateTransfers(ctx, ps)
				if err == nil {
					for _, r := range results {
						if r.Error != nil {
							err = fmt.Errorf("transfer rejected: %s", r.Error.Code)
							break
						}
					}
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for from := 0; from < cfg.Events; from += batch {
		work <- from
		prog.Update("bench: %d/%d transfers submitted, %d delivered", min(from+batch, cfg.Events), cfg.Events, rcv.distinct())
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, fmt.Errorf("create transfers: %w", err)
	}
	res.SubmitS = time.Since(start).Seconds()

	deadline := time.Now().Add(benchWebhookWaitMax)
	lastN, lastProgress := -1, time.Now()
	for {
		n := rcv.distinct()
		if n != lastN {
			lastN, lastProgress = n, time.Now()
		}
		prog.Update("bench: %d/%d delivered", n, cfg.Events)
		if n >= cfg.Events || time.Now().After(deadline) || time.Since(lastProgress) > benchWebhookStallMax || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let anything still in flight (a duplicate, say) arrive before counting.
	time.Sleep(time.Second)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	prog.Done("bench: %d/%d delivered", len(rcv.got), cfg.Events)
	res.Delivered, res.BadSignatures = len(rcv.got), rcv.bad
	for _, k := range rcv.got {
		res.Duplicates += k - 1
	}
	res.Missing = cfg.Events - res.Delivered
	if res.Delivered > 0 {
		res.DeliverS = rcv.last.Sub(rcv.first).Seconds()
		res.EndToEndS = rcv.last.Sub(start).Seconds()
		if res.DeliverS > 0 {
			res.DeliveriesPerSec = float64(res.Delivered) / res.DeliverS
		}
		res.EndToEndPerSec = float64(res.Delivered) / res.EndToEndS
	}
	if strings.TrimSpace(ep.Secret) == "" {
		return res, errors.New("the server returned no endpoint secret")
	}
	return res, nil
}
