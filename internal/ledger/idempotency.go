package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// KeyClaim carries a submission's Idempotency-Key into its batch, so that the
// key is checked and its response kept in the transaction that applies the
// transfers: one commit per keyed request instead of three (a claim, the
// batch, the completion).
type KeyClaim struct {
	OrgID       string
	Key         string
	RequestHash []byte
	// Render turns the submission's results into the response its caller
	// answers with, which the batch keeps for the key unless
	// idempotency.Keeps(status) says no. The caller provides it: the ledger
	// does not know the public shapes. It runs inside the batch's
	// transaction, once per attempt, so it must be quick and depend on its
	// argument alone.
	Render func([]TransferResult) idempotency.Response
}

// KeyedAnswer answers a keyed submission.
type KeyedAnswer struct {
	// Response is what to answer: rendered from Results, or kept by an
	// earlier request with the same key and request hash (Replayed).
	Response idempotency.Response
	Results  []TransferResult // nil when Replayed: nothing was applied
	Replayed bool
}

// SubmitKeyed applies reqs as one submission under an Idempotency-Key. In the
// batch, after the locks are held, the key's record is read: a record kept
// earlier (by this path or by idempotency.Service) answers the submission
// without applying it; otherwise the submission is applied and its rendered
// response kept as a completed record in the same transaction. Of two
// submissions with one key in one batch, the first is applied and the second
// refused as in use (ErrKeyInBatch), or as reused if its request differs.
//
// Errors: idempotency.CodeKeyReused (the key was used with another request
// hash), idempotency.CodeKeyInUse (a claim of the key is unfinished, however
// old: idempotency.Service takes abandoned claims over, so callers route keys
// with one to it; or, with ErrKeyInBatch, an earlier submission of the batch
// had the key), invalid (the key), and those of Submit.
func (e *Engine) SubmitKeyed(ctx context.Context, reqs []TransferRequest, claim KeyClaim) (KeyedAnswer, error) {
	if err := idempotency.ValidKey(claim.Key); err != nil {
		return KeyedAnswer{}, err
	}
	if claim.Render == nil || claim.OrgID == "" || !validText(claim.OrgID) || strings.ContainsRune(claim.Key, 0) {
		return KeyedAnswer{}, apperr.Invalid("Idempotency-Key", "a keyed submission needs an organization, a key without NUL and a renderer")
	}
	if len(reqs) == 0 {
		return KeyedAnswer{}, apperr.Invalid("transfers", "a keyed submission holds at least one transfer")
	}
	c := claim
	s, err := e.enqueue(ctx, reqs, false, &c)
	if err != nil {
		return KeyedAnswer{}, err
	}
	if err := e.wait(ctx, s); err != nil {
		return KeyedAnswer{}, err
	}
	if s.keyErr != nil {
		return KeyedAnswer{}, s.keyErr
	}
	if s.renderErr != nil {
		return KeyedAnswer{}, s.renderErr
	}
	return KeyedAnswer{Response: s.response, Results: s.results, Replayed: s.replayed}, nil
}

