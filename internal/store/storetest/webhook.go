package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// jobWaitMax bounds how long the suite waits for a River client to work the
// jobs a dispatch enqueued.
const jobWaitMax = 30 * time.Second

// webhookFixture is a webhook.Service beside an engine that writes events,
// on one fresh store and one clock.
type webhookFixture struct {
	*eventFixture
	svc *webhook.Service
}

func newWebhookFixture(t testing.TB, h Harness) *webhookFixture {
	t.Helper()
	f := newEventFixture(t, h)
	return &webhookFixture{eventFixture: f, svc: webhook.NewService(f.store, f.store, f.clock.Now)}
}

// endpoint registers an endpoint of org for types, disabled if asked.
func (f *webhookFixture) endpoint(org string, disabled bool, types ...string) webhook.Endpoint {
	f.t.Helper()
	f.seq++
	u := fmt.Sprintf("https://hooks.example.com/%s/%d?x=1", org, f.seq)
	d := "受信 " + fmt.Sprint(f.seq)
	e, err := f.svc.CreateEndpoint(f.ctx, org, webhook.EndpointParams{URL: &u, Description: &d, EventTypes: types})
	if err != nil {
		f.t.Fatalf("create endpoint of %s: %v", org, err)
	}
	if disabled {
		if e, err = f.svc.UpdateEndpoint(f.ctx, org, e.ID, webhook.EndpointParams{Disabled: &disabled}); err != nil {
			f.t.Fatalf("disable endpoint %d: %v", e.ID, err)
		}
	}
	return e
}

// dispatch runs the service's Dispatch and fails unless it claims want events.
func (f *webhookFixture) dispatch(want int) {
	f.t.Helper()
	n, err := f.svc.Dispatch(f.ctx)
	if err != nil || n != want {
		f.t.Fatalf("Dispatch = %d, %v; want %d", n, err, want)
	}
}

// available is how many River jobs wait to be worked.
func (f *webhookFixture) available() int64 {
	f.t.Helper()
	depth, err := f.store.JobQueueDepth(f.ctx)
	if err != nil {
		f.t.Fatalf("JobQueueDepth: %v", err)
	}
	for _, s := range []string{"available", "scheduled", "retryable", "running"} {
		if _, ok := depth[s]; !ok {
			f.t.Fatalf("JobQueueDepth = %v: no %q", depth, s)
		}
	}
	return depth["available"]
}

// deliveries returns the deliveries of one event, by endpoint id.
func (f *webhookFixture) deliveries(eventID int64) []webhook.Delivery {
	f.t.Helper()
	ds, err := f.store.WebhookDeliveryList(f.ctx, eventID)
	if err != nil {
		f.t.Fatalf("WebhookDeliveryList(%d): %v", eventID, err)
	}
	return ds
}

// wantDeliveries fails unless the event's deliveries go to endpoints, in that
// order, each in state with attempts made.
func (f *webhookFixture) wantDeliveries(ev event.Event, state webhook.DeliveryState, attempts int, endpoints ...int64) {
	f.t.Helper()
	ds := f.deliveries(ev.ID)
	var got []int64
	for _, d := range ds {
		got = append(got, d.EndpointID)
		if d.EventID != ev.ID || d.OrgID != ev.OrgID || d.State != state || d.Attempts != attempts {
			f.t.Errorf("delivery %+v of event %d (%s), want %s with %d attempts", d, ev.ID, ev.Type, state, attempts)
		}
	}
	if !slices.Equal(got, endpoints) {
		f.t.Fatalf("event %d (%s) is delivered to %v, want %v", ev.ID, ev.Type, got, endpoints)
	}
}

// RunWebhooks checks webhooks on a store of h: endpoints, the dispatch of
// events to deliveries and River jobs, replays, the record of attempts and
// their listing.
func RunWebhooks(t *testing.T, h Harness) {
	t.Run("Endpoints", func(t *testing.T) { testWebhookEndpoints(t, h) })
	t.Run("EndpointKeep", func(t *testing.T) { testWebhookEndpointKeep(t, h) })
	t.Run("EndpointLimit", func(t *testing.T) { testWebhookEndpointLimit(t, h) })
	t.Run("EndpointDelete", func(t *testing.T) { testWebhookEndpointDelete(t, h) })
	t.Run("Dispatch", func(t *testing.T) { testWebhookDispatch(t, h) })
	t.Run("DispatchLimit", func(t *testing.T) { testWebhookDispatchLimit(t, h) })
	t.Run("JobsCarryTheirDeliveries", func(t *testing.T) { testWebhookJobs(t, h) })
	t.Run("RecordAndPending", func(t *testing.T) { testWebhookRecord(t, h) })
	t.Run("Replay", func(t *testing.T) { testWebhookReplay(t, h) })
	t.Run("Attempts", func(t *testing.T) { testWebhookAttempts(t, h) })
}

