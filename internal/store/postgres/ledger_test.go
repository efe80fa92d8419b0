package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// These tests check what is particular to this adapter (encodings, NULLs,
// times, row locks across pools); the shared semantics are storetest's.

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustEngine(tb testing.TB, s ledger.Store, cfg ledger.Config) *ledger.Engine {
	tb.Helper()
	e := ledger.NewEngine(s, cfg)
	tb.Cleanup(e.Close)
	return e
}

func mustAccounts(tb testing.TB, e *ledger.Engine, reqs ...ledger.AccountRequest) []ledger.Account {
	tb.Helper()
	ctx := context.Background()
	assets := map[string]bool{}
	for _, r := range reqs {
		if !assets[r.Asset] {
			if err := e.CreateAsset(ctx, money.Asset{Code: r.Asset, Scale: 0}); err != nil {
				tb.Fatalf("create asset: %v", err)
			}
			assets[r.Asset] = true
		}
	}
	out, err := e.CreateAccounts(ctx, reqs)
	if err != nil {
		tb.Fatalf("create accounts: %v", err)
	}
	return out
}

func mustTransfer(tb testing.TB, e *ledger.Engine, r ledger.TransferRequest, want ledger.Result) ledger.Transfer {
	tb.Helper()
	res, err := e.CreateTransfer(context.Background(), r)
	if err != nil {
		tb.Fatalf("transfer %s: %v", r.Reference, err)
	}
	if res.Result != want {
		tb.Fatalf("transfer %s: result %s, want %s", r.Reference, res.Result, want)
	}
	return res.Transfer
}

func mustVerify(tb testing.TB, s ledger.Store) ledger.VerifyReport {
	tb.Helper()
	rep, err := ledger.Verify(context.Background(), s, nil)
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	return rep
}

func TestAssets(t *testing.T) {
	ctx := context.Background()
	db := MustOpenFresh(t)
	for _, a := range []money.Asset{{Code: "USD", Scale: 2}, {Code: "JPY", Scale: 0}, {Code: "JPY", Scale: 0}} {
		if err := db.AssetUpsert(ctx, a); err != nil {
			t.Fatalf("AssetUpsert(%v): %v", a, err)
		}
	}
	err := db.AssetUpsert(ctx, money.Asset{Code: "JPY", Scale: 2})
	var ae *apperr.Error
	if !apperr.Is(err, apperr.CodeConflict) || !asAppErr(err, &ae) || ae.Param != "scale" {
		t.Fatalf("AssetUpsert with another scale = %v; want conflict on scale", err)
	}
	got, err := db.AssetList(ctx)
	want := []money.Asset{{Code: "JPY", Scale: 0}, {Code: "USD", Scale: 2}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("AssetList = %v, %v; want %v", got, err, want)
	}
}

func asAppErr(err error, dst **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	*dst = e
	return ok
}

