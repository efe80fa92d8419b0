package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// encoder gives ledger objects a small JSON body.
type encoder struct{}

func (encoder) TransferEventData(t ledger.Transfer) []byte {
	return []byte(`{"object":"transfer","ref":"` + t.Reference + `"}`)
}
func (encoder) AccountEventData(a ledger.Account) []byte {
	return []byte(`{"object":"account","ref":"` + a.Reference + `"}`)
}

// fixture is a real SQLite store with one organization's events dispatched
// to one endpoint served by handler, and a worker on a movable clock.
type fixture struct {
	t        *testing.T
	st       *sqlite.DB
	hooks    *webhook.Service
	endpoint webhook.Endpoint
	worker   *deliverWorker
	now      atomic.Int64 // unix micros of the worker's clock
	outcomes map[string]int
	mu       sync.Mutex
	requests atomic.Int64
}

func newFixture(t *testing.T, handler http.HandlerFunc) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, outcomes: map[string]int{}}
	f.now.Store(time.Now().UnixMicro())
	clock := func() time.Time { return time.UnixMicro(f.now.Load()) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	f.hooks = webhook.NewService(st, st, clock)
	url := srv.URL + "/hook"
	f.endpoint, err = f.hooks.CreateEndpoint(ctx, "org_a", webhook.EndpointParams{URL: &url, EventTypes: []string{webhook.WildcardEventType}})
	if err != nil {
		t.Fatal(err)
	}
	f.worker = &deliverWorker{cfg: Config{Store: st, Webhooks: f.hooks, Clock: clock, SendConcurrency: 4, HTTPClient: NewHTTPClient(true), Logger: slog.New(slog.DiscardHandler),
		Render: func(e event.Event) []byte { return e.Data },
		ObserveAttempt: func(outcome string, _ time.Duration) {
			f.mu.Lock()
			f.outcomes[outcome]++
			f.mu.Unlock()
		}}}
	return f
}

// events creates n transfers (and so n+2 events: two accounts first) and
// dispatches them, returning the ids of the transfer events.
func (f *fixture) events(n int) []int64 {
	f.t.Helper()
	ctx := context.Background()
	eng := ledger.NewEngine(f.st, ledger.Config{Events: encoder{}})
	defer eng.Close()
	if err := eng.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		f.t.Fatal(err)
	}
	accts, err := eng.CreateAccounts(ctx, []ledger.AccountRequest{{Owner: "org_a", Reference: "a", Asset: "JPY"}, {Owner: "org_a", Reference: "b", Asset: "JPY"}})
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range n {
		res, err := eng.CreateTransfer(ctx, ledger.TransferRequest{Owner: "org_a", Reference: "t" + string(rune('a'+i)), DebitAccountID: accts[0].ID, CreditAccountID: accts[1].ID, Amount: 5})
		if err != nil || res.Result != ledger.ResultOK {
			f.t.Fatalf("transfer: %+v %v", res, err)
		}
	}
	if _, err := f.hooks.Dispatch(ctx); err != nil {
		f.t.Fatal(err)
	}
	page, err := f.st.EventList(ctx, event.Filter{OrgID: "org_a", Type: event.TypeTransferCreated, Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	ids := make([]int64, len(page))
	for i, e := range page {
		ids[i] = e.ID
	}
	return ids
}

// work runs the job for ids as River would on its attempt-th try.
func (f *fixture) work(ids []int64, attempt int) error {
	job := &river.Job[webhook.DeliverArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: webhook.JobAttemptsMax},
		Args: webhook.DeliverArgs{EndpointID: f.endpoint.ID, EventIDs: ids}}
	return f.worker.Work(context.Background(), job)
}

func (f *fixture) deliveries(id int64) webhook.Delivery {
	f.t.Helper()
	ds, err := f.st.WebhookDeliveryList(context.Background(), id)
	if err != nil || len(ds) != 1 {
		f.t.Fatalf("deliveries of %d: %+v, %v", id, ds, err)
	}
	return ds[0]
}

