package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store"
)

var (
	_ notify.Queue   = (*DB)(nil)
	_ notify.TxQueue = (*txn)(nil)
)

// MailEnqueue implements notify.Queue: the mails' jobs are inserted in one
// transaction of their own, all or none.
//
// Errors: invalid.
func (db *DB) MailEnqueue(ctx context.Context, mails []notify.Mail) error {
	jobs, err := store.MailJobs(mails)
	if err != nil || len(jobs) == 0 {
		return err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := db.jobs.InsertManyTx(ctx, tx, jobs)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: enqueue mail: %w", err)
	}
	return nil
}

// MailsEnqueue implements notify.TxQueue: the mails' jobs are inserted in
// this transaction, so they are worked only if it commits. The writes
// queued before it are sent first, so statements still run in call order.
//
// Errors: invalid.
func (t *txn) MailsEnqueue(ctx context.Context, mails []notify.Mail) error {
	jobs, err := store.MailJobs(mails)
	if err != nil || len(jobs) == 0 {
		return err
	}
	if !t.begun || t.pending != nil {
		t.batch() // BEGIN, when it has not been sent
		if err := t.send(ctx); err != nil {
			return err
		}
	}
	if _, err := t.jobs.InsertManyTx(ctx, openTx{t.conn}, jobs); err != nil {
		return fmt.Errorf("postgres: enqueue mail: %w", err)
	}
	return nil
}

// errOpenTx refuses what River must not do with a transaction it was lent.
var errOpenTx = errors.New("postgres: River may not begin, commit or roll back the ledger's transaction")

// openTx lends River the transaction open on conn (txn sends BEGIN and
// COMMIT itself, pipelined): statements run on the connection, inside it;
// ending it, or nesting another, is refused.
type openTx struct{ c *pgx.Conn }

var _ pgx.Tx = openTx{}

func (t openTx) Begin(context.Context) (pgx.Tx, error) { return nil, errOpenTx }
func (t openTx) Commit(context.Context) error          { return errOpenTx }
func (t openTx) Rollback(context.Context) error        { return errOpenTx }
func (t openTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return t.c.CopyFrom(ctx, table, cols, src)
}
func (t openTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.c.SendBatch(ctx, b)
}
func (t openTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} } // River uses none
func (t openTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.c.Prepare(ctx, name, sql)
}
func (t openTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.c.Exec(ctx, sql, args...)
}
func (t openTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.c.Query(ctx, sql, args...)
}
func (t openTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.c.QueryRow(ctx, sql, args...)
}
func (t openTx) Conn() *pgx.Conn { return t.c }
