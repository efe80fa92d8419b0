// Package jobs runs Kinko's durable background work on River: the webhook
// dispatcher that turns committed events into delivery jobs, the workers
// that send them, and the worker that sends queued mail. Jobs are inserted
// by the store adapters in the same transaction as the change that needs
// them; every worker is safe to run twice (a job retried after a crash
// re-reads what is still to do).
//
// This package holds no business rules: what to deliver, how to sign and how
// long to retry are package webhook's (and, for mail, package notify's); it
// owns only the HTTP requests and the wiring to River.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// Bounds of the job runner.
const (
	// WorkersDefault bounds jobs worked at once on one node; each delivery job
	// sends up to SendConcurrencyDefault requests at a time.
	WorkersDefault         = 16
	SendConcurrencyDefault = 16
	// DispatchIntervalDefault is how long the dispatcher sleeps when it found
	// nothing to dispatch and nobody woke it (Wake): the bound on how long an
	// event written by another node waits to be listed and sent.
	DispatchIntervalDefault = time.Second
	// DispatchCoalesce is how long the dispatcher waits after a Wake before
	// it claims, so that the events of several commits go out in one claim.
	DispatchCoalesce = 10 * time.Millisecond
	// DispatchCoalesceBusy is that wait after a claim of at least
	// DispatchBusyEvents events: under a heavy write load each claim is one
	// more write transaction (and, on SQLite, one more fsync on the one
	// writer the ledger's batches wait for), so claims are then made fewer
	// and larger; an event then waits up to this long to be listed and sent.
	DispatchCoalesceBusy = 100 * time.Millisecond
	DispatchBusyEvents   = 50
	// FetchPollInterval is how often an idle node asks the queue for jobs
	// (SQLite has no LISTEN/NOTIFY, so polling is how jobs are found).
	FetchPollInterval = 100 * time.Millisecond
	// JobTimeout bounds one delivery job: DeliverBatchMax requests of at most
	// webhook.RequestTimeout each, SendConcurrencyDefault at a time.
	JobTimeout = 2 * time.Minute
	// RescueStuckJobsAfter is when a job left running by a crashed node is
	// run again; it must exceed JobTimeout.
	RescueStuckJobsAfter = 5 * time.Minute
	// StopTimeout bounds how long Stop waits for jobs in hand to finish;
	// then their contexts are cancelled and they get CancelTimeout more to
	// record what they sent (a delivery job can run up to JobTimeout against
	// a slow receiver).
	StopTimeout   = 30 * time.Second
	CancelTimeout = 10 * time.Second
)

// Store is what the runner needs of a store adapter.
type Store interface {
	webhook.Store
	event.Store
	NewJobClient(cfg *river.Config) (store.JobClient, error)
}

// Config configures a Runner. Zero fields take the defaults above.
type Config struct {
	Store    Store
	Webhooks *webhook.Service
	// Render gives the bytes POSTed for an event: the same document GET
	// /v1/events/{id} returns (api.RenderEvent).
	Render func(event.Event) []byte
	Logger *slog.Logger
	// BackoffBase is the first retry's wait (webhook.BackoffBaseDefault when 0).
	BackoffBase      time.Duration
	Workers          int
	SendConcurrency  int
	DispatchInterval time.Duration
	HTTPClient       *http.Client // nil: NewHTTPClient(WebhookAllowPrivate)
	// WebhookAllowPrivate lets webhooks reach private, loopback and other
	// non-public addresses (receivers on the operator's own network, tests).
	WebhookAllowPrivate bool
	StopTimeout         time.Duration // 0: StopTimeout
	Clock               func() time.Time
	// Timers fires escrow deadlines (the escrow service). Nil: no timer
	// worker and no sweep, for runners that only deliver webhooks.
	Timers Timers
	// Reservations expires billing reservations (the billing service)
	// every ReservationExpirySweepInterval. Nil: no such sweep.
	Reservations Reservations
	// Invoices closes ended months into invoices (the billing service)
	// every MonthCloseSweepInterval. Nil: no such sweep.
	Invoices Invoices
	// ObserveAttempt, when set, is told of every delivery attempt: its
	// outcome ("succeeded", "failed", "gave_up") and latency.
	ObserveAttempt func(outcome string, d time.Duration)
	// Mail sends queued mail (notify.MailArgs jobs); nil logs each mail
	// instead (notify.ConsoleSender on Logger), for development.
	Mail notify.Sender
	// MailBackoffBase is the wait before a failed mail's first retry
	// (notify.MailBackoffBaseDefault when 0).
	MailBackoffBase time.Duration
	// ObserveMail, when set, is told the outcome of every try of a mail job:
	// MailSent, MailRetry or MailFailed.
	ObserveMail func(outcome string)
}

// Runner works jobs and dispatches events on one node until Stop.
type Runner struct {
	cfg    Config
	client store.JobClient
	wake   chan struct{} // one pending wake-up at most

	stopDispatch context.CancelFunc
	wg           sync.WaitGroup
}