func (f *fixture) attempts(id int64) []webhook.Attempt {
	f.t.Helper()
	as, err := f.st.WebhookAttemptList(context.Background(), webhook.AttemptFilter{OrgID: "org_a", EventID: id, Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

func TestDeliverOK(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var f *fixture
	f = newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), b, f.endpoint.Secret, time.Now(), time.Hour); err != nil {
			t.Errorf("signature: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	ids := f.events(3)
	if err := f.work(ids, 1); err != nil {
		t.Fatalf("Work = %v", err)
	}
	if len(bodies) != 3 || !strings.Contains(strings.Join(bodies, ""), `"ref":"tb"`) {
		t.Fatalf("bodies = %q", bodies)
	}
	for _, id := range ids {
		if d := f.deliveries(id); d.State != webhook.DeliverySucceeded || d.Attempts != 1 || d.LastStatus != 200 {
			t.Errorf("delivery of %d = %+v", id, d)
		}
		if as := f.attempts(id); len(as) != 1 || !as[0].Succeeded || as[0].Number != 1 || as[0].StatusCode != 200 {
			t.Errorf("attempts of %d = %+v", id, as)
		}
	}
	// A rerun of the same job (River after a crash) sends nothing again.
	if err := f.work(ids, 2); err != nil || f.requests.Load() != 3 {
		t.Fatalf("rerun: %v, %d requests in all, want 3", err, f.requests.Load())
	}
	if f.outcomes["succeeded"] != 3 {
		t.Errorf("outcomes = %v", f.outcomes)
	}
}

func TestDeliverFailedIsRetriedThenGivenUp(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(strings.Repeat("é", webhook.ResponseSnippetMax))) // 2 bytes each: the snippet must cut on a rune
	})
	ids := f.events(2)
	if err := f.work(ids, 1); err == nil {
		t.Fatal("Work = nil with every delivery failing; River would not retry")
	}
	d := f.deliveries(ids[0])
	if d.State != webhook.DeliveryPending || d.Attempts != 1 || d.LastStatus != 500 {
		t.Fatalf("after a failure: %+v", d)
	}
	as := f.attempts(ids[0])
	if len(as) != 1 || as[0].Succeeded || as[0].StatusCode != 500 || len(as[0].ResponseSnippet) != webhook.ResponseSnippetMax || !strings.HasPrefix(as[0].ResponseSnippet, "éé") {
		t.Fatalf("attempt = %+v (snippet %d bytes)", as, len(as[0].ResponseSnippet))
	}
	// Past the retry window the deliveries are given up and the job ends.
	f.now.Add((webhook.RetryWindow + time.Minute).Microseconds())
	if err := f.work(ids, 2); err != nil {
		t.Fatalf("Work past the retry window = %v, want nil (done)", err)
	}
	if d := f.deliveries(ids[0]); d.State != webhook.DeliveryFailed || d.Attempts != 2 {
		t.Fatalf("after the window: %+v", d)
	}
	if f.outcomes["failed"] != 2 || f.outcomes["gave_up"] != 2 {
		t.Errorf("outcomes = %v", f.outcomes)
	}
	// A replay makes it pending again; the attempt count carries on.
	if _, err := f.hooks.Replay(context.Background(), "org_a", ids[0], 0); err != nil {
		t.Fatal(err)
	}
	if d := f.deliveries(ids[0]); d.State != webhook.DeliveryPending || d.Attempts != 2 {
		t.Fatalf("after a replay: %+v", d)
	}
	// The replay gets a retry window of its own, though its event is old.
	if err := f.work(ids[:1], 1); err == nil {
		t.Fatal("Work = nil: the replayed delivery was given up at once")
	}
	if d := f.deliveries(ids[0]); d.State != webhook.DeliveryPending || d.Attempts != 3 {
		t.Fatalf("after the replay's first attempt: %+v", d)
	}
}

func TestDeliverRedirectIsAFailure(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ids := f.events(1)
	if err := f.work(ids, 1); err == nil {
		t.Fatal("a redirect counted as delivered")
	}
	if f.requests.Load() != 1 {
		t.Errorf("%d requests: the redirect was followed", f.requests.Load())
	}
	if as := f.attempts(ids[0]); len(as) != 1 || as[0].StatusCode != http.StatusFound {
		t.Errorf("attempts = %+v", as)
	}
}

