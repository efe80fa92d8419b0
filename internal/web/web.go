// Package web is Kinko's browser edge: server-rendered pages for end users
// (the portal, at /) and for the operator's staff (the console, at
// /console), in Japanese and English.
//
// It has its own router, separate from the JSON API's, and every response
// carries a strict Content-Security-Policy and the other headers in
// securityHeaders. Every unsafe request passes two CSRF checks: Go's
// http.CrossOriginProtection, and a synchronizer token (the session's, or a
// cookie's before sign-in) that each form carries in a hidden field.
// Handlers return errors; writeError is the one place that turns one into
// a page. Templates, the stylesheet and the message catalogs are embedded.
//
// Adding a page: write templates/NAME.html (defining "title" and "main"),
// add its strings to both catalogs in i18n/, and register a handler in
// routes with s.portal (signed-out or signed-in end users; wrap it in
// s.requireUser when it needs one) or s.console (wrap it in
// s.requireRole(roles...)). A handler reads the visit (language, user or
// staff user) and calls s.render, or returns an error.
//
// This package holds no business rules: a handler decodes a form, calls
// one method of an auth, escrow or billing service and renders. It never
// writes SQL, never moves money except through escrow.Service (the billing
// pages only read), and never sends mail itself: mail goes to a MailQueue.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/notify"
)

// MailQueue takes mail to send later, durably. The store adapters
// implement it (notify's mail jobs); tests record what they are given.
type MailQueue interface {
	MailEnqueue(ctx context.Context, mails []notify.Mail) error
}

// Config is what the pages need.
type Config struct {
	Users    *auth.UserService
	Sessions *auth.SessionService
	Staff    *auth.StaffService
	Mail     MailQueue
	// Escrow runs deals for the portal's deal and payout pages and the
	// console's queues; nil leaves those pages out (404).
	Escrow *escrow.Service
	// Billing and Members serve the provider portal: a portal user who is
	// a member of an organization reads its billing customers, their
	// balances, live reservations and statements. Either nil leaves those
	// pages out (404).
	Billing *billing.Service
	Members *auth.MemberService
	// Assets lists the currencies deals may be made in (the ledger's
	// assets), with their scales; nil offers JPY alone.
	Assets AssetLister
	// EscrowPayTo is the operator's bank account as the payment
	// instructions print it.
	EscrowPayTo string
	// PublicURL is where browsers reach this server, e.g.
	// https://kinko.example.com; links in mail start with it.
	PublicURL string
	// SecureCookies marks every cookie Secure and gives the session and
	// CSRF cookies the __Host- prefix. Set it when a TLS-terminating proxy
	// stands in front of the server; cookies set over a direct TLS
	// connection are Secure anyway.
	SecureCookies bool
	Logger        *slog.Logger // nil discards
	// Clock reads the current time for the sign-in rate limit; nil means
	// time.Now.
	Clock func() time.Time
}

// AssetLister lists the ledger's assets; *ledger.Engine is one.
type AssetLister interface {
	FindAssets(ctx context.Context) ([]money.Asset, error)
}

// Bounds of a request to a page.
const (
	formBytesMax   = 64 << 10         // a form body larger than this is refused
	purgeInterval  = 10 * time.Minute // RunPurge's pace
	purgeRoundsMax = 100              // full batches purged per tick at most
)

// Server serves the pages. Mount it at "/" beside the API's "/v1/".
type Server struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	pages     map[string]*template.Template
	origin    *http.CrossOriginProtection
	limits    *limiter // sign-in attempts, and mail sent at anyone's request
	publicURL *url.URL
}

// ParsePublicURL checks a public URL: http or https, a host, no query or
// fragment. A trailing slash is dropped.
func ParsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("web: public URL %q: want http(s)://host[:port][/path]", s)
	}
	return u, nil
}

// New returns the pages' handler. It panics when the embedded templates do
// not parse, which tests catch.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	pub, err := ParsePublicURL(cfg.PublicURL)
	if err != nil {
		pub = &url.URL{Scheme: "http", Host: "127.0.0.1"}
		cfg.Logger.Warn("web: mail links will point at http://127.0.0.1", "err", err)
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), pages: mustParsePages(),
		origin: http.NewCrossOriginProtection(), limits: newLimiter(cfg.Clock), publicURL: pub,
	}
	s.routes()
	return s
}

// routes registers every page. Handlers that need a signed-in person are
// wrapped in requireUser or requireRole.
func (s *Server) routes() {
	s.mux.Handle("GET /static/{name}", http.HandlerFunc(s.serveStatic))

	s.mux.Handle("GET /{$}", s.portal(s.home))
	s.mux.Handle("GET /sign-up", s.portal(s.signUpForm))
	s.mux.Handle("POST /sign-up", s.portal(s.signUp))
	s.mux.Handle("GET /check-mail", s.portal(s.checkMail))
	s.mux.Handle("GET /verify", s.portal(s.verifyForm))
	s.mux.Handle("POST /verify", s.portal(s.verify))
	s.mux.Handle("GET /verify/resend", s.portal(s.resendForm))
	s.mux.Handle("POST /verify/resend", s.portal(s.resend))
	s.mux.Handle("GET /sign-in", s.portal(s.signInForm))
	s.mux.Handle("POST /sign-in", s.portal(s.signInUser))
	s.mux.Handle("POST /sign-out", s.portal(s.signOutUser))
	s.mux.Handle("GET /account", s.portal(s.requireUser(s.account)))
	s.mux.Handle("POST /account/locale", s.portal(s.requireUser(s.setLocale)))
	s.mux.Handle("POST /lang", s.portal(s.switchLang))

	s.mux.Handle("GET /console/sign-in", s.console(s.consoleSignInForm))
	s.mux.Handle("POST /console/sign-in", s.console(s.consoleSignIn))
	s.mux.Handle("POST /console/sign-out", s.console(s.consoleSignOut))
	s.mux.Handle("POST /console/lang", s.console(s.switchLang))
	s.mux.Handle("GET /console", s.console(s.requireRole()(s.consoleHome)))
	if s.cfg.Escrow != nil {
		s.escrowRoutes()
	}
	if s.billingOn() {
		s.billingRoutes()
	}
	s.mux.Handle("/console/", s.console(notFound))

	s.mux.Handle("/", s.portal(notFound))
}

