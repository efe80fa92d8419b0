package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/escrow"
)

// TimerSweepInterval is how often each node looks for deal deadlines that
// passed without their timer job firing (a job lost with a restored backup,
// or one that gave up): the bound on how late such a deadline is acted on.
const TimerSweepInterval = time.Minute

// Timers is what the timer worker and the sweep need of escrow
// (escrow.Service implements it).
type Timers interface {
	FireTimer(ctx context.Context, dealID string, kind escrow.TimerKind) (notBefore time.Time, err error)
	FireDueTimers(ctx context.Context) (int, error)
}

// timerWorker fires one deal deadline. Firing is idempotent, so a job run
// twice, or late, changes nothing the first run did not.
type timerWorker struct {
	river.WorkerDefaults[escrow.TimerArgs]
	cfg Config
}

// Work fires the timer; one whose deadline is still ahead (a clock that
// disagrees with the job queue's) snoozes until then.
func (w *timerWorker) Work(ctx context.Context, job *river.Job[escrow.TimerArgs]) error {
	notBefore, err := w.cfg.Timers.FireTimer(ctx, job.Args.DealID, job.Args.Timer)
	if err != nil {
		return fmt.Errorf("jobs: fire %s timer of deal %s: %w", job.Args.Timer, job.Args.DealID, err)
	}
	if !notBefore.IsZero() {
		return river.JobSnooze(max(time.Until(notBefore), time.Second))
	}
	return nil
}

// every runs pass at once and then every interval until ctx ends,
// logging a failure as what failed. One sweep's passes run one after
// another; other nodes (and a test-clock advance) may do the same work at
// the same time, so every sweep must be idempotent.
func (r *Runner) every(ctx context.Context, interval time.Duration, what string, pass func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error(what+" failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass makes one pass of sweep, which handles every item due, and logs how
// many it changed.
func (r *Runner) pass(what string, sweep func(context.Context) (int, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		n, err := sweep(ctx)
		if n > 0 {
			r.cfg.Logger.Info(what, "changed", n)
		}
		return err
	}
}

// sweep fires overdue deadlines every TimerSweepInterval until ctx ends.
func (r *Runner) sweep(ctx context.Context) {
	const what = "escrow timer sweep"
	r.every(ctx, TimerSweepInterval, what, r.pass(what, r.cfg.Timers.FireDueTimers))
}

// ReservationExpirySweepInterval is how often each node ends the billing
// reservations whose expiry has passed, releasing what they hold. A charge
// after the expiry is refused whether or not the sweep has run; the sweep
// only bounds how long expired money stays held.
const ReservationExpirySweepInterval = 10 * time.Second

// Reservations is what the reservation expiry sweep needs of billing
// (billing.Service implements it).
type Reservations interface {
	ExpireDue(ctx context.Context) (int, error)
}

// sweepReservations expires due reservations every
// ReservationExpirySweepInterval until ctx ends. Ending one is idempotent,
// so nodes sweeping at once end each reservation once.
func (r *Runner) sweepReservations(ctx context.Context) {
	const what = "billing reservation expiry sweep"
	r.every(ctx, ReservationExpirySweepInterval, what, r.pass(what, r.cfg.Reservations.ExpireDue))
}

// MonthCloseSweepInterval is how often each node runs billing's month-end
// close (and once when it starts). A pass after a clean one of the same
// month does nothing, so between month ends the sweep costs nothing; after
// one, invoices appear within billing.MonthCloseDelay and this interval.
const MonthCloseSweepInterval = time.Minute

// Invoices is what the month-end close needs of billing (billing.Service
// implements it).
type Invoices interface {
	CloseEndedMonth(ctx context.Context) (int, error)
}

// sweepInvoices runs the month-end close every MonthCloseSweepInterval
// until ctx ends. Closing is idempotent, so nodes closing at once write
// each invoice once.
func (r *Runner) sweepInvoices(ctx context.Context) {
	r.every(ctx, MonthCloseSweepInterval, "billing month-end close", func(ctx context.Context) error {
		n, err := r.cfg.Invoices.CloseEndedMonth(ctx)
		if n > 0 {
			r.cfg.Logger.Info("billing month-end close", "invoices", n)
		}
		return err
	})
}
