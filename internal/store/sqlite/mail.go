package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store"
)

var (
	_ notify.Queue   = (*DB)(nil)
	_ notify.TxQueue = (*txn)(nil)
)

// MailEnqueue implements notify.Queue: the mails' jobs are inserted in one
// write transaction of their own, all or none.
//
// Errors: invalid.
func (db *DB) MailEnqueue(ctx context.Context, mails []notify.Mail) error {
	jobs, err := store.MailJobs(mails)
	if err != nil || len(jobs) == 0 {
		return err
	}
	if err := db.writeTx(ctx, func(tx *sql.Tx) error { return db.enqueueJobs(ctx, tx, jobs) }); err != nil {
		return fmt.Errorf("sqlite: enqueue mail: %w", err)
	}
	return nil
}

// MailsEnqueue implements notify.TxQueue: the mails' jobs are inserted in
// this transaction, so they are worked only if it commits.
//
// Errors: invalid.
func (t *txn) MailsEnqueue(ctx context.Context, mails []notify.Mail) error {
	jobs, err := store.MailJobs(mails)
	if err != nil {
		return err
	}
	return t.db.enqueueJobs(ctx, t.tx, jobs)
}
