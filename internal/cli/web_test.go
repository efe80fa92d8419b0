package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/notify"
)

// The web pages through the real server (serve, in process, on a random
// port of 127.0.0.1, on a fresh SQLite store): plain HTTP checks of the
// mount, the security headers and both CSRF defences, and a walk through
// the portal and the console in a real headless Chromium.

// envBrowser set to "required" makes the browser test fail, instead of
// skip, when Chromium is missing (CI sets it).
const envBrowser = "KINKO_TEST_BROWSER"

// envScreenshots, when set to a directory, makes the browser test save
// screenshots of some pages there (sign-up.png, …), for a person to look at.
const envScreenshots = "KINKO_TEST_SCREENSHOTS"

// browserWaitMax bounds the whole browser walk; it only turns a hang into
// a failure and measures nothing.
const browserWaitMax = 2 * time.Minute

// mailRecorder is the pages' mail queue in these tests.
type mailRecorder struct {
	mu    sync.Mutex
	mails []notify.Mail
}

func (m *mailRecorder) MailEnqueue(_ context.Context, mails []notify.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mails...)
	return nil
}

func (m *mailRecorder) all() []notify.Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]notify.Mail(nil), m.mails...)
}

// startWebServe starts serve on a fresh SQLite store holding one staff user
// and returns it with its mail recorder.
func startWebServe(t *testing.T) (*runningServer, *mailRecorder) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "kinko.db")
	st, _, err := openStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = auth.NewStaffService(st, nil).CreateStaffUser(context.Background(), cliActor,
		auth.StaffUserParams{Email: "support@example.com", Name: "Sora Support", Role: auth.RoleSupport, Password: staffPassword})
	if cerr := st.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	mail := &mailRecorder{}
	return startServeConfig(t, serveConfig{DB: db, Mail: mail}), mail
}

const (
	staffPassword = "staff password 1234"
	userPassword  = "correct horse battery"
)

// securityHeaders are the headers every page must carry.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "same-origin",
	"X-Frame-Options":         "DENY",
}

func TestWebServe(t *testing.T) {
	srv, _ := startWebServe(t)
	base := "http://" + srv.addr
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}

	t.Run("OKHeadersOnEveryPage", func(t *testing.T) {
		for _, path := range []string{"/", "/sign-up", "/sign-in", "/check-mail", "/verify?token=x", "/verify/resend",
			"/account", "/deals", "/deals/dl_x", "/account/payouts", "/billing", "/billing/org_x/customers/cus_x/statement.csv", "/console", "/console/sign-in", "/console/deposits",
			"/console/payouts/pb_x/export/zengin", "/no-such-page", "/static/style.css"} {
			res, _ := get(path)
			for k, v := range securityHeaders {
				if got := res.Header.Get(k); got != v {
					t.Errorf("GET %s: %s = %q, want %q", path, k, got, v)
				}
			}
		}
	})
	t.Run("OKMounts", func(t *testing.T) {
		if res, body := get("/"); res.StatusCode != http.StatusOK || !strings.Contains(body, `data-page="home"`) {
			t.Errorf("GET / = %d, want the home page", res.StatusCode)
		}
		if res, _ := get("/healthz"); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET /healthz = %d %s, want the health check", res.StatusCode, res.Header.Get("Content-Type"))
		}
		if res, _ := get("/v1/assets"); res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET /v1/assets = %d %s, want the API's 401", res.StatusCode, res.Header.Get("Content-Type"))
		}
	})

	// A page's CSRF cookie and token, for the refusals below.
	res, body := get("/sign-in")
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil || len(res.Cookies()) == 0 {
		t.Fatalf("the sign-in page has no CSRF token or cookie:\n%s", body)
	}
	post := func(form url.Values, headers ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/sign-in", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range res.Cookies() {
			req.AddCookie(c)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	creds := url.Values{"email": {"nobody@example.com"}, "password": {userPassword}}
	withToken := url.Values{"email": creds["email"], "password": creds["password"], "csrf_token": {m[1]}}
	t.Run("ErrNoCSRFToken", func(t *testing.T) {
		if r := post(creds, "Origin", base, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusForbidden {
			t.Errorf("a same-origin POST without the token = %d, want 403", r.StatusCode)
		}
	})
	t.Run("ErrCrossOrigin", func(t *testing.T) {
		if r := post(withToken, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); r.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site POST with the token = %d, want 403", r.StatusCode)
		}
		if r := post(withToken, "Origin", "http://evil.example"); r.StatusCode != http.StatusForbidden {
			t.Errorf("a POST from another origin (no Sec-Fetch-Site) = %d, want 403", r.StatusCode)
		}
	})
	t.Run("OKSameOrigin", func(t *testing.T) {
		// The same form, same-origin and with the token, reaches the page
		// (which refuses the unknown user with 422, not 403).
		if r := post(withToken, "Origin", base, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("a genuine sign-in POST = %d, want 422", r.StatusCode)
		}
	})
}

