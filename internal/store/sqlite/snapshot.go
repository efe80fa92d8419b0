package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// querier is what the reads below need: the read pool, or one connection
// inside a read transaction (a snapshot).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reads are the reads that both the store and a snapshot serve.
type reads struct{ q querier }

var _ billing.SnapshotReader = reads{}

// AccountByID implements ledger.Store. Errors: not_found.
func (db *DB) AccountByID(ctx context.Context, id int64) (ledger.Account, error) {
	return reads{db.read}.AccountByID(ctx, id)
}

// TransferByID implements ledger.Store. Errors: not_found.
func (db *DB) TransferByID(ctx context.Context, id int64) (ledger.Transfer, error) {
	return reads{db.read}.TransferByID(ctx, id)
}

// ReservationList implements billing.Store.
func (db *DB) ReservationList(ctx context.Context, f billing.ReservationFilter) ([]billing.Reservation, error) {
	return reads{db.read}.ReservationList(ctx, f)
}

// ChargeList implements billing.Store.
func (db *DB) ChargeList(ctx context.Context, f billing.ChargeFilter) ([]billing.Charge, error) {
	return reads{db.read}.ChargeList(ctx, f)
}

// InvoiceList implements billing.Store.
func (db *DB) InvoiceList(ctx context.Context, customerID string, limit int) ([]billing.Invoice, error) {
	return reads{db.read}.InvoiceList(ctx, customerID, limit)
}

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
