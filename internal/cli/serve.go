package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-pay/kinko/internal/api"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/jobs"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/metrics"
	"github.com/kinko-pay/kinko/internal/web"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// Bounds of the server.
const (
	addrDefault           = "127.0.0.1:8080"
	expiryInterval        = time.Second      // how often due holds are swept
	readyPingTimeout      = 2 * time.Second  // /readyz answers 503 when the store takes longer
	shutdownTimeout       = 15 * time.Second // in-flight requests get this long after a signal
	readHeaderTimeout     = 5 * time.Second
	readTimeout           = 30 * time.Second
	writeTimeout          = 30 * time.Second
	idleTimeout           = 2 * time.Minute
	requestHeaderBytesMax = 64 << 10
)

// serveConfig is everything serve needs; tests build one directly.
type serveConfig struct {
	DB     string
	Addr   string
	Logger *slog.Logger // nil discards
	// Stderr receives, once, the secret of the admin key that the first
	// start on an empty store creates; nil means os.Stderr. The secret never
	// goes to the log.
	Stderr io.Writer
	// RatePerKey and BurstPerKey bound each API key on this node; zero
	// takes the API's defaults.
	RatePerKey  float64
	BurstPerKey int
	// KeyCacheTTL is how long this node keeps an API key it has read
	// (auth.Config.KeyCacheTTL): zero takes KeyCacheTTLDefault, a negative
	// value reads the key on every request.
	KeyCacheTTL time.Duration
	// WebhookBackoffBase is the wait before a failed webhook job's first
	// retry (webhook.BackoffBaseDefault when zero); tests shorten it.
	WebhookBackoffBase time.Duration
	// WebhookAllowPrivate lets webhooks reach loopback, private and other
	// non-public addresses (jobs.NewHTTPClient); off, they reach public
	// addresses only.
	WebhookAllowPrivate bool
	// PublicURL is where browsers reach the pages, for links in mail;
	// "" means http://127.0.0.1:<the port listened on>.
	PublicURL string
	// SecureCookies marks the pages' cookies Secure (and __Host-) even on
	// plain HTTP: set it behind a TLS-terminating proxy.
	SecureCookies bool
	// Mail queues the pages' mail; nil means the store's queue. Tests
	// record it instead.
	Mail web.MailQueue
	// EscrowPayTo is the operator's bank account as buyers are told to pay
	// into it (EscrowPayToDefault when empty).
	EscrowPayTo string
	// EscrowFraud are the fraud thresholds (zero fields: the defaults).
	EscrowFraud escrow.FraudRules
	// SMTPURL is the mail relay (smtprelay.ParseURL); "" writes mail to
	// the log instead.
	SMTPURL string
	// DebugAddr, when set, is where a second listener serves Go's runtime
	// profiles (/debug/pprof/); it carries no API and no authentication, so
	// it belongs on loopback or an operator-only network.
	DebugAddr string
	// TestClock gives escrow and billing a clock that POST /v1/test_clock/advance moves
	// forward, for black-box tests of deadlines. serve refuses it on
	// PostgreSQL unless AllowTestClock is set too: a shared database is
	// usually not a throwaway one, and each node would keep its own offset.
	TestClock, AllowTestClock bool
}

// KeyCacheTTLDefault is how long a node keeps an API key it has read unless
// told otherwise. Keys are revoked with `kinko keys revoke`: on PostgreSQL
// every node hears of it as it commits (auth.RevocationWatcher); on SQLite
// a running server stops accepting the key at most this long later.
const KeyCacheTTLDefault = time.Second

