package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// Clock is a settable clock for engines under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant with nanoseconds, so that
// every store must keep the microseconds the engine stamps.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is an engine on a fresh store with a test clock and a JPY asset.
type fixture struct {
	t      testing.TB
	ctx    context.Context
	store  ledger.Store
	engine *ledger.Engine
	clock  *Clock
	seq    int
}

func newFixture(t testing.TB, h Harness) *fixture {
	t.Helper()
	return newFixtureOn(t, h.Open(t), h.Workers)
}

func newFixtureOn(t testing.TB, s ledger.Store, workers int) *fixture {
	t.Helper()
	clock := NewClock()
	e := ledger.NewEngine(s, ledger.Config{Workers: workers, Clock: clock.Now})
	t.Cleanup(e.Close)
	f := &fixture{t: t, ctx: context.Background(), store: s, engine: e, clock: clock}
	for _, a := range []money.Asset{{Code: "JPY", Scale: 0}, {Code: "USD", Scale: 2}} {
		if err := e.CreateAsset(f.ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// account opens an account owned by "o1" unless the request names an owner.
func (f *fixture) account(r ledger.AccountRequest) ledger.Account {
	f.t.Helper()
	f.seq++
	if r.Owner == "" {
		r.Owner = "o1"
	}
	if r.Reference == "" {
		r.Reference = fmt.Sprintf("acct-%d", f.seq)
	}
	if r.Asset == "" {
		r.Asset = "JPY"
	}
	as, err := f.engine.CreateAccounts(f.ctx, []ledger.AccountRequest{r})
	if err != nil {
		f.t.Fatalf("create account: %v", err)
	}
	return as[0]
}

// transfer submits one request owned by "o1" with a fresh reference unless set.
func (f *fixture) transfer(r ledger.TransferRequest) ledger.TransferResult {
	f.t.Helper()
	f.seq++
	if r.Owner == "" {
		r.Owner = "o1"
	}
	if r.Reference == "" {
		r.Reference = fmt.Sprintf("tr-%d", f.seq)
	}
	res, err := f.engine.CreateTransfer(f.ctx, r)
	if err != nil {
		f.t.Fatalf("transfer: %v", err)
	}
	return res
}

// mustTransfer submits r and fails the test unless the result is want.
func (f *fixture) expect(want ledger.Result, r ledger.TransferRequest) ledger.TransferResult {
	f.t.Helper()
	res := f.transfer(r)
	if res.Result != want {
		f.t.Fatalf("transfer %+v: result %s, want %s", r, res.Result, want)
	}
	return res
}

// balance reads an account and returns its four totals.
func (f *fixture) balance(id int64) [4]int64 {
	f.t.Helper()
	a, err := f.engine.FindAccountByID(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return [4]int64{a.DebitsPosted, a.CreditsPosted, a.DebitsPending, a.CreditsPending}
}

func (f *fixture) wantBalance(id int64, debitsPosted, creditsPosted, debitsPending, creditsPending int64) {
	f.t.Helper()
	want := [4]int64{debitsPosted, creditsPosted, debitsPending, creditsPending}
	if got := f.balance(id); got != want {
		f.t.Fatalf("account %d balance [dp cp dpe cpe] = %v, want %v", id, got, want)
	}
}

// verifyClean fails the test unless Verify finds nothing.
func (f *fixture) verifyClean() ledger.VerifyReport {
	f.t.Helper()
	rep, err := ledger.Verify(f.ctx, f.store, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, v := range rep.Violations {
		f.t.Errorf("verify: %s", v)
	}
	return rep
}

// Now is the engine's current time as it will stamp the next batch.
func (f *fixture) Now() time.Time { return f.engine.Now() }

func assetOf(code string) money.Asset {
	if code == "USD" {
		return money.Asset{Code: "USD", Scale: 2}
	}
	return money.Asset{Code: code}
}
