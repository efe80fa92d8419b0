package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// recordingQueue is a MailQueue that keeps what it is given.
type recordingQueue struct {
	mu    sync.Mutex
	mails []notify.Mail
	err   error // returned by MailEnqueue when set
}

func (q *recordingQueue) MailEnqueue(_ context.Context, mails []notify.Mail) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.mails = append(q.mails, mails...)
	return nil
}

func (q *recordingQueue) all() []notify.Mail {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]notify.Mail(nil), q.mails...)
}

// testActor is who the audit log says set up the staff users and members of
// these tests.
var testActor = audit.Actor{Type: audit.ActorSystem, ID: "test"}

// fixture is the pages on a fresh SQLite store, served on 127.0.0.1.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	web   *Server
	db    *sqlite.DB
	mail  *recordingQueue
	log   *bytes.Buffer
	logMu *sync.Mutex
	users *auth.UserService
	staff *auth.StaffService
	// ledger and escrow run deals on the same store, with JPY and USD;
	// billing and members serve the provider portal, orgs makes its
	// organizations.
	ledger  *ledger.Engine
	escrow  *escrow.Service
	billing *billing.Service
	members *auth.MemberService
	orgs    *auth.Service
}

// testPayTo is the operator's account as payment instructions print it.
const testPayTo = "Kinko Test Bank 001 / ordinary 1234567"

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// newFixture serves the pages on a fresh store; clock (nil: time.Now)
// drives the services and the rate limit; mutate adjusts the configuration.
func newFixture(t *testing.T, clock func() time.Time, mutate ...func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kinko.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, mail: &recordingQueue{}, log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	f.users, f.staff = auth.NewUserService(db, clock), auth.NewStaffService(db, clock)
	f.ledger = ledger.NewEngine(db, ledger.Config{Clock: clock})
	t.Cleanup(f.ledger.Close)
	for _, a := range []money.Asset{{Code: "JPY"}, {Code: "USD", Scale: 2}} {
		if err := f.ledger.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	f.escrow = escrow.NewService(escrow.Config{Store: db, Ledger: f.ledger, Clock: clock, PayTo: testPayTo})
	f.billing = billing.NewService(billing.Config{Store: db, Ledger: f.ledger, Clock: clock})
	f.members, f.orgs = auth.NewMemberService(db, clock), auth.NewService(db, auth.Config{Clock: clock})
	cfg := Config{
		Users: f.users, Sessions: auth.NewSessionService(db, clock), Staff: f.staff, Mail: f.mail, Clock: clock,
		Escrow: f.escrow, Billing: f.billing, Members: f.members, Assets: f.ledger, EscrowPayTo: testPayTo,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{f.logMu, f.log}, nil)),
	}
	f.srv = httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + f.srv.Listener.Addr().String()
	for _, m := range mutate {
		m(&cfg)
	}
	f.web = New(cfg)
	f.srv.Config.Handler = f.web
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) logText() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.log.String()
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, sending the headers a browser sends on same-origin requests.
type browser struct {
	t    *testing.T
	f    *fixture
	c    *http.Client
	lang string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: f.t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(body)}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.f.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "none")
	return b.do(req)
}

// post sends a form as a same-origin browser would; with csrf true it
// adds the token of the last page it got.
func (b *browser) post(path string, form url.Values, headers ...string) response {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.f.srv.URL)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrf returns the CSRF token in a page's forms.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// form returns a form with the page's CSRF token and the given fields.
func form(t *testing.T, page response, kv ...string) url.Values {
	t.Helper()
	v := url.Values{csrfField: {csrf(t, page.body)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wantStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, r.status, status, r.body)
	}
}

func wantRedirect(t *testing.T, what string, r response, to string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != to {
		t.Fatalf("%s: %d to %q, want 303 to %q; body:\n%s", what, r.status, r.header.Get("Location"), to, r.body)
	}
}

func wantContains(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Fatalf("%s: the page lacks %q:\n%s", what, p, body)
		}
	}
}

var tokenPattern = regexp.MustCompile(`/verify\?token=([0-9A-Za-z]+)`)

// mailedToken returns the verification token of the last mail to addr.
func (f *fixture) mailedToken(addr string) string {
	f.t.Helper()
	mails := f.mail.all()
	for i := len(mails) - 1; i >= 0; i-- {
		if mails[i].To == addr {
			if m := tokenPattern.FindStringSubmatch(mails[i].Text); m != nil {
				return m[1]
			}
		}
	}
	f.t.Fatalf("no verification mail to %s in %+v", addr, mails)
	return ""
}

const pw = "correct horse battery"