func TestIDBlockReserve(t *testing.T) {
	ctx := context.Background()
	db := MustOpenFresh(t)
	const workers, blocks, size = 8, 20, 100
	firsts := make(chan int64, workers*blocks)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range blocks {
				first, err := db.IDBlockReserve(ctx, "x", size)
				if err != nil {
					t.Error(err)
					return
				}
				firsts <- first
			}
		})
	}
	wg.Wait()
	close(firsts)
	seen := map[int64]bool{}
	for f := range firsts {
		if f < 1 || (f-1)%size != 0 || seen[f] {
			t.Fatalf("block starting at %d overlaps or is misaligned", f)
		}
		seen[f] = true
	}
	if len(seen) != workers*blocks {
		t.Fatalf("got %d blocks, want %d", len(seen), workers*blocks)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := MustOpenFresh(t)
	clock := &fakeClock{now: time.Date(2025, 3, 1, 9, 0, 0, 123456000, time.UTC)}
	e := mustEngine(t, db, ledger.Config{Clock: clock.Now})
	accts := mustAccounts(t, e,
		ledger.AccountRequest{Owner: "o", Reference: "bank", Asset: "JPY", Code: "bank", CreditsMustNotExceedDebits: false},
		ledger.AccountRequest{Owner: "o", Reference: "user", Asset: "JPY", Code: "wallet", DebitsMustNotExceedCredits: true, Limit: 50},
		ledger.AccountRequest{Owner: "o", Reference: "shop", Asset: "JPY", Code: "shop"},
	)
	bank, user, shop := accts[0], accts[1], accts[2]

	t.Run("Account", func(t *testing.T) {
		got, err := db.AccountByID(ctx, user.ID)
		if err != nil || !reflect.DeepEqual(got, user) {
			t.Fatalf("AccountByID = %+v, %v; want %+v", got, err, user)
		}
		if _, err := db.AccountByID(ctx, 1<<40); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("AccountByID(missing) = %v; want not_found", err)
		}
		again, err := e.CreateAccounts(ctx, []ledger.AccountRequest{{Owner: "o", Reference: "user", Asset: "JPY", Code: "wallet", DebitsMustNotExceedCredits: true, Limit: 50}})
		if err != nil || !reflect.DeepEqual(again[0], user) {
			t.Fatalf("CreateAccounts replay = %+v, %v", again, err)
		}
		page, err := db.AccountList(ctx, ledger.AccountFilter{Owner: "o", AfterID: bank.ID, Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != user.ID {
			t.Fatalf("AccountList = %+v, %v", page, err)
		}
	})

	fund := mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "fund", DebitAccountID: bank.ID, CreditAccountID: user.ID, Amount: 1000,
		Metadata: map[string]string{"note": "first deposit", "日本": "円"}}, ledger.ResultOK)
	t.Run("Transfer", func(t *testing.T) {
		got, err := db.TransferByID(ctx, fund.ID)
		if err != nil || !reflect.DeepEqual(got, fund) {
			t.Fatalf("TransferByID = %+v, %v; want %+v", got, err, fund)
		}
		if _, err := db.TransferByID(ctx, 1<<40); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("TransferByID(missing) = %v; want not_found", err)
		}
		res, err := e.CreateTransfer(ctx, ledger.TransferRequest{Owner: "o", Reference: "fund", DebitAccountID: bank.ID, CreditAccountID: user.ID, Amount: 1000,
			Metadata: map[string]string{"note": "first deposit", "日本": "円"}})
		if err != nil || res.Result != ledger.ResultOK || !res.Replayed || !reflect.DeepEqual(res.Transfer, fund) {
			t.Fatalf("replay = %+v, %v", res, err)
		}
		mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "fund", DebitAccountID: bank.ID, CreditAccountID: user.ID, Amount: 1000},
			ledger.ResultExistsWithDifferentMetadata)
		mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "too-much", DebitAccountID: user.ID, CreditAccountID: shop.ID, Amount: 1051},
			ledger.ResultLimitExceeded)
	})

	clock.Advance(time.Second)
	hold := mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "hold", Kind: ledger.KindPending, DebitAccountID: user.ID, CreditAccountID: shop.ID,
		Amount: 300, TimeoutSeconds: 60, Code: "order"}, ledger.ResultOK)
	short := mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "short", Kind: ledger.KindPending, DebitAccountID: user.ID, CreditAccountID: shop.ID,
		Amount: 100, TimeoutSeconds: 5}, ledger.ResultOK)
	forever := mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "forever", Kind: ledger.KindPending, DebitAccountID: user.ID, CreditAccountID: shop.ID,
		Amount: 50}, ledger.ResultOK)
	tHeld := clock.Now()
	t.Run("Hold", func(t *testing.T) {
		got, err := db.TransferByID(ctx, hold.ID)
		if err != nil || !reflect.DeepEqual(got, hold) || got.TimeoutSeconds() != 60 {
			t.Fatalf("TransferByID(hold) = %+v, %v; want %+v", got, err, hold)
		}
		h, err := db.HoldByID(ctx, forever.ID)
		if err != nil || h.State != ledger.HoldPending || !h.TimeoutAt.IsZero() || !h.ResolvedAt.IsZero() || h.Amount != 50 {
			t.Fatalf("HoldByID(forever) = %+v, %v", h, err)
		}
		if _, err := db.HoldByID(ctx, fund.ID); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("HoldByID(not a hold) = %v; want not_found", err)
		}
	})

	clock.Advance(time.Second)
	post := mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "post", Kind: ledger.KindPost, PendingID: hold.ID, Amount: 200}, ledger.ResultOK)
	mustTransfer(t, e, ledger.TransferRequest{Owner: "o", Reference: "post-again", Kind: ledger.KindPost, PendingID: hold.ID}, ledger.ResultPendingAlreadyPosted)
	tPosted := clock.Now()
	t.Run("Post", func(t *testing.T) {
		h, err := db.HoldByID(ctx, hold.ID)
		if err != nil || h.State != ledger.HoldPosted || !h.ResolvedAt.Equal(tPosted) || h.ResolvedAt.Location() != time.UTC {
			t.Fatalf("HoldByID(hold) = %+v, %v", h, err)
		}
		got, err := db.TransferByID(ctx, post.ID)
		if err != nil || !reflect.DeepEqual(got, post) || got.PendingID != hold.ID || got.Code != "order" {
			t.Fatalf("TransferByID(post) = %+v, %v; want %+v", got, err, post)
		}
	})

	clock.Advance(10 * time.Second)
	t.Run("Expire", func(t *testing.T) {
		due, err := db.HoldListDue(ctx, clock.Now(), 10)
		if err != nil || !reflect.DeepEqual(due, []int64{short.ID}) {
			t.Fatalf("HoldListDue = %v, %v; want [%d]", due, err, short.ID)
		}
		n, err := e.ExpireDue(ctx)
		if err != nil || n != 1 {
			t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
		}
		h, err := db.HoldByID(ctx, short.ID)
		if err != nil || h.State != ledger.HoldExpired {
			t.Fatalf("HoldByID(short) = %+v, %v", h, err)
		}
		list, err := db.TransferListByAccount(ctx, ledger.TransferFilter{AccountID: user.ID, AfterID: post.ID, Limit: 10})
		if err != nil || len(list) != 1 || list[0].Kind != ledger.KindExpire || list[0].Reference != "" || list[0].Metadata != nil {
			t.Fatalf("transfers after the post = %+v, %v; want one expiry", list, err)
		}
	})

	t.Run("TransferListByAccount", func(t *testing.T) {
		var ids []int64
		for after := int64(0); ; {
			page, err := db.TransferListByAccount(ctx, ledger.TransferFilter{AccountID: user.ID, AfterID: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, tr := range page {
				ids = append(ids, tr.ID)
			}
			after = page[len(page)-1].ID
		}
		want := []int64{fund.ID, hold.ID, short.ID, forever.ID, post.ID}
		if len(ids) != 6 || !reflect.DeepEqual(ids[:5], want) {
			t.Fatalf("transfer ids = %v; want %v and the expiry", ids, want)
		}
	})

	t.Run("BalanceAt", func(t *testing.T) {
		for _, tc := range []struct {
			name                 string
			at                   time.Time
			posted, pendingDebit int64
		}{
			{"BeforeAll", fund.CreatedAt.Add(-time.Microsecond), 0, 0},
			{"Funded", fund.CreatedAt, 0, 0},
			{"Held", tHeld, 0, 450},
			{"Posted", tPosted, 200, 150},
			{"ShortTimedOut", short.TimeoutAt, 200, 50},
			{"Now", clock.Now(), 200, 50},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b, err := db.BalanceAt(ctx, user.ID, tc.at)
				if err != nil {
					t.Fatal(err)
				}
				credits := int64(1000)
				if tc.at.Before(fund.CreatedAt) {
					credits = 0
				}
				want := ledger.Balance{AccountID: user.ID, Asset: "JPY", DebitsPosted: tc.posted, CreditsPosted: credits, DebitsPending: tc.pendingDebit, At: tc.at}
				if !reflect.DeepEqual(b, want) {
					t.Fatalf("BalanceAt = %+v; want %+v", b, want)
				}
			})
		}
		if _, err := db.BalanceAt(ctx, 1<<40, clock.Now()); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("BalanceAt(missing) = %v; want not_found", err)
		}
	})

	t.Run("Verify", func(t *testing.T) {
		if rep := mustVerify(t, db); len(rep.Violations) != 0 || rep.Accounts != 3 {
			t.Fatalf("Verify = %+v", rep)
		}
		harness().Tamper(t, db, shop.ID, 7)
		rep := mustVerify(t, db)
		if len(rep.Violations) == 0 {
			t.Fatal("Verify found nothing after tampering")
		}
	})
}

