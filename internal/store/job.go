package store

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// JobClient is the durable job queue (River) on an adapter's database, as a
// server runs it: package jobs registers the workers, then Start works jobs
// until Stop, which waits for the jobs in hand to finish (bounded by ctx).
// *river.Client satisfies it whatever its driver.
type JobClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// DeliverJobs turns planned webhook jobs into River insert parameters, each
// allowed webhook.JobAttemptsMax attempts; both adapters insert them with
// InsertManyTx in the transaction that records their deliveries.
func DeliverJobs(jobs []webhook.DeliverArgs) []river.InsertManyParams {
	opts := &river.InsertOpts{MaxAttempts: webhook.JobAttemptsMax}
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		params[i] = river.InsertManyParams{Args: j, InsertOpts: opts}
	}
	return params
}

// TimerJobAttemptsMax bounds the attempts of one escrow timer job. A timer
// fails only when the database does; the deadline also stays on the deal,
// where the sweep (escrow.Service.FireDueTimers) finds it if the job gives up.
const TimerJobAttemptsMax = 25

// TimerJobs turns escrow timers into River insert parameters, each
// scheduled at its deadline.
func TimerJobs(timers []escrow.TimerArgs) []river.InsertManyParams {
	params := make([]river.InsertManyParams, len(timers))
	for i, t := range timers {
		params[i] = river.InsertManyParams{Args: t, InsertOpts: &river.InsertOpts{MaxAttempts: TimerJobAttemptsMax, ScheduledAt: t.At}}
	}
	return params
}

// MailJobs validates mails (notify.ValidateMails) and turns them into River
// insert parameters, one notify.MailArgs job per mail, each allowed
// notify.MailAttemptsMax attempts; both adapters insert them with
// InsertManyTx, in the caller's transaction or in one of their own.
//
// Errors: invalid.
func MailJobs(mails []notify.Mail) ([]river.InsertManyParams, error) {
	if err := notify.ValidateMails(mails); err != nil {
		return nil, err
	}
	opts := &river.InsertOpts{MaxAttempts: notify.MailAttemptsMax}
	params := make([]river.InsertManyParams, len(mails))
	for i, m := range mails {
		params[i] = river.InsertManyParams{Args: notify.MailArgs{Mail: m}, InsertOpts: opts}
	}
	return params, nil
}
