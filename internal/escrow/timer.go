package escrow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// timerState is the state each timer fires in.
var timerState = map[TimerKind]State{
	TimerPayBy:      StateAwaitingPayment,
	TimerShipBy:     StateFunded,
	TimerInspection: StateReceived,
}

// FireTimer fires deal id's timer of the given kind if it is due: payment
// deadline → canceled (anything partly paid goes back to the buyer),
// shipping deadline → refunded, end of inspection → released (unless a
// fraud review holds it: then clearing the review releases it).
//
// It is idempotent: a timer whose deal has moved on, or whose deadline was
// changed, does nothing and returns a zero time. A timer that is not due
// yet returns when it will be, for the job to run again then.
//
// Errors: not_found (the deal is gone), and the store's.
func (s *Service) FireTimer(ctx context.Context, id string, kind TimerKind) (notBefore time.Time, err error) {
	_, notBefore, err = s.fireTimer(ctx, id, kind)
	return notBefore, err
}

// fireTimer is FireTimer, also saying whether this call changed the deal.
func (s *Service) fireTimer(ctx context.Context, id string, kind TimerKind) (fired bool, notBefore time.Time, err error) {
	want, ok := timerState[kind]
	if !ok {
		return false, time.Time{}, apperr.Invalid("timer", "unknown timer %q", kind)
	}
	// A timer answers no request: it keeps no Idempotency-Key, whatever
	// ctx carries.
	_, err = s.act(idempotency.WithKeep(ctx, nil), actorTimer, id, "timer."+string(kind), func(c *change) error {
		d := &c.deal
		if d.State != want || d.DueAt == nil {
			return errNothingDue
		}
		if c.now.Before(*d.DueAt) {
			notBefore = *d.DueAt
			return errNothingDue
		}
		c.data["due_at"] = d.DueAt.Format(time.RFC3339Nano)
		switch kind {
		case TimerPayBy:
			c.refundAll()
			c.close(StateCanceled)
			c.event = event.TypeDealCanceled
			c.mails = append(c.mails, s.mail(*d, Buyer, "unpaid"), s.mail(*d, Seller, "unpaid"))
		case TimerShipBy:
			c.refundAll()
			c.close(StateRefunded)
			c.event = event.TypeDealRefunded
			c.mails = append(c.mails, s.mail(*d, Buyer, "not_shipped"), s.mail(*d, Seller, "not_shipped"))
		case TimerInspection:
			if d.ReviewHold {
				// Held: the deadline is spent (the sweep stops finding it)
				// and clearing the review releases the deal.
				d.DueAt = nil
				c.data["held_for_review"] = true
				return nil
			}
			return s.releaseAll(c)
		}
		return nil
	})
	if errors.Is(err, errNothingDue) {
		return false, notBefore, nil
	}
	return err == nil, time.Time{}, err
}

// errNothingDue rolls back a timer's transaction that found nothing to do.
var errNothingDue = errors.New("escrow: timer not due")

// FireDueTimers fires the timers of every deal whose deadline had passed by
// the service's clock when it was called, and returns how many deals this
// call changed (a deal another node fired meanwhile is not counted). It is
// the backstop for timer jobs (and what a moved test clock calls): the
// deadline lives on the deal, so nothing is lost if a job is.
//
// It reads the due deals in pages of TimerSweepBatchMax, each after the
// last one read, so a deal whose timer fails is reported (in the joined
// error) and passed over, and the next call tries it again.
func (s *Service) FireDueTimers(ctx context.Context) (int, error) {
	now := s.now()
	var (
		after DueCursor
		fired int
		errs  apperr.Sweep
	)
	for {
		due, err := s.cfg.Store.DealListDue(ctx, now, after, TimerSweepBatchMax)
		if err != nil {
			errs.Add(fmt.Errorf("escrow: list due deals: %w", err))
			return fired, errs.Err()
		}
		for _, d := range due {
			after = DueCursor{At: *d.DueAt, ID: d.ID}
			kind := timerOf(d.State)
			if kind == "" {
				continue
			}
			changed, _, err := s.fireTimer(ctx, d.ID, kind)
			switch {
			case err != nil && ctx.Err() != nil:
				return fired, ctx.Err()
			case err != nil:
				errs.Add(fmt.Errorf("escrow: fire the %s timer of deal %s: %w", kind, d.ID, err))
			case changed:
				fired++
			}
		}
		if len(due) < TimerSweepBatchMax {
			return fired, errs.Err()
		}
	}
}

func timerOf(st State) TimerKind {
	for k, v := range timerState {
		if v == st {
			return k
		}
	}
	return ""
}
