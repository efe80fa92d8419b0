package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/auth"
)

// wantSecurityHeaders fails unless a response carries every header of
// securityHeaders.
func wantSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range securityHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	for _, path := range []string{"/", "/sign-up", "/sign-in", "/check-mail", "/verify?token=x", "/verify/resend",
		"/account", "/console", "/console/sign-in", "/console/nothing", "/nothing", "/static/style.css", "/static/nothing.css"} {
		r := b.get(path)
		wantSecurityHeaders(t, "GET "+path, r.header)
		if strings.HasPrefix(path, "/static/") {
			continue
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, got)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", path)
		}
	}
	r := b.post("/sign-in", url.Values{})
	wantSecurityHeaders(t, "a refused POST", r.header)
	req, _ := http.NewRequest("PUT", f.srv.URL+"/sign-in", nil)
	wantSecurityHeaders(t, "PUT /sign-in", b.do(req).header)
}

func TestCSPAllowsNothingInline(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	inline := regexp.MustCompile(`(?i)<script|\sstyle=|\son[a-z]+=|<style|javascript:`)
	external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	for _, path := range []string{"/", "/sign-up", "/sign-in", "/check-mail", "/verify?token=abc", "/verify/resend", "/console/sign-in", "/nothing"} {
		body := b.get(path).body
		if m := inline.FindString(body); m != "" {
			t.Errorf("GET %s: %q would need an unsafe CSP", path, m)
		}
		if m := external.FindString(body); m != "" {
			t.Errorf("GET %s: loads %q from another origin", path, m)
		}
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	f.signUpVerified(b, "buyer@example.com")
	page := b.get("/sign-in")
	good := form(t, page, "email", "buyer@example.com", "password", pw)

	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
		want    string // catalog message of the error page
	}{
		{"ErrNoToken", url.Values{"email": {"buyer@example.com"}, "password": {pw}}, nil, "error.csrf"},
		{"ErrWrongToken", form(t, page, csrfField, auth.NewCSRFToken(), "email", "buyer@example.com", "password", pw), nil, "error.csrf"},
		{"ErrCrossSite", good, []string{"Sec-Fetch-Site", "cross-site"}, "error.cross_origin"},
		{"ErrSameSiteOtherOrigin", good, []string{"Sec-Fetch-Site", "same-site"}, "error.cross_origin"},
		{"ErrOriginMismatch", good, []string{"Sec-Fetch-Site", "", "Origin", "http://evil.example"}, "error.cross_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/sign-in", tc.form, tc.headers...)
			wantStatus(t, "POST /sign-in", r, http.StatusForbidden)
			wantContains(t, "error page", r.body, catalogs[auth.LocaleJa][tc.want])
			if cookieNamed(r.header, cookieUserSession) != nil {
				t.Fatal("a refused sign-in set a session cookie")
			}
		})
	}
	t.Run("ErrNoCookie", func(t *testing.T) {
		// A token without the cookie it belongs to (a forged form from a
		// browser that never visited) is refused.
		fresh := f.browser()
		r := fresh.post("/sign-in", good)
		wantStatus(t, "POST /sign-in without the cookie", r, http.StatusForbidden)
	})
	t.Run("OKThenSessionToken", func(t *testing.T) {
		wantRedirect(t, "sign in", b.post("/sign-in", good), "/account")
		// Signed in, the anonymous token no longer passes: forms carry the
		// session's.
		r := b.post("/sign-out", url.Values{csrfField: {csrf(t, page.body)}})
		wantStatus(t, "sign-out with the anonymous token", r, http.StatusForbidden)
		account := b.get("/account")
		wantRedirect(t, "sign out", b.post("/sign-out", form(t, account)), "/?notice=signed-out")
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		r := b.post("/sign-in", url.Values{"x": {strings.Repeat("a", formBytesMax)}})
		wantStatus(t, "a huge form", r, http.StatusRequestEntityTooLarge)
	})
}

func TestSessionRotatesOnSignIn(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	f.signUpVerified(b, "buyer@example.com")
	signIn := func() *http.Cookie {
		page := b.get("/sign-in")
		r := b.post("/sign-in", form(t, page, "email", "buyer@example.com", "password", pw))
		wantRedirect(t, "sign in", r, "/account")
		return cookieNamed(r.header, cookieUserSession)
	}
	first, second := signIn(), signIn()
	if first == nil || second == nil || first.Value == second.Value {
		t.Fatalf("signing in again kept the session: %v, %v", first, second)
	}
	old := f.browser()
	old.c.Jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{first})
	wantRedirect(t, "the session before the second sign-in", old.get("/account"), "/sign-in")
}

