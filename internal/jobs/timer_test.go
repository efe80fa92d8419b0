package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// timerFixture is an escrow service on a real SQLite store whose clock is
// offset from the real one.
type timerFixture struct {
	st     *sqlite.DB
	svc    *escrow.Service
	offset atomic.Int64 // nanoseconds added to time.Now
}

func newTimerFixture(t *testing.T) *timerFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "timers.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &timerFixture{st: st}
	clock := func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }
	engine := ledger.NewEngine(st, ledger.Config{Clock: clock})
	t.Cleanup(engine.Close)
	if err := engine.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	f.svc = escrow.NewService(escrow.Config{Store: st, Ledger: engine, Clock: clock, PayTo: "test bank"})
	return f
}

// acceptedDeal registers and accepts a deal: its pay-by timer is then due
// PayWithinDays after the service's clock.
func (f *timerFixture) acceptedDeal(t *testing.T) escrow.Deal {
	t.Helper()
	ctx := context.Background()
	d, err := f.svc.CreateDeal(ctx, escrow.Actor{Kind: escrow.ActorOrg, ID: "org_a"}, escrow.DealParams{Title: "Lamp",
		Currency: "JPY", Price: 3000, FeePayer: escrow.FeeBuyer, SellerEmail: "s@example.com", BuyerEmail: "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if d, err = f.svc.AcceptDeal(ctx, escrow.Actor{Kind: escrow.ActorOrg, ID: "org_a"}, d.ID); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTimerWorker(t *testing.T) {
	f := newTimerFixture(t)
	ctx := context.Background()
	d := f.acceptedDeal(t)
	w := &timerWorker{cfg: Config{Timers: f.svc}}
	job := &river.Job[escrow.TimerArgs]{JobRow: &rivertype.JobRow{}, Args: escrow.TimerArgs{DealID: d.ID, Timer: escrow.TimerPayBy, At: *d.DueAt}}

	t.Run("NotDueSnoozes", func(t *testing.T) {
		var snooze *river.JobSnoozeError
		if err := w.Work(ctx, job); !errors.As(err, &snooze) {
			t.Fatalf("Work before the deadline: %v, want a snooze", err)
		}
	})
	t.Run("DueFiresOnce", func(t *testing.T) {
		f.offset.Store(int64(8 * 24 * time.Hour))
		for range 2 { // a job run twice changes nothing the first did not
			if err := w.Work(ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.svc.FindDealByID(ctx, escrow.Actor{Kind: escrow.ActorOrg, ID: "org_a"}, d.ID)
		if err != nil || got.State != escrow.StateCanceled {
			t.Fatalf("deal after its pay-by timer: %+v, %v", got.State, err)
		}
		tl, err := f.svc.FindTimeline(ctx, escrow.Actor{Kind: escrow.ActorOrg, ID: "org_a"}, d.ID)
		if err != nil || len(tl) != 3 || tl[2].Action != "timer.pay_by" {
			t.Fatalf("timeline %+v, %v", tl, err)
		}
	})
}

// TestRunnerSweepsOverdueDeadlines starts a runner whose deadline passed
// while no node ran: the sweep at start fires it.
func TestRunnerSweepsOverdueDeadlines(t *testing.T) {
	f := newTimerFixture(t)
	ctx := context.Background()
	d := f.acceptedDeal(t)
	f.offset.Store(int64(8 * 24 * time.Hour))
	r, err := NewRunner(Config{Store: f.st, Webhooks: webhook.NewService(f.st, f.st, nil), Timers: f.svc,
		Render: func(e event.Event) []byte { return e.Data }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := f.svc.FindDealByID(ctx, escrow.Actor{Kind: escrow.ActorSystem}, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == escrow.StateCanceled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deal still %s 10 s after the runner started", got.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
