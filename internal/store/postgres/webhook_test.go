package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// mustOpenTwoNodes opens two handles (two pools, as two nodes have) on one
// fresh, migrated database.
func mustOpenTwoNodes(t *testing.T) (*DB, *DB) {
	t.Helper()
	u := newMigratedDatabase(t)
	return MustOpen(t, u), MustOpen(t, u)
}

// mustEndpoint stores an endpoint of org for every event type.
func mustEndpoint(t *testing.T, db *DB, org string) webhook.Endpoint {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e, err := db.WebhookEndpointInsert(context.Background(), webhook.Endpoint{OrgID: org, URL: "https://hooks.example.com/" + org,
		EventTypes: []string{webhook.WildcardEventType}, Secret: webhook.NewSecret(), CreatedAt: now, UpdatedAt: now}, nil)
	if err != nil {
		t.Fatalf("insert endpoint of %s: %v", org, err)
	}
	return e
}

// TestWebhookDispatchTwoNodes runs the dispatcher on two nodes at once, in
// small batches: together they claim every event, none twice, and every
// event reaches exactly one River job.
func TestWebhookDispatchTwoNodes(t *testing.T) {
	const (
		orgs      = 4
		eventsN   = 4000
		batchMax  = 1000 // events per ledger transaction
		dispatchN = 50   // events per dispatch
	)
	ctx := context.Background()
	nodes := make([]*DB, 2)
	nodes[0], nodes[1] = mustOpenTwoNodes(t)
	for o := range orgs {
		mustEndpoint(t, nodes[0], fmt.Sprint("o", o))
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for start := 0; start < eventsN; start += batchMax {
		evs := make([]event.Event, 0, batchMax)
		for i := start; i < min(start+batchMax, eventsN); i++ {
			evs = append(evs, event.Event{OrgID: fmt.Sprint("o", i%orgs), Type: event.TypeAccountCreated, Data: fmt.Appendf(nil, `{"n":%d}`, i), CreatedAt: now})
		}
		if err := nodes[0].Transact(ctx, func(tx ledger.Tx) error { return tx.EventsInsert(ctx, evs) }); err != nil {
			t.Fatal(err)
		}
	}

	claimed := make([]int, len(nodes))
	errs := make([]error, len(nodes))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, db := range nodes {
		wg.Go(func() {
			<-start
			for {
				n, err := db.WebhookDispatch(ctx, now, dispatchN, webhook.Plan)
				if err != nil {
					errs[i] = err
					return
				}
				claimed[i] += n
				if n == 0 {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	// A node that found nothing left may have stopped while the other still
	// held a batch; one more call sees whether anything was left behind.
	if n, err := nodes[0].WebhookDispatch(ctx, now, dispatchN, webhook.Plan); err != nil || n != 0 {
		t.Fatalf("a dispatch after both nodes finished = %d, %v; want 0", n, err)
	}
	if claimed[0]+claimed[1] != eventsN || claimed[0] == 0 || claimed[1] == 0 {
		t.Fatalf("the nodes claimed %d and %d events, want %d in all, some each", claimed[0], claimed[1], eventsN)
	}

	var undispatched, deliveries int
	if err := nodes[0].pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE seq IS NULL").Scan(&undispatched); err != nil || undispatched != 0 {
		t.Fatalf("%d events left undispatched, %v", undispatched, err)
	}
	// The dispatches ran one after another: listing numbers 1..eventsN, no gap, none twice.
	var numbered, seqMin, seqMax int
	if err := nodes[0].pool.QueryRow(ctx, "SELECT count(DISTINCT seq), min(seq), max(seq) FROM events").Scan(&numbered, &seqMin, &seqMax); err != nil ||
		numbered != eventsN || seqMin != 1 || seqMax != eventsN {
		t.Fatalf("events numbered %d distinct, %d..%d, %v; want 1..%d", numbered, seqMin, seqMax, err, eventsN)
	}
	if err := nodes[0].pool.QueryRow(ctx, "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending' AND attempts = 0").Scan(&deliveries); err != nil || deliveries != eventsN {
		t.Fatalf("%d new deliveries, %v; want %d", deliveries, err, eventsN)
	}
	rows, err := nodes[0].pool.Query(ctx, "SELECT args, max_attempts FROM river_job WHERE kind = $1", webhook.DeliverArgs{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	var jobbed []int64
	for rows.Next() {
		var raw []byte
		var attemptsMax int
		if err := rows.Scan(&raw, &attemptsMax); err != nil {
			t.Fatal(err)
		}
		var args webhook.DeliverArgs
		if err := json.Unmarshal(raw, &args); err != nil || attemptsMax != webhook.JobAttemptsMax {
			t.Fatalf("job %s allows %d attempts: %v", raw, attemptsMax, err)
		}
		jobbed = append(jobbed, args.EventIDs...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(jobbed)
	if len(jobbed) != eventsN || len(slices.Compact(jobbed)) != eventsN {
		t.Fatalf("the jobs carry %d event ids, %d distinct; want each of %d once", len(jobbed), len(slices.Compact(slices.Clone(jobbed))), eventsN)
	}
}

// TestWebhookEndpointLimitTwoNodes inserts more endpoints of one
// organization than allowed, at once from two nodes: exactly
// webhook.EndpointsPerOrgMax are stored and the rest are refused.
func TestWebhookEndpointLimitTwoNodes(t *testing.T) {
	ctx := context.Background()
	a, b := mustOpenTwoNodes(t)
	tries := 2 * webhook.EndpointsPerOrgMax
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			now := time.Now().UTC()
			_, errs[i] = db.WebhookEndpointInsert(ctx, webhook.Endpoint{OrgID: "o1", URL: fmt.Sprint("https://hooks.example.com/", i),
				EventTypes: []string{webhook.WildcardEventType}, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now}, nil)
		})
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		switch {
		case apperr.Is(err, apperr.CodeConflict):
			refused++
		case err != nil:
			t.Fatalf("insert: %v", err)
		}
	}
	page, err := a.WebhookEndpointList(ctx, webhook.EndpointFilter{OrgID: "o1", Limit: webhook.PageLimitMax})
	if err != nil || len(page) != webhook.EndpointsPerOrgMax || refused != tries-webhook.EndpointsPerOrgMax {
		t.Fatalf("%d endpoints stored, %d refused, %v; want %d and %d", len(page), refused, err, webhook.EndpointsPerOrgMax, tries-webhook.EndpointsPerOrgMax)
	}
}

// TestWebhookRecordUnstorableText records an attempt whose receiver answered
// with a NUL byte and invalid UTF-8, which PostgreSQL text cannot hold: the
// record succeeds, with U+FFFD in their place.
func TestWebhookRecordUnstorableText(t *testing.T) {
	ctx := context.Background()
	db := MustOpenFresh(t)
	e := mustEndpoint(t, db, "o1")
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := webhook.Attempt{EndpointID: e.ID, EventID: 1, OrgID: "o1", Number: 1, At: now, StatusCode: 500,
		Error: "bad\x00", ResponseSnippet: "a\x00b\xffc"}
	if err := db.WebhookRecord(ctx, []webhook.Attempt{a}, nil); err != nil {
		t.Fatalf("WebhookRecord: %v", err)
	}
	got, err := db.WebhookAttemptList(ctx, webhook.AttemptFilter{OrgID: "o1", Limit: 10})
	if err != nil || len(got) != 1 || got[0].Error != "bad\uFFFD" || got[0].ResponseSnippet != "a\uFFFDb\uFFFDc" {
		t.Fatalf("attempts = %+v, %v", got, err)
	}
}