func TestSecureCookies(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.SecureCookies = true })
	b := f.browser()
	r := b.get("/sign-in")
	c := cookieNamed(r.header, hostPrefix+cookieCSRF)
	if c == nil || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("CSRF cookie with SecureCookies: %+v, want __Host-, Secure, HttpOnly, path /", c)
	}
}

func TestSignInRateLimit(t *testing.T) {
	clock := newClock()
	f := newFixture(t, clock.now)
	b := f.browser()
	page := b.get("/sign-in")
	for i := range signInBurst {
		r := b.post("/sign-in", form(t, page, "email", "victim@example.com", "password", "guess "+string(rune('a'+i))+" 0123456"))
		wantStatus(t, "a wrong guess", r, http.StatusUnprocessableEntity)
	}
	r := b.post("/sign-in", form(t, page, "email", "Victim@example.com", "password", "one guess too many"))
	wantStatus(t, "a guess past the limit", r, http.StatusTooManyRequests)
	wantContains(t, "sign-in page", r.body, catalogs[auth.LocaleJa]["error.rate_limited"])
	// Another email from the same address is not limited.
	r = b.post("/sign-in", form(t, page, "email", "other@example.com", "password", "a wrong password"))
	wantStatus(t, "another email", r, http.StatusUnprocessableEntity)
	clock.advance(signInWindow / signInBurst)
	r = b.post("/sign-in", form(t, page, "email", "victim@example.com", "password", "a wrong password"))
	wantStatus(t, "a guess after the wait", r, http.StatusUnprocessableEntity)
}

func TestConsole(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	for _, p := range []auth.StaffUserParams{
		{Email: "fin@example.com", Name: "Fumi Finance", Role: auth.RoleFinance, Password: pw},
		{Email: "admin@example.com", Name: "Aki Admin", Role: auth.RoleAdmin, Password: pw},
	} {
		if _, err := f.staff.CreateStaffUser(ctx, testActor, p); err != nil {
			t.Fatal(err)
		}
	}
	// Two role-guarded pages, as later features add them.
	f.web.mux.Handle("GET /console/test/support", f.web.console(f.web.requireRole(auth.RoleSupport)(f.web.consoleHome)))
	f.web.mux.Handle("GET /console/test/finance", f.web.console(f.web.requireRole(auth.RoleFinance)(f.web.consoleHome)))

	b := f.browser()
	wantRedirect(t, "the console signed out", b.get("/console"), "/console/sign-in")
	wantRedirect(t, "a guarded page signed out", b.get("/console/test/finance"), "/console/sign-in")
	page := b.get("/console/sign-in")
	t.Run("ErrWrongPassword", func(t *testing.T) {
		r := b.post("/console/sign-in", form(t, page, "email", "fin@example.com", "password", "wrong password!"))
		wantStatus(t, "a wrong password", r, http.StatusUnprocessableEntity)
		wantContains(t, "console sign-in", r.body, catalogs[auth.LocaleJa]["sign_in.wrong"])
	})
	t.Run("ErrPortalUserIsNotStaff", func(t *testing.T) {
		f.signUpVerified(f.browser(), "buyer@example.com")
		r := b.post("/console/sign-in", form(t, page, "email", "buyer@example.com", "password", pw))
		wantStatus(t, "a portal user in the console", r, http.StatusUnprocessableEntity)
	})
	wantRedirect(t, "console sign-in", b.post("/console/sign-in", form(t, page, "email", "fin@example.com", "password", pw)), "/console")
	home := b.get("/console")
	wantStatus(t, "GET /console", home, http.StatusOK)
	wantContains(t, "console home", home.body, `<dd id="staff-role">経理</dd>`, "fin@example.com", `class="console"`)
	wantStatus(t, "the finance page as finance", b.get("/console/test/finance"), http.StatusOK)
	r := b.get("/console/test/support")
	wantStatus(t, "the support page as finance", r, http.StatusForbidden)
	wantContains(t, "403 page", r.body, catalogs[auth.LocaleJa]["error.forbidden"])

	t.Run("SeparateFromPortal", func(t *testing.T) {
		wantRedirect(t, "the portal with a console session", b.get("/account"), "/sign-in")
		// A console token in the portal's cookie opens nothing.
		staffCookie := cookieByName(b, f, cookieStaffSession)
		other := f.browser()
		other.c.Jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: cookieUserSession, Value: staffCookie.Value, Path: "/"}})
		wantRedirect(t, "a console token as a portal session", other.get("/account"), "/sign-in")
	})
	t.Run("AdminPassesEveryRole", func(t *testing.T) {
		a := f.browser()
		page := a.get("/console/sign-in")
		wantRedirect(t, "admin sign-in", a.post("/console/sign-in", form(t, page, "email", "admin@example.com", "password", pw)), "/console")
		wantStatus(t, "the support page as admin", a.get("/console/test/support"), http.StatusOK)
	})
	t.Run("RoleChangeAtOnce", func(t *testing.T) {
		if _, err := f.staff.SetStaffRole(ctx, testActor, "fin@example.com", auth.RoleSupport); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "the support page after the role change", b.get("/console/test/support"), http.StatusOK)
		if _, err := f.staff.DisableStaffUser(ctx, testActor, "fin@example.com"); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, "the console after a disable", b.get("/console"), "/console/sign-in")
	})
}

