package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Rate limits are per API key and per node: each node keeps its own token
// buckets, so N nodes admit up to N times the rate. Defaults suit one key
// driving a busy integration; operators lower them with kinko serve flags.
const (
	RatePerKeyDefault  = 10000 // requests per second, steady
	BurstPerKeyDefault = 20000 // requests at once after a quiet spell
	limitersMax        = 100000
)

const codeRateLimited = "rate_limited"

// limiter holds one token bucket per key, bounded to limitersMax keys; past
// that it starts over, which at worst forgives some keys their recent use.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for key, or says how long until one is free.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= limitersMax {
			l.buckets = map[string]*rate.Limiter{}
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimited is the error for a key over its rate; it sets Retry-After.
func rateLimited(w http.ResponseWriter, wait time.Duration) error {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	return &apperr.Error{Code: codeRateLimited, Message: "too many requests for this API key; retry after the number of seconds in Retry-After"}
}
