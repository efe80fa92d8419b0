package audit

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Tx is the audit part of a database write transaction. Store adapters
// implement it on the same transaction type as ledger.Tx, so a product's
// transaction interface may embed both and append entries in the same commit
// as its transfers and its own state.
type Tx interface {
	// AuditHeadForUpdate locks the chain's head until the transaction ends
	// and returns it: the seq and hash of the last entry, or 0 and an empty
	// hash when the log is empty. Every appender takes this one lock, so
	// appends are serialised across processes and nodes.
	AuditHeadForUpdate(ctx context.Context) (seq int64, hash []byte, err error)
	// AuditInsert inserts entries, numbered consecutively from the head read
	// in this transaction, and moves the head to the last of them. It fails
	// the transaction if the head is not where the first entry expects.
	AuditInsert(ctx context.Context, entries []Entry) error
}

// Store is what the audit log needs of a database. Adapters in
// internal/store implement it; store/storetest checks that they all behave
// alike.
type Store interface {
	// AuditTransact runs fn in one write transaction and commits it. Like
	// ledger.Store's Transact it may retry fn, a bounded number of times, on a
	// conflict a retry can resolve; fn must rebuild its state on each call.
	AuditTransact(ctx context.Context, fn func(Tx) error) error
	// AuditList returns one page of the entries f selects, in seq order
	// (descending when f.Newest).
	AuditList(ctx context.Context, f Filter) ([]Entry, error)
	// AuditScan calls fn for every entry with a seq above afterSeq, in seq
	// order, from one snapshot. An error from fn stops the scan and is
	// returned.
	AuditScan(ctx context.Context, afterSeq int64, fn func(Entry) error) error
	// AuditHead returns the head as committed: the seq and hash of the last
	// entry, or 0 and an empty hash when the log is empty.
	AuditHead(ctx context.Context) (seq int64, hash []byte, err error)
}

// Filter selects one page of entries. The subject and organization filters
// combine with AND.
type Filter struct {
	SubjectType string // "" for every subject; required with SubjectID
	SubjectID   string // "" for every subject of SubjectType
	OrgID       string // "" for every organization (and none)
	AfterSeq    int64  // only entries with a greater seq; 0 for no bound
	BeforeSeq   int64  // only entries with a smaller seq; 0 for no bound
	Newest      bool   // newest first (seq descending) instead of oldest first
	Limit       int    // 1..PageLimitMax
}

// Append chains entries onto the log inside tx, the caller's write
// transaction, and returns them as stored. It takes the head's lock, numbers
// the entries after it, stamps them all with now (truncated to microseconds,
// UTC) and hashes each onto the one before. Appending nothing does nothing.
//
// The head's lock is held until tx ends and every appender waits for it, so
// call Append last in a transaction, after its other locks and writes: the
// wait is then shortest and lock order is the same everywhere.
//
// Errors: invalid (see Entry's fields and the bounds), or the store's.
func Append(ctx context.Context, tx Tx, now time.Time, entries ...Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	out, err := prepare(entries)
	if err != nil {
		return nil, err
	}
	return appendPrepared(ctx, tx, now, out)
}

// appendPrepared is Append on entries prepare has returned; it fills them in.
func appendPrepared(ctx context.Context, tx Tx, now time.Time, entries []Entry) ([]Entry, error) {
	seq, prev, err := tx.AuditHeadForUpdate(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read head: %w", err)
	}
	// The head must look like one: a broken invariant stops the write.
	if seq < 0 || (seq == 0) != (len(prev) == 0) || (seq > 0 && len(prev) != HashLen) {
		return nil, fmt.Errorf("audit: the head is corrupt (seq %d, %d-byte hash); run kinko verify", seq, len(prev))
	}
	at := now.UTC().Truncate(time.Microsecond)
	for i := range entries {
		e := &entries[i]
		seq++
		e.Seq, e.At, e.PrevHash = seq, at, bytes.Clone(prev)
		if e.PrevHash == nil {
			e.PrevHash = []byte{}
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
	}
	if err := tx.AuditInsert(ctx, entries); err != nil {
		return nil, fmt.Errorf("audit: insert entries: %w", err)
	}
	return entries, nil
}

// Service records and reads the audit log.
type Service struct {
	store Store
	clock func() time.Time
}

// NewService returns a Service on store; clock nil means time.Now.
func NewService(store Store, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{store: store, clock: clock}
}

// Record appends entries in a transaction of their own, for actions that
// change nothing in the database. An action that changes data in a
// transaction must use Append inside it instead, so the entry commits if and
// only if the change does (as the staff and membership changes of
// internal/auth do).
//
// Errors: invalid (see Append), or the store's.
func (s *Service) Record(ctx context.Context, entries ...Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	prepared, err := prepare(entries)
	if err != nil {
		return nil, err
	}
	var out []Entry
	err = s.store.AuditTransact(ctx, func(tx Tx) error {
		attempt := make([]Entry, len(prepared)) // a retry starts from the prepared entries again
		copy(attempt, prepared)
		var err error
		out, err = appendPrepared(ctx, tx, s.clock(), attempt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: record: %w", err)
	}
	return out, nil
}

// FindEntries returns one page of entries.
//
// Errors: invalid (limit, subject_type, subject_id, org_id, after_seq,
// before_seq).
func (s *Service) FindEntries(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be between 1 and %d", PageLimitMax)
	}
	if f.SubjectType != "" && (len(f.SubjectType) > SubjectTypeLenMax || !subjectTypePattern.MatchString(f.SubjectType)) {
		return nil, apperr.Invalid("subject_type", "subject type must be a lower-case word such as staff_user, at most %d bytes", SubjectTypeLenMax)
	}
	if f.SubjectID != "" && f.SubjectType == "" {
		return nil, apperr.Invalid("subject_id", "a subject id needs its subject type")
	}
	if err := checkID("subject_id", f.SubjectID, false); err != nil {
		return nil, err
	}
	if err := checkID("org_id", f.OrgID, false); err != nil {
		return nil, err
	}
	if f.AfterSeq < 0 {
		return nil, apperr.Invalid("after_seq", "after_seq must not be negative")
	}
	if f.BeforeSeq < 0 {
		return nil, apperr.Invalid("before_seq", "before_seq must not be negative")
	}
	out, err := s.store.AuditList(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("audit: list entries: %w", err)
	}
	return out, nil
}
