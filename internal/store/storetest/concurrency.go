package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
)

// testConcurrency hammers a few hot accounts with tight limits from many
// goroutines through one engine.
func testConcurrency(t *testing.T, h Harness) {
	s := h.Open(t)
	hammer(t, []ledger.Store{s}, h.Workers)
}

// testTwoWriters runs two independent engines on two handles of one database,
// as two nodes would, on the same hot accounts.
func testTwoWriters(t *testing.T, h Harness) {
	s1, s2 := h.OpenPair(t)
	hammer(t, []ledger.Store{s1, s2}, h.Workers)
}

// newPairFixture opens two handles on one fresh database, as two nodes
// would have, with an engine on each sharing one clock, and asset JPY. The
// fixture works on the first; the second engine is returned. Both engines
// close when the test ends.
func newPairFixture(t *testing.T, h Harness) (*fixture, *ledger.Engine) {
	s1, s2 := h.OpenPair(t)
	clock := NewClock()
	e1 := ledger.NewEngine(s1, ledger.Config{Workers: h.Workers, Clock: clock.Now})
	e2 := ledger.NewEngine(s2, ledger.Config{Workers: h.Workers, Clock: clock.Now})
	t.Cleanup(e2.Close)
	t.Cleanup(e1.Close)
	f := &fixture{t: t, ctx: context.Background(), store: s1, engine: e1, clock: clock}
	f.store.AssetUpsert(f.ctx, assetOf("JPY"))
	return f, e2
}

