package web

import (
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/deals/dl_1":                          "/deals/dl_1",
		"/deals?after=dl_9":                    "/deals?after=dl_9",
		"":                                     "",
		"deals":                                "",
		"//evil.example/x":                     "",
		"/\\evil.example":                      "",
		"https://evil.example":                 "",
		"/a\r\nSet-Cookie: x":                  "",
		"/" + string(make([]byte, nextLenMax)): "",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// A signed-out visitor who follows a deal's link in mail comes back to the
// deal after signing in.
func TestSignInReturnsToThePageAsked(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	f.signUpVerified(b, "next@example.com")
	wantRedirect(t, "a deal signed out", b.get("/deals/dl_1"), "/sign-in?next=%2Fdeals%2Fdl_1")
	page := b.get("/sign-in?next=%2Fdeals%2Fdl_1")
	wantContains(t, "the sign-in form", page.body, `name="next" value="/deals/dl_1"`)
	wantRedirect(t, "sign in", b.post("/sign-in", form(t, page, "email", "next@example.com", "password", pw, "next", "/deals/dl_1")), "/deals/dl_1")

	other := f.browser()
	f.signUpVerified(other, "elsewhere@example.com")
	page = other.get("/sign-in?next=%2F%2Fevil.example")
	if strings.Contains(page.body, `value="//evil.example"`) {
		t.Fatal("the sign-in form carries a next page on another host")
	}
	wantRedirect(t, "sign in with a foreign next", other.post("/sign-in", form(t, page, "email", "elsewhere@example.com", "password", pw, "next", "//evil.example")), "/account")
}