func cookieByName(b *browser, f *fixture, name string) *http.Cookie {
	b.t.Helper()
	for _, c := range b.c.Jar.Cookies(mustURL(b.t, f.srv.URL)) {
		if c.Name == name {
			return c
		}
	}
	b.t.Fatalf("no cookie %s", name)
	return nil
}

func TestErrorPages(t *testing.T) {
	f := newFixture(t, nil)
	f.web.mux.Handle("GET /boom", f.web.portal(func(http.ResponseWriter, *http.Request, *visit) error {
		return errors.New("the database caught fire")
	}))
	b := f.browser()
	t.Run("NotFound", func(t *testing.T) {
		r := b.get("/no/such/page")
		wantStatus(t, "an unknown path", r, http.StatusNotFound)
		wantContains(t, "404 page", r.body, catalogs[auth.LocaleJa]["error.not_found"])
	})
	t.Run("Internal", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.srv.URL+"/boom", nil)
		req.Header.Set("X-Request-Id", "req-test-boom")
		r := b.do(req)
		wantStatus(t, "a failing handler", r, http.StatusInternalServerError)
		m := regexp.MustCompile(`<code id="error-id">(err_[0-9a-f]{16})</code>`).FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no error id on the 500 page:\n%s", r.body)
		}
		if strings.Contains(r.body, "caught fire") {
			t.Fatal("the 500 page shows the internal error")
		}
		logs := f.logText()
		if !regexp.MustCompile(`"request_id":"req-test-boom","error_id":"` + m[1] + `".*"err":"the database caught fire"`).MatchString(logs) {
			t.Fatalf("the log lacks the error with both ids:\n%s", logs)
		}
	})
	t.Run("MailQueueDown", func(t *testing.T) {
		f.mail.mu.Lock()
		f.mail.err = errors.New("queue unavailable")
		f.mail.mu.Unlock()
		defer func() { f.mail.mu.Lock(); f.mail.err = nil; f.mail.mu.Unlock() }()
		page := b.get("/sign-up")
		r := b.post("/sign-up", form(t, page, "email", "new@example.com", "password", pw))
		wantStatus(t, "sign-up with the queue down", r, http.StatusInternalServerError)
	})
}

func TestStaticCaching(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	versioned, err := staticURL("style.css")
	if err != nil {
		t.Fatal(err)
	}
	r := b.get(versioned)
	wantStatus(t, "the stylesheet", r, http.StatusOK)
	if r.header.Get("Cache-Control") != staticCacheVersioned || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Fatalf("versioned stylesheet headers %v", r.header)
	}
	if r := b.get("/static/style.css"); r.header.Get("Cache-Control") != staticCacheUnversioned {
		t.Fatalf("unversioned stylesheet Cache-Control %q", r.header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest("GET", f.srv.URL+versioned, nil)
	req.Header.Set("If-None-Match", r.header.Get("ETag"))
	wantStatus(t, "a revalidation", b.do(req), http.StatusNotModified)
	if !strings.Contains(b.get("/").body, versioned) {
		t.Fatal("the layout does not link the versioned stylesheet")
	}
}

func TestLangSwitch(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	page := b.get("/sign-in")
	wantContains(t, "default language", page.body, `<html lang="ja">`)
	wantRedirect(t, "switch to English", b.post("/lang", form(t, page, "lang", "en", "next", "/sign-in")), "/sign-in")
	wantContains(t, "after the switch", b.get("/sign-in").body, `<html lang="en">`)
	for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)", ""} {
		wantRedirect(t, "switch with next "+next, b.post("/lang", form(t, page, "lang", "ja", "next", next)), "/")
	}
	r := b.post("/lang", form(t, page, "lang", "fr", "next", "/"))
	wantStatus(t, "an unknown language", r, http.StatusBadRequest)

	t.Run("KeepsTheQuery", func(t *testing.T) {
		page := b.get("/verify?token=abc")
		wantContains(t, "verify page", page.body, `name="next" value="/verify?token=abc"`)
		wantRedirect(t, "switch on the verify page", b.post("/lang", form(t, page, "lang", "ja", "next", "/verify?token=abc")), "/verify?token=abc")
	})
	t.Run("Console", func(t *testing.T) {
		if _, err := f.staff.CreateStaffUser(t.Context(), testActor, auth.StaffUserParams{Email: "ops@example.com", Name: "Ops", Role: auth.RoleMonitoring, Password: pw}); err != nil {
			t.Fatal(err)
		}
		page := b.get("/console/sign-in")
		wantRedirect(t, "console sign-in", b.post("/console/sign-in", form(t, page, "email", "ops@example.com", "password", pw)), "/console")
		home := b.get("/console")
		wantContains(t, "console home", home.body, `action="/console/lang"`)
		wantRedirect(t, "switch in the console", b.post("/console/lang", form(t, home, "lang", "ja", "next", "/console")), "/console")
		wantContains(t, "console home", b.get("/console").body, `<html lang="ja">`, "監視")
	})
}

