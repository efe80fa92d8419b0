package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// querier is what the reads below need: the pool, or a read-only
// REPEATABLE READ transaction (a snapshot).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reads are the reads that both the store and a snapshot serve.
type reads struct{ q querier }

var _ billing.SnapshotReader = reads{}

// AccountByID implements ledger.Store. Errors: not_found.
func (db *DB) AccountByID(ctx context.Context, id int64) (ledger.Account, error) {
	return reads{db.pool}.AccountByID(ctx, id)
}

// TransferByID implements ledger.Store. Errors: not_found.
func (db *DB) TransferByID(ctx context.Context, id int64) (ledger.Transfer, error) {
	return reads{db.pool}.TransferByID(ctx, id)
}

// ReservationList implements billing.Store.
func (db *DB) ReservationList(ctx context.Context, f billing.ReservationFilter) ([]billing.Reservation, error) {
	return reads{db.pool}.ReservationList(ctx, f)
}

// ChargeList implements billing.Store.
func (db *DB) ChargeList(ctx context.Context, f billing.ChargeFilter) ([]billing.Charge, error) {
	return reads{db.pool}.ChargeList(ctx, f)
}

// InvoiceList implements billing.Store.
func (db *DB) InvoiceList(ctx context.Context, customerID string, limit int) ([]billing.Invoice, error) {
	return reads{db.pool}.InvoiceList(ctx, customerID, limit)
}

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
