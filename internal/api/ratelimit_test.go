package api

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestRateLimitPerKey(t *testing.T) {
	s := New(Config{Auth: keys{"k1": {OrgID: "org_1", KeyID: "key_1"}, "k2": {OrgID: "org_1", KeyID: "key_2"}},
		RatePerKey: 1, BurstPerKey: 2})
	do := func(key string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/accounts", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		s.ServeHTTP(rec, req)
		return rec
	}
	// The key has no accounts scope: 403 proves the request got past the limiter.
	for range 2 {
		if rec := do("k1"); rec.Code != 403 {
			t.Fatalf("within the burst: %d %s", rec.Code, rec.Body)
		}
	}
	rec := do("k1")
	if rec.Code != 429 {
		t.Fatalf("over the burst: %d %s, want 429", rec.Code, rec.Body)
	}
	if secs, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	if rec := do("k2"); rec.Code != 403 {
		t.Fatalf("another key was limited too: %d", rec.Code)
	}
}

func TestLimiterRefills(t *testing.T) {
	l := newLimiter(10, 1)
	now := time.Now()
	if ok, _ := l.allow("k", now); !ok {
		t.Fatal("first request refused")
	}
	ok, wait := l.allow("k", now)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("second at once: ok=%v wait=%v, want refused for up to 100ms", ok, wait)
	}
	if ok, _ := l.allow("k", now.Add(100*time.Millisecond)); !ok {
		t.Fatal("refused after the bucket refilled")
	}
	if newLimiter(-1, 0) != nil {
		t.Fatal("a negative rate must turn limiting off")
	}
}
