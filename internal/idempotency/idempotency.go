// Package idempotency keeps the first response to each Idempotency-Key so that
// a retried request gets the same answer, byte for byte, instead of acting
// twice.
//
// Keys are scoped to an organization. A record is claimed before the request
// runs and completed with its response; a claim abandoned by a crash is taken
// over after ClaimTimeout. This package never imports net/http or a SQL
// driver; store adapters implement Store.
package idempotency

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds.
const (
	KeyLenMax    = 255
	Retention    = 24 * time.Hour  // a completed key answers retries for at least this long
	ClaimTimeout = 2 * time.Minute // a claim older than this was abandoned (longer than any request may run)
)

// Stable error codes.
const (
	CodeKeyReused = "idempotency_key_reused" // same key, another request
	CodeKeyInUse  = "idempotency_key_in_use" // same key, the first request still runs
)

// Record is one key's state.
type Record struct {
	OrgID       string
	Key         string
	RequestHash []byte
	Done        bool
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}

// Store is what idempotency needs of a database.
type Store interface {
	// IdempotencyClaim inserts rec as a claim unless the key exists. When it
	// exists and is an unfinished claim created before staleBefore, it takes
	// the claim over (replacing the hash and time). It returns the record as
	// stored and whether the caller now holds the claim.
	IdempotencyClaim(ctx context.Context, rec Record, staleBefore time.Time) (Record, bool, error)
	// IdempotencyComplete stores the response of a claim.
	IdempotencyComplete(ctx context.Context, rec Record) error
	// IdempotencyRelease deletes an unfinished claim, so a retry runs again.
	IdempotencyRelease(ctx context.Context, orgID, key string) error
	// IdempotencyPurge deletes records created before cutoff, at most limit, and returns how many.
	IdempotencyPurge(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// Service claims, completes and replays keys.
type Service struct {
	store Store
	clock func() time.Time
}

// NewService returns a service on store; clock nil means time.Now.
func NewService(store Store, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{store: store, clock: clock}
}

// Hash identifies a request: what a retry must repeat exactly.
func Hash(method, path string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// Begin claims key for a request with hash. It returns (nil, nil) when the
// caller holds the claim and must run the request then Complete or Release it;
// a finished record to replay; or an error with CodeKeyReused, CodeKeyInUse or
// invalid.
func (s *Service) Begin(ctx context.Context, orgID, key string, hash []byte) (*Record, error) {
	if key == "" || len(key) > KeyLenMax {
		return nil, apperr.Invalid("Idempotency-Key", "Idempotency-Key must be 1 to %d characters", KeyLenMax)
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	rec, claimed, err := s.store.IdempotencyClaim(ctx, Record{OrgID: orgID, Key: key, RequestHash: hash, CreatedAt: now}, now.Add(-ClaimTimeout))
	if err != nil {
		return nil, err
	}
	switch {
	case claimed:
		return nil, nil
	case string(rec.RequestHash) != string(hash):
		return nil, &apperr.Error{Code: CodeKeyReused, Param: "Idempotency-Key",
			Message: "this Idempotency-Key was used with another request; use a new key for a new request"}
	case !rec.Done:
		return nil, &apperr.Error{Code: CodeKeyInUse, Param: "Idempotency-Key",
			Message: "a request with this Idempotency-Key is still being processed; retry later"}
	}
	return &rec, nil
}

// Complete stores the response of a claimed request.
func (s *Service) Complete(ctx context.Context, orgID, key string, hash []byte, status int, contentType string, body []byte) error {
	return s.store.IdempotencyComplete(ctx, Record{OrgID: orgID, Key: key, RequestHash: hash, Done: true, Status: status, ContentType: contentType, Body: body})
}

// Release gives a claim up so that a retry runs the request again.
func (s *Service) Release(ctx context.Context, orgID, key string) error {
	return s.store.IdempotencyRelease(ctx, orgID, key)
}

// PurgeBatch bounds one purge step.
const PurgeBatch = 10000

// Purge deletes records older than Retention and returns how many.
func (s *Service) Purge(ctx context.Context) (int, error) {
	total := 0
	cutoff := s.clock().Add(-Retention)
	for {
		n, err := s.store.IdempotencyPurge(ctx, cutoff, PurgeBatch)
		total += n
		if err != nil || n < PurgeBatch {
			return total, err
		}
	}
}
