package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/kinko-pay/kinko/internal/store"
)

// Bounds of group writes.
const (
	groupWriteQueueMax = 4096 // queued operations; callers wait beyond it
	groupWriteBatchMax = 512  // operations per transaction
)

// errGroupWriterClosed answers operations queued after Close.
var errGroupWriterClosed = errors.New("sqlite: store closed")

// groupOp is one small write: fn runs inside the shared transaction, in its
// own savepoint.
type groupOp struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// groupWriter gathers small independent writes (idempotency records, a
// key's last use) into one transaction per batch, as the ledger engine does
// for transfers: SQLite has one writer and a commit costs an fsync, so one
// transaction per request would bound the API at a few hundred writes a
// second. Every caller is answered after the batch commits.
type groupWriter struct {
	db    *DB
	queue chan groupOp

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

func newGroupWriter(db *DB) *groupWriter {
	g := &groupWriter{db: db, queue: make(chan groupOp, groupWriteQueueMax)}
	g.wg.Add(1)
	go g.run()
	return g
}

// do runs fn in the next batch and returns its error, or the batch's. fn
// gets the batch's context, not the caller's: one caller's cancellation must
// not interrupt a statement of the shared transaction.
// fn may run more than once if the batch is retried, so it must only write
// what it is given and set results the last run overwrites.
func (g *groupWriter) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	op := groupOp{fn: fn, done: make(chan error, 1)}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return errGroupWriterClosed
	}
	select {
	case g.queue <- op:
	case <-ctx.Done():
		g.mu.RUnlock()
		return ctx.Err()
	}
	g.mu.RUnlock()
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *groupWriter) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *groupWriter) run() {
	defer g.wg.Done()
	for first := range g.queue {
		ops := []groupOp{first}
	gather:
		for len(ops) < groupWriteBatchMax {
			select {
			case op, ok := <-g.queue:
				if !ok {
					break gather
				}
				ops = append(ops, op)
			default:
				break gather
			}
		}
		g.commit(ops)
	}
}

// commit runs ops in one transaction; each op's failure is rolled back to
// its savepoint and reported to it alone.
func (g *groupWriter) commit(ops []groupOp) {
	errs := make([]error, len(ops))
	ctx := context.Background()
	err := store.Retry(ctx, retryable, func() error {
		tx, err := g.db.write.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		defer tx.Rollback()
		for i, op := range ops {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
				return fmt.Errorf("sqlite: savepoint: %w", err)
			}
			errs[i] = op.fn(ctx, tx)
			if errs[i] != nil {
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
					return fmt.Errorf("sqlite: rollback to savepoint: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE op"); err != nil {
				return fmt.Errorf("sqlite: release savepoint: %w", err)
			}
		}
		return tx.Commit()
	})
	for i, op := range ops {
		if err != nil {
			op.done <- err
		} else {
			op.done <- errs[i]
		}
	}
}