// signUpVerified signs a user up through the pages and verifies them.
func (f *fixture) signUpVerified(b *browser, email string) {
	f.t.Helper()
	page := b.get("/sign-up")
	wantRedirect(f.t, "sign up", b.post("/sign-up", form(f.t, page, "email", email, "password", pw)), "/check-mail")
	page = b.get("/verify?token=" + f.mailedToken(email))
	wantRedirect(f.t, "verify", b.post("/verify", form(f.t, page, "token", f.mailedToken(email), "password", pw)), "/sign-in?notice=verified")
}

func TestSignUpToAccount(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	b.lang = "en-US,en;q=0.9"

	page := b.get("/sign-up")
	wantStatus(t, "GET /sign-up", page, http.StatusOK)
	wantContains(t, "sign-up page", page.body, `<html lang="en">`, "Create an account")

	t.Run("ErrInvalid", func(t *testing.T) {
		r := b.post("/sign-up", form(t, page, "email", "not an address", "password", pw))
		wantStatus(t, "a malformed address", r, http.StatusBadRequest)
		wantContains(t, "sign-up form", r.body, "Enter a plain email address", `value="not an address"`)
		r = b.post("/sign-up", form(t, page, "email", "a@example.com", "password", "short"))
		wantStatus(t, "a short password", r, http.StatusBadRequest)
		wantContains(t, "sign-up form", r.body, "at least 12 characters")
		if strings.Contains(r.body, "short") {
			t.Fatal("the form echoes the password")
		}
	})

	wantRedirect(t, "sign up", b.post("/sign-up", form(t, page, "email", "Buyer@Example.com", "password", pw)), "/check-mail")
	mails := f.mail.all()
	if len(mails) != 1 || mails[0].To != "buyer@example.com" || mails[0].Subject != catalogs[auth.LocaleEn]["mail.verify.subject"] ||
		!strings.Contains(mails[0].Text, f.srv.URL+"/verify?token=") {
		t.Fatalf("mail after sign-up: %+v", mails)
	}
	token := f.mailedToken("buyer@example.com")

	t.Run("ErrUnverifiedSignIn", func(t *testing.T) {
		page := b.get("/sign-in")
		r := b.post("/sign-in", form(t, page, "email", "buyer@example.com", "password", pw))
		wantStatus(t, "sign-in before verifying", r, http.StatusUnprocessableEntity)
		wantContains(t, "sign-in page", r.body, "Confirm your email address first", `action="/verify/resend"`)
	})
	t.Run("OKVerifyGetConsumesNothing", func(t *testing.T) {
		for range 2 {
			r := b.get("/verify?token=" + token)
			wantStatus(t, "GET /verify", r, http.StatusOK)
			wantContains(t, "verify page", r.body, `action="/verify"`, `name="token" value="`+token+`"`)
		}
	})
	page = b.get("/verify?token=" + token)
	t.Run("ErrVerifyShortPassword", func(t *testing.T) {
		r := b.post("/verify", form(t, page, "token", token, "password", "short"))
		wantStatus(t, "a short password", r, http.StatusUnprocessableEntity)
		wantContains(t, "verify page", r.body, `name="token" value="`+token+`"`, `name="password"`)
	})
	wantRedirect(t, "confirm", b.post("/verify", form(t, page, "token", token, "password", pw)), "/sign-in?notice=verified")
	t.Run("ErrVerifyTwice", func(t *testing.T) {
		r := b.post("/verify", form(t, page, "token", token, "password", pw))
		wantStatus(t, "the link again", r, http.StatusNotFound)
		wantContains(t, "verify page", r.body, "This link is not valid")
	})

	page = b.get("/sign-in?notice=verified")
	wantContains(t, "sign-in page", page.body, "Your email address is confirmed")
	t.Run("ErrWrongPassword", func(t *testing.T) {
		r := b.post("/sign-in", form(t, page, "email", "buyer@example.com", "password", pw+"!"))
		wantStatus(t, "a wrong password", r, http.StatusUnprocessableEntity)
		wantContains(t, "sign-in page", r.body, "Wrong email address or password.")
	})
	anonToken := csrf(t, page.body)
	r := b.post("/sign-in", form(t, page, "email", "buyer@example.com", "password", pw))
	wantRedirect(t, "sign in", r, "/account")
	if c := cookieNamed(r.header, cookieUserSession); c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Lax, not Secure over plain HTTP, path /", c)
	}
	if c := cookieNamed(r.header, cookieLang); c == nil || c.Value != "en" {
		t.Fatalf("lang cookie at sign-in %+v, want the user's locale en", c)
	}
	account := b.get("/account")
	wantStatus(t, "GET /account", account, http.StatusOK)
	wantContains(t, "account page", account.body, `<dd id="account-email">buyer@example.com</dd>`)
	if tok := csrf(t, account.body); tok == anonToken {
		t.Fatal("the signed-in pages carry the anonymous CSRF token, not the session's")
	}

	t.Run("OKLocale", func(t *testing.T) {
		r := b.post("/account/locale", form(t, account, "locale", "ja"))
		wantRedirect(t, "save locale", r, "/account?notice=saved")
		page := b.get("/account?notice=saved")
		wantContains(t, "account page", page.body, `<html lang="ja">`, "保存しました。", `<option value="ja" selected>`)
		u, _, err := f.db.UserByEmail(context.Background(), "buyer@example.com")
		if err != nil || u.Locale != auth.LocaleJa {
			t.Fatalf("stored locale %q, %v", u.Locale, err)
		}
	})
	t.Run("OKSignOutRevokes", func(t *testing.T) {
		cookies := b.c.Jar.Cookies(mustURL(t, f.srv.URL))
		page := b.get("/account")
		wantRedirect(t, "sign out", b.post("/sign-out", form(t, page)), "/?notice=signed-out")
		wantRedirect(t, "account after sign-out", b.get("/account"), "/sign-in")
		// The old cookie, replayed, opens nothing.
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(mustURL(t, f.srv.URL), cookies)
		old := f.browser()
		old.c.Jar = jar
		wantRedirect(t, "account with the revoked cookie", old.get("/account"), "/sign-in")
	})
}

