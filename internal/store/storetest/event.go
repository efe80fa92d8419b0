package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// EventStore is what the event and webhook suites need of an adapter: the
// ledger, which writes events in its transactions, the read side of events,
// webhooks, and the River job queue on the same database.
type EventStore interface {
	ledger.Store
	event.Store
	webhook.Store
	// JobQueueDepth counts River jobs by state, with every one of
	// "available", "scheduled", "retryable" and "running" present.
	JobQueueDepth(ctx context.Context) (map[string]int64, error)
	// NewJobClient returns a River client on the adapter's database.
	NewJobClient(cfg *river.Config) (store.JobClient, error)
}

// eventStore asserts that a store of the harness is an EventStore.
func eventStore(t testing.TB, s ledger.Store) EventStore {
	t.Helper()
	es, ok := s.(EventStore)
	if !ok {
		t.Fatalf("%T does not implement storetest.EventStore (event.Store, webhook.Store, JobQueueDepth, NewJobClient)", s)
	}
	return es
}

// EventEncoder renders ledger objects as small JSON objects holding bytes a
// normalising store would change (key order, spaces, escapes, non-ASCII
// text), so the suite can check that data comes back byte for byte.
type EventEncoder struct{}

// TransferEventData implements ledger.EventEncoder.
func (EventEncoder) TransferEventData(t ledger.Transfer) []byte {
	return fmt.Appendf(nil, `{"object":"transfer",  "id":%d,"kind":"%s","amount":%d,"note":"振替 \"\u00e9\"", "a":1}`, t.ID, t.Kind, t.Amount)
}

// AccountEventData implements ledger.EventEncoder.
func (EventEncoder) AccountEventData(a ledger.Account) []byte {
	return fmt.Appendf(nil, `{"object":"account","id":%d, "reference":"%s"}`, a.ID, a.Reference)
}

// eventFixture is an engine that writes events, on a fresh store.
type eventFixture struct {
	*fixture
	store EventStore
}

