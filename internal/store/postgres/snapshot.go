package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/billing"
)

// querier is what the reads below need: the pool, or a read-only
// REPEATABLE READ transaction (a snapshot).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reads are the reads that both the store (DB embeds them) and a
// snapshot serve.
type reads struct{ q querier }

var _ billing.SnapshotReader = reads{}

// BillingSnapshot implements billing.Store: fn's reads run in one
// read-only REPEATABLE READ transaction, so they all see one snapshot.
func (db *DB) BillingSnapshot(ctx context.Context, fn func(billing.SnapshotReader) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(reads{tx})
}
