package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/notify"
)

// MailJobTimeout bounds one try of a mail job: connecting to the relay and
// one exchange with it, each bounded by the sender (smtprelay.Timeout), with
// room to spare. A try cut short is retried like any temporary failure.
const MailJobTimeout = 2 * time.Minute

// Outcomes of a mail job's try, as Config.ObserveMail is told them.
const (
	MailSent   = "sent"
	MailRetry  = "retry"  // a temporary failure; River tries again after notify.MailBackoff
	MailFailed = "failed" // refused for good, or the last attempt failed: the mail is not sent
)

// mailWorker sends a notify.MailArgs job's mail with Config.Mail.
type mailWorker struct {
	river.WorkerDefaults[notify.MailArgs]
	cfg Config
}

// Work sends the job's mail. A temporary failure returns the error, so that
// River retries the job after NextRetry, up to its notify.MailAttemptsMax
// attempts; a permanent one (notify.ErrPermanent: the relay refused the
// mail with a 5xx answer) cancels the job at once. Each try sends the same
// Message-ID, so a receiver can drop the copy that a crash between the
// relay's answer and the job's completion sends twice (delivery is at least
// once).
func (w *mailWorker) Work(ctx context.Context, job *river.Job[notify.MailArgs]) error {
	m := job.Args.Mail
	log := w.cfg.Logger.With("job_id", job.ID, "ref", m.Ref, "attempt", job.Attempt)
	if err := m.Validate(); err != nil {
		// Only a job written outside notify.Queue / TxQueue can get here.
		w.observe(MailFailed)
		log.Error("mail job holds an invalid mail; not sent", "err", err)
		return river.JobCancel(fmt.Errorf("invalid mail: %w", err))
	}
	err := w.cfg.Mail.Send(ctx, m, mailMessageID(job))
	switch {
	case err == nil:
		w.observe(MailSent)
		log.Info("mail sent")
		return nil
	case errors.Is(err, notify.ErrPermanent):
		w.observe(MailFailed)
		log.Error("mail refused; not retried", "to", m.To, "err", err)
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		w.observe(MailFailed)
		log.Error("mail failed on its last attempt; given up", "to", m.To, "max_attempts", job.MaxAttempts, "err", err)
		return err
	default:
		w.observe(MailRetry)
		log.Warn("mail failed; will retry", "err", err)
		return err
	}
}

// NextRetry spaces a failing mail job's tries by notify.MailBackoff.
func (w *mailWorker) NextRetry(job *river.Job[notify.MailArgs]) time.Time {
	return w.cfg.Clock().Add(notify.MailBackoff(w.cfg.MailBackoffBase, job.Attempt))
}

// Timeout bounds one try of the job.
func (w *mailWorker) Timeout(*river.Job[notify.MailArgs]) time.Duration { return MailJobTimeout }

func (w *mailWorker) observe(outcome string) {
	if w.cfg.ObserveMail != nil {
		w.cfg.ObserveMail(outcome)
	}
}

// mailMessageID is the left part of a job's Message-ID, the same on every
// try: the job's id and insert time (which a fresh database cannot repeat
// together) and a digest of the mail's Ref. The sender adds "@" and its
// domain.
func mailMessageID(job *river.Job[notify.MailArgs]) string {
	sum := sha256.Sum256([]byte(job.Args.Mail.Ref))
	return fmt.Sprintf("kinko.%d.%d.%s", job.ID, job.CreatedAt.UnixMicro(), hex.EncodeToString(sum[:6]))
}
