package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	if _, err := t.jobs.InsertManyTx(ctx, txView{t}, jobs); err != nil {
		return fmt.Errorf("postgres: enqueue mail: %w", err)
	}
	return nil
}