func TestDeliverUnreachable(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {})
	ids := f.events(1)
	// Point the endpoint at a port nothing listens on.
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	if _, err := f.hooks.UpdateEndpoint(context.Background(), "org_a", f.endpoint.ID, webhook.EndpointParams{URL: &url}); err != nil {
		t.Fatal(err)
	}
	if err := f.work(ids, 1); err == nil {
		t.Fatal("Work = nil against a closed port")
	}
	as := f.attempts(ids[0])
	if len(as) != 1 || as[0].StatusCode != 0 || !strings.Contains(as[0].Error, "refused") {
		t.Errorf("attempts = %+v, want no status and the transport error", as)
	}
}

func TestDeliverDisabledEndpointCancels(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	ids := f.events(1)
	yes := true
	if _, err := f.hooks.UpdateEndpoint(context.Background(), "org_a", f.endpoint.ID, webhook.EndpointParams{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	err := f.work(ids, 1)
	var cancel *rivertype.JobCancelError
	if !errors.As(err, &cancel) {
		t.Fatalf("Work = %v, want a JobCancel", err)
	}
	if f.requests.Load() != 0 {
		t.Error("a disabled endpoint was sent a request")
	}
	if d := f.deliveries(ids[0]); d.State != webhook.DeliveryPending || d.Attempts != 0 {
		t.Errorf("delivery = %+v, want pending and untried", d)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"OKShort", "ok", 10, "ok"},
		{"OKCutOnRune", "aéé", 4, "aé"},
		{"OKNULReplaced", "a\x00b", 10, "a\uFFFDb"},
		{"OKInvalidReplaced", "a\xffb", 10, "a\uFFFDb"},
		{"OKReplacementCut", "ab\x00", 4, "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.in, tt.n); got != tt.want || len(got) > tt.n {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

// TestWebhooksReachPublicAddressesOnly: the default client refuses to
// connect to loopback (and so to the operator's own services), whatever the
// URL, and the attempt fails without reaching the receiver.
func TestWebhooksReachPublicAddressesOnly(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	defer srv.Close()
	_, err := NewHTTPClient(false).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if !errors.Is(err, errPrivateAddress) || reached.Load() {
		t.Fatalf("POST to %s: %v (reached %v), want refused", srv.URL, err, reached.Load())
	}
	res, err := NewHTTPClient(true).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil || !reached.Load() {
		t.Fatalf("with private addresses allowed: %v, %v", res, err)
	}
	res.Body.Close()
	for addr, public := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "224.0.0.1": false, "255.255.255.255": false,
		"64:ff9b::7f00:1": false, "2002:7f00:1::1": false, "198.18.0.1": false,
		"::127.0.0.1": false, "::ffff:0:a00:1": false, "fec0::1": false,
	} {
		if got := PublicAddress(netip.MustParseAddr(addr)); got != public {
			t.Errorf("PublicAddress(%s) = %v, want %v", addr, got, public)
		}
	}
}

// TestDeliverAttemptErrorNamesNoAddress: the attempt log an organization
// reads says what kind of failure it was, never the address a host name
// resolved to (or the operator's resolver): an endpoint at an internal name
// must not map the operator's network.
func TestDeliverAttemptErrorNamesNoAddress(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {})
	ids := f.events(1)
	f.worker.cfg.HTTPClient = NewHTTPClient(false) // as kinko serve does by default
	if err := f.work(ids, 1); err == nil {
		t.Fatal("Work = nil against a loopback receiver with private addresses refused")
	}
	as := f.attempts(ids[0])
	if len(as) != 1 || as[0].Error != "refused: the host's address is not public" || f.requests.Load() != 0 {
		t.Fatalf("attempts = %+v (%d requests reached the receiver), want one refused without its address", as, f.requests.Load())
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{&url.Error{Op: "Post", URL: "http://db.internal/", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "db.internal", Server: "10.255.255.53:53", IsNotFound: true}}}, "DNS: no such host"},
		{&url.Error{Op: "Post", URL: "http://db.internal/", Err: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 5432}, Err: syscall.ECONNREFUSED}}, "connection refused"},
		{&url.Error{Op: "Post", URL: "http://x.example/", Err: context.DeadlineExceeded}, "timeout: no response within " + webhook.RequestTimeout.String()},
	} {
		if got := attemptError(c.err); got != c.want || strings.Contains(got, "10.") {
			t.Errorf("attemptError(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// cancelledWhileSending runs attempt number attempt of a job for n events, one request
// at a time, to a receiver that never answers, and cancels the job once the
// first request is in flight. It returns what Work returned.
func cancelledWhileSending(t *testing.T, n, attempt int) (*fixture, []int64, error) {
	inflight := make(chan struct{}, n)
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		inflight <- struct{}{}
		<-r.Context().Done()
	})
	f.worker.cfg.SendConcurrency = 1
	ids := f.events(n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- f.worker.Work(ctx, &river.Job[webhook.DeliverArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: webhook.JobAttemptsMax},
			Args: webhook.DeliverArgs{EndpointID: f.endpoint.ID, EventIDs: ids}})
	}()
	<-inflight
	cancel()
	return f, ids, <-done
}

