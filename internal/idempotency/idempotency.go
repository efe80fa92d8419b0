// Package idempotency keeps the first response to each Idempotency-Key so that
// a retried request gets the same answer, byte for byte, instead of acting
// twice.
//
// Keys are scoped to an organization. A request that changes something keeps
// its response as the key's completed record in the transaction of its
// change (a Keep, run by the service; the ledger's batches for transfers),
// and one that changes nothing keeps it in one commit (Service.Keep): no
// crash can leave a change without its response. The routes where a rerun
// is harmless take the generic path instead: a claim before the request
// runs (Begin), completed with its response (Complete); a claim abandoned
// by a crash is taken over after ClaimTimeout. This package never imports
// net/http or a SQL driver; store adapters implement Store.
package idempotency

import (
	"context"
	"crypto/sha256"
	"time"
	"unicode/utf8"

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

// Response is what a record keeps of the first answer to its key.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// OrgKey names one record: keys are scoped to an organization.
type OrgKey struct {
	OrgID string
	Key   string
}

// Store is what idempotency needs of a database.
type Store interface {
	// IdempotencyByKey reads a key's record without writing. Errors: not_found.
	IdempotencyByKey(ctx context.Context, orgID, key string) (Record, error)
	// IdempotencyClaim inserts rec as a claim unless the key exists. When it
	// exists and is an unfinished claim created before staleBefore, it takes
	// the claim over (replacing the hash and time). It returns the record as
	// stored and whether the caller now holds the claim.
	IdempotencyClaim(ctx context.Context, rec Record, staleBefore time.Time) (Record, bool, error)
	// IdempotencyKeep is IdempotencyClaim for a request whose response is
	// known before its key is written (a refusal that changed nothing): it
	// inserts rec completed, or takes over a stale claim with it, in one
	// commit, and otherwise returns the record as stored and false.
	IdempotencyKeep(ctx context.Context, rec Record, staleBefore time.Time) (Record, bool, error)
	// IdempotencyComplete stores the response of a claim.
	IdempotencyComplete(ctx context.Context, rec Record) error
	// IdempotencyRelease deletes an unfinished claim, so a retry runs again.
	IdempotencyRelease(ctx context.Context, orgID, key string) error
	// IdempotencyDropClaim deletes key's record if it is still the
	// unfinished claim created at createdAt that its caller read (an
	// abandoned one); a claim taken over since, or a completed record, is
	// left alone.
	IdempotencyDropClaim(ctx context.Context, orgID, key string, createdAt time.Time) error
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

// ValidKey checks a key as a client sent it: 1 to KeyLenMax bytes of UTF-8
// (every store keeps such text byte for byte). Errors: invalid.
func ValidKey(key string) error {
	if key == "" || len(key) > KeyLenMax || !utf8.ValidString(key) {
		return apperr.Invalid("Idempotency-Key", "Idempotency-Key must be 1 to %d characters of UTF-8", KeyLenMax)
	}
	return nil
}

// Check answers a request with hash from the record already stored for its
// key: nil means replay rec's response. Errors: CodeKeyReused (another
// request had the key), CodeKeyInUse (its first request still runs).
func Check(rec Record, hash []byte) error {
	switch {
	case string(rec.RequestHash) != string(hash):
		return &apperr.Error{Code: CodeKeyReused, Param: "Idempotency-Key",
			Message: "this Idempotency-Key was used with another request; use a new key for a new request"}
	case !rec.Done:
		return &apperr.Error{Code: CodeKeyInUse, Param: "Idempotency-Key",
			Message: "a request with this Idempotency-Key is still being processed; retry later"}
	}
	return nil
}

// Keeps reports whether a response with status is the request's result, to
// be kept for its key. A 5xx is not (the outcome is unknown, so a retry runs
// again; the ledger's references keep that safe), nor is a refusal to act at
// all (403: a key without the scope), so another key may use it.
func Keeps(status int) bool {
	return status < 500 && status != 403
}

// Begin claims key for a request with hash. It returns (nil, nil) when the
// caller holds the claim and must run the request then Complete or Release it;
// a finished record to replay; or an error with CodeKeyReused, CodeKeyInUse or
// invalid.
func (s *Service) Begin(ctx context.Context, orgID, key string, hash []byte) (*Record, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	rec, claimed, err := s.store.IdempotencyClaim(ctx, Record{OrgID: orgID, Key: key, RequestHash: hash, CreatedAt: now}, now.Add(-ClaimTimeout))
	if err != nil {
		return nil, err
	}
	if claimed {
		return nil, nil
	}
	if err := Check(rec, hash); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Keep stores res as the response to key for a request with hash that
// changed nothing, in one commit: there is no claim to leave behind. It
// returns (nil, nil) when res was kept (or is not to be kept: see Keeps),
// or the record a request with hash answers from; or an error with
// CodeKeyReused, CodeKeyInUse or invalid, as Begin does.
func (s *Service) Keep(ctx context.Context, orgID, key string, hash []byte, res Response) (*Record, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	if !Keeps(res.Status) {
		// Not kept: a live claim or an answer still decides the reply.
		rec, err := s.Lookup(ctx, orgID, key)
		if err != nil || rec == nil || s.Abandoned(*rec) {
			return nil, err
		}
		if err := Check(*rec, hash); err != nil {
			return nil, err
		}
		return rec, nil
	}
	rec, kept, err := s.store.IdempotencyKeep(ctx, Record{OrgID: orgID, Key: key, RequestHash: hash, Done: true,
		Status: res.Status, ContentType: res.ContentType, Body: res.Body, CreatedAt: now}, now.Add(-ClaimTimeout))
	if err != nil {
		return nil, err
	}
	if kept {
		return nil, nil
	}
	if err := Check(rec, hash); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Lookup reads key's record without writing anything, for callers that
// check and keep keys in their own transaction (the ledger's transfer
// batches). It returns nil when the key has no record. Errors: invalid.
func (s *Service) Lookup(ctx context.Context, orgID, key string) (*Record, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	rec, err := s.store.IdempotencyByKey(ctx, orgID, key)
	if apperr.Is(err, apperr.CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// Abandoned reports whether rec is a claim old enough that Begin would take
// it over: its request crashed without completing or releasing it.
func (s *Service) Abandoned(rec Record) bool {
	return !rec.Done && rec.CreatedAt.Before(s.clock().Add(-ClaimTimeout))
}

// Complete stores the response of a claimed request.
func (s *Service) Complete(ctx context.Context, orgID, key string, hash []byte, status int, contentType string, body []byte) error {
	return s.store.IdempotencyComplete(ctx, Record{OrgID: orgID, Key: key, RequestHash: hash, Done: true, Status: status, ContentType: contentType, Body: body})
}

// Completed is the completed record of a request with hash whose response
// is res, stamped now: what a caller that keeps keys in its own
// transaction inserts.
func (s *Service) Completed(orgID, key string, hash []byte, res Response) Record {
	return Record{OrgID: orgID, Key: key, RequestHash: hash, Done: true, Status: res.Status, ContentType: res.ContentType, Body: res.Body,
		CreatedAt: s.clock().UTC().Truncate(time.Microsecond)}
}

// DropAbandoned deletes rec, an abandoned claim (Abandoned), unless it was
// taken over since: a request that keeps its key in its change's
// transaction then runs as if the key were new, and leaves no claim.
func (s *Service) DropAbandoned(ctx context.Context, rec Record) error {
	return s.store.IdempotencyDropClaim(ctx, rec.OrgID, rec.Key, rec.CreatedAt)
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