func newEventFixture(t testing.TB, h Harness) *eventFixture {
	t.Helper()
	s := eventStore(t, h.Open(t))
	clock := NewClock()
	e := ledger.NewEngine(s, ledger.Config{Workers: h.Workers, Clock: clock.Now, Events: EventEncoder{}})
	t.Cleanup(e.Close)
	f := &fixture{t: t, ctx: context.Background(), store: s, engine: e, clock: clock}
	if err := e.CreateAsset(f.ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	return &eventFixture{fixture: f, store: s}
}

// events lists every event of org, one page at a time of pageSize.
func (f *eventFixture) events(org, typ string, pageSize int) []event.Event {
	f.t.Helper()
	var all []event.Event
	f.dispatchAll()
	for after := int64(0); ; {
		page, err := f.store.EventList(f.ctx, event.Filter{OrgID: org, Type: typ, AfterSeq: after, Limit: pageSize})
		if err != nil {
			f.t.Fatalf("list events of %s after %d: %v", org, after, err)
		}
		if len(page) > pageSize {
			f.t.Fatalf("list events: %d in a page of %d", len(page), pageSize)
		}
		all = append(all, page...)
		if len(page) < pageSize {
			return all
		}
		after = page[len(page)-1].Seq
	}
}

// writtenScanGap bounds how many absent ids written skips before it
// concludes it has seen every event (a rolled-back insert leaves a gap in a
// PostgreSQL sequence).
const writtenScanGap = 64

// written returns every event of org (of type typ when set) in id order,
// dispatched or not, by reading ids upward from 1 on the fixture's fresh
// store: what the webhook suite needs before it dispatches.
func (f *eventFixture) written(org, typ string) []event.Event {
	f.t.Helper()
	var out []event.Event
	for id, gap := int64(1), 0; gap < writtenScanGap; id++ {
		e, err := f.store.EventByID(f.ctx, id)
		if apperr.Is(err, apperr.CodeNotFound) {
			gap++
			continue
		}
		if err != nil {
			f.t.Fatalf("event %d: %v", id, err)
		}
		gap = 0
		if e.OrgID == org && (typ == "" || e.Type == typ) {
			out = append(out, e)
		}
	}
	return out
}

// dispatchAll dispatches every event written so far, which lists them.
func (f *eventFixture) dispatchAll() {
	f.t.Helper()
	for {
		n, err := f.store.WebhookDispatch(f.ctx, f.clock.Now(), webhook.DispatchBatchMax, webhook.Plan)
		if err != nil {
			f.t.Fatalf("dispatch: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// RunEvents checks the outbox on a store of h: events written in the
// ledger's transactions, exactly when the change commits, read back by id and
// by page.
func RunEvents(t *testing.T, h Harness) {
	t.Run("WrittenWithTheirChange", func(t *testing.T) { testEventsWritten(t, h) })
	t.Run("NoneWithoutAChange", func(t *testing.T) { testEventsNoChange(t, h) })
	t.Run("Pages", func(t *testing.T) { testEventPages(t, h) })
}

// wantEvent describes an expected event: its type and the data the encoder
// rendered for its object.
type wantEvent struct {
	typ  string
	data []byte
}

func transferEvent(typ string, tr ledger.Transfer) wantEvent {
	return wantEvent{typ, EventEncoder{}.TransferEventData(tr)}
}

func accountEvent(a ledger.Account) wantEvent {
	return wantEvent{event.TypeAccountCreated, EventEncoder{}.AccountEventData(a)}
}

// checkEvents fails unless got are want, in order, with increasing ids, owned
// by org and created at times no later than now.
func checkEvents(t testing.TB, got []event.Event, org string, want []wantEvent, now time.Time) {
	t.Helper()
	if len(got) != len(want) {
		var types []string
		for _, e := range got {
			types = append(types, e.Type)
		}
		t.Fatalf("%d events of %s (%v), want %d", len(got), org, types, len(want))
	}
	for i, e := range got {
		if e.Type != want[i].typ || string(e.Data) != string(want[i].data) || e.OrgID != org {
			t.Errorf("event %d = %s %s %q, want %s %s %q", i, e.OrgID, e.Type, e.Data, org, want[i].typ, want[i].data)
		}
		if e.CreatedAt.IsZero() || e.CreatedAt.After(now) || e.CreatedAt.Location() != time.UTC {
			t.Errorf("event %d created at %v (now %v)", i, e.CreatedAt, now)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("event ids do not increase: %d after %d", e.ID, got[i-1].ID)
		}
	}
}

func testEventsWritten(t *testing.T, h Harness) {
	f := newEventFixture(t, h)
	src := f.account(ledger.AccountRequest{Owner: "o1"})
	dst := f.account(ledger.AccountRequest{Owner: "o1"})
	other := f.account(ledger.AccountRequest{Owner: "o2"})
	imm := f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 5}).Transfer
	p1 := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 100}).Transfer
	post := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p1.ID, Amount: 30}).Transfer
	p2 := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 7}).Transfer
	void := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: p2.ID}).Transfer
	p3 := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 9, TimeoutSeconds: 60}).Transfer
	f.clock.Advance(time.Minute)
	if n, err := f.engine.ExpireDue(f.ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	hold, err := f.store.HoldByID(f.ctx, p3.ID)
	if err != nil || hold.State != ledger.HoldExpired {
		t.Fatalf("hold after expiry = %+v, %v", hold, err)
	}
	expiries, err := f.engine.FindTransfers(f.ctx, ledger.TransferQuery{Owner: "o1", Kind: ledger.KindExpire, Limit: 10})
	if err != nil || len(expiries) != 1 {
		t.Fatalf("expiry transfers = %+v, %v", expiries, err)
	}
	now := f.Now()

	o1 := f.events("o1", "", event.PageLimitMax)
	checkEvents(t, o1, "o1", []wantEvent{
		accountEvent(src), accountEvent(dst),
		transferEvent(event.TypeTransferCreated, imm),
		transferEvent(event.TypeTransferCreated, p1),
		transferEvent(event.TypeTransferPosted, post),
		transferEvent(event.TypeTransferCreated, p2),
		transferEvent(event.TypeTransferVoided, void),
		transferEvent(event.TypeTransferCreated, p3),
		transferEvent(event.TypeTransferExpired, expiries[0]),
	}, now)
	o2 := f.events("o2", "", event.PageLimitMax)
	checkEvents(t, o2, "o2", []wantEvent{accountEvent(other)}, now)

	t.Run("CreatedAtIsTheChangesTime", func(t *testing.T) {
		if !o1[0].CreatedAt.Equal(src.CreatedAt) || !o1[2].CreatedAt.Equal(imm.CreatedAt) || !o1[8].CreatedAt.Equal(expiries[0].CreatedAt) {
			t.Fatalf("event times %v %v %v, want %v %v %v", o1[0].CreatedAt, o1[2].CreatedAt, o1[8].CreatedAt,
				src.CreatedAt, imm.CreatedAt, expiries[0].CreatedAt)
		}
	})
	t.Run("ByID", func(t *testing.T) {
		for _, want := range append(o1, o2...) {
			got, err := f.store.EventByID(f.ctx, want.ID)
			if err != nil || got.ID != want.ID || got.OrgID != want.OrgID || got.Type != want.Type ||
				string(got.Data) != string(want.Data) || !got.CreatedAt.Equal(want.CreatedAt) {
				t.Fatalf("EventByID(%d) = %+v, %v; want %+v", want.ID, got, err, want)
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := f.store.EventByID(f.ctx, o1[len(o1)-1].ID+1000)
		wantCode(t, err, apperr.CodeNotFound, "EventByID of a missing event")
	})
	t.Run("ErrNotFoundForAnotherOrganization", func(t *testing.T) {
		svc := event.NewService(f.store)
		if _, err := svc.FindEventByID(f.ctx, "o1", o1[0].ID); err != nil {
			t.Fatalf("FindEventByID of o1's own event: %v", err)
		}
		_, err := svc.FindEventByID(f.ctx, "o2", o1[0].ID)
		wantCode(t, err, apperr.CodeNotFound, "FindEventByID of another organization's event")
	})
}

// testEventsNoChange checks that requests which change nothing record
// nothing: rejections, a failed linked chain, replays and a failed call.
func testEventsNoChange(t *testing.T, h Harness) {
	f := newEventFixture(t, h)
	src := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true})
	dst := f.account(ledger.AccountRequest{})
	before := f.events("o1", "", event.PageLimitMax)
	if len(before) != 2 {
		t.Fatalf("%d events after two accounts", len(before))
	}
	ok := ledger.TransferRequest{Reference: "fund", DebitAccountID: dst.ID, CreditAccountID: src.ID, Amount: 10}
	f.expect(ledger.ResultOK, ok)
	before = f.events("o1", "", event.PageLimitMax)

	f.expect(ledger.ResultInsufficientFunds, ledger.TransferRequest{DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 11})
	f.expect(ledger.ResultPendingNotFound, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: 999999})
	f.expect(ledger.ResultOK, ok) // a replay of the same request
	res, err := f.engine.Submit(f.ctx, []ledger.TransferRequest{
		{Owner: "o1", Reference: "chain-1", DebitAccountID: dst.ID, CreditAccountID: src.ID, Amount: 1, Linked: true},
		{Owner: "o1", Reference: "chain-2", DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 1000},
	})
	if err != nil || res[0].Result == ledger.ResultOK || res[1].Result != ledger.ResultInsufficientFunds {
		t.Fatalf("failing linked chain = %+v, %v", res, err)
	}
	if _, err := f.engine.CreateAccounts(f.ctx, []ledger.AccountRequest{
		{Owner: "o1", Reference: "fine", Asset: "JPY"},
		{Owner: "o1", Reference: "bad", Asset: "EUR"},
	}); err == nil {
		t.Fatal("a call with one bad account succeeded")
	}
	f.account(ledger.AccountRequest{Reference: src.Reference, DebitsMustNotExceedCredits: true}) // a replay

	after := f.events("o1", "", event.PageLimitMax)
	if len(after) != len(before) {
		t.Fatalf("%d events after requests that changed nothing, want %d: %+v", len(after), len(before), after[len(before):])
	}
}

