package web

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sign-in attempts are limited per email and client address, on each node:
// signInBurst attempts at once, then one per signInWindow/signInBurst. N
// nodes behind a balancer admit up to N times as many. Behind a proxy the
// client address is the proxy's, so the limit becomes per email.
const (
	signInBurst       = 10
	signInWindow      = 15 * time.Minute
	signInLimitersMax = 10000 // keys remembered; past that the limiter starts over
)

// limiter holds one token bucket per key, bounded to signInLimitersMax
// keys; past that it starts over, which at worst forgives some keys their
// recent attempts.
type limiter struct {
	clock   func() time.Time
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(clock func() time.Time) *limiter {
	return &limiter{clock: clock, buckets: map[string]*rate.Limiter{}}
}

// allowSignIn takes one attempt for the email from r's client address and
// reports whether it may go ahead.
func (l *limiter) allowSignIn(r *http.Request, area, email string) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	key := area + "\x00" + strings.ToLower(strings.TrimSpace(email)) + "\x00" + host
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= signInLimitersMax {
			l.buckets = map[string]*rate.Limiter{}
		}
		b = rate.NewLimiter(rate.Every(signInWindow/signInBurst), signInBurst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	return b.AllowN(l.clock(), 1)
}