// TestTwoEngines runs two engines on two pools of one database: the row locks
// must keep every balance rule exact, and a reference sent to both at once
// must commit once.
func TestTwoEngines(t *testing.T) {
	ctx := context.Background()
	u := newDatabase(t)
	a, b := MustOpen(t, u), MustOpen(t, u)
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ea := mustEngine(t, a, ledger.Config{Workers: 4})
	eb := mustEngine(t, b, ledger.Config{Workers: 4})
	const n = 8
	reqs := []ledger.AccountRequest{{Owner: "o", Reference: "source", Asset: "JPY"}}
	for i := range n {
		reqs = append(reqs, ledger.AccountRequest{Owner: "o", Reference: fmt.Sprint("w", i), Asset: "JPY", DebitsMustNotExceedCredits: true})
	}
	accts := mustAccounts(t, ea, reqs...)
	for i := 1; i <= n; i++ {
		mustTransfer(t, ea, ledger.TransferRequest{Owner: "o", Reference: fmt.Sprint("seed", i), DebitAccountID: accts[0].ID, CreditAccountID: accts[i].ID, Amount: 100}, ledger.ResultOK)
	}

	var ok, replayed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		e := ea
		if g%2 == 1 {
			e = eb
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 200 {
				from, to := 1+r.IntN(n), 1+r.IntN(n)
				if from == to {
					continue
				}
				req := ledger.TransferRequest{Owner: "o", Reference: fmt.Sprint("t", g, "-", i), Amount: 1 + r.Int64N(40),
					DebitAccountID: accts[from].ID, CreditAccountID: accts[to].ID}
				if r.IntN(3) == 0 {
					req.Kind = ledger.KindPending
				}
				res, err := e.CreateTransfer(ctx, req)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Result == ledger.ResultOK && req.Kind == ledger.KindPending && r.IntN(2) == 0 {
					other := ea
					if e == ea {
						other = eb
					}
					kind := ledger.KindPost
					if r.IntN(2) == 0 {
						kind = ledger.KindVoid
					}
					if _, err := other.CreateTransfer(ctx, ledger.TransferRequest{Owner: "o", Reference: req.Reference + "r", Kind: kind, PendingID: res.Transfer.ID}); err != nil {
						t.Error(err)
						return
					}
				}
				// The same request on both engines at once: one commits, the
				// other replays it.
				if i%20 == 0 {
					dup := ledger.TransferRequest{Owner: "o", Reference: req.Reference + "d", Amount: 1, DebitAccountID: accts[0].ID, CreditAccountID: accts[to].ID}
					results := make([]ledger.TransferResult, 2)
					var dwg sync.WaitGroup
					for k, ek := range []*ledger.Engine{ea, eb} {
						dwg.Go(func() {
							var err error
							if results[k], err = ek.CreateTransfer(ctx, dup); err != nil {
								t.Error(err)
							}
						})
					}
					dwg.Wait()
					if results[0].Result != ledger.ResultOK || results[1].Result != ledger.ResultOK || results[0].Transfer.ID != results[1].Transfer.ID {
						t.Errorf("duplicate on two engines: %+v / %+v", results[0], results[1])
					}
					if results[0].Replayed || results[1].Replayed {
						replayed.Add(1)
					}
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if rep := mustVerify(t, a); len(rep.Violations) != 0 {
		t.Fatalf("violations after two engines: %v", rep.Violations)
	}
	if replayed.Load() != ok.Load() {
		t.Fatalf("%d of %d duplicate pairs replayed; want all", replayed.Load(), ok.Load())
	}
}