// EscrowPayToDefault is the development default of --escrow-pay-to: it
// names no real account.
const EscrowPayToDefault = "Kinko Bank (development) 001 / branch 100 / ordinary 1234567 / ｷﾝｺ ｴｽｸﾛｰ"

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "serve")
	db := dbFlag(fs, e)
	addr := fs.String("addr", envOr(e, "KINKO_ADDR", addrDefault), "address to listen on (env KINKO_ADDR)")
	ratePerKey := fs.Float64("rate-per-key", api.RatePerKeyDefault, "requests per second each API key may make on this node (negative: no limit)")
	burstPerKey := fs.Int("burst-per-key", api.BurstPerKeyDefault, "requests a key may make at once after a quiet spell")
	keyCacheTTL := KeyCacheTTLDefault
	if v := e.getenv("KINKO_KEY_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usageError("KINKO_KEY_CACHE_TTL: %v", err)
		}
		keyCacheTTL = d
	}
	fs.DurationVar(&keyCacheTTL, "key-cache-ttl", keyCacheTTL, "how long this node keeps an API key it has read; on SQLite a key revoked with 'kinko keys revoke' authenticates here for at most this long after (PostgreSQL nodes hear of revocations as they commit; 0: read the key on every request; env KINKO_KEY_CACHE_TTL)")
	publicURL := fs.String("public-url", envOr(e, "KINKO_PUBLIC_URL", ""), "URL where browsers reach this server, for links in mail (env KINKO_PUBLIC_URL; default http://127.0.0.1:<port>)")
	secureCookies := fs.Bool("secure-cookies", false, "mark the web pages' cookies Secure even over plain HTTP (behind a TLS-terminating proxy)")
	payTo := fs.String("escrow-pay-to", envOr(e, "KINKO_ESCROW_PAY_TO", EscrowPayToDefault), "the bank account escrow buyers pay into, as printed in payment instructions (env KINKO_ESCROW_PAY_TO)")
	smtpURL := secretFlag(fs, e, "smtp-url", "KINKO_SMTP_URL", "", smtpURLUsage)
	fraud, err := parseFraudRules(e.getenv("KINKO_ESCROW_FRAUD"))
	if err != nil {
		return usageError("KINKO_ESCROW_FRAUD: %v", err)
	}
	fs.Func("escrow-fraud", "fraud thresholds that hold escrow deals for review, e.g. amount_min=1000000,deals_per_day=10,new_seller_days=7,new_seller_amount_min=100000,sellers_per_bank_account=2 (unset keys keep their defaults; env KINKO_ESCROW_FRAUD)", func(v string) error {
		var err error
		fraud, err = parseFraudRules(v)
		return err
	})
	webhookAllowPrivate := fs.Bool("webhook-allow-private", envOr(e, "KINKO_WEBHOOK_ALLOW_PRIVATE", "") == "true",
		"let webhooks reach loopback, private and other non-public addresses, for receivers on this network (env KINKO_WEBHOOK_ALLOW_PRIVATE=true; default: public addresses only)")
	debugAddr := fs.String("debug-addr", envOr(e, "KINKO_DEBUG_ADDR", ""), "also serve Go's runtime profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; unauthenticated, so keep it on loopback (env KINKO_DEBUG_ADDR; default off)")
	testClock := fs.Bool("test-clock", false, "TESTS ONLY: let the admin key move escrow's and billing's clock forward (POST /v1/test_clock/advance); refused on PostgreSQL without --allow-test-clock")
	allowTestClock := fs.Bool("allow-test-clock", false, "allow --test-clock on PostgreSQL (a throwaway database, one node)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *allowTestClock && !*testClock {
		return usageError("--allow-test-clock goes with --test-clock")
	}
	// The runtime reads GOGC and GOMEMLIMIT from the process's own
	// environment, not from e.
	memLimit := tuneGC(os.LookupEnv, os.ReadFile)
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	if memLimit > 0 {
		logger.Info("garbage collector: soft memory limit at 90% of the container's; set GOMEMLIMIT to choose another", "bytes", memLimit)
	}
	if keyCacheTTL == 0 {
		keyCacheTTL = -1 // serveConfig's zero is the default
	}
	err = serve(ctx, serveConfig{DB: *db, Addr: *addr, Logger: logger, Stderr: e.stderr, RatePerKey: *ratePerKey, BurstPerKey: *burstPerKey, KeyCacheTTL: keyCacheTTL,
		EscrowPayTo: *payTo, SMTPURL: *smtpURL, PublicURL: *publicURL, SecureCookies: *secureCookies,
		TestClock: *testClock, AllowTestClock: *allowTestClock, EscrowFraud: fraud, DebugAddr: *debugAddr, WebhookAllowPrivate: *webhookAllowPrivate}, nil)
	if errors.Is(err, errUsage) {
		return err
	}
	if err != nil {
		logger.Error("serve failed", "err", err)
		return exitError{exitFailure}
	}
	return nil
}

