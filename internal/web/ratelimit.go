package web

import (
	"cmp"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sign-in attempts are limited on each node, twice: per email and client
// address, signInBurst attempts at once, then one per
// signInWindow/signInBurst; and per email from any address,
// signInEmailBurst at once, then one per signInWindow/signInEmailBurst, so
// that guessing one account's password from many addresses gains little.
// An IPv6 client counts by its /64, which one host usually holds whole. N
// nodes behind a balancer admit up to N times as many. Behind a proxy the
// client address is the proxy's, so the first limit becomes per email too.
const (
	signInBurst       = 10
	signInEmailBurst  = 30
	signInWindow      = 15 * time.Minute
	signInLimitersMax = 100000 // buckets remembered (each ~200 bytes)
)

// limiter holds one token bucket per key, at most signInLimitersMax. A full
// limiter forgets the buckets with the most tokens left first: the refilled
// ones (forgetting them forgives nothing), then those with one attempt
// spent, and so on, so that a flood of attempts with made-up emails, each
// spending one token, never forgives an account that was guessed at.
type limiter struct {
	clock   func() time.Time
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(clock func() time.Time) *limiter {
	return &limiter{clock: clock, buckets: map[string]*rate.Limiter{}}
}

// allowSignIn takes one attempt for the email from r's client address and
// reports whether it may go ahead: both its buckets must have a token.
func (l *limiter) allowSignIn(r *http.Request, area, email string) bool {
	email = strings.ToLower(strings.TrimSpace(email))
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	byAddr := l.bucket(now, area+"\x00"+email+"\x00"+clientKey(r), signInBurst, signInWindow)
	byEmail := l.bucket(now, area+"\x00"+email, signInEmailBurst, signInWindow)
	if byAddr.TokensAt(now) < 1 || byEmail.TokensAt(now) < 1 {
		return false
	}
	return byAddr.AllowN(now, 1) && byEmail.AllowN(now, 1)
}

// Mail the portal sends at anyone's request is limited on each node too:
// the mail to an address's owner that someone tried to sign up with it
// (else a script mails anyone who has an account, as often as it likes),
// and deals a user creates, each of which mails an invitation to an
// address the user typed.
const (
	accountExistsMailBurst  = 3
	accountExistsMailWindow = 24 * time.Hour
	dealsPerUserBurst       = 20
	dealsPerUserWindow      = time.Hour
)

// allow takes one token from key's bucket (burst tokens, refilled over
// window) and reports whether there was one.
func (l *limiter) allow(key string, burst int, window time.Duration) bool {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(now, key, burst, window).AllowN(now, 1)
}

// bucket returns key's bucket, making one of burst tokens refilled over
// window if there is none.
func (l *limiter) bucket(now time.Time, key string, burst int, window time.Duration) *rate.Limiter {
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= signInLimitersMax {
			l.evict(now)
		}
		b = rate.NewLimiter(rate.Every(window/time.Duration(burst)), burst)
		l.buckets[key] = b
	}
	return b
}

// evict makes room down to nine tenths of signInLimitersMax, forgetting
// the buckets with the most tokens left (relative to their burst) first.
func (l *limiter) evict(now time.Time) {
	type entry struct {
		key  string
		left float64 // tokens left as a share of the burst
	}
	all := make([]entry, 0, len(l.buckets))
	for k, b := range l.buckets {
		all = append(all, entry{k, b.TokensAt(now) / float64(b.Burst())})
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(b.left, a.left) })
	for _, e := range all {
		if len(l.buckets) < signInLimitersMax*9/10 {
			break
		}
		delete(l.buckets, e.key)
	}
}

// clientKey is the part of the key that names the client: its address, or
// the /64 of an IPv6 address.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