// chromium returns the path of Chromium, or skips the test (fails it when
// KINKO_TEST_BROWSER=required).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium not found (apt-get install -y chromium); skipping the browser test"
	if os.Getenv(envBrowser) == "required" {
		t.Fatal(msg + ", but " + envBrowser + "=required")
	}
	t.Skip(msg)
	return ""
}

// catalog reads the pages' message catalog of a locale.
func catalog(t *testing.T, l auth.Locale) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "web", "i18n", string(l)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// tab drives one browser tab; every step fails the test on error.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) location() *url.URL {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func (b *tab) lang() auth.Locale {
	b.t.Helper()
	a, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	if err != nil {
		b.t.Fatal(err)
	}
	return auth.Locale(a.Value)
}

// shot saves a screenshot of the tab as NAME.png in $KINKO_TEST_SCREENSHOTS,
// when it is set.
func (b *tab) shot(name string) {
	b.t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// open navigates to path and waits for the page named page.
func (b *tab) open(path, page string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(`body[data-page="`+page+`"]`)))
}

// fill types into a form's fields (alternating selector and text).
func (b *tab) fill(fields ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		b.do("fill "+fields[i], chromedp.Clear(chromedp.CSS(fields[i])), chromedp.SendKeys(chromedp.CSS(fields[i]), fields[i+1]))
	}
}