// serve opens the store, applies migrations, creates the operator's admin
// key on an empty store (printing its secret once to cfg.Stderr), starts the
// ledger engine and its expiry sweep and answers HTTP on cfg.Addr until ctx
// ends. Then it stops accepting connections, lets in-flight requests finish
// (bounded by shutdownTimeout), drains the engine and closes the store. It
// returns nil after a clean shutdown. onListening, when set, is called with
// the address actually listened on (useful with port 0) once requests are
// being served.
func serve(ctx context.Context, cfg serveConfig, onListening func(addr string)) (err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	if cfg.TestClock && isPostgresURL(cfg.DB) && !cfg.AllowTestClock {
		return usageError("--test-clock is refused on PostgreSQL without --allow-test-clock: the clock is per node and the database is shared")
	}
	if cfg.PublicURL != "" {
		if _, err := web.ParsePublicURL(cfg.PublicURL); err != nil {
			return fmt.Errorf("serve: --public-url: %w", err)
		}
	}

	// Before the store: a bad --smtp-url fails the start at once. Closed
	// last, after the job runner that sends with it has stopped.
	mailer, err := newMailSender(cfg.SMTPURL, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer mailer.Close()

	st, applied, err := openStore(ctx, cfg.DB)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("serve: close store: %w", cerr))
		}
	}()
	log.Info("store open", "store", st.Kind(), "db", redactDB(cfg.DB), "migrations_applied", applied)

	keyCacheTTL := cmp.Or(cfg.KeyCacheTTL, KeyCacheTTLDefault)
	keys := auth.NewService(st, auth.Config{KeyCacheTTL: max(keyCacheTTL, 0), TouchFailed: func(keyID string, err error) {
		log.Warn("recording an API key's last use failed", "key_id", keyID, "err", err)
	}})
	if err := bootstrap(ctx, keys, cfg.Stderr, log); err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	met := metrics.New()
	hooks := webhook.NewService(st, st, nil)
	// The engine's batches wake the dispatcher; the runner needs the escrow
	// service, which needs the engine: the runner is set right after.
	var runnerRef atomic.Pointer[jobs.Runner]
	ecfg := engineConfig(st.Kind())
	ecfg.Observe = func(s ledger.BatchStats) {
		met.ObserveBatch(s)
		if r := runnerRef.Load(); r != nil {
			r.Wake() // the batch wrote events: dispatch them now
		}
	}
	engine := ledger.NewEngine(st, ecfg)
	// Closing the engine commits what is queued; it runs after the HTTP server
	// and the sweep have stopped submitting.
	defer engine.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.Addr, err)
	}
	publicURL := publicURLOf(cfg, ln.Addr())
	if cfg.EscrowPayTo == "" {
		cfg.EscrowPayTo = EscrowPayToDefault
	}
	var testClock *clock.Offset
	if cfg.TestClock {
		testClock = &clock.Offset{}
		if err := announceTestClock(cfg.Stderr, log); err != nil {
			ln.Close()
			return fmt.Errorf("serve: %w", err)
		}
	}
	escrowCfg := escrow.Config{Store: st, Ledger: engine, PayTo: cfg.EscrowPayTo, PortalURL: publicURL, Fraud: cfg.EscrowFraud,
		Events: api.EventEncoder{EscrowPayTo: cfg.EscrowPayTo}}
	if testClock != nil {
		escrowCfg.Clock = testClock.Now
	}
	deals := escrow.NewService(escrowCfg)
	billingCfg := billing.Config{Store: st, Ledger: engine, Events: api.EventEncoder{}}
	if testClock != nil {
		billingCfg.Clock = testClock.Now
	}
	bill := billing.NewService(billingCfg)
	runner, err := jobs.NewRunner(jobs.Config{Store: st, Webhooks: hooks, Render: api.RenderEvent, Logger: log,
		BackoffBase: cfg.WebhookBackoffBase, ObserveAttempt: met.ObserveWebhookAttempt, Timers: deals, Reservations: bill, Invoices: bill,
		Mail: mailer, ObserveMail: met.ObserveMail, WebhookAllowPrivate: cfg.WebhookAllowPrivate})
	if err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	runnerRef.Store(runner)

	idem := idempotency.NewService(st, nil)
	events := event.NewService(st)
	if err := met.RegisterJobQueueDepth(st.JobQueueDepth); err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	if err := runner.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	// Jobs stop after the HTTP server (no new replays) and before the engine
	// and the store close: jobs in hand finish and are recorded.
	defer func() {
		if serr := runner.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("serve: %w", serr))
		}
	}()
	v1 := api.New(api.Config{Ledger: engine, Auth: keys, Idempotency: idem, Events: events, Webhooks: hooks, Logger: log,
		Escrow: deals, Billing: bill, EscrowPayTo: cfg.EscrowPayTo, TestClock: testClock,
		ObserveRequest: func(route, method string, status int, d time.Duration) {
			met.ObserveRequest(route, method, status, d)
			if method == http.MethodPost {
				runner.Wake() // accounts and replays write outside ledger batches
			}
		}, RatePerKey: cfg.RatePerKey, BurstPerKey: cfg.BurstPerKey})
	pages := newPages(st, cfg, publicURL, log, deals, bill, engine)
	srv := &http.Server{
		Handler:           newHandler(st, readyPingTimeout, log, v1, met.Handler(), pages),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    requestHeaderBytesMax,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var sweep sync.WaitGroup
	sweep.Go(func() {
		engine.RunExpiry(sweepCtx, expiryInterval, func(err error) {
			log.Error("expiry sweep failed", "err", err)
		})
	})
	sweep.Go(func() { purgeIdempotencyKeys(sweepCtx, idem, log) })
	sweep.Go(func() { pages.RunPurge(sweepCtx) })
	if w, ok := st.(auth.RevocationWatcher); ok && keyCacheTTL > 0 {
		// Keys revoked on other nodes leave this node's cache as their
		// revocations commit, not when their entries expire.
		met.KeyRevocationsListening(false)
		sweep.Go(func() {
			w.WatchKeyRevocations(sweepCtx, func(prefix string) {
				if prefix == "" { // listening (again)
					met.KeyRevocationsListening(true)
				}
				keys.Forget(prefix)
			}, func(err error) {
				met.KeyRevocationsListening(false)
				log.Warn("not hearing of API key revocations on other nodes; until this clears they hold here within --key-cache-ttl", "err", err)
			})
		})
	}
	defer func() {
		stopSweep()
		sweep.Wait()
	}()

	if cfg.DebugAddr != "" {
		_, stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: %w", err)
		}
		defer stopDebug()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	if onListening != nil {
		onListening(ln.Addr().String())
	}

	select {
	case err := <-served:
		// Serve never returns nil; anything here is a failure to accept.
		return fmt.Errorf("serve: http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutdown http: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: http: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serveDebug serves Go's runtime profiles on addr until the returned stop
// is called, and says where it listens: the CPU profile of a busy node is
// how its time is found.
func serveDebug(addr string, log *slog.Logger) (listening string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("debug listener on %s: %w", addr, err)
	}
	// No /debug/pprof/cmdline: the command line may carry --db's password
	// or --smtp-url's credentials, which nothing else ever prints.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("the debug listener is not on loopback: anyone who reaches it can read this process's profiles", "addr", ln.Addr().String())
	}
	log.Info("debug listener", "addr", ln.Addr().String())
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// bootstrap creates the operator's organization and an admin key on an
// empty store and prints that key's secret once to stderr, in a line meant
// to stand out from the JSON log; the log says only that a key was made.
func bootstrap(ctx context.Context, keys *auth.Service, stderr io.Writer, log *slog.Logger) error {
	secret, created, err := keys.Bootstrap(ctx)
	if err != nil || !created {
		return err
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	prefix, _ := auth.ParseSecret(secret)
	log.Warn("created the operator organization and an admin API key; its secret is printed once on stderr, outside the log",
		"org", auth.OperatorOrgID, "key_prefix", prefix)
	_, err = fmt.Fprintf(stderr, "\n==> kinko: ADMIN API KEY (shown once, store it now): %s\n\n", secret)
	return err
}

// announceTestClock says, in the log and on a line of its own on stderr,
// that this server's escrow clock can be moved: never a production server.
func announceTestClock(stderr io.Writer, log *slog.Logger) error {
	if stderr == nil {
		stderr = os.Stderr
	}
	log.Warn("TEST CLOCK ON: the admin key can move escrow's clock forward (POST /v1/test_clock/advance) and fire every deadline it passes; never run a server holding real money like this")
	_, err := fmt.Fprintf(stderr, "\n==> kinko: TEST CLOCK ON: escrow deadlines can be fired at will; for tests only, never real money\n\n")
	return err
}

// pinger is what the health handlers need of the store.
type pinger interface {
	Ping(ctx context.Context) error
}

// newHandler routes the server:
//
//	/v1/…         the JSON API (v1), when set
//	/…            the web pages (internal/web), when set: every path the
//	              others do not match
//	GET /metrics  Prometheus metrics, when set (no key: keep the listener private)
//	GET /healthz  200 {"status":"ok"} while the process runs
//	GET /readyz   200 {"status":"ok"} when the store answers a ping within
//	              readyTimeout, else 503 {"status":"unavailable","reason":…}
func newHandler(st pinger, readyTimeout time.Duration, log *slog.Logger, v1, metricsHandler, pages http.Handler) http.Handler {
	mux := http.NewServeMux()
	if v1 != nil {
		mux.Handle("/v1/", v1)
	}
	if pages != nil {
		mux.Handle("/", pages)
	}
	if metricsHandler != nil {
		mux.Handle("GET /metrics", metricsHandler)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			// The reason stays generic; the log has the full error.
			reason := "store ping failed"
			if errors.Is(err, context.DeadlineExceeded) {
				reason = fmt.Sprintf("store did not answer within %s", readyTimeout)
			}
			log.Warn("not ready", "reason", reason, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// publicURLOf is where people reach this server, for links in mail:
// cfg.PublicURL, or http://127.0.0.1:<port of addr> when it is empty.
func publicURLOf(cfg serveConfig, addr net.Addr) string {
	if cfg.PublicURL != "" {
		return cfg.PublicURL
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://127.0.0.1:" + port
}

// newPages returns the web pages on st, with the escrow and billing
// services serve built (deals, bill) and the ledger's currencies (engine).
// Their mail is queued on st unless cfg.Mail (tests) says otherwise.
func newPages(st adapter, cfg serveConfig, publicURL string, log *slog.Logger, deals *escrow.Service, bill *billing.Service, engine *ledger.Engine) *web.Server {
	var mail web.MailQueue = st
	if cfg.Mail != nil {
		mail = cfg.Mail
	}
	return web.New(web.Config{
		Users: auth.NewUserService(st, nil), Sessions: auth.NewSessionService(st, nil), Staff: auth.NewStaffService(st, nil),
		Mail: mail, Escrow: deals, Billing: bill, Members: auth.NewMemberService(st, nil), Assets: engine, EscrowPayTo: cfg.EscrowPayTo,
		// Browsers reaching the pages over https (the public URL says so)
		// get Secure cookies even when a proxy ends TLS in front of us.
		PublicURL: publicURL, SecureCookies: cfg.SecureCookies || strings.HasPrefix(strings.ToLower(publicURL), "https://"), Logger: log,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// idempotencyPurgeInterval is how often answers older than
// idempotency.Retention are deleted.
const idempotencyPurgeInterval = 10 * time.Minute

// purgeIdempotencyKeys deletes expired Idempotency-Key records until ctx ends.
func purgeIdempotencyKeys(ctx context.Context, idem *idempotency.Service, log *slog.Logger) {
	t := time.NewTicker(idempotencyPurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := idem.Purge(ctx); err != nil && ctx.Err() == nil {
				log.Error("idempotency purge failed", "err", err)
			} else if n > 0 {
				log.Info("idempotency keys purged", "count", n)
			}
		}
	}
}
