package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Config bounds the engine. Zero fields take the defaults below.
type Config struct {
	// BatchMax bounds the requests in one database transaction, and so the
	// length of one submission. Default 4096.
	BatchMax int
	// BatchWait is how long a worker lingers for more requests after the first
	// before committing a batch that is not full. Default 0: a batch takes
	// whatever queued while the previous one committed, which already groups
	// well under load and adds no latency when idle.
	BatchWait time.Duration
	// Workers is how many batches may commit at once. SQLite has one writer,
	// so 1 is right there; PostgreSQL gains from a few. Default 1.
	Workers int
	// QueueMax bounds submissions waiting for a worker; Submit blocks beyond
	// it. Default 16384.
	QueueMax int
	// CommitTimeout bounds one batch's transaction, retries included, so a
	// stuck database fails the batch's callers (outcome unknown: retry with
	// the same references) instead of holding them, and Close, forever.
	// Default 30s.
	CommitTimeout time.Duration
	// Clock is read once per transaction attempt. Default time.Now.
	Clock func() time.Time
	// Observe, when set, is called after each batch commits or fails.
	Observe func(BatchStats)
	// Managed, when set, names the accounts products keep (escrow's,
	// billing's). Only the product moves them, in its own transaction
	// through a Writer, by its own rules: Submit, SubmitKeyed and
	// CommitBatch refuse a transfer that touches one (including posting or
	// voiding a hold between two), with ResultAccountManaged, and
	// CreateAccounts refuses to open one. Nil: none.
	Managed func(owner, reference string) bool
	// Events renders each new account and transfer as the data of its event,
	// which is written in the same transaction (package event). Nil writes no
	// events: only tests of the ledger alone leave it unset.
	Events EventEncoder
}

// EventEncoder renders ledger objects as event data: a JSON object, the
// object as the API shows it. The API provides it; the ledger does not know
// the public shapes.
type EventEncoder interface {
	TransferEventData(Transfer) []byte
	AccountEventData(Account) []byte
}

// BatchStats describes one committed (or failed) batch.
type BatchStats struct {
	Requests int
	Commit   time.Duration // from the start of the transaction to its end
	Err      error
}

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("ledger: engine closed")

// Engine applies transfers by group commit: concurrent submissions are
// gathered into one transaction per batch, each caller learns its own results
// only after its batch has committed, and a rejected request never fails its
// neighbours. An Engine is safe for concurrent use; several engines (in one
// process or on several nodes) may share one store.
type Engine struct {
	store      Store
	cfg        Config
	ids        idAllocator // transfers
	accountIDs idAllocator

	mu     sync.RWMutex
	closed bool
	queue  chan *submission
	wg     sync.WaitGroup
}

// NewEngine starts an engine's workers on store. Call Close to stop them.
func NewEngine(store Store, cfg Config) *Engine {
	if cfg.BatchMax <= 0 {
		cfg.BatchMax = 4096
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.QueueMax <= 0 {
		cfg.QueueMax = 16384
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	e := &Engine{
		store:      store,
		cfg:        cfg,
		ids:        idAllocator{store: store, sequence: "transfer"},
		accountIDs: idAllocator{store: store, sequence: "account"},
		queue:      make(chan *submission, cfg.QueueMax),
	}
	for range cfg.Workers {
		e.wg.Add(1)
		go e.work()
	}
	return e
}

// Store returns the store the engine writes to.
func (e *Engine) Store() Store { return e.store }

// Now is the engine's clock, truncated to the microsecond that every store keeps.
func (e *Engine) Now() time.Time { return e.cfg.Clock().UTC().Truncate(time.Microsecond) }

// Close stops accepting submissions, commits those already queued and waits
// for the workers to finish.
func (e *Engine) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Submit applies reqs as one caller's submission and returns one result per
// request, in order. It returns an error only when the outcome is unknown or
// nothing was tried (the database failed, ctx ended, the engine is closed);
// then retrying with the same references is safe.
func (e *Engine) Submit(ctx context.Context, reqs []TransferRequest) ([]TransferResult, error) {
	return e.submit(ctx, reqs, false)
}

// CreateTransfer applies one request.
func (e *Engine) CreateTransfer(ctx context.Context, req TransferRequest) (TransferResult, error) {
	res, err := e.submit(ctx, []TransferRequest{req}, false)
	if err != nil {
		return TransferResult{}, err
	}
	return res[0], nil
}

func (e *Engine) submit(ctx context.Context, reqs []TransferRequest, internal bool) ([]TransferResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	s, err := e.enqueue(ctx, reqs, internal, nil)
	if err != nil {
		return nil, err
	}
	if err := e.wait(ctx, s); err != nil {
		return nil, err
	}
	return s.results, nil
}

// enqueue queues reqs as one submission, with claim when keyed.
func (e *Engine) enqueue(ctx context.Context, reqs []TransferRequest, internal bool, claim *KeyClaim) (*submission, error) {
	if len(reqs) > e.cfg.BatchMax {
		return nil, apperr.Invalid("transfers", "a submission holds at most %d transfers", e.cfg.BatchMax)
	}
	s := &submission{reqs: make([]TransferRequest, len(reqs)), internal: internal, claim: claim, done: make(chan error, 1)}
	if !internal {
		s.managed = e.cfg.Managed
	}
	copy(s.reqs, reqs)
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case e.queue <- s:
	case <-ctx.Done():
		e.mu.RUnlock()
		return nil, ctx.Err()
	}
	e.mu.RUnlock()
	return s, nil
}

// wait waits for s's batch to commit or fail.
func (e *Engine) wait(ctx context.Context, s *submission) error {
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		// The batch may still commit; a retry with the same references is safe.
		return ctx.Err()
	}
}

