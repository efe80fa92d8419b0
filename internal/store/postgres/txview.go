package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// txView presents a txn as a pgx.Tx, so that River can insert jobs in it
// (InsertManyTx takes a pgx.Tx). Each call first sends the txn's queued
// writes (and its BEGIN), then runs on the txn's connection, inside the
// transaction. The txn alone ends the transaction: Commit, Rollback and
// nested Begin are refused.
type txView struct{ t *txn }

var errTxViewEnds = errors.New("postgres: the transaction is ended by its owner, not through River")

// flush sends what the txn has queued, BEGIN included.
func (v txView) flush(ctx context.Context) error {
	if v.t.begun && v.t.pending == nil {
		return nil
	}
	v.t.batch()
	return v.t.send(ctx)
}

func (v txView) Begin(context.Context) (pgx.Tx, error) { return nil, errTxViewEnds }
func (v txView) Commit(context.Context) error          { return errTxViewEnds }
func (v txView) Rollback(context.Context) error        { return errTxViewEnds }
func (v txView) Conn() *pgx.Conn                       { return v.t.conn }
func (v txView) LargeObjects() pgx.LargeObjects        { return pgx.LargeObjects{} } // unused by River

func (v txView) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := v.flush(ctx); err != nil {
		return 0, err
	}
	return v.t.conn.CopyFrom(ctx, table, cols, src)
}

func (v txView) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := v.flush(ctx); err != nil {
		return errBatchResults{err}
	}
	return v.t.conn.SendBatch(ctx, b)
}

func (v txView) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := v.flush(ctx); err != nil {
		return nil, err
	}
	return v.t.conn.Prepare(ctx, name, sql)
}

func (v txView) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := v.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return v.t.conn.Exec(ctx, sql, args...)
}

func (v txView) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := v.flush(ctx); err != nil {
		return nil, err
	}
	return v.t.conn.Query(ctx, sql, args...)
}

func (v txView) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := v.flush(ctx); err != nil {
		return errRow{err}
	}
	return v.t.conn.QueryRow(ctx, sql, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errBatchResults struct{ err error }

func (r errBatchResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, r.err }
func (r errBatchResults) Query() (pgx.Rows, error)         { return nil, r.err }
func (r errBatchResults) QueryRow() pgx.Row                { return errRow(r) }
func (r errBatchResults) Close() error                     { return r.err }
func (r errBatchResults) Tx() pgx.Tx                       { return nil }
