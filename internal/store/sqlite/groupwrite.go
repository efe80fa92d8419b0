package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/debug"

	"github.com/kinko-pay/kinko/internal/store"
)

// Bounds of group writes.
const (
	groupWriteQueueMax = 4096 // queued operations; callers wait beyond it
	groupWriteBatchMax = 512  // operations per transaction
)

// groupOp is one small write: fn runs inside the shared transaction, in its
// own savepoint, with the batch's context (one caller's cancellation must not
// interrupt a statement of the shared transaction). fn may run more than once
// if the batch is retried, so it must only write what it is given and set
// results the last run overwrites.
type groupOp func(ctx context.Context, tx *sql.Tx) error

// newGroupWriter gathers small independent writes (idempotency records) into
// one transaction per batch, as the ledger engine does for transfers: SQLite
// has one writer and a commit costs an fsync, so one transaction per request
// would bound the API at a few hundred writes a second.
func newGroupWriter(db *DB) *store.Batcher[groupOp] {
	return store.NewBatcher(groupWriteQueueMax, groupWriteBatchMax, 1, db.groupCommit)
}

// groupCommit runs ops in one transaction; each op's failure is rolled back
// to its savepoint and reported to it alone.
func (db *DB) groupCommit(ops []groupOp) []error {
	errs := make([]error, len(ops))
	ctx := context.Background()
	err := store.Retry(ctx, retryable, func() error {
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		defer tx.Rollback()
		for i, op := range ops {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
				return fmt.Errorf("sqlite: savepoint: %w", err)
			}
			errs[i] = runGroupOp(ctx, tx, op)
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
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// runGroupOp runs op on the group writer's goroutine, where a panic would
// end the process and fail every operation queued behind it: a panic is
// op's error alone, and its writes are rolled back to its savepoint.
func runGroupOp(ctx context.Context, tx *sql.Tx, op groupOp) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: group write operation panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return op(ctx, tx)
}