// loadKeys reads the records of the batch's keys; called after the locks.
func (b *batch) loadKeys(ctx context.Context, tx Tx, subs []*submission) error {
	var keys []idempotency.OrgKey
	for _, s := range subs {
		if s.claim != nil {
			keys = append(keys, idempotency.OrgKey{OrgID: s.claim.OrgID, Key: s.claim.Key})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b idempotency.OrgKey) int {
		if c := strings.Compare(a.OrgID, b.OrgID); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	recs, err := tx.IdempotencyByKeys(ctx, slices.Compact(keys))
	if err != nil {
		return fmt.Errorf("ledger: load idempotency keys: %w", err)
	}
	for i := range recs {
		r := recs[i]
		b.keys[idempotency.OrgKey{OrgID: r.OrgID, Key: r.Key}] = &r
	}
	return nil
}

// ErrKeyInBatch marks the refusal (idempotency.CodeKeyInUse) of a keyed
// submission whose key an earlier submission of the same batch used for
// the same request: the two arrived together, and the first is not
// answered yet. Unlike a claim's CodeKeyInUse it is final: a retry gets
// the first one's response.
var ErrKeyInBatch = errors.New("ledger: the Idempotency-Key's first request is in this batch")

// answerFromKey answers s from the record its key already has (kept before
// this batch, or by an earlier submission of it, which refuses s as in
// use: concurrent duplicates get 409, as with a claim) and reports whether
// it did.
func (b *batch) answerFromKey(s *submission) bool {
	rec := b.keys[idempotency.OrgKey{OrgID: s.claim.OrgID, Key: s.claim.Key}]
	if rec == nil {
		return false
	}
	if err := idempotency.Check(*rec, s.claim.RequestHash); err != nil {
		s.keyErr = err
		return true
	}
	if b.keptHere[idempotency.OrgKey{OrgID: s.claim.OrgID, Key: s.claim.Key}] {
		s.keyErr = errors.Join(ErrKeyInBatch, &apperr.Error{Code: idempotency.CodeKeyInUse, Param: "Idempotency-Key",
			Message: "a request with this Idempotency-Key arrived at the same moment and is being applied; retry to get its response"})
		return true
	}
	s.response = idempotency.Response{Status: rec.Status, ContentType: rec.ContentType, Body: rec.Body}
	s.replayed = true
	return true
}

// keep renders s's response and, unless it is not the request's result,
// records it for s's key.
func (b *batch) keep(s *submission) {
	s.response, s.renderErr = render(s)
	if s.renderErr != nil || !idempotency.Keeps(s.response.Status) {
		return
	}
	rec := idempotency.Record{OrgID: s.claim.OrgID, Key: s.claim.Key, RequestHash: s.claim.RequestHash, Done: true,
		Status: s.response.Status, ContentType: s.response.ContentType, Body: s.response.Body, CreatedAt: b.now}
	b.keys[idempotency.OrgKey{OrgID: rec.OrgID, Key: rec.Key}] = &rec
	b.keptHere[idempotency.OrgKey{OrgID: rec.OrgID, Key: rec.Key}] = true
	b.newKeys = append(b.newKeys, rec)
}

// render runs s's renderer on the engine's worker, where a panic would end
// the process and every caller queued behind it: a panic fails this
// submission's answer alone.
func render(s *submission) (resp idempotency.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = idempotency.Response{}, fmt.Errorf("ledger: render the response for Idempotency-Key %q: panic: %v", s.claim.Key, r)
		}
	}()
	return s.claim.Render(s.results), nil
}

// KeyedSubmission is one keyed submission of CommitKeyedBatch.
type KeyedSubmission struct {
	Reqs  []TransferRequest
	Claim KeyClaim
}

// CommitKeyedBatch is CommitBatch for keyed submissions: they commit, in
// order, as exactly one batch, so tests can put two with one key in it. It
// returns one answer and one error (the key's refusal) per submission, or an
// error when the batch failed.
func (e *Engine) CommitKeyedBatch(ctx context.Context, subs []KeyedSubmission) ([]KeyedAnswer, []error, error) {
	batch := make([]*submission, len(subs))
	n := 0
	for i, ks := range subs {
		c := ks.Claim
		batch[i] = &submission{reqs: append([]TransferRequest(nil), ks.Reqs...), claim: &c, managed: e.cfg.Managed, done: make(chan error, 1)}
		n += len(ks.Reqs)
	}
	if n == 0 {
		return nil, nil, apperr.Invalid("transfers", "a keyed submission holds at least one transfer")
	}
	e.commit(ctx, batch, n)
	answers, errs := make([]KeyedAnswer, len(subs)), make([]error, len(subs))
	for i, s := range batch {
		if err := <-s.done; err != nil {
			return nil, nil, err
		}
		answers[i], errs[i] = KeyedAnswer{Response: s.response, Results: s.results, Replayed: s.replayed}, cmp.Or(s.keyErr, s.renderErr)
	}
	return answers, errs, nil
}
