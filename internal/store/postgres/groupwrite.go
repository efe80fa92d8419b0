package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Bounds of group writes.
const (
	groupWriteQueueMax = 4096 // queued operations; callers wait beyond it
	groupWriteBatchMax = 256  // statements per transaction
	groupWriteWorkers  = 2    // batches in flight at once
)

var errGroupWriterClosed = errors.New("postgres: store closed")

// groupOp is one small write of one statement; scan, when set, reads its rows.
type groupOp struct {
	sql   string
	args  []any
	scan  func(pgx.Rows) error          // for statements that return rows
	check func(pgconn.CommandTag) error // for statements that do not
	done  chan error
}

// groupWriter sends small independent writes (idempotency records) as one
// pipelined transaction per batch instead of one commit each: every commit
// waits for a WAL flush, and one per request bounds the API. If any
// statement of a batch fails, the batch is rolled back and each operation is
// run on its own, so one failure never fails its neighbours.
type groupWriter struct {
	db    *DB
	queue chan *groupOp

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

func newGroupWriter(db *DB) *groupWriter {
	g := &groupWriter{db: db, queue: make(chan *groupOp, groupWriteQueueMax)}
	for range groupWriteWorkers {
		g.wg.Add(1)
		go g.run()
	}
	return g
}

// do runs one statement in the next batch and returns its error.
func (g *groupWriter) do(ctx context.Context, op *groupOp) error {
	op.done = make(chan error, 1)
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
		ops := []*groupOp{first}
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

func (g *groupWriter) commit(ops []*groupOp) {
	ctx := context.Background()
	if len(ops) > 1 {
		if err := g.together(ctx, ops); err == nil {
			for _, op := range ops {
				op.done <- nil
			}
			return
		}
	}
	// Alone: the batch failed (or there is one), so each statement gets its
	// own transaction and its own answer.
	for _, op := range ops {
		op.done <- g.alone(ctx, op)
	}
}

// together runs every op in one transaction, pipelined in one round trip.
func (g *groupWriter) together(ctx context.Context, ops []*groupOp) error {
	tx, err := g.db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	b := &pgx.Batch{}
	for _, op := range ops {
		q := b.Queue(op.sql, op.args...)
		switch {
		case op.scan != nil:
			q.Query(op.scan)
		case op.check != nil:
			q.Exec(op.check)
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// alone runs one op in its own transaction, committed only if its statement
// and its check both pass.
func (g *groupWriter) alone(ctx context.Context, op *groupOp) error {
	tx, err := g.db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if op.scan == nil {
		tag, err := tx.Exec(ctx, op.sql, op.args...)
		if err == nil && op.check != nil {
			err = op.check(tag)
		}
		if err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	rows, err := tx.Query(ctx, op.sql, op.args...)
	if err != nil {
		return err
	}
	err = op.scan(rows)
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}
