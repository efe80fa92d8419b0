package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/billing"
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

// sweep fires overdue deadlines every TimerSweepInterval until ctx ends.
func (r *Runner) sweep(ctx context.Context) {
	t := time.NewTicker(TimerSweepInterval)
	defer t.Stop()
	for {
		for {
			n, err := r.cfg.Timers.FireDueTimers(ctx)
			if err != nil && ctx.Err() == nil {
				r.cfg.Logger.Error("escrow timer sweep failed", "err", err)
			}
			if err != nil || n < escrow.TimerSweepBatchMax {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
// ReservationExpirySweepInterval until ctx ends: batch after batch while a
// batch comes back full. Ending one is idempotent, so nodes sweeping at
// once end each reservation once.
func (r *Runner) sweepReservations(ctx context.Context) {
	t := time.NewTicker(ReservationExpirySweepInterval)
	defer t.Stop()
	for {
		for {
			n, err := r.cfg.Reservations.ExpireDue(ctx)
			if err != nil && ctx.Err() == nil {
				r.cfg.Logger.Error("billing reservation expiry sweep failed", "err", err)
			}
			if err != nil || n < billing.ExpireSweepBatchMax {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