func cookieNamed(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSignUpTakenEmailLooksTheSame(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	f.signUpVerified(b, "seller@example.com")
	page := b.get("/sign-up")
	wantRedirect(t, "sign up again", b.post("/sign-up", form(t, page, "email", "SELLER@example.com", "password", "another password")), "/check-mail")
	mails := f.mail.all()
	last := mails[len(mails)-1]
	if len(mails) != 2 || last.To != "seller@example.com" || last.Subject != catalogs[auth.LocaleJa]["mail.exists.subject"] ||
		strings.Contains(last.Text, "token=") {
		t.Fatalf("mail after a sign-up with a taken email: %+v", mails)
	}
	t.Run("ResendLooksTheSame", func(t *testing.T) {
		for _, email := range []string{"seller@example.com", "nobody@example.com"} {
			wantRedirect(t, "resend to "+email, b.post("/verify/resend", form(t, page, "email", email)), "/check-mail")
		}
		if n := len(f.mail.all()); n != 2 {
			t.Fatalf("resends to a verified user and to nobody sent mail: %d mails", n)
		}
	})
	t.Run("MailToTheOwnerIsLimited", func(t *testing.T) {
		// Tried again and again: answered alike, but the owner gets at most
		// accountExistsMailBurst such mails a day.
		for range 2 * accountExistsMailBurst {
			wantRedirect(t, "sign up again", b.post("/sign-up", form(t, page, "email", "seller@example.com", "password", "another password")), "/check-mail")
		}
		if n := len(f.mail.all()); n != 1+accountExistsMailBurst {
			t.Fatalf("%d mails after %d sign-ups with a taken email, want %d", n, 1+2*accountExistsMailBurst, 1+accountExistsMailBurst)
		}
	})
}

func TestResendReplacesLink(t *testing.T) {
	clock := newClock()
	f := newFixture(t, clock.now)
	b := f.browser()
	page := b.get("/sign-up")
	wantRedirect(t, "sign up", b.post("/sign-up", form(t, page, "email", "late@example.com", "password", pw)), "/check-mail")
	first := f.mailedToken("late@example.com")
	page = b.get("/verify/resend")
	wantRedirect(t, "resend at once", b.post("/verify/resend", form(t, page, "email", "late@example.com")), "/check-mail")
	if n := len(f.mail.all()); n != 1 {
		t.Fatalf("a resend within %s sent mail: %d mails", auth.VerificationResendIntervalMin, n)
	}
	clock.advance(auth.VerificationResendIntervalMin)
	wantRedirect(t, "resend later", b.post("/verify/resend", form(t, page, "email", "late@example.com")), "/check-mail")
	second := f.mailedToken("late@example.com")
	if second == first {
		t.Fatal("the resent link has the old token")
	}
	page = b.get("/verify?token=" + first)
	wantStatus(t, "the replaced link", b.post("/verify", form(t, page, "token", first, "password", pw)), http.StatusNotFound)
	wantRedirect(t, "the new link", b.post("/verify", form(t, page, "token", second, "password", pw)), "/sign-in?notice=verified")
	t.Run("ErrInvalid", func(t *testing.T) {
		r := b.post("/verify/resend", form(t, page, "email", "nope"))
		wantStatus(t, "a malformed address", r, http.StatusBadRequest)
	})
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