// click clicks sel and waits until waitFor is visible.
func (b *tab) click(sel, waitFor string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

// startChromium starts headless Chromium for one test, bounded by wait,
// and returns the context of its first tab (the default browser context).
// It is stopped when the test ends.
func startChromium(t *testing.T, wait time.Duration) context.Context {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	// The flags keep Chromium off the network (it has none here) and off
	// any state but a fresh profile.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "ja-JP"),
		chromedp.Flag("accept-lang", "ja-JP,ja"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancel()
	})
	// The first run starts the browser; contexts made from this one (with
	// their own browser contexts) need it started.
	if err := chromedp.Do(tabCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return tabCtx
}

func TestBrowser(t *testing.T) {
	tabCtx := startChromium(t, browserWaitMax)
	srv, mail := startWebServe(t)
	b := &tab{t: t, ctx: tabCtx, base: "http://" + srv.addr}
	ja, en := catalog(t, auth.LocaleJa), catalog(t, auth.LocaleEn)
	const email = "buyer@example.com"

	b.open("/sign-up", "sign_up")
	if l := b.lang(); l != auth.LocaleJa {
		t.Fatalf("the first page is in %q, want ja (no lang cookie, Accept-Language ja)", l)
	}
	b.shot("sign-up")
	b.fill("#email", email, "#password", userPassword)
	b.click(`form[action="/sign-up"] button[type=submit]`, `body[data-page="check_mail"]`)

	mails := mail.all()
	if len(mails) != 1 || mails[0].To != email || mails[0].Subject != ja["mail.verify.subject"] {
		t.Fatalf("mail after sign-up: %+v", mails)
	}
	link := regexp.MustCompile(`http://\S+/verify\?token=[0-9A-Za-z]+`).FindString(mails[0].Text)
	if !strings.HasPrefix(link, b.base+"/verify?token=") {
		t.Fatalf("no link to this server in the mail:\n%s", mails[0].Text)
	}

	t.Run("ErrUnverified", func(t *testing.T) {
		b.open("/sign-in", "sign_in")
		b.fill("#email", email, "#password", userPassword)
		b.click(`form[action="/sign-in"] button[type=submit]`, "p.error")
		if got := b.text("p.error"); got != ja["sign_in.unverified"] {
			t.Fatalf("sign-in before verifying says %q", got)
		}
		b.do("the resend offer", chromedp.WaitVisible(chromedp.CSS(`form[action="/verify/resend"] button`)))
	})

	// The link shows a form; only sending it, with the password, verifies.
	b.do("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`body[data-page="verify"] form[action="/verify"] button`)))
	b.fill("#password", userPassword)
	b.click(`form[action="/verify"] button[type=submit]`, `body[data-page="sign_in"] p.notice`)
	if got := b.text("p.notice"); got != ja["notice.verified"] {
		t.Fatalf("after confirming: notice %q", got)
	}

	t.Run("ErrWrongPassword", func(t *testing.T) {
		b.open("/sign-in", "sign_in")
		b.fill("#email", email, "#password", "not my password")
		b.click(`form[action="/sign-in"] button[type=submit]`, "p.error")
		if got := b.text("p.error"); got != ja["sign_in.wrong"] {
			t.Fatalf("a wrong password says %q", got)
		}
		b.shot("sign-in-wrong-password")
	})

	b.open("/sign-in", "sign_in")
	b.fill("#email", email, "#password", userPassword)
	b.click(`form[action="/sign-in"] button[type=submit]`, `body[data-page="account"]`)
	if got := b.text("#account-email"); got != email {
		t.Fatalf("the account page shows %q, want %s", got, email)
	}

	// The language switch, to English and back, stays on the page.
	b.click(`form[action="/lang"] button[value="en"]`, `html[lang="en"] body[data-page="account"]`)
	if got := b.text("h1"); got != en["account.title"] {
		t.Fatalf("in English the account page's heading is %q", got)
	}
	b.shot("account-en")
	b.click(`form[action="/lang"] button[value="ja"]`, `html[lang="ja"] body[data-page="account"]`)
	if got := b.text("h1"); got != ja["account.title"] || b.location().Path != "/account" {
		t.Fatalf("back in Japanese: heading %q at %s", got, b.location())
	}

	b.click(`form[action="/sign-out"] button`, `body[data-page="home"] p.notice`)
	b.do("the account page after sign-out", chromedp.Navigate(b.base+"/account"), chromedp.WaitVisible(chromedp.CSS(`body[data-page="sign_in"]`)))

	t.Run("Console", func(t *testing.T) {
		b.do("open the console", chromedp.Navigate(b.base+"/console"), chromedp.WaitVisible(chromedp.CSS(`body[data-page="console_sign_in"]`)))
		b.fill("#email", "support@example.com", "#password", staffPassword)
		b.click(`form[action="/console/sign-in"] button[type=submit]`, `body[data-page="console_home"]`)
		if got := b.text("#staff-role"); got != ja["role.support"] {
			t.Fatalf("the console shows the role %q, want %q", got, ja["role.support"])
		}
		b.shot("console-home")
		b.click(`form[action="/console/lang"] button[value="en"]`, `html[lang="en"] body[data-page="console_home"]`)
		if got := b.text("#staff-role"); got != en["role.support"] {
			t.Fatalf("in English the console shows the role %q", got)
		}
	})
}
