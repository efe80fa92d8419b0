// Package api is Kinko's JSON API under /v1: routing, authentication by API
// key, request ids, strict decoding, problem+json errors and cursor
// pagination, and one file per resource.
//
// Handlers hold no business rules: each decodes, authorizes, calls one domain
// method and encodes. They return errors; writeError is the one place that
// turns an error into a response. This package never writes SQL.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// Authenticator turns an API key's secret into the principal it acts as.
// auth.Service implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// Config is what the API needs.
type Config struct {
	Ledger *ledger.Engine // made with ledger.Config.Events = EventEncoder{}
	Auth   Authenticator
	// Events reads the organization's events (/v1/events); Webhooks manages
	// its endpoints, deliveries and replays.
	Events   *event.Service
	Webhooks *webhook.Service
	// Idempotency keeps first responses to Idempotency-Key; nil turns the
	// header off (tests of other concerns only).
	Idempotency *idempotency.Service
	// Escrow runs deals and deposits (/v1/deals, /v1/deposits); nil answers
	// them 503 unavailable (tests of other concerns only). It is made with
	// escrow.Config.Events = EventEncoder{EscrowPayTo: EscrowPayTo}.
	Escrow *escrow.Service
	// Billing runs billing customers, reservations, charges, metered
	// sessions, statements and invoices (/v1/billing/…); nil answers them 503 unavailable. It is made with
	// billing.Config.Events = EventEncoder{}.
	Billing *billing.Service
	// EscrowPayTo is the operator's bank account as payment instructions
	// print it (escrow.Config.PayTo).
	EscrowPayTo string
	// TestClock, when set, is the clock the escrow and billing services
	// read; the server then registers /v1/test_clock, which moves it
	// forward, fires the deadlines it passes and expires the reservations. Never set in production: kinko serve
	// sets it only with --test-clock.
	TestClock *clock.Offset
	Logger    *slog.Logger // nil discards
	// ObserveRequest, when set, is told of every answered request: the route
	// pattern that matched (bounded, never the raw path), status and time.
	ObserveRequest func(route, method string, status int, d time.Duration)
	// RatePerKey and BurstPerKey bound each key's requests per second on this
	// node (0: RatePerKeyDefault, BurstPerKeyDefault; negative: no limit).
	RatePerKey  float64
	BurstPerKey int
}

// Bounds of every request.
const (
	BodyBytesMax   = 1 << 20 // 1 MiB, unless bodyBytesMaxByRoute says otherwise; larger bodies get 413
	requestIDMax   = 64
	BatchMax       = 1000 // transfers in one POST /v1/transfers/batch
	PageLimitMax   = 100
	pageLimitStart = 20
)

// bodyBytesMaxByRoute lists the routes whose bodies may be larger than
// BodyBytesMax, by "METHOD pattern", with their own bound.
var bodyBytesMaxByRoute = map[string]int64{
	"POST /v1/deposits/imports": ImportBodyBytesMax,
}

// bodyBytesMaxOf returns the body bound of the route "METHOD pattern".
func bodyBytesMaxOf(route string) int64 {
	if n, ok := bodyBytesMaxByRoute[route]; ok {
		return n
	}
	return BodyBytesMax
}

// Server is the /v1 API.
type Server struct {
	cfg           Config
	log           *slog.Logger
	mux           *http.ServeMux
	limiter       *limiter        // nil: no limit
	keyedInLedger map[string]bool // route patterns; tests empty it to compare with the generic path
	keyedInTx     map[string]bool // the same, for routes whose services keep keys (keep.go)
}

// New returns the API's handler for the paths under /v1.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RatePerKey == 0 {
		cfg.RatePerKey = RatePerKeyDefault
	}
	if cfg.BurstPerKey == 0 {
		cfg.BurstPerKey = BurstPerKeyDefault
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), limiter: newLimiter(cfg.RatePerKey, cfg.BurstPerKey), keyedInLedger: keyedInLedger,
		keyedInTx: keyedInTx}
	s.routes()
	return s
}

// handler is an API handler: it acts as a principal and returns an error
// instead of writing one.
type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// routes registers every endpoint; Routes and PublicRoutes list them for the
// OpenAPI check.
func (s *Server) routes() {
	for _, rt := range s.Routes() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt.handle, false, bodyBytesMaxOf(rt.Method+" "+rt.Path)))
	}
	for _, rt := range s.PublicRoutes() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt.handle, true, BodyBytesMax))
	}
	s.mux.Handle("/v1/", s.wrap(func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		if allow := s.methodsFor(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &apperr.Error{Code: codeMethodNotAllowed, Message: fmt.Sprintf("%s is not allowed here; this endpoint takes %s", r.Method, strings.Join(allow, ", "))}
		}
		return errRouteNotFound
	}, false, BodyBytesMax))
}