// sameEndpoint compares endpoints field by field, times by instant.
func sameEndpoint(a, b webhook.Endpoint) bool {
	return a.ID == b.ID && a.OrgID == b.OrgID && a.URL == b.URL && a.Description == b.Description &&
		slices.Equal(a.EventTypes, b.EventTypes) && a.Secret == b.Secret && a.Disabled == b.Disabled &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func testWebhookEndpoints(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	e1 := f.endpoint("o1", false, webhook.WildcardEventType)
	e2 := f.endpoint("o1", false, event.TypeTransferCreated, event.TypeTransferPosted)
	e3 := f.endpoint("o1", true, event.TypeAccountCreated)
	other := f.endpoint("o2", false, webhook.WildcardEventType)
	if e1.ID <= 0 || e2.ID <= e1.ID || !strings.HasPrefix(e1.Secret, webhook.SecretPrefix) || !e1.CreatedAt.Equal(f.Now()) {
		t.Fatalf("created %+v then %+v", e1, e2)
	}
	t.Run("OKByID", func(t *testing.T) {
		for _, want := range []webhook.Endpoint{e1, e2, e3, other} {
			got, err := f.store.WebhookEndpointByID(f.ctx, want.ID)
			if err != nil || !sameEndpoint(got, want) {
				t.Fatalf("WebhookEndpointByID(%d) = %+v, %v; want %+v", want.ID, got, err, want)
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := f.store.WebhookEndpointByID(f.ctx, other.ID+1000)
		wantCode(t, err, apperr.CodeNotFound, "WebhookEndpointByID of a missing endpoint")
		_, err = f.svc.FindEndpointByID(f.ctx, "o2", e1.ID)
		wantCode(t, err, apperr.CodeNotFound, "FindEndpointByID of another organization's endpoint")
		err = f.store.WebhookEndpointUpdate(f.ctx, webhook.Endpoint{ID: other.ID + 1000, OrgID: "o1", URL: "https://x.example", EventTypes: []string{"*"}, UpdatedAt: f.Now()}, f.Now())
		wantCode(t, err, apperr.CodeNotFound, "WebhookEndpointUpdate of a missing endpoint")
	})
	t.Run("OKUpdateKeepsAConcurrentUpdate", func(t *testing.T) {
		u, changed := "https://race.example/hook", "changed"
		ep, err := f.svc.CreateEndpoint(f.ctx, "o-race", webhook.EndpointParams{URL: &u, EventTypes: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		// A second admin read the endpoint, then the first disabled it: the
		// second's write of what it read (enabled) must not land.
		stale := ep
		off := true
		if _, err := f.svc.UpdateEndpoint(f.ctx, "o-race", ep.ID, webhook.EndpointParams{Disabled: &off}); err != nil {
			t.Fatal(err)
		}
		stale.Description, stale.UpdatedAt = "changed", f.Now().Add(time.Second)
		err = f.store.WebhookEndpointUpdate(f.ctx, stale, ep.UpdatedAt)
		wantCode(t, err, apperr.CodeNotFound, "WebhookEndpointUpdate of an endpoint changed since it was read")
		// Through the service, the second update reads it again and changes
		// only its own field.
		got, err := f.svc.UpdateEndpoint(f.ctx, "o-race", ep.ID, webhook.EndpointParams{Description: &changed})
		if err != nil || !got.Disabled || got.Description != "changed" {
			t.Fatalf("update after a disable = %+v, %v; want disabled with the new description", got, err)
		}
		if got, err := f.store.WebhookEndpointByID(f.ctx, ep.ID); err != nil || !got.Disabled || got.Description != "changed" {
			t.Fatalf("stored %+v, %v", got, err)
		}
		wantCode(t, f.svc.DeleteEndpoint(f.ctx, "o-race", ep.ID), "", "delete")
	})
	t.Run("OKListPages", func(t *testing.T) {
		for _, size := range []int{1, 2, 3, 4} {
			var got []webhook.Endpoint
			for after := int64(0); ; {
				page, err := f.store.WebhookEndpointList(f.ctx, webhook.EndpointFilter{OrgID: "o1", AfterID: after, Limit: size})
				if err != nil || len(page) > size {
					t.Fatalf("list after %d: %d endpoints, %v", after, len(page), err)
				}
				got = append(got, page...)
				if len(page) < size {
					break
				}
				after = page[len(page)-1].ID
			}
			if len(got) != 3 || !sameEndpoint(got[0], e1) || !sameEndpoint(got[1], e2) || !sameEndpoint(got[2], e3) {
				t.Fatalf("pages of %d: %+v", size, got)
			}
		}
	})
	t.Run("OKUpdate", func(t *testing.T) {
		f.clock.Advance(time.Second)
		u, d, off := "https://new.example.com/hook", "", false
		got, err := f.svc.UpdateEndpoint(f.ctx, "o1", e3.ID, webhook.EndpointParams{URL: &u, Description: &d, EventTypes: []string{event.TypeTransferVoided, event.TypeAccountCreated}, Disabled: &off})
		if err != nil {
			t.Fatal(err)
		}
		want := e3
		want.URL, want.Description, want.EventTypes, want.Disabled, want.UpdatedAt = u, d, []string{event.TypeTransferVoided, event.TypeAccountCreated}, false, f.Now()
		if !sameEndpoint(got, want) {
			t.Fatalf("UpdateEndpoint = %+v, want %+v", got, want)
		}
		stored, err := f.store.WebhookEndpointByID(f.ctx, e3.ID)
		if err != nil || !sameEndpoint(stored, want) {
			t.Fatalf("stored after update = %+v, %v; want %+v", stored, err, want)
		}
		if stored, _ := f.store.WebhookEndpointByID(f.ctx, e2.ID); !sameEndpoint(stored, e2) {
			t.Fatalf("a neighbour changed: %+v, want %+v", stored, e2)
		}
	})
}

// testWebhookEndpointKeep: the keep of an endpoint's insert runs in its
// transaction: what it writes commits with the endpoint, and an error from
// it undoes both.
func testWebhookEndpointKeep(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	keys, ok := f.store.(idempotency.Store)
	if !ok {
		t.Fatalf("%T is not an idempotency.Store", f.store)
	}
	now := f.Now()
	record := func(key string) []idempotency.Record {
		return []idempotency.Record{{OrgID: "o1", Key: key, RequestHash: []byte("request"), Done: true, Status: 201,
			ContentType: "application/json", Body: []byte(`{"object":"webhook_endpoint"}`), CreatedAt: now}}
	}
	e := webhook.Endpoint{OrgID: "o1", URL: "https://hooks.example.com/kept", EventTypes: []string{webhook.WildcardEventType},
		Secret: webhook.NewSecret(), CreatedAt: now, UpdatedAt: now}

	var seen webhook.Endpoint
	got, err := f.store.WebhookEndpointInsert(f.ctx, e, func(tx idempotency.Tx, e webhook.Endpoint) error {
		seen = e
		return tx.IdempotencyInsert(f.ctx, record("kept"))
	})
	if err != nil || got.ID <= 0 || !sameEndpoint(got, seen) {
		t.Fatalf("insert with a keep: %+v, %v; the keep saw %+v", got, err, seen)
	}
	if rec, err := keys.IdempotencyByKey(f.ctx, "o1", "kept"); err != nil || !rec.Done || rec.Status != 201 {
		t.Fatalf("the keep's record: %+v, %v", rec, err)
	}

	refused := errors.New("refused by the keep")
	e.URL = "https://hooks.example.com/undone"
	_, err = f.store.WebhookEndpointInsert(f.ctx, e, func(tx idempotency.Tx, _ webhook.Endpoint) error {
		if err := tx.IdempotencyInsert(f.ctx, record("undone")); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("insert whose keep fails: %v, want the keep's error", err)
	}
	if _, err := keys.IdempotencyByKey(f.ctx, "o1", "undone"); !apperr.Is(err, apperr.CodeNotFound) {
		t.Fatalf("the failed keep's record: %v, want not_found", err)
	}
	list, err := f.svc.FindEndpoints(f.ctx, webhook.EndpointFilter{OrgID: "o1", Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != got.ID {
		t.Fatalf("endpoints after a failed keep: %+v, %v; want only %d", list, err, got.ID)
	}
}

func testWebhookEndpointLimit(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	for range webhook.EndpointsPerOrgMax {
		f.endpoint("o1", false, webhook.WildcardEventType)
	}
	u := "https://one-too-many.example.com"
	_, err := f.svc.CreateEndpoint(f.ctx, "o1", webhook.EndpointParams{URL: &u, EventTypes: []string{webhook.WildcardEventType}})
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.CodeConflict || ae.Param != "url" || !strings.Contains(ae.Message, fmt.Sprint(webhook.EndpointsPerOrgMax)) {
		t.Fatalf("endpoint %d: %v; want conflict on url naming the limit", webhook.EndpointsPerOrgMax+1, err)
	}
	page, err := f.store.WebhookEndpointList(f.ctx, webhook.EndpointFilter{OrgID: "o1", Limit: webhook.PageLimitMax})
	if err != nil || len(page) != webhook.EndpointsPerOrgMax {
		t.Fatalf("%d endpoints after the refused one, %v", len(page), err)
	}
	f.endpoint("o2", false, webhook.WildcardEventType) // the limit is per organization
}

func testWebhookEndpointDelete(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	gone := f.endpoint("o1", false, webhook.WildcardEventType)
	kept := f.endpoint("o1", false, webhook.WildcardEventType)
	other := f.endpoint("o2", false, webhook.WildcardEventType)
	f.account(ledger.AccountRequest{Owner: "o1"})
	ev := f.written("o1", "")
	f.dispatch(len(ev))
	f.wantDeliveries(ev[0], webhook.DeliveryPending, 0, gone.ID, kept.ID)
	// A job has read its delivery to the endpoint, and is sending it.
	_, inFlight, err := f.store.WebhookPendingEvents(f.ctx, gone.ID, []int64{ev[0].ID})
	if err != nil || len(inFlight) != 1 {
		t.Fatalf("pending deliveries before the delete: %+v, %v", inFlight, err)
	}

	f.clock.Advance(time.Second)
	if err := f.svc.DeleteEndpoint(f.ctx, "o1", gone.ID); err != nil {
		t.Fatal(err)
	}
	// goneFailed checks that the deleted endpoint's delivery of the first
	// event failed and the others' are still pending.
	goneFailed := func(t *testing.T, after string) {
		t.Helper()
		for _, d := range f.deliveries(ev[0].ID) {
			want := webhook.DeliveryPending
			if d.EndpointID == gone.ID {
				want = webhook.DeliveryFailed
			}
			if d.State != want {
				t.Fatalf("delivery %+v after %s, want %s", d, after, want)
			}
		}
	}
	t.Run("OKPendingDeliveriesFail", func(t *testing.T) {
		goneFailed(t, "the delete")
		if _, pending, err := f.store.WebhookPendingEvents(f.ctx, gone.ID, []int64{ev[0].ID}); err != nil || len(pending) != 0 {
			t.Fatalf("pending deliveries of the deleted endpoint: %+v, %v", pending, err)
		}
	})
	t.Run("OKInFlightAttemptLeavesItFailed", func(t *testing.T) {
		// The job's request fails after the delete: its record counts the
		// attempt but does not make the delivery pending again.
		d := inFlight[0]
		d.Attempts, d.LastStatus, d.UpdatedAt = d.Attempts+1, 503, f.Now()
		a := webhook.Attempt{EndpointID: gone.ID, EventID: ev[0].ID, OrgID: "o1", Number: d.Attempts, At: f.Now(), StatusCode: 503}
		if err := f.store.WebhookRecord(f.ctx, []webhook.Attempt{a}, []webhook.Delivery{d}); err != nil {
			t.Fatal(err)
		}
		for _, got := range f.deliveries(ev[0].ID) {
			if got.EndpointID == gone.ID && (got.State != webhook.DeliveryFailed || got.Attempts != 1) {
				t.Fatalf("delivery after a late failed attempt: %+v, want failed with 1 attempt", got)
			}
		}
	})
	t.Run("OKGiveUpWhatARaceQueued", func(t *testing.T) {
		// A replay that read the endpoint before the delete queues its
		// delivery after it; the job then finds no endpoint and gives up.
		if err := f.store.WebhookReplay(f.ctx, []webhook.Delivery{{EndpointID: gone.ID, EventID: ev[0].ID, OrgID: "o1", State: webhook.DeliveryPending,
			CreatedAt: f.Now(), UpdatedAt: f.Now()}}, webhook.DeliverArgs{EndpointID: gone.ID, EventIDs: []int64{ev[0].ID}}); err != nil {
			t.Fatal(err)
		}
		if err := f.store.WebhookGiveUp(f.ctx, gone.ID, []int64{ev[0].ID}, f.Now()); err != nil {
			t.Fatal(err)
		}
		goneFailed(t, "giving up")
	})
	t.Run("OKNotFoundAnyMore", func(t *testing.T) {
		_, err := f.store.WebhookEndpointByID(f.ctx, gone.ID)
		wantCode(t, err, apperr.CodeNotFound, "WebhookEndpointByID of a deleted endpoint")
		page, err := f.store.WebhookEndpointList(f.ctx, webhook.EndpointFilter{OrgID: "o1", Limit: webhook.PageLimitMax})
		if err != nil || len(page) != 1 || page[0].ID != kept.ID {
			t.Fatalf("list after the delete: %+v, %v", page, err)
		}
		on := false
		_, err = f.svc.UpdateEndpoint(f.ctx, "o1", gone.ID, webhook.EndpointParams{Disabled: &on})
		wantCode(t, err, apperr.CodeNotFound, "UpdateEndpoint of a deleted endpoint")
		err = f.store.WebhookEndpointUpdate(f.ctx, webhook.Endpoint{ID: gone.ID, OrgID: "o1", URL: "https://x.example", EventTypes: []string{"*"}, UpdatedAt: f.Now()}, gone.UpdatedAt)
		wantCode(t, err, apperr.CodeNotFound, "WebhookEndpointUpdate of a deleted endpoint")
		wantCode(t, f.svc.DeleteEndpoint(f.ctx, "o1", gone.ID), apperr.CodeNotFound, "a second DeleteEndpoint")
	})
	t.Run("ErrNotFoundOtherOrganization", func(t *testing.T) {
		wantCode(t, f.svc.DeleteEndpoint(f.ctx, "o1", other.ID), apperr.CodeNotFound, "DeleteEndpoint of another organization's endpoint")
		if got, err := f.store.WebhookEndpointByID(f.ctx, other.ID); err != nil || !sameEndpoint(got, other) {
			t.Fatalf("the other organization's endpoint after the refused delete: %+v, %v", got, err)
		}
	})
	t.Run("OKNoNewDeliveries", func(t *testing.T) {
		f.account(ledger.AccountRequest{Owner: "o1"})
		later := f.written("o1", "")
		f.dispatch(1)
		f.wantDeliveries(later[len(later)-1], webhook.DeliveryPending, 0, kept.ID)
	})
	t.Run("OKFreesItsPlace", func(t *testing.T) {
		for range webhook.EndpointsPerOrgMax - 1 {
			f.endpoint("o1", false, webhook.WildcardEventType)
		}
		u := "https://one-too-many.example.com"
		_, err := f.svc.CreateEndpoint(f.ctx, "o1", webhook.EndpointParams{URL: &u, EventTypes: []string{webhook.WildcardEventType}})
		wantCode(t, err, apperr.CodeConflict, "an endpoint past the limit")
		if err := f.svc.DeleteEndpoint(f.ctx, "o1", kept.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateEndpoint(f.ctx, "o1", webhook.EndpointParams{URL: &u, EventTypes: []string{webhook.WildcardEventType}}); err != nil {
			t.Fatalf("an endpoint in the deleted one's place: %v", err)
		}
	})
}

func testWebhookDispatch(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	f.dispatch(0)
	all := f.endpoint("o1", false, webhook.WildcardEventType)
	transfers := f.endpoint("o1", false, event.TypeTransferCreated)
	off := f.endpoint("o1", true, webhook.WildcardEventType)
	o2 := f.endpoint("o2", false, event.TypeAccountCreated, event.TypeTransferPosted)
	_ = off

	a := f.account(ledger.AccountRequest{Owner: "o1"})
	b := f.account(ledger.AccountRequest{Owner: "o1"})
	c := f.account(ledger.AccountRequest{Owner: "o2"})
	c2 := f.account(ledger.AccountRequest{Owner: "o2"})
	f.account(ledger.AccountRequest{Owner: "o3"}) // an organization with no endpoints
	p := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 10}).Transfer
	f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p.ID})
	f.expect(ledger.ResultOK, ledger.TransferRequest{Owner: "o2", DebitAccountID: c.ID, CreditAccountID: c2.ID, Amount: 1})
	ev1 := f.written("o1", "")
	ev2 := f.written("o2", "")
	ev3 := f.written("o3", "")
	if len(ev1) != 4 || len(ev2) != 3 || len(ev3) != 1 {
		t.Fatalf("events: o1 %d, o2 %d, o3 %d", len(ev1), len(ev2), len(ev3))
	}
	if n := f.available(); n != 0 {
		t.Fatalf("%d jobs before the dispatch", n)
	}
	f.clock.Advance(time.Second)
	f.dispatch(8)

	t.Run("OKMatchingEnabledEndpointsOfTheOrganization", func(t *testing.T) {
		f.wantDeliveries(ev1[0], webhook.DeliveryPending, 0, all.ID)               // account.created
		f.wantDeliveries(ev1[1], webhook.DeliveryPending, 0, all.ID)               // account.created
		f.wantDeliveries(ev1[2], webhook.DeliveryPending, 0, all.ID, transfers.ID) // transfer.created
		f.wantDeliveries(ev1[3], webhook.DeliveryPending, 0, all.ID)               // transfer.posted
		f.wantDeliveries(ev2[0], webhook.DeliveryPending, 0, o2.ID)                // account.created
		f.wantDeliveries(ev2[1], webhook.DeliveryPending, 0, o2.ID)                // account.created
		f.wantDeliveries(ev2[2], webhook.DeliveryPending, 0)                       // transfer.created: not subscribed
		f.wantDeliveries(ev3[0], webhook.DeliveryPending, 0)
		for _, d := range f.deliveries(ev1[2].ID) {
			if d.LastStatus != 0 || !d.CreatedAt.Equal(f.Now()) || !d.UpdatedAt.Equal(f.Now()) {
				t.Fatalf("new delivery %+v, want no status and times %v", d, f.Now())
			}
		}
	})
	t.Run("OKOneJobPerEndpoint", func(t *testing.T) {
		if n := f.available(); n != 3 {
			t.Fatalf("%d jobs available, want 3 (one per endpoint with deliveries)", n)
		}
	})
	t.Run("OKClaimedOnce", func(t *testing.T) {
		f.dispatch(0)
		if n := f.available(); n != 3 {
			t.Fatalf("%d jobs available after a dispatch with nothing to claim, want 3", n)
		}
	})
	t.Run("OKLaterEvents", func(t *testing.T) {
		d := f.account(ledger.AccountRequest{Owner: "o1"})
		f.dispatch(1)
		evs := f.written("o1", event.TypeAccountCreated)
		if last := evs[len(evs)-1]; string(last.Data) != string(EventEncoder{}.AccountEventData(d)) {
			t.Fatalf("last account event %q", last.Data)
		} else {
			f.wantDeliveries(last, webhook.DeliveryPending, 0, all.ID)
		}
		if n := f.available(); n != 4 {
			t.Fatalf("%d jobs available, want 4", n)
		}
	})
	t.Run("OKExistingDeliveryLeftAlone", func(t *testing.T) {
		e := f.account(ledger.AccountRequest{Owner: "o2"})
		evs := f.written("o2", event.TypeAccountCreated)
		ev := evs[len(evs)-1]
		if string(ev.Data) != string(EventEncoder{}.AccountEventData(e)) {
			t.Fatalf("last account event %q", ev.Data)
		}
		// A replay before the dispatcher claims the event, answered at once.
		if _, err := f.svc.Replay(f.ctx, "o2", ev.ID, o2.ID); err != nil {
			t.Fatal(err)
		}
		f.record(o2.ID, ev, true, 200)
		f.dispatch(1)
		f.wantDeliveries(ev, webhook.DeliverySucceeded, 1, o2.ID)
	})
}

// record logs one attempt at delivering ev to an endpoint, succeeded or not,
// through WebhookPendingEvents and WebhookRecord, as a job worker does.
func (f *webhookFixture) record(endpointID int64, ev event.Event, ok bool, status int) webhook.Attempt {
	f.t.Helper()
	evs, ds, err := f.store.WebhookPendingEvents(f.ctx, endpointID, []int64{ev.ID})
	if err != nil || len(evs) != 1 || len(ds) != 1 {
		f.t.Fatalf("WebhookPendingEvents(%d, [%d]) = %d events, %d deliveries, %v", endpointID, ev.ID, len(evs), len(ds), err)
	}
	now := f.Now()
	d := ds[0]
	d.Attempts++
	d.LastStatus = status
	d.UpdatedAt = now
	if ok {
		d.State = webhook.DeliverySucceeded
	}
	at := webhook.Attempt{EndpointID: endpointID, EventID: ev.ID, OrgID: ev.OrgID, Number: d.Attempts, At: now,
		Succeeded: ok, StatusCode: status, LatencyMicros: 1234}
	if err := f.store.WebhookRecord(f.ctx, []webhook.Attempt{at}, []webhook.Delivery{d}); err != nil {
		f.t.Fatalf("WebhookRecord: %v", err)
	}
	return at
}

func testWebhookDispatchLimit(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	e := f.endpoint("o1", false, webhook.WildcardEventType)
	for range 5 {
		f.account(ledger.AccountRequest{})
	}
	evs := f.written("o1", "")
	n, err := f.store.WebhookDispatch(f.ctx, f.Now(), 2, webhook.Plan)
	if err != nil || n != 2 {
		t.Fatalf("WebhookDispatch(limit 2) = %d, %v", n, err)
	}
	for i, ev := range evs {
		if i < 2 {
			f.wantDeliveries(ev, webhook.DeliveryPending, 0, e.ID)
		} else {
			f.wantDeliveries(ev, webhook.DeliveryPending, 0)
		}
	}
	t.Run("PlanSeesTheClaimedEvents", func(t *testing.T) {
		var seen []event.Event
		var endpoints []webhook.Endpoint
		n, err := f.store.WebhookDispatch(f.ctx, f.Now(), 100, func(es []event.Event, eps []webhook.Endpoint, now time.Time) ([]webhook.Delivery, []webhook.DeliverArgs) {
			seen, endpoints = es, eps
			return webhook.Plan(es, eps, now)
		})
		if err != nil || n != 3 || !sameEventIDs(seen, evs[2:]) {
			t.Fatalf("WebhookDispatch = %d, %v; plan saw %v, want %v", n, err, eventIDs(seen), eventIDs(evs[2:]))
		}
		for i, ev := range seen {
			if ev.OrgID != "o1" || ev.Type != event.TypeAccountCreated || string(ev.Data) != string(evs[2+i].Data) || !ev.CreatedAt.Equal(evs[2+i].CreatedAt) {
				t.Fatalf("plan saw %+v, want %+v", ev, evs[2+i])
			}
		}
		if len(endpoints) != 1 || !sameEndpoint(endpoints[0], e) {
			t.Fatalf("plan saw endpoints %+v, want [%+v]", endpoints, e)
		}
		if n := f.available(); n != 2 {
			t.Fatalf("%d jobs available, want 2", n)
		}
	})
}

// deliverRecorder is a River worker that hands every job it works to the test.
type deliverRecorder struct {
	river.WorkerDefaults[webhook.DeliverArgs]
	jobs chan *river.Job[webhook.DeliverArgs]
}

func (w *deliverRecorder) Work(ctx context.Context, job *river.Job[webhook.DeliverArgs]) error {
	w.jobs <- job
	return nil
}

func testWebhookJobs(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	all := f.endpoint("o1", false, webhook.WildcardEventType)
	transfers := f.endpoint("o1", false, event.TypeTransferCreated)
	reqs := make([]ledger.AccountRequest, webhook.DeliverBatchMax+1)
	for i := range reqs {
		reqs[i] = ledger.AccountRequest{Owner: "o1", Reference: fmt.Sprint("many-", i), Asset: "JPY"}
	}
	accts, err := f.engine.CreateAccounts(f.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: accts[0].ID, CreditAccountID: accts[1].ID, Amount: 1})
	evs := f.written("o1", "")
	if len(evs) != len(reqs)+1 {
		t.Fatalf("%d events, want %d", len(evs), len(reqs)+1)
	}
	f.dispatch(len(evs))
	ids := eventIDs(evs)
	want := []webhook.DeliverArgs{
		{EndpointID: all.ID, EventIDs: ids[:webhook.DeliverBatchMax]},
		{EndpointID: all.ID, EventIDs: ids[webhook.DeliverBatchMax:]},
		{EndpointID: transfers.ID, EventIDs: ids[len(ids)-1:]},
	}
	if n := f.available(); n != int64(len(want)) {
		t.Fatalf("%d jobs available, want %d", n, len(want))
	}

	rec := &deliverRecorder{jobs: make(chan *river.Job[webhook.DeliverArgs], 16)}
	workers := river.NewWorkers()
	river.AddWorker(workers, rec)
	client, err := f.store.NewJobClient(&river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatalf("NewJobClient: %v", err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, jobWaitMax)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		t.Fatalf("start the job client: %v", err)
	}
	defer func() {
		if err := client.Stop(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("stop the job client: %v", err)
		}
	}()
	var got []webhook.DeliverArgs
	for range want {
		select {
		case job := <-rec.jobs:
			if job.Kind != (webhook.DeliverArgs{}).Kind() || job.MaxAttempts != webhook.JobAttemptsMax {
				t.Errorf("job %d: kind %q, max attempts %d; want %q, %d", job.ID, job.Kind, job.MaxAttempts, (webhook.DeliverArgs{}).Kind(), webhook.JobAttemptsMax)
			}
			got = append(got, job.Args)
		case <-ctx.Done():
			t.Fatalf("%d of %d jobs worked within %v", len(got), len(want), jobWaitMax)
		}
	}
	slices.SortFunc(got, func(a, b webhook.DeliverArgs) int {
		return cmp.Or(cmp.Compare(a.EndpointID, b.EndpointID), cmp.Compare(a.EventIDs[0], b.EventIDs[0]))
	})
	for i := range want {
		if got[i].EndpointID != want[i].EndpointID || !slices.Equal(got[i].EventIDs, want[i].EventIDs) {
			t.Fatalf("job %d = endpoint %d, events %v; want endpoint %d, events %v", i, got[i].EndpointID, got[i].EventIDs, want[i].EndpointID, want[i].EventIDs)
		}
	}
}

func testWebhookRecord(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	e := f.endpoint("o1", false, webhook.WildcardEventType)
	other := f.endpoint("o1", false, event.TypeAccountCreated)
	for range 4 {
		f.account(ledger.AccountRequest{})
	}
	evs := f.written("o1", "")
	f.dispatch(4)
	ids := eventIDs(evs)

	t.Run("OKPendingInEventOrder", func(t *testing.T) {
		asked := []int64{ids[3], ids[0], ids[2], ids[1], ids[3] + 1000}
		got, ds, err := f.store.WebhookPendingEvents(f.ctx, e.ID, asked)
		if err != nil || !sameEventIDs(got, evs) || len(ds) != len(got) {
			t.Fatalf("WebhookPendingEvents = %v, %d deliveries, %v; want %v", eventIDs(got), len(ds), err, ids)
		}
		for i, ev := range got {
			if string(ev.Data) != string(evs[i].Data) || ev.Type != evs[i].Type || ev.OrgID != "o1" || !ev.CreatedAt.Equal(evs[i].CreatedAt) {
				t.Fatalf("pending event %+v, want %+v", ev, evs[i])
			}
			if d := ds[i]; d.EndpointID != e.ID || d.EventID != ev.ID || d.State != webhook.DeliveryPending || d.OrgID != "o1" {
				t.Fatalf("pending delivery %+v of event %d", d, ev.ID)
			}
		}
	})

	// One job's outcome: the first event answered, the second refused, the
	// third never answered, the fourth given up.
	f.clock.Advance(time.Second)
	now := f.Now()
	_, ds, err := f.store.WebhookPendingEvents(f.ctx, e.ID, ids)
	if err != nil || len(ds) != 4 {
		t.Fatalf("WebhookPendingEvents = %d deliveries, %v", len(ds), err)
	}
	outcomes := []struct {
		state  webhook.DeliveryState
		status int
		err    string
	}{
		{webhook.DeliverySucceeded, 204, ""},
		{webhook.DeliveryPending, 500, ""},
		{webhook.DeliveryPending, 0, "dial tcp: connection refused"},
		{webhook.DeliveryFailed, 503, ""},
	}
	var attempts []webhook.Attempt
	for i := range ds {
		ds[i].State, ds[i].Attempts, ds[i].LastStatus, ds[i].UpdatedAt = outcomes[i].state, 1, outcomes[i].status, now
		attempts = append(attempts, webhook.Attempt{EndpointID: e.ID, EventID: ids[i], OrgID: "o1", Number: 1, At: now,
			Succeeded: outcomes[i].state == webhook.DeliverySucceeded, StatusCode: outcomes[i].status,
			LatencyMicros: int64(1000 + i), Error: outcomes[i].err, ResponseSnippet: fmt.Sprintf("{\"n\":%d, \"é\":\"\\u00e9\"}\n", i)})
	}
	if err := f.store.WebhookRecord(f.ctx, attempts, ds); err != nil {
		t.Fatalf("WebhookRecord: %v", err)
	}

	t.Run("OKDeliveries", func(t *testing.T) {
		for i, ev := range evs {
			got := f.deliveries(ev.ID)
			if len(got) != 2 {
				t.Fatalf("event %d has %d deliveries, want 2", ev.ID, len(got))
			}
			d := got[0]
			if d.EndpointID != e.ID || d.State != outcomes[i].state || d.Attempts != 1 || d.LastStatus != outcomes[i].status ||
				!d.UpdatedAt.Equal(now) || !d.CreatedAt.Equal(now.Add(-time.Second)) {
				t.Fatalf("delivery %+v, want %s, 1 attempt, status %d, updated at %v", d, outcomes[i].state, outcomes[i].status, now)
			}
			if d := got[1]; d.EndpointID != other.ID || d.State != webhook.DeliveryPending || d.Attempts != 0 || d.LastStatus != 0 {
				t.Fatalf("another endpoint's delivery changed: %+v", d)
			}
		}
	})
	t.Run("OKOnlyPendingAfterward", func(t *testing.T) {
		got, ds, err := f.store.WebhookPendingEvents(f.ctx, e.ID, ids)
		if err != nil || !slices.Equal(eventIDs(got), []int64{ids[1], ids[2]}) || len(ds) != 2 || ds[0].Attempts != 1 || ds[1].EventID != ids[2] {
			t.Fatalf("WebhookPendingEvents = %v, %+v, %v; want events %v", eventIDs(got), ds, err, ids[1:3])
		}
	})
	t.Run("OKLateRecordKeepsSuccess", func(t *testing.T) {
		// A second job (a replay beside a retry) read the first delivery as
		// pending before the success above was recorded, and failed: its
		// record counts the attempt but must not undo the success.
		late := []webhook.Delivery{{EndpointID: e.ID, EventID: ids[0], OrgID: "o1", State: webhook.DeliveryPending, Attempts: 1, LastStatus: 500, UpdatedAt: now}}
		lateAttempt := []webhook.Attempt{{EndpointID: e.ID, EventID: ids[0], OrgID: "o1", Number: 1, At: now, StatusCode: 500}}
		if err := f.store.WebhookRecord(f.ctx, lateAttempt, late); err != nil {
			t.Fatalf("WebhookRecord: %v", err)
		}
		d := f.deliveries(ids[0])[0]
		if d.State != webhook.DeliverySucceeded || d.Attempts != 2 {
			t.Fatalf("delivery after a late failed record = %+v, want succeeded with 2 attempts", d)
		}
		attempts = append(attempts, lateAttempt[0])
	})
	t.Run("OKLateRecordKeepsReplay", func(t *testing.T) {
		// A job read the second delivery, then the operator replayed it
		// (queued anew), then the job gave up: the replay must still be
		// sent, so the delivery stays pending.
		read := f.deliveries(ids[1])[0]
		f.clock.Advance(time.Second)
		if _, err := f.svc.Replay(f.ctx, "o1", ids[1], e.ID); err != nil {
			t.Fatal(err)
		}
		late := read
		late.State, late.LastStatus, late.UpdatedAt = webhook.DeliveryFailed, 503, f.Now()
		lateAttempt := webhook.Attempt{EndpointID: e.ID, EventID: ids[1], OrgID: "o1", Number: late.Attempts + 1, At: f.Now(), StatusCode: 503}
		if err := f.store.WebhookRecord(f.ctx, []webhook.Attempt{lateAttempt}, []webhook.Delivery{late}); err != nil {
			t.Fatalf("WebhookRecord: %v", err)
		}
		d := f.deliveries(ids[1])[0]
		if d.State != webhook.DeliveryPending || d.Attempts != read.Attempts+1 || !d.CreatedAt.Equal(f.Now()) {
			t.Fatalf("delivery after a late give-up beside a replay = %+v, want pending, %d attempts, queued at %v", d, read.Attempts+1, f.Now())
		}
		attempts = append(attempts, lateAttempt)
	})
	t.Run("OKGivenUpUnsentCountsNoAttempt", func(t *testing.T) {
		// A job's last try ended before it sent the third delivery: it
		// gives the delivery up with no attempt to count.
		read := f.deliveries(ids[2])[0]
		gaveUp := read
		gaveUp.State, gaveUp.UpdatedAt = webhook.DeliveryFailed, f.Now()
		if err := f.store.WebhookRecord(f.ctx, nil, []webhook.Delivery{gaveUp}); err != nil {
			t.Fatalf("WebhookRecord: %v", err)
		}
		d := f.deliveries(ids[2])[0]
		if d.State != webhook.DeliveryFailed || d.Attempts != read.Attempts || d.LastStatus != read.LastStatus {
			t.Fatalf("delivery given up unsent = %+v, want failed with %d attempts, status %d", d, read.Attempts, read.LastStatus)
		}
	})
	t.Run("OKAttemptsAsRecorded", func(t *testing.T) {
		got, err := f.store.WebhookAttemptList(f.ctx, webhook.AttemptFilter{OrgID: "o1", EndpointID: e.ID, Limit: 10})
		if err != nil || len(got) != len(attempts) {
			t.Fatalf("WebhookAttemptList = %d attempts, %v; want %d", len(got), err, len(attempts))
		}
		for i, a := range got {
			want := attempts[i]
			want.ID = a.ID
			if a.ID <= 0 || (i > 0 && a.ID <= got[i-1].ID) || !sameAttempt(a, want) {
				t.Fatalf("attempt %d = %+v, want %+v", i, a, want)
			}
		}
	})
}

// sameAttempt compares attempts field by field, times by instant.
func sameAttempt(a, b webhook.Attempt) bool {
	at := a.At.Equal(b.At)
	a.At, b.At = time.Time{}, time.Time{}
	return at && a == b
}

func testWebhookReplay(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	e1 := f.endpoint("o1", false, webhook.WildcardEventType)
	e2 := f.endpoint("o1", false, event.TypeAccountCreated)
	f.endpoint("o1", false, event.TypeTransferCreated) // not subscribed to the event
	o2 := f.endpoint("o2", false, webhook.WildcardEventType)
	f.account(ledger.AccountRequest{})
	ev := f.written("o1", "")[0]
	f.dispatch(1)
	f.record(e1.ID, ev, true, 200)
	f.record(e2.ID, ev, false, 500)
	late := f.endpoint("o1", false, webhook.WildcardEventType) // created after the dispatch
	jobs := f.available()

	t.Run("OKSucceededBecomesPending", func(t *testing.T) {
		f.clock.Advance(time.Second)
		targets, err := f.svc.Replay(f.ctx, "o1", ev.ID, e1.ID)
		if err != nil || len(targets) != 1 || targets[0].ID != e1.ID {
			t.Fatalf("Replay to e1 = %+v, %v", targets, err)
		}
		ds := f.deliveries(ev.ID)
		if d := ds[0]; d.EndpointID != e1.ID || d.State != webhook.DeliveryPending || d.Attempts != 1 || d.LastStatus != 200 ||
			!d.UpdatedAt.Equal(f.Now()) || !d.CreatedAt.Equal(f.Now()) {
			t.Fatalf("replayed delivery %+v, want pending, its attempt kept, queued and updated at %v", d, f.Now())
		}
		if n := f.available(); n != jobs+1 {
			t.Fatalf("%d jobs available after a replay, want %d", n, jobs+1)
		}
		jobs++
	})
	t.Run("OKEveryEnabledSubscriber", func(t *testing.T) {
		targets, err := f.svc.Replay(f.ctx, "o1", ev.ID, 0)
		if err != nil || len(targets) != 3 || targets[0].ID != e1.ID || targets[1].ID != e2.ID || targets[2].ID != late.ID {
			t.Fatalf("Replay to all = %+v, %v; want e1, e2 and the late endpoint", targets, err)
		}
		ds := f.deliveries(ev.ID)
		if len(ds) != 3 || ds[1].State != webhook.DeliveryPending || ds[1].Attempts != 1 || ds[1].LastStatus != 500 {
			t.Fatalf("deliveries after replay %+v", ds)
		}
		if d := ds[2]; d.EndpointID != late.ID || d.State != webhook.DeliveryPending || d.Attempts != 0 || d.OrgID != "o1" ||
			!d.CreatedAt.Equal(f.Now()) || !d.UpdatedAt.Equal(f.Now()) {
			t.Fatalf("new delivery by replay %+v", d)
		}
		if n := f.available(); n != jobs+3 {
			t.Fatalf("%d jobs available after a replay to three endpoints, want %d", n, jobs+3)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := f.svc.Replay(f.ctx, "o2", ev.ID, 0)
		wantCode(t, err, apperr.CodeNotFound, "Replay of another organization's event")
		_, err = f.svc.Replay(f.ctx, "o1", ev.ID, o2.ID)
		wantCode(t, err, apperr.CodeNotFound, "Replay to another organization's endpoint")
	})
	t.Run("ErrDisabled", func(t *testing.T) {
		off := true
		if _, err := f.svc.UpdateEndpoint(f.ctx, "o1", e2.ID, webhook.EndpointParams{Disabled: &off}); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Replay(f.ctx, "o1", ev.ID, e2.ID)
		wantCode(t, err, apperr.CodeConflict, "Replay to a disabled endpoint")
	})
}

func testWebhookAttempts(t *testing.T, h Harness) {
	f := newWebhookFixture(t, h)
	e1 := f.endpoint("o1", false, webhook.WildcardEventType)
	e2 := f.endpoint("o1", false, webhook.WildcardEventType)
	o2 := f.endpoint("o2", false, webhook.WildcardEventType)
	for range 3 {
		f.account(ledger.AccountRequest{})
	}
	f.account(ledger.AccountRequest{Owner: "o2"})
	evs := f.written("o1", "")
	other := f.written("o2", "")[0]
	f.dispatch(4)
	// Two failures then a success for each of o1's deliveries, interleaved.
	var byEndpoint = map[int64][]webhook.Attempt{}
	var byEvent = map[int64][]webhook.Attempt{}
	var all []webhook.Attempt
	for round := range 3 {
		for _, ev := range evs {
			for _, e := range []int64{e1.ID, e2.ID} {
				a := f.record(e, ev, round == 2, 500-100*round)
				if a.Number != round+1 {
					t.Fatalf("attempt number %d in round %d", a.Number, round)
				}
				byEndpoint[e] = append(byEndpoint[e], a)
				byEvent[ev.ID] = append(byEvent[ev.ID], a)
				all = append(all, a)
			}
		}
		f.clock.Advance(time.Second)
	}
	f.record(o2.ID, other, true, 200)

	list := func(filter webhook.AttemptFilter) []webhook.Attempt {
		t.Helper()
		var got []webhook.Attempt
		for {
			page, err := f.store.WebhookAttemptList(f.ctx, filter)
			if err != nil || len(page) > filter.Limit {
				t.Fatalf("WebhookAttemptList(%+v) = %d attempts, %v", filter, len(page), err)
			}
			got = append(got, page...)
			if len(page) < filter.Limit {
				return got
			}
			filter.AfterID = page[len(page)-1].ID
		}
	}
	check := func(name string, got, want []webhook.Attempt) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d attempts, want %d", name, len(got), len(want))
		}
		for i := range got {
			w := want[i]
			w.ID = got[i].ID
			if !sameAttempt(got[i], w) || (i > 0 && got[i].ID <= got[i-1].ID) {
				t.Fatalf("%s: attempt %d = %+v, want %+v", name, i, got[i], w)
			}
		}
	}
	for _, size := range []int{1, 4, webhook.PageLimitMax} {
		t.Run(fmt.Sprint("OKPagesOf", size), func(t *testing.T) {
			check("organization", list(webhook.AttemptFilter{OrgID: "o1", Limit: size}), all)
			check("endpoint", list(webhook.AttemptFilter{OrgID: "o1", EndpointID: e2.ID, Limit: size}), byEndpoint[e2.ID])
			check("event", list(webhook.AttemptFilter{OrgID: "o1", EventID: evs[1].ID, Limit: size}), byEvent[evs[1].ID])
			var both []webhook.Attempt
			for _, a := range byEvent[evs[2].ID] {
				if a.EndpointID == e1.ID {
					both = append(both, a)
				}
			}
			check("endpoint and event", list(webhook.AttemptFilter{OrgID: "o1", EndpointID: e1.ID, EventID: evs[2].ID, Limit: size}), both)
		})
	}
	t.Run("OKOrganizationScoped", func(t *testing.T) {
		if got := list(webhook.AttemptFilter{OrgID: "o2", EndpointID: e1.ID, Limit: 10}); len(got) != 0 {
			t.Fatalf("o2 sees %d attempts of o1's endpoint", len(got))
		}
		if got := list(webhook.AttemptFilter{OrgID: "o2", Limit: 10}); len(got) != 1 || got[0].EndpointID != o2.ID {
			t.Fatalf("o2's attempts = %+v", got)
		}
	})
}