// ServeHTTP sets the security headers on every response, whichever route
// or error answers, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	s.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows only this origin's stylesheet and images,
// forms that post to this origin, and no scripts, frames or plugins. Add
// script-src 'self' when a page first ships a script under /static/.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders go on every response of this package.
var securityHeaders = map[string]string{
	"Content-Security-Policy":    contentSecurityPolicy,
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "same-origin",
	"X-Frame-Options":            "DENY",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// handler is a page: it writes a page or a redirect, or returns an error
// for writeError to render, having written nothing.
type handler func(w http.ResponseWriter, r *http.Request, v *visit) error

// area is the part of the site a page belongs to: it says which session
// cookie the page reads.
type area int

const (
	areaPortal area = iota
	areaConsole
)

// portal wraps a page of the end users' portal.
func (s *Server) portal(h handler) http.Handler { return s.wrap(areaPortal, 0, h) }

// console wraps a page of the staff console.
func (s *Server) console(h handler) http.Handler { return s.wrap(areaConsole, 0, h) }

// consoleUpload wraps a console page whose form uploads a file: it takes a
// multipart/form-data body of up to bytesMax bytes (other pages refuse
// multipart bodies), checked for CSRF like every other form.
func (s *Server) consoleUpload(bytesMax int64, h handler) http.Handler {
	return s.wrap(areaConsole, bytesMax, h)
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// wrap gives a page a request id, the visit (language, session, CSRF
// token), both CSRF checks on unsafe methods, an access log line, and
// error rendering. uploadBytesMax > 0 lets the page take a multipart form
// of that size.
func (s *Server) wrap(a area, uploadBytesMax int64, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("Cache-Control", "no-store")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		v, err := s.newVisit(rec, r, a, id)
		if err == nil {
			err = s.checkUnsafe(rec, r, v, uploadBytesMax)
		}
		if err == nil {
			err = h(rec, r, v)
		}
		if err != nil {
			if v == nil {
				v = &visit{requestID: id, area: a, lang: langOf(r)}
			}
			s.writeError(rec, r, v, err)
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "page",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

// checkUnsafe refuses an unsafe request that comes from another origin, or
// whose form does not echo the visit's CSRF token. A multipart form (a file
// upload) is read only by a page that takes one (uploadBytesMax > 0), and
// whole, in memory, so its token is checked before the handler sees the
// file.
func (s *Server) checkUnsafe(w http.ResponseWriter, r *http.Request, v *visit, uploadBytesMax int64) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if err := s.origin.Check(r); err != nil {
		return errCrossOrigin
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if uploadBytesMax <= 0 {
			return errBadForm(errors.New("web: this page takes no file"))
		}
		if v.staff == nil {
			// Upload pages are the console's: a file is read into memory
			// for a signed-in staff user only, never for anyone who asks.
			return errCSRF
		}
		r.Body = http.MaxBytesReader(w, r.Body, uploadBytesMax)
		if err := r.ParseMultipartForm(uploadBytesMax); err != nil {
			return errBadForm(err)
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, formBytesMax)
		if err := r.ParseForm(); err != nil {
			return errBadForm(err)
		}
	}
	if v.session == nil && signOutPaths[r.URL.Path] {
		// The session ended (idle) before its sign-out button was pressed:
		// signing out a signed-out browser changes nothing, so its stale
		// token need not match.
		return nil
	}
	if !v.checkCSRF(r.PostForm.Get(csrfField)) {
		return errCSRF
	}
	return nil
}

// signOutPaths are the sign-out forms' targets.
var signOutPaths = map[string]bool{"/sign-out": true, "/console/sign-out": true}

// RunPurge deletes expired sessions and verification tokens every
// purgeInterval until ctx ends. Expired ones open nothing anyway; this
// only keeps the tables small.
func (s *Server) RunPurge(ctx context.Context) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.purge(ctx, "sessions", s.cfg.Sessions.PurgeExpiredSessions, auth.SessionPurgeBatchMax)
			s.purge(ctx, "email verifications", s.cfg.Users.PurgeExpiredVerifications, auth.VerificationPurgeBatchMax)
		}
	}
}

// purge calls fn until it deletes less than a full batch, at most
// purgeRoundsMax times.
func (s *Server) purge(ctx context.Context, what string, fn func(context.Context) (int, error), batch int) {
	total := 0
	for range purgeRoundsMax {
		n, err := fn(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("web: purge failed", "what", what, "err", err)
			}
			return
		}
		total += n
		if n < batch {
			break
		}
	}
	if total > 0 {
		s.log.Info("web: purged expired rows", "what", what, "count", total)
	}
}

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