func testEventPages(t *testing.T, h Harness) {
	f := newEventFixture(t, h)
	a := f.account(ledger.AccountRequest{})
	b := f.account(ledger.AccountRequest{})
	c := f.account(ledger.AccountRequest{Owner: "o2"})
	d := f.account(ledger.AccountRequest{Owner: "o2"})
	var created []int64
	for i := range 7 {
		tr := f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: int64(i + 1)}).Transfer
		f.expect(ledger.ResultOK, ledger.TransferRequest{Owner: "o2", DebitAccountID: c.ID, CreditAccountID: d.ID, Amount: 1, Reference: fmt.Sprint("x-", i)})
		created = append(created, tr.ID)
	}
	all := f.events("o1", "", event.PageLimitMax)
	if len(all) != 2+7 {
		t.Fatalf("%d events of o1, want 9", len(all))
	}
	t.Run("OKEveryPageSize", func(t *testing.T) {
		for _, size := range []int{1, 2, 3, 8, 9, 10} {
			got := f.events("o1", "", size)
			if !sameEventIDs(got, all) {
				t.Fatalf("pages of %d: ids %v, want %v", size, eventIDs(got), eventIDs(all))
			}
		}
	})
	t.Run("OKType", func(t *testing.T) {
		got := f.events("o1", event.TypeTransferCreated, 2)
		if len(got) != 7 {
			t.Fatalf("%d transfer.created events, want 7", len(got))
		}
		for i, e := range got {
			if e.Type != event.TypeTransferCreated || string(e.Data) != string(EventEncoder{}.TransferEventData(mustTransfer(t, f, created[i]))) {
				t.Fatalf("event %d = %s %q", i, e.Type, e.Data)
			}
		}
		if got := f.events("o1", event.TypeTransferVoided, 2); len(got) != 0 {
			t.Fatalf("%d transfer.voided events, want none", len(got))
		}
	})
	t.Run("OKAfterIDWithType", func(t *testing.T) {
		page, err := f.store.EventList(f.ctx, event.Filter{OrgID: "o1", Type: event.TypeAccountCreated, AfterSeq: all[0].Seq, Limit: 10})
		if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
			t.Fatalf("account events after the first = %v, %v; want [%d]", eventIDs(page), err, all[1].ID)
		}
		page, err = f.store.EventList(f.ctx, event.Filter{OrgID: "o1", AfterSeq: all[len(all)-1].Seq, Limit: 10})
		if err != nil || len(page) != 0 {
			t.Fatalf("events after the last = %v, %v; want none", eventIDs(page), err)
		}
	})
	t.Run("OKUnknownOrganization", func(t *testing.T) {
		if got := f.events("o3", "", 10); len(got) != 0 {
			t.Fatalf("%d events of an organization with none", len(got))
		}
	})
}

func mustTransfer(t testing.TB, f *eventFixture, id int64) ledger.Transfer {
	t.Helper()
	tr, err := f.store.TransferByID(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func eventIDs(es []event.Event) []int64 {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func sameEventIDs(a, b []event.Event) bool { return slices.Equal(eventIDs(a), eventIDs(b)) }
