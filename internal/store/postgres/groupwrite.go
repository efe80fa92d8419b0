package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/store"
)

// Bounds of group writes.
const (
	groupWriteQueueMax = 4096 // queued operations; callers wait beyond it
	groupWriteBatchMax = 256  // statements per transaction
	groupWriteWorkers  = 2    // batches in flight at once
)

// groupOp is one small write of one statement.
type groupOp struct {
	sql   string
	args  []any
	scan  func(pgx.Rows) error          // for statements that return rows
	check func(pgconn.CommandTag) error // for statements that do not
}

// newGroupWriter sends small independent writes (idempotency records) as one
// pipelined transaction per batch instead of one commit each: every commit
// waits for a WAL flush, and one per request bounds the API.
func newGroupWriter(db *DB) *store.Batcher[*groupOp] {
	return store.NewBatcher(groupWriteQueueMax, groupWriteBatchMax, groupWriteWorkers, db.groupCommit)
}

// groupCommit runs ops in one transaction; if any statement fails, that
// transaction is rolled back and each op is run on its own, so one failure
// never fails its neighbours.
func (db *DB) groupCommit(ops []*groupOp) []error {
	ctx := context.Background()
	errs := make([]error, len(ops))
	if len(ops) > 1 && db.groupTogether(ctx, ops) == nil {
		return errs
	}
	for i, op := range ops {
		errs[i] = db.groupAlone(ctx, op)
	}
	return errs
}

// groupTogether runs every op in one transaction, pipelined in one round trip.
func (db *DB) groupTogether(ctx context.Context, ops []*groupOp) error {
	tx, err := db.pool.Begin(ctx)
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

// groupAlone runs one op in its own transaction, committed only if its
// statement and its check both pass.
func (db *DB) groupAlone(ctx context.Context, op *groupOp) error {
	tx, err := db.pool.Begin(ctx)
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