// methodsFor lists the methods that r's path has a route for: a path the
// catch-all answers under another method is 405, not 404.
func (s *Server) methodsFor(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/v1/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// Route is one endpoint.
type Route struct {
	Method, Path string
	handle       handler
}

// Routes lists every endpoint the server registers behind an API key; the
// test clock's only when Config.TestClock is set.
func (s *Server) Routes() []Route {
	routes := []Route{
		{"GET", "/v1/assets", s.listAssets},
		{"POST", "/v1/assets", s.createAsset},
		{"POST", "/v1/accounts", s.createAccount},
		{"GET", "/v1/accounts", s.listAccounts},
		{"GET", "/v1/accounts/{id}", s.getAccount},
		{"GET", "/v1/accounts/{id}/balance", s.getBalance},
		{"GET", "/v1/accounts/{id}/transfers", s.listAccountTransfers},
		{"POST", "/v1/transfers", s.createTransfer},
		{"POST", "/v1/transfers/batch", s.createTransferBatch},
		{"GET", "/v1/transfers", s.listTransfers},
		{"GET", "/v1/transfers/{id}", s.getTransfer},
		{"POST", "/v1/transfers/{id}/post", s.postTransfer},
		{"POST", "/v1/transfers/{id}/void", s.voidTransfer},
		{"GET", "/v1/events", s.listEvents},
		{"GET", "/v1/events/{id}", s.getEvent},
		{"GET", "/v1/events/{id}/deliveries", s.listEventDeliveries},
		{"POST", "/v1/events/{id}/replay", s.replayEvent},
		{"POST", "/v1/webhook_endpoints", s.createWebhookEndpoint},
		{"GET", "/v1/webhook_endpoints", s.listWebhookEndpoints},
		{"GET", "/v1/webhook_endpoints/{id}", s.getWebhookEndpoint},
		{"POST", "/v1/webhook_endpoints/{id}", s.updateWebhookEndpoint},
		{"DELETE", "/v1/webhook_endpoints/{id}", s.deleteWebhookEndpoint},
		{"GET", "/v1/webhook_endpoints/{id}/attempts", s.listWebhookAttempts},
		{"POST", "/v1/deals", s.createDeal},
		{"GET", "/v1/deals", s.listDeals},
		{"GET", "/v1/deals/{id}", s.getDeal},
		{"GET", "/v1/deals/{id}/timeline", s.getDealTimeline},
		{"POST", "/v1/deals/{id}/accept", s.step((*escrow.Service).AcceptDeal)},
		{"POST", "/v1/deals/{id}/decline", s.step((*escrow.Service).DeclineDeal)},
		{"POST", "/v1/deals/{id}/cancel", s.step((*escrow.Service).CancelDeal)},
		{"POST", "/v1/deals/{id}/ship", s.shipDeal},
		{"POST", "/v1/deals/{id}/confirm_receipt", s.step((*escrow.Service).ConfirmReceipt)},
		{"POST", "/v1/deals/{id}/approve", s.step((*escrow.Service).ApproveDeal)},
		{"POST", "/v1/deals/{id}/release_milestone", s.step((*escrow.Service).ReleaseMilestone)},
		{"POST", "/v1/deals/{id}/dispute", s.disputeDeal},
		{"GET", "/v1/deals/{id}/messages", s.listDealMessages},
		{"POST", "/v1/deals/{id}/messages", s.createDealMessage},
		{"POST", "/v1/deals/{id}/resolve", s.resolveDeal},
		{"POST", "/v1/deals/{id}/review", s.reviewDeal},
		{"POST", "/v1/deposits", s.createDeposit},
		{"GET", "/v1/deposits", s.listDeposits},
		{"POST", "/v1/deposits/{id}/clear", s.clearDeposit},
		{"POST", "/v1/deposits/{id}/apply", s.applyDeposit},
		{"POST", "/v1/deposits/{id}/return", s.returnDeposit},
		{"POST", "/v1/deposits/imports", s.importDeposits},
		{"POST", "/v1/bank_accounts", s.setBankAccount},
		{"GET", "/v1/bank_accounts/{email}", s.getBankAccount},
		{"GET", "/v1/payees/{email}/balance", s.getPayeeBalance},
		{"POST", "/v1/payout_batches", s.createPayoutBatch},
		{"GET", "/v1/payout_batches", s.listPayoutBatches},
		{"GET", "/v1/payout_batches/{id}", s.getPayoutBatch},
		{"GET", "/v1/payout_batches/{id}/file", s.getPayoutFile},
		{"POST", "/v1/payout_batches/{id}/settle", s.settlePayoutBatch},
		{"POST", "/v1/payout_batches/{id}/items/{item_id}/return", s.returnPayoutItem},
		{"POST", "/v1/billing/customers", s.createBillingCustomer},
		{"GET", "/v1/billing/customers", s.listBillingCustomers},
		{"GET", "/v1/billing/customers/{id}", s.getBillingCustomer},
		{"POST", "/v1/billing/customers/{id}/credit_limit", s.setBillingCreditLimit},
		{"POST", "/v1/billing/customers/{id}/top_ups", s.topUpBillingCustomer},
		{"GET", "/v1/billing/customers/{id}/balance", s.getBillingBalance},
		{"GET", "/v1/billing/customers/{id}/statement", s.getStatement},
		{"POST", "/v1/billing/customers/{id}/invoices", s.closeInvoicePeriod},
		{"GET", "/v1/billing/customers/{id}/invoices", s.listInvoices},
		{"POST", "/v1/billing/reservations", s.createReservation},
		{"GET", "/v1/billing/reservations", s.listReservations},
		{"GET", "/v1/billing/reservations/{auth_number}", s.getReservation},
		{"POST", "/v1/billing/reservations/{auth_number}/increment", s.incrementReservation},
		{"POST", "/v1/billing/reservations/{auth_number}/cancel", s.cancelReservation},
		{"POST", "/v1/billing/reservations/{auth_number}/charges", s.chargeReservation},
		{"POST", "/v1/billing/charges", s.createBillingCharge},
		{"GET", "/v1/billing/customers/{id}/charges", s.listBillingCharges},
		{"GET", "/v1/billing/sessions", s.listSessions},
		{"POST", "/v1/billing/sessions", s.startSession},
		{"GET", "/v1/billing/sessions/{id}", s.getSession},
		{"POST", "/v1/billing/sessions/{id}/usage", s.reportUsage},
		{"POST", "/v1/billing/sessions/{id}/top_ups", s.topUpSession},
		{"POST", "/v1/billing/sessions/{id}/end", s.endSession},
	}
	if s.cfg.TestClock != nil {
		routes = append(routes, s.testClockRoutes()...)
	}
	return routes
}

// PublicRoutes lists the endpoints that need no API key.
func (s *Server) PublicRoutes() []Route {
	return []Route{
		{"GET", OpenAPIPath, s.getOpenAPI},
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type ctxKey int

const requestIDKey ctxKey = 0

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// RequestID returns the request's id, as echoed in X-Request-Id.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// wrap gives a handler a request id, a body bound of bodyBytesMax, an
// authenticated principal (the zero one when public), an access log line,
// and error rendering.
func (s *Server) wrap(h handler, public bool, bodyBytesMax int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		r.Body = http.MaxBytesReader(w, r.Body, bodyBytesMax)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		err := s.serve(rec, r, h, public)
		if err != nil {
			s.writeError(rec, r, err)
		}
		took := time.Since(start)
		s.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", took))
		if s.cfg.ObserveRequest != nil {
			route := r.Pattern
			if route == "/v1/" {
				route = "" // the catch-all: no endpoint matched
			}
			s.cfg.ObserveRequest(route, r.Method, rec.status, took)
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, h handler, public bool) error {
	if public {
		if err := checkQuery(r); err != nil {
			return err
		}
		return h(w, r, auth.Principal{})
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return errNoKey
	}
	p, err := s.cfg.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		return err
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.allow(p.KeyID, time.Now()); !ok {
			return rateLimited(w, wait)
		}
	}
	if err := checkQuery(r); err != nil {
		return err
	}
	if r.Method == http.MethodPost {
		if need, ok := postAuthority(r.Pattern); ok {
			if err := need(p); err != nil {
				return err
			}
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return errNotJSON
		}
		if key := r.Header.Get("Idempotency-Key"); key != "" && s.cfg.Idempotency != nil {
			if s.keyedInLedger[r.Pattern] {
				return s.serveKeyedInLedger(w, r, p, key, h)
			}
			if s.keyedInTx[r.Pattern] {
				return s.serveKeyedInTx(w, r, p, key, h)
			}
			return s.serveIdempotent(w, r, p, key, h)
		}
	}
	return h(w, r, p)
}

// serveIdempotent answers a POST that carries an Idempotency-Key: the first
// request runs and its response is kept; a retry with the same method, path
// and body gets that response again, byte for byte; another request with the
// key gets 422, and a retry while the first still runs gets 409. A 5xx is not
// kept, so a retry runs again (the ledger's references keep that safe).
func (s *Server) serveIdempotent(w http.ResponseWriter, r *http.Request, p auth.Principal, key string, h handler) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	hash := idempotency.Hash(r.Method, r.URL.RequestURI(), body)
	ctx := r.Context()
	rec, err := s.cfg.Idempotency.Begin(ctx, p.OrgID, key, hash)
	if err != nil {
		return err
	}
	if rec != nil {
		return writeKept(w, idempotency.Response{Status: rec.Status, ContentType: rec.ContentType, Body: rec.Body}, true)
	}
	buf := &bufferedResponse{header: w.Header(), status: http.StatusOK}
	if err := h(buf, r, p); err != nil {
		s.writeError(buf, r, err)
	}
	s.completeKey(ctx, p.OrgID, key, hash, buf)
	return buf.send(w)
}

// completeKey stores buf as the response to key, whose claim the caller
// holds, or gives the claim back: a 5xx, or a refusal to act at all (a key
// without the scope), is not the request's result, so a retry runs again.
// The outcome is kept even if the client has gone: the change may have
// committed, and a retry with this key must replay it, not run again.
//
// Storing it is tried completeKeyTries times. If it still fails, the claim
// is kept, not given back: the change may have committed, and a retry that
// found the key free would run it again (a second deal, say). Retries then
// get 409 until the claim is idempotency.ClaimTimeout old and taken over:
// the window this three-commit path cannot close (docs/api.md).
func (s *Server) completeKey(ctx context.Context, orgID, key string, hash []byte, buf *bufferedResponse) {
	keep := context.WithoutCancel(ctx)
	if !idempotency.Keeps(buf.status) {
		if err := s.cfg.Idempotency.Release(keep, orgID, key); err != nil {
			s.log.ErrorContext(ctx, "release idempotency key", "request_id", RequestID(ctx), "err", err)
		}
		return
	}
	var err error
	for try := range completeKeyTries {
		if try > 0 {
			time.Sleep(completeKeyBackoff << (try - 1))
		}
		if err = s.cfg.Idempotency.Complete(keep, orgID, key, hash, buf.status, buf.header.Get("Content-Type"), buf.body.Bytes()); err == nil {
			return
		}
	}
	// The response stands; the claim stays until it is taken over.
	s.log.ErrorContext(ctx, "store idempotent response; the key's claim is kept", "request_id", RequestID(ctx), "err", err)
}

// completeKeyTries and completeKeyBackoff bound how completeKey insists on
// storing a response: 50 ms, 100 ms, then give up.
const (
	completeKeyTries   = 3
	completeKeyBackoff = 50 * time.Millisecond
)

// keyedInLedger lists the routes whose Idempotency-Key the ledger checks and
// keeps in the transaction that applies the transfers (serveKeyedInLedger):
// their handlers submit through Server.submit.
var keyedInLedger = map[string]bool{
	"POST /v1/transfers":           true,
	"POST /v1/transfers/batch":     true,
	"POST /v1/transfers/{id}/post": true,
	"POST /v1/transfers/{id}/void": true,
}

// ledgerKey is an Idempotency-Key that serveKeyedInLedger hands to
// Server.submit through the request's context.
type ledgerKey struct {
	orgID, key string
	hash       []byte
	submitted  bool // the handler reached the ledger
}

const ledgerKeyKey ctxKey = 1

// serveKeyedInLedger answers a keyed POST of a transfer route as
// serveIdempotent would, byte for byte, with one commit instead of three and
// no read of the key before it: the handler's submission carries the key
// into the ledger batch, which reads the key's record under the batch's
// locks and answers a retry from it (replay, 422, 409) without applying
// anything, or keeps the rendered response in the transaction that applies
// the transfers. A request that stops before the ledger (a malformed body)
// keeps its answer in one commit of its own (keepAfter); one the batch
// refused for its key (422 or 409) takes the generic path: only
// serveIdempotent takes an abandoned claim over, and it answers the others
// as before. A duplicate in the same
// batch as its first request (the two came together) is 409 at once.
func (s *Server) serveKeyedInLedger(w http.ResponseWriter, r *http.Request, p auth.Principal, key string, h handler) error {
	if err := idempotency.ValidKey(key); err != nil {
		return err
	}
	body, hash, generic, err := s.readKeyed(w, r, p, key, h)
	if err != nil {
		return err
	}
	lk := &ledgerKey{orgID: p.OrgID, key: key, hash: hash}
	buf, err := runKeyed(r, ledgerKeyKey, lk, body, p, h)
	if errors.Is(err, ledger.ErrKeyInBatch) {
		return err // a duplicate that came with the first: 409, as with a claim
	}
	if !lk.submitted {
		// Nothing was applied: the handler stopped before the ledger (a
		// malformed body, say). Its answer is kept in one commit.
		if err != nil {
			buf = &bufferedResponse{header: http.Header{}, status: http.StatusOK}
			s.writeError(buf, r, err)
		}
		return s.keepAfter(w, r, p.OrgID, key, hash, buf)
	}
	if apperr.Is(err, idempotency.CodeKeyInUse) || apperr.Is(err, idempotency.CodeKeyReused) {
		// Nothing was applied; the request runs again on the generic path,
		// which answers a live claim or another request's record as it
		// always has, and takes an abandoned claim over.
		return generic()
	}
	if err != nil {
		return err // the ledger failed (not kept) or refused the key
	}
	return buf.send(w)
}

// runKeyed runs h, into a buffered response, on r again with body as its
// body and v in its context under k: how a keyed path hands its key to the
// handler's service call.
func runKeyed(r *http.Request, k ctxKey, v any, body []byte, p auth.Principal, h handler) (*bufferedResponse, error) {
	kr := r.WithContext(context.WithValue(r.Context(), k, v))
	kr.Body = io.NopCloser(bytes.NewReader(body))
	buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	return buf, h(buf, kr, p)
}

// readKeyed begins a keyed POST of a route that keeps its key with its
// change: it reads the body and returns it, its hash, and generic, which
// runs the request on the generic path (serveIdempotent).
func (s *Server) readKeyed(w http.ResponseWriter, r *http.Request, p auth.Principal, key string, h handler) (
	body, hash []byte, generic func() error, err error) {
	if body, err = io.ReadAll(r.Body); err != nil {
		return nil, nil, nil, err
	}
	hash = idempotency.Hash(r.Method, r.URL.RequestURI(), body)
	generic = func() error {
		r.Body = io.NopCloser(bytes.NewReader(body))
		return s.serveIdempotent(w, r, p, key, h)
	}
	return body, hash, generic, nil
}

// lookupKeyed is readKeyed followed by a lookup of the key's record. A
// record answers the request (a replay, 422 or 409) and done is true. An
// abandoned claim (a generic-path request that crashed, on a node of an
// earlier version, say) is dropped and the request runs as if its key were
// new: taken over on the generic path, the claim could be stranded again.
func (s *Server) lookupKeyed(w http.ResponseWriter, r *http.Request, p auth.Principal, key string, h handler) (
	body, hash []byte, generic func() error, done bool, err error) {
	if body, hash, generic, err = s.readKeyed(w, r, p, key, h); err != nil {
		return nil, nil, nil, true, err
	}
	rec, err := s.cfg.Idempotency.Lookup(r.Context(), p.OrgID, key)
	switch {
	case err != nil:
		return nil, nil, nil, true, err
	case rec == nil:
		return body, hash, generic, false, nil
	case s.cfg.Idempotency.Abandoned(*rec):
		if err := s.cfg.Idempotency.DropAbandoned(r.Context(), *rec); err != nil {
			return nil, nil, nil, true, err
		}
		return body, hash, generic, false, nil
	}
	return nil, nil, nil, true, answerKept(w, *rec, hash)
}

// answerKept answers a request with hash from the record its key has.
func answerKept(w http.ResponseWriter, rec idempotency.Record, hash []byte) error {
	if err := idempotency.Check(rec, hash); err != nil {
		return err
	}
	return writeKept(w, idempotency.Response{Status: rec.Status, ContentType: rec.ContentType, Body: rec.Body}, true)
}

// writeKept writes a response kept for an Idempotency-Key; replayed marks a
// response kept by an earlier request.
func writeKept(w http.ResponseWriter, res idempotency.Response, replayed bool) error {
	w.Header().Set("Content-Type", res.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(res.Status)
	_, err := w.Write(res.Body)
	return err
}

// bufferedResponse holds a response until it has been stored.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// send writes what b holds to w: its headers, status and body.
func (b *bufferedResponse) send(w http.ResponseWriter) error {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.status)
	_, err := w.Write(b.body.Bytes())
	return err
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
