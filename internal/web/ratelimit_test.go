package web

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestSignInLimiter: a flood of attempts with made-up emails does not
// forgive a guessed account its attempts; many addresses do not multiply
// the guesses at one account past its per-email bucket; one IPv6 /64 is one
// client.
func TestSignInLimiter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := newLimiter(func() time.Time { return now })
	attempt := func(addr, email string) bool {
		r := httptest.NewRequest("POST", "/sign-in", nil)
		r.RemoteAddr = addr
		return l.allowSignIn(r, "portal", email)
	}

	t.Run("ErrFloodForgivesNothing", func(t *testing.T) {
		for i := range signInBurst {
			if !attempt("192.0.2.1:1000", "victim@example.com") {
				t.Fatalf("attempt %d refused", i)
			}
		}
		if attempt("192.0.2.1:1000", "victim@example.com") {
			t.Fatal("an attempt past the burst went ahead")
		}
		for i := range signInLimitersMax {
			attempt(fmt.Sprintf("198.51.100.%d:1", i%250), fmt.Sprintf("junk%d@example.com", i))
		}
		if attempt("192.0.2.1:1000", "victim@example.com") {
			t.Fatal("a flood of made-up emails reset the guessed account's limit")
		}
	})
	t.Run("ErrManyAddresses", func(t *testing.T) {
		l.buckets = map[string]*rate.Limiter{}
		n := 0
		for i := range 5 * signInBurst {
			if attempt(fmt.Sprintf("203.0.113.%d:1", i), "target@example.com") {
				n++
			}
		}
		if n != signInEmailBurst {
			t.Fatalf("%d attempts from %d addresses went ahead, want %d (the per-email burst)", n, 5*signInBurst, signInEmailBurst)
		}
	})
	t.Run("ErrOneIPv6Network", func(t *testing.T) {
		l.buckets = map[string]*rate.Limiter{}
		n := 0
		for i := range 2 * signInBurst {
			if attempt(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), "v6@example.com") {
				n++
			}
		}
		if n != signInBurst {
			t.Fatalf("%d attempts from one /64 went ahead, want %d", n, signInBurst)
		}
	})
}
