package sqlite

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store"
)

// MailsEnqueue queues mail in this transaction: it is sent only if the
// transaction commits.
//
// Errors: invalid (a mail fails notify.Mail.Validate).
func (t *txn) MailsEnqueue(ctx context.Context, mails []notify.Mail) error {
	for _, m := range mails {
		if err := m.Validate(); err != nil {
			return err
		}
	}
	if _, err := t.jobs.InsertManyTx(ctx, t.tx, store.MailJobs(mails)); err != nil {
		return fmt.Errorf("sqlite: enqueue %d mails: %w", len(mails), err)
	}
	return nil
}