func TestSignOutAfterIdle(t *testing.T) {
	clock := newClock()
	f := newFixture(t, clock.now)
	b := f.browser()
	f.signUpVerified(b, "buyer@example.com")
	page := b.get("/sign-in")
	wantRedirect(t, "sign in", b.post("/sign-in", form(t, page, "email", "buyer@example.com", "password", pw)), "/account")
	account := b.get("/account")
	clock.advance(auth.UserSessionIdleTimeout)
	// The page's sign-out button still carries the ended session's token.
	wantRedirect(t, "sign out after the idle timeout", b.post("/sign-out", form(t, account)), "/?notice=signed-out")
	wantRedirect(t, "the account page", b.get("/account"), "/sign-in")
	// Other forms with a stale token are refused.
	r := b.post("/account/locale", form(t, account, "locale", "en"))
	wantStatus(t, "a stale form", r, http.StatusForbidden)
}

func TestParsePublicURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "https://kinko.example.com/", "https://example.com/kinko"} {
		if _, err := ParsePublicURL(ok); err != nil {
			t.Errorf("ParsePublicURL(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "kinko.example.com", "ftp://example.com", "https://", "https://example.com/?a=b", "https://u:p@example.com"} {
		if _, err := ParsePublicURL(bad); err == nil {
			t.Errorf("ParsePublicURL(%q) accepted", bad)
		}
	}
	f := newFixture(t, nil, func(c *Config) { c.PublicURL = "https://kinko.example.com/base/" })
	if got := f.web.link("/verify", url.Values{"token": {"abc"}}); got != "https://kinko.example.com/base/verify?token=abc" {
		t.Errorf("link = %q", got)
	}
}

func TestLangOf(t *testing.T) {
	for _, tc := range []struct {
		cookie, accept string
		want           auth.Locale
	}{
		{"", "", auth.LocaleJa},
		{"", "en-US,en;q=0.9", auth.LocaleEn},
		{"", "fr-FR,fr;q=0.9,en;q=0.5,ja;q=0.4", auth.LocaleEn},
		{"", "en;q=0.3, JA-jp;q=0.8", auth.LocaleJa},
		{"", "en;q=0, fr", auth.LocaleJa},
		{"", "*", auth.LocaleJa},
		{"en", "ja", auth.LocaleEn},
		{"xx", "en", auth.LocaleEn},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: cookieLang, Value: tc.cookie})
		}
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if got := langOf(r); got != tc.want {
			t.Errorf("langOf(cookie %q, Accept-Language %q) = %s, want %s", tc.cookie, tc.accept, got, tc.want)
		}
	}
}

func FuzzParseAcceptLanguage(f *testing.F) {
	for _, s := range []string{"", "ja", "en-US,en;q=0.9", "fr;q=abc, en;q=2", ";;;,,,q=", strings.Repeat("en;q=0.1,", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		l, ok := parseAcceptLanguage(h)
		if ok && l.Validate() != nil {
			t.Fatalf("parseAcceptLanguage(%q) = %q, not a locale", h, l)
		}
		if !ok && l != "" {
			t.Fatalf("parseAcceptLanguage(%q) = %q, false", h, l)
		}
	})
}
