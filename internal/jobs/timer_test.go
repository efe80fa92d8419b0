package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kinko-pay/kinko/internal/billing"
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
	engine *ledger.Engine
	clock  func() time.Time
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
	f.engine, f.clock = engine, clock
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

// startRunner starts a runner on f's store with cfg's sweeps, stopped when
// the test ends.
func (f *timerFixture) startRunner(t *testing.T, cfg Config) {
	t.Helper()
	cfg.Store, cfg.Webhooks, cfg.Render = f.st, webhook.NewService(f.st, f.st, nil), func(e event.Event) []byte { return e.Data }
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
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
	f.startRunner(t, Config{Timers: f.svc})
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

// TestRunnerClosesEndedMonths starts a runner after a month ended (and
// MonthCloseDelay passed) while no node ran: the month-end close at start
// invoices every postpaid customer of that month, and another node's close
// afterwards writes nothing more.
func TestRunnerClosesEndedMonths(t *testing.T) {
	f := newTimerFixture(t)
	ctx := context.Background()
	svc := billing.NewService(billing.Config{Store: f.st, Ledger: f.engine, Clock: f.clock})
	org := billing.OrgActor("org_a")
	var cs []billing.Customer
	for i := range 3 {
		c, err := svc.CreateCustomer(ctx, org, billing.CustomerParams{Reference: fmt.Sprintf("c-%d", i), Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if _, err := svc.ChargeDirect(ctx, org, billing.DirectChargeParams{CustomerID: cs[0].ID, Amount: 250, Reference: "d"}); err != nil {
		t.Fatal(err)
	}
	now := f.clock().UTC()
	period := now.Format(billing.PeriodLayout)
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	f.offset.Store(int64(next.Add(billing.MonthCloseDelay + time.Minute).Sub(now)))

	f.startRunner(t, Config{Invoices: svc})
	deadline := time.Now().Add(waitMax)
	for _, c := range cs {
		for {
			invs, err := svc.FindInvoices(ctx, org, billing.InvoiceFilter{CustomerID: c.ID, Limit: billing.PageLimitMax})
			if err != nil {
				t.Fatal(err)
			}
			if len(invs) > 1 || (len(invs) == 1 && invs[0].Period != period) {
				t.Fatalf("customer %s: invoices %+v, want one of %s", c.Reference, invs, period)
			}
			if len(invs) == 1 {
				if want := map[bool]int64{true: 250}[c.ID == cs[0].ID]; invs[0].Total != want {
					t.Fatalf("customer %s: invoice of %d, want %d", c.Reference, invs[0].Total, want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("customer %s has no invoice %s after the runner started", c.Reference, waitMax)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	other := billing.NewService(billing.Config{Store: f.st, Ledger: f.engine, Clock: f.clock})
	if n, err := other.CloseEndedMonth(ctx); err != nil || n != 0 {
		t.Fatalf("another node's close after the runner's: %d invoices, %v", n, err)
	}
	for _, c := range cs {
		if invs, err := svc.FindInvoices(ctx, org, billing.InvoiceFilter{CustomerID: c.ID, Limit: billing.PageLimitMax}); err != nil || len(invs) != 1 {
			t.Fatalf("customer %s: invoices %+v, %v", c.Reference, invs, err)
		}
	}
}