// hammer runs goroutines spread over one engine per store, then checks that
// verify is clean and that every account holds exactly what the successful
// results say it should.
func hammer(t *testing.T, stores []ledger.Store, workers int) {
	ctx := context.Background()
	clock := NewClock()
	var engines []*ledger.Engine
	for _, s := range stores {
		e := ledger.NewEngine(s, ledger.Config{Workers: workers, Clock: clock.Now})
		engines = append(engines, e)
	}
	defer func() {
		for _, e := range engines {
			e.Close()
		}
	}()
	f := &fixture{t: t, ctx: ctx, store: stores[0], engine: engines[0], clock: clock}
	for _, code := range []string{"JPY", "USD"} {
		f.store.AssetUpsert(ctx, assetOf(code))
	}
	funding := f.account(ledger.AccountRequest{})
	var hot, cold []ledger.Account
	for range 3 {
		hot = append(hot, f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true, Limit: 200}))
	}
	for range 4 {
		cold = append(cold, f.account(ledger.AccountRequest{}))
	}
	capped := f.account(ledger.AccountRequest{CreditsMustNotExceedDebits: true, Limit: 300})
	for _, a := range hot {
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: funding.ID, CreditAccountID: a.ID, Amount: 300})
	}

	goroutines, ops := 24, 120
	if testing.Short() {
		ops = 40
	}
	var mu sync.Mutex
	committed := map[int64]ledger.Transfer{} // by id: replays collapse
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var sweepers sync.WaitGroup
	for _, e := range engines {
		sweepers.Add(1)
		go func() {
			defer sweepers.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				clock.Advance(100 * time.Millisecond)
				if _, err := e.ExpireDue(ctx); err != nil {
					t.Errorf("ExpireDue: %v", err)
					return
				}
			}
		}()
	}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := engines[g%len(engines)]
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var mine []int64 // pending transfers this goroutine created
			for i := range ops {
				ref := fmt.Sprintf("g%d-%d", g, i)
				if rng.IntN(10) == 0 {
					ref = fmt.Sprintf("shared-%d", i) // raced by other goroutines with identical fields
				}
				h1, h2 := hot[rng.IntN(len(hot))], hot[rng.IntN(len(hot))]
				c := cold[rng.IntN(len(cold))]
				var reqs []ledger.TransferRequest
				switch op := rng.IntN(10); {
				case ref[0] == 's':
					reqs = []ledger.TransferRequest{{Reference: ref, DebitAccountID: hot[0].ID, CreditAccountID: cold[0].ID, Amount: 3}}
				case op < 3:
					reqs = []ledger.TransferRequest{{Reference: ref, DebitAccountID: h1.ID, CreditAccountID: c.ID, Amount: rng.Int64N(80) + 1}}
				case op < 4:
					reqs = []ledger.TransferRequest{{Reference: ref, DebitAccountID: c.ID, CreditAccountID: h1.ID, Amount: rng.Int64N(80) + 1}}
				case op < 6:
					reqs = []ledger.TransferRequest{{Reference: ref, Kind: ledger.KindPending, DebitAccountID: h1.ID, CreditAccountID: capped.ID,
						Amount: rng.Int64N(80) + 1, TimeoutSeconds: rng.Int64N(3)}}
				case op < 8 && len(mine) > 0:
					p := mine[rng.IntN(len(mine))]
					kind := ledger.KindPost
					if rng.IntN(2) == 0 {
						kind = ledger.KindVoid
					}
					r := ledger.TransferRequest{Reference: ref, Kind: kind, PendingID: p}
					if kind == ledger.KindPost && rng.IntN(2) == 0 {
						r.Amount = rng.Int64N(40) + 1
					}
					reqs = []ledger.TransferRequest{r}
				case op < 9 && h1.ID != h2.ID:
					reqs = []ledger.TransferRequest{
						{Reference: ref + "a", DebitAccountID: h1.ID, CreditAccountID: h2.ID, Amount: rng.Int64N(100) + 1, Linked: true},
						{Reference: ref + "b", DebitAccountID: h2.ID, CreditAccountID: c.ID, Amount: rng.Int64N(150) + 1},
					}
				default:
					reqs = []ledger.TransferRequest{{Reference: ref, DebitAccountID: c.ID, CreditAccountID: capped.ID, Amount: rng.Int64N(40) + 1}}
				}
				for k := range reqs {
					reqs[k].Owner = "o1"
				}
				res, err := e.Submit(ctx, reqs)
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				mu.Lock()
				for k, r := range res {
					if r.Result != ledger.ResultOK {
						continue
					}
					if prev, ok := committed[r.Transfer.ID]; ok && prev.Reference != r.Transfer.Reference {
						t.Errorf("transfer id %d reported for two references", r.Transfer.ID)
					}
					committed[r.Transfer.ID] = r.Transfer
					if reqs[k].Kind == ledger.KindPending && !r.Replayed {
						mine = append(mine, r.Transfer.ID)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	sweepers.Wait()
	// Expire every timed hold still pending, then compute what each account
	// must hold from the successful results alone.
	clock.Advance(time.Hour)
	if _, err := engines[0].ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	want := map[int64]*[4]int64{}
	bal := func(id int64) *[4]int64 {
		if want[id] == nil {
			want[id] = &[4]int64{}
		}
		return want[id]
	}
	for _, a := range hot {
		bal(a.ID)[1] += 300
	}
	bal(funding.ID)[0] += 300 * int64(len(hot))
	resolved := map[int64]bool{}
	shared := map[string]int{}
	for _, tr := range committed {
		if len(tr.Reference) > 7 && tr.Reference[:7] == "shared-" {
			shared[tr.Reference]++
		}
		switch tr.Kind {
		case ledger.KindImmediate, ledger.KindPost:
			bal(tr.DebitAccountID)[0] += tr.Amount
			bal(tr.CreditAccountID)[1] += tr.Amount
		}
		if tr.Kind == ledger.KindPost || tr.Kind == ledger.KindVoid {
			resolved[tr.PendingID] = true
		}
	}
	for ref, n := range shared {
		if n != 1 {
			t.Errorf("reference %s committed %d times", ref, n)
		}
	}
	for _, tr := range committed {
		if tr.Kind == ledger.KindPending && !resolved[tr.ID] && tr.TimeoutAt.IsZero() {
			bal(tr.DebitAccountID)[2] += tr.Amount
			bal(tr.CreditAccountID)[3] += tr.Amount
		}
	}
	for id, w := range want {
		if got := f.balance(id); got != *w {
			t.Errorf("account %d: stored %v, results add up to %v", id, got, *w)
		}
	}
	f.verifyClean()
	if len(committed) < goroutines*ops/4 {
		t.Errorf("only %d transfers committed out of %d attempts: the workload is not exercising the ledger", len(committed), goroutines*ops)
	}
}

// testSameRequestTwoWriters sends one request that spends an account's whole
// balance to two engines on one database at once, many times. Both callers
// must be told ok, one as a replay: the engine that waited for the other's
// lock must see its commit, not re-evaluate the request against the balance
// the other already spent.
func testSameRequestTwoWriters(t *testing.T, h Harness) {
	f, e2 := newPairFixture(t, h)
	e1 := f.engine
	attempts := 20
	if testing.Short() {
		attempts = 5
	}
	for i := range attempts {
		src, wallet, shop := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true}), f.account(ledger.AccountRequest{})
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: src.ID, CreditAccountID: wallet.ID, Amount: 100})
		req := ledger.TransferRequest{Owner: "o1", Reference: fmt.Sprint("pay-", i), DebitAccountID: wallet.ID, CreditAccountID: shop.ID, Amount: 100}
		var results [2]ledger.TransferResult
		var wg sync.WaitGroup
		for k, e := range []*ledger.Engine{e1, e2} {
			wg.Go(func() {
				var err error
				if results[k], err = e.CreateTransfer(f.ctx, req); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if results[0].Result != ledger.ResultOK || results[1].Result != ledger.ResultOK ||
			results[0].Transfer.ID != results[1].Transfer.ID || results[0].Replayed == results[1].Replayed {
			t.Fatalf("attempt %d: results %+v and %+v; want the same transfer twice, one replayed", i, results[0], results[1])
		}
		f.wantBalance(wallet.ID, 100, 100, 0, 0)
	}
	f.verifyClean()
}