// TestDeliverStopsSendingWhenCancelled: a job whose context ends (shutdown,
// its timeout) starts no more requests, and records attempts only for the
// requests it sent; the rest stay pending for its retry.
func TestDeliverStopsSendingWhenCancelled(t *testing.T) {
	f, ids, err := cancelledWhileSending(t, 8, 1)
	if err == nil {
		t.Fatal("a cancelled job with deliveries unsent returned nil")
	}
	logged := 0
	for _, id := range ids {
		logged += len(f.attempts(id))
	}
	if logged != 1 || f.requests.Load() != 1 {
		t.Fatalf("%d attempts logged for %d requests sent, want 1 and 1", logged, f.requests.Load())
	}
	if d := f.deliveries(ids[7]); d.State != webhook.DeliveryPending || d.Attempts != 0 {
		t.Errorf("an unsent delivery: %+v, want pending with no attempt", d)
	}
}

// TestDeliverLastTryGivesUpUnsent: a job cancelled on its last try has no
// retry to send what it did not: those deliveries are given up (failed,
// without an attempt) for a replay, not left pending for ever.
func TestDeliverLastTryGivesUpUnsent(t *testing.T) {
	f, ids, err := cancelledWhileSending(t, 4, webhook.JobAttemptsMax)
	if err == nil {
		t.Fatal("a cancelled last try with deliveries unsent returned nil")
	}
	for i, id := range ids {
		d := f.deliveries(id)
		if d.State != webhook.DeliveryFailed {
			t.Errorf("delivery %d after the last try: %+v, want failed", i, d)
		}
		if want := min(i, 1) ^ 1; d.Attempts != want || len(f.attempts(id)) != want {
			t.Errorf("delivery %d: %d attempts counted, %d logged; want %d", i, d.Attempts, len(f.attempts(id)), want)
		}
	}
}

// TestDeliverLastRetryAtTheWindowsEnd: retries are spaced by Backoff, but
// the last is scheduled at RetryWindow after the job was queued, not a
// backoff step beyond it.
func TestDeliverLastRetryAtTheWindowsEnd(t *testing.T) {
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	w := &deliverWorker{cfg: Config{Clock: func() time.Time { return now }, BackoffBase: webhook.BackoffBaseDefault}}
	job := func(queued time.Duration, attempt int) *river.Job[webhook.DeliverArgs] {
		return &river.Job[webhook.DeliverArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, CreatedAt: now.Add(-queued)}}
	}
	if got := w.NextRetry(job(time.Minute, 1)); got.Before(now) || got.After(now.Add(time.Minute)) {
		t.Errorf("first retry at %s, want within a minute of %s", got, now)
	}
	end := now.Add(time.Minute)
	if got := w.NextRetry(job(webhook.RetryWindow-time.Minute, 60)); !got.Equal(end) {
		t.Errorf("retry a minute before the window ends at %s, want %s", got, end)
	}
}