// NewRunner builds the River client with Kinko's workers. Call Start.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = WorkersDefault
	}
	if cfg.SendConcurrency <= 0 {
		cfg.SendConcurrency = SendConcurrencyDefault
	}
	if cfg.DispatchInterval <= 0 {
		cfg.DispatchInterval = DispatchIntervalDefault
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(cfg.WebhookAllowPrivate)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = StopTimeout
	}
	if cfg.Mail == nil {
		cfg.Mail = notify.ConsoleSender{Logger: cfg.Logger}
	}
	if cfg.Render == nil || cfg.Webhooks == nil || cfg.Store == nil {
		return nil, errors.New("jobs: Store, Webhooks and Render are required")
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{cfg: cfg}); err != nil {
		return nil, fmt.Errorf("jobs: add webhook worker: %w", err)
	}
	if cfg.Timers != nil {
		if err := river.AddWorkerSafely(workers, &timerWorker{cfg: cfg}); err != nil {
			return nil, fmt.Errorf("jobs: add escrow timer worker: %w", err)
		}
	}
	if err := river.AddWorkerSafely(workers, &mailWorker{cfg: cfg}); err != nil {
		return nil, fmt.Errorf("jobs: add mail worker: %w", err)
	}
	client, err := cfg.Store.NewJobClient(&river.Config{
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		FetchPollInterval:    FetchPollInterval,
		JobTimeout:           JobTimeout,
		RescueStuckJobsAfter: RescueStuckJobsAfter,
		// Stop waits this long for jobs in hand, then cancels their
		// contexts so they record what they sent and return.
		SoftStopTimeout: cfg.StopTimeout,
		MaxAttempts:     webhook.JobAttemptsMax,
		// River logs each failed attempt at error level; the attempt log and
		// the metrics already say it, so only River's warnings reach ours.
		Logger: slog.New(levelFloor{cfg.Logger.Handler(), slog.LevelWarn}),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: new River client: %w", err)
	}
	return &Runner{cfg: cfg, client: client, wake: make(chan struct{}, 1)}, nil
}

// Wake tells the dispatcher that events were just written on this node, so
// it claims them within DispatchCoalesce instead of at its next interval.
// It never blocks; call it after each commit that may have written events.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Start starts working jobs and the dispatcher.
func (r *Runner) Start(ctx context.Context) error {
	// River stops hard, cancelling the jobs in hand, when the context given
	// to Start ends; only Stop may end the runner, so that a graceful
	// shutdown lets requests already sent finish and be recorded.
	if err := r.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start River: %w", err)
	}
	dctx, cancel := context.WithCancel(context.Background())
	r.stopDispatch = cancel
	r.wg.Go(func() { r.dispatch(dctx) })
	if r.cfg.Timers != nil {
		r.wg.Go(func() { r.sweep(dctx) })
	}
	if r.cfg.Reservations != nil {
		r.wg.Go(func() { r.sweepReservations(dctx) })
	}
	if r.cfg.Invoices != nil {
		r.wg.Go(func() { r.sweepInvoices(dctx) })
	}
	return nil
}

// Stop stops the dispatcher, then stops taking jobs and waits, up to
// StopTimeout, for those in hand to finish and be recorded. Jobs still
// running then are cancelled: their requests in flight fail, they record
// their attempts and River retries them (a receiver may get an event twice,
// which at-least-once delivery allows). A job that does not return within
// CancelTimeout more is left for RescueStuckJobsAfter.
func (r *Runner) Stop() error {
	if r.stopDispatch != nil {
		r.stopDispatch()
	}
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StopTimeout+CancelTimeout)
	defer cancel()
	if err := r.client.Stop(ctx); err != nil {
		return fmt.Errorf("jobs: stop River: %w", err)
	}
	return nil
}

// dispatch turns committed events into delivery jobs until ctx ends: at once
// again while batches come back full, else after a Wake (and
// DispatchCoalesce) or DispatchInterval, whichever comes first.
func (r *Runner) dispatch(ctx context.Context) {
	idle := time.NewTimer(r.cfg.DispatchInterval)
	defer idle.Stop()
	for {
		n, err := r.cfg.Webhooks.Dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error("webhook dispatch failed", "err", err)
		}
		if err == nil && n == webhook.DispatchBatchMax {
			continue
		}
		coalesce := DispatchCoalesce
		if n >= DispatchBusyEvents {
			coalesce = DispatchCoalesceBusy
		}
		idle.Reset(r.cfg.DispatchInterval)
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		case <-r.wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(coalesce):
			}
		}
	}
}

// NewHTTPClient returns the client webhook requests go out on: bounded by
// webhook.RequestTimeout, keeping connections to each receiver alive, and
// never following redirects (a 3xx is a failed attempt: the endpoint's URL
// is what the organization registered). Unless allowPrivate, it connects
// to public addresses only (PublicAddress), whatever a URL's name resolves
// to when it is sent: an organization's endpoint must not reach the
// operator's own network (cloud metadata, /metrics, a database's HTTP
// port) and read the answer back from the attempt log. It uses no proxy
// from the environment.
func NewHTTPClient(allowPrivate bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = WorkersDefault * SendConcurrencyDefault
	tr.MaxIdleConns = 4 * tr.MaxIdleConnsPerHost
	tr.Proxy = nil
	if !allowPrivate {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refusePrivate}
		tr.DialContext = d.DialContext
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       webhook.RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errPrivateAddress refuses a webhook connection to an address that is not
// public.
var errPrivateAddress = errors.New("webhook: refusing to connect to a non-public address (kinko serve --webhook-allow-private allows it)")

// refusePrivate is a net.Dialer's Control: it runs on the resolved address
// of every connection, so a name that resolves somewhere private later is
// refused too.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !PublicAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", errPrivateAddress, address)
	}
	return nil
}

// nonPublic are address blocks a webhook may not reach besides those
// netip.Addr's predicates name: shared address space (CGNAT), "this
// network", IETF protocol assignments, benchmarking, reserved and
// broadcast, IPv6 prefixes that embed IPv4 addresses (NAT64, 6to4,
// IPv4-compatible and -translated) and site-local IPv6.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): ::a.b.c.d
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// PublicAddress reports whether a webhook may connect to ip: not loopback,
// private (RFC 1918, fc00::/7), link-local, multicast, unspecified, nor in
// nonPublic, in IPv4 or IPv4-mapped form.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}
func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}
