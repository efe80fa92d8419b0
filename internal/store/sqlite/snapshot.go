package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kinko-pay/kinko/internal/billing"
)

// querier is what the reads below need: the read pool, or one connection
// inside a read transaction (a snapshot).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reads are the reads that both the store (DB embeds them) and a
// snapshot serve.
type reads struct{ q querier }

var _ billing.SnapshotReader = reads{}

// BillingSnapshot implements billing.Store: fn's reads run on one read
// connection inside one transaction, which in WAL mode sees one snapshot
// (the database as of its first read) however long it lasts.
func (db *DB) BillingSnapshot(ctx context.Context, fn func(billing.SnapshotReader) error) error {
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: snapshot: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("sqlite: snapshot: begin: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return fn(reads{conn})
}