func (e *Engine) work() {
	defer e.wg.Done()
	var carry *submission
	for {
		first := carry
		carry = nil
		if first == nil {
			s, ok := <-e.queue
			if !ok {
				return
			}
			first = s
		}
		subs := []*submission{first}
		n := len(first.reqs)
		var timer <-chan time.Time
		if e.cfg.BatchWait > 0 {
			timer = time.After(e.cfg.BatchWait)
		}
	gather:
		for n < e.cfg.BatchMax {
			var s *submission
			var ok bool
			if timer == nil {
				select {
				case s, ok = <-e.queue:
				default:
					break gather
				}
			} else {
				select {
				case s, ok = <-e.queue:
				case <-timer:
					break gather
				}
			}
			if !ok {
				break
			}
			if n+len(s.reqs) > e.cfg.BatchMax {
				carry = s
				break
			}
			subs = append(subs, s)
			n += len(s.reqs)
		}
		// The batch belongs to all its callers, so no one caller's context
		// may cancel it; only the engine's own bound does.
		e.commit(context.Background(), subs, n)
	}
}

// commit runs one batch in one transaction, bounded by CommitTimeout under
// parent, and answers its callers.
func (e *Engine) commit(parent context.Context, subs []*submission, n int) {
	ctx, cancel := context.WithTimeout(parent, e.cfg.CommitTimeout)
	defer cancel()
	start := time.Now()
	ids, err := e.ids.reserve(ctx, int64(n))
	if err == nil {
		err = e.store.Transact(ctx, func(tx Tx) error {
			ids.reset()
			return applyBatch(ctx, tx, e.Now(), &ids, subs, e.cfg.Events)
		})
	}
	if err != nil {
		err = fmt.Errorf("ledger: commit batch of %d: %w", n, err)
	} else {
		e.ids.release(ids)
	}
	if e.cfg.Observe != nil {
		e.cfg.Observe(BatchStats{Requests: n, Commit: time.Since(start), Err: err})
	}
	for _, s := range subs {
		s.done <- err
	}
}

// CommitBatch applies the given submissions, in order, as exactly one batch
// and returns their results. It bypasses the queue, so tests and tools can
// drive batches deterministically; it is otherwise the same path the workers
// take. The batch has one caller, so ctx may cancel it.
func (e *Engine) CommitBatch(ctx context.Context, reqs [][]TransferRequest) ([][]TransferResult, error) {
	subs := make([]*submission, len(reqs))
	n := 0
	for i, r := range reqs {
		subs[i] = &submission{reqs: append([]TransferRequest(nil), r...), managed: e.cfg.Managed, done: make(chan error, 1)}
		n += len(r)
	}
	if n == 0 {
		return make([][]TransferResult, len(reqs)), nil
	}
	e.commit(ctx, subs, n)
	out := make([][]TransferResult, len(subs))
	for i, s := range subs {
		if err := <-s.done; err != nil {
			return nil, err
		}
		out[i] = s.results
	}
	return out, nil
}
