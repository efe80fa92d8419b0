package auth

import (
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
)

func TestLocaleValidate(t *testing.T) {
	for _, l := range Locales {
		if err := l.Validate(); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	for _, bad := range []Locale{"", "JA", "en-US", "fr"} {
		if err := bad.Validate(); !apperr.Is(err, apperr.CodeInvalid) {
			t.Errorf("Validate(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestSessionTokens(t *testing.T) {
	a, b := newSessionToken(), NewCSRFToken()
	if len(a) != sessionTokenLen || len(b) != sessionTokenLen || a == b {
		t.Fatalf("tokens %q, %q: want two different %d-character tokens", a, b, sessionTokenLen)
	}
	for _, k := range []SessionKind{SessionUser, SessionStaff} {
		idle, lifetime, ok := k.bounds()
		if !ok || idle <= SessionTouchResolution || lifetime <= idle {
			t.Errorf("%s: idle %s, lifetime %s: want resolution < idle < lifetime", k, idle, lifetime)
		}
	}
	if _, _, ok := SessionKind("robot").bounds(); ok {
		t.Error("an unknown kind has bounds")
	}
	s := Session{CSRFToken: b}
	if !s.CheckCSRF(b) || s.CheckCSRF(a) || s.CheckCSRF("") || (Session{}).CheckCSRF("") {
		t.Error("CheckCSRF accepts a wrong token or refuses the right one")
	}
}
