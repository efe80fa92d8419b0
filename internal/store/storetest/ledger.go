package storetest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

func testLedger(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"IDBlocksNeverOverlap", testIDBlocks},
		{"Assets", testAssets},
		{"Accounts", testAccounts},
		{"ImmediateTransfer", testImmediate},
		{"Rejections", testRejections},
		{"BalanceRules", testBalanceRules},
		{"Overflow", testOverflow},
		{"Idempotency", testIdempotency},
		{"PendingPostVoid", testPendingPostVoid},
		{"Expiry", testExpiry},
		{"LinkedSets", testLinkedSets},
		{"BatchNeighbours", testBatchNeighbours},
		{"HistoryAndBalanceAt", testHistory},
		{"FindTransfers", testFindTransfers},
		{"VerifyFindsTampering", testVerifyTampering},
		{"VerifyChecksResolutions", testVerifyResolutions},
		{"VerifyFindsOrphans", testVerifyOrphans},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func testIDBlocks(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	a, err := s.IDBlockReserve(ctx, "x", 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.IDBlockReserve(ctx, "x", 5)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.IDBlockReserve(ctx, "y", 5)
	if err != nil {
		t.Fatal(err)
	}
	if a < 1 || b != a+10 || other < 1 {
		t.Fatalf("blocks x: %d then %d (want %d), y: %d", a, b, a+10, other)
	}
}

func testAssets(t *testing.T, h Harness) {
	f := newFixture(t, h)
	if err := f.engine.CreateAsset(f.ctx, money.Asset{Code: "JPY", Scale: 0}); err != nil {
		t.Fatalf("re-creating an asset with the same scale: %v", err)
	}
	if err := f.engine.CreateAsset(f.ctx, money.Asset{Code: "JPY", Scale: 2}); !apperr.Is(err, apperr.CodeConflict) {
		t.Fatalf("changing an asset's scale: %v, want conflict", err)
	}
	if err := f.engine.CreateAsset(f.ctx, money.Asset{Code: "jpy", Scale: 0}); !apperr.Is(err, apperr.CodeInvalid) {
		t.Fatalf("malformed code: %v, want invalid", err)
	}
	got, err := f.engine.FindAssets(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (money.Asset{Code: "JPY"}) || got[1] != (money.Asset{Code: "USD", Scale: 2}) {
		t.Fatalf("assets = %+v", got)
	}
}

func testAccounts(t *testing.T, h Harness) {
	f := newFixture(t, h)
	req := ledger.AccountRequest{Owner: "o1", Reference: "wallet-1", Asset: "JPY", Code: "wallet", DebitsMustNotExceedCredits: true, Limit: 500}
	a := f.account(req)
	if a.ID == 0 || a.Owner != "o1" || a.Code != "wallet" || !a.DebitsMustNotExceedCredits || a.Limit != 500 || a.CreatedAt.IsZero() {
		t.Fatalf("created %+v", a)
	}
	got, err := f.engine.FindAccountByID(f.ctx, a.ID)
	if err != nil || got != a {
		t.Fatalf("FindAccountByID = %+v, %v; want %+v", got, err, a)
	}
	t.Run("OKReplay", func(t *testing.T) {
		again := f.account(req)
		if again != a {
			t.Fatalf("replayed create = %+v, want %+v", again, a)
		}
	})
	t.Run("ErrConflictNamesField", func(t *testing.T) {
		r := req
		r.Limit = 600
		_, err := f.engine.CreateAccounts(f.ctx, []ledger.AccountRequest{r})
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code != apperr.CodeConflict || ae.Param != "accounts[0].limit" {
			t.Fatalf("err = %v, want conflict on accounts[0].limit", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, r := range []ledger.AccountRequest{
			{Owner: "", Reference: "r", Asset: "JPY"},
			{Owner: "o1", Reference: "", Asset: "JPY"},
			{Owner: "o1", Reference: "r", Asset: "EUR"}, // not configured
			{Owner: "o1", Reference: "r", Asset: "JPY", DebitsMustNotExceedCredits: true, CreditsMustNotExceedDebits: true},
			{Owner: "o1", Reference: "r", Asset: "JPY", Limit: 5},
			{Owner: "o1", Reference: "r", Asset: "JPY", DebitsMustNotExceedCredits: true, Limit: -1},
		} {
			if _, err := f.engine.CreateAccounts(f.ctx, []ledger.AccountRequest{r}); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("CreateAccounts(%+v) = %v, want invalid", r, err)
			}
		}
	})
	t.Run("AllOrNone", func(t *testing.T) {
		_, err := f.engine.CreateAccounts(f.ctx, []ledger.AccountRequest{
			{Owner: "o1", Reference: "fine", Asset: "JPY"},
			{Owner: "o1", Reference: "bad", Asset: "EUR"},
		})
		if err == nil {
			t.Fatal("a call with one bad account succeeded")
		}
		page, err := f.engine.FindAccounts(f.ctx, ledger.AccountFilter{Owner: "o1", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			if a.Reference == "fine" {
				t.Fatal("the good account of a failed call was written")
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := f.engine.FindAccountByID(f.ctx, 1<<40); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("err = %v, want not_found", err)
		}
	})
	t.Run("PagesByOwner", func(t *testing.T) {
		for range 5 {
			f.account(ledger.AccountRequest{Owner: "o2"})
		}
		var seen []int64
		var after int64
		for {
			page, err := f.engine.FindAccounts(f.ctx, ledger.AccountFilter{Owner: "o2", AfterID: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, a := range page {
				if a.Owner != "o2" {
					t.Fatalf("page holds another owner's account %+v", a)
				}
				seen = append(seen, a.ID)
			}
			after = page[len(page)-1].ID
		}
		if len(seen) != 5 {
			t.Fatalf("paged %d accounts, want 5: %v", len(seen), seen)
		}
	})
}

func testImmediate(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	res := f.expect(ledger.ResultOK, ledger.TransferRequest{Reference: "pay-1", DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 700, Code: "sale", Metadata: map[string]string{"order": "42"}})
	tr := res.Transfer
	if tr.ID == 0 || tr.Kind != ledger.KindImmediate || tr.Asset != "JPY" || !tr.CreatedAt.Equal(f.Now()) || tr.CreatedAt.Nanosecond()%1000 != 0 || tr.CreatedAt.Nanosecond() == 0 || res.Replayed {
		t.Fatalf("result %+v", res)
	}
	f.wantBalance(a.ID, 700, 0, 0, 0)
	f.wantBalance(b.ID, 0, 700, 0, 0)
	got, err := f.engine.FindTransferByID(f.ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tr.ID || got.Amount != 700 || got.Code != "sale" || got.Metadata["order"] != "42" || !got.CreatedAt.Equal(tr.CreatedAt) || got.Reference != "pay-1" {
		t.Fatalf("FindTransferByID = %+v, want %+v", got, tr)
	}
	if _, err := f.engine.FindTransferByID(f.ctx, 1<<40); !apperr.Is(err, apperr.CodeNotFound) {
		t.Fatalf("missing transfer: %v, want not_found", err)
	}
	f.verifyClean()
}

func testRejections(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	usd := f.account(ledger.AccountRequest{Asset: "USD"})
	foreign := f.account(ledger.AccountRequest{Owner: "o2"})
	long := string(make([]byte, ledger.ReferenceLenMax+1))
	for _, tc := range []struct {
		want ledger.Result
		req  ledger.TransferRequest
	}{
		{ledger.ResultReferenceTooLong, ledger.TransferRequest{Reference: long, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1}},
		{ledger.ResultTextInvalid, ledger.TransferRequest{Reference: "bad\xff", DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1}},
		{ledger.ResultTextInvalid, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1, Code: "a\x00b"}},
		{ledger.ResultAmountMustBePositive, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 0}},
		{ledger.ResultAmountMustBePositive, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: -5}},
		{ledger.ResultAccountsMustDiffer, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: a.ID, Amount: 1}},
		{ledger.ResultDebitAccountNotFound, ledger.TransferRequest{DebitAccountID: 1 << 40, CreditAccountID: b.ID, Amount: 1}},
		{ledger.ResultCreditAccountNotFound, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: 1 << 40, Amount: 1}},
		{ledger.ResultCreditAccountNotFound, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: foreign.ID, Amount: 1}},
		{ledger.ResultAssetMismatch, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: usd.ID, Amount: 1}},
		{ledger.ResultAssetMismatch, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1, Asset: "USD"}},
		{ledger.ResultTimeoutNotAllowed, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1, TimeoutSeconds: 5}},
		{ledger.ResultTimeoutInvalid, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1, TimeoutSeconds: -1}},
		{ledger.ResultPendingIDNotAllowed, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1, PendingID: 9}},
		{ledger.ResultPendingIDRequired, ledger.TransferRequest{Kind: ledger.KindPost}},
		{ledger.ResultAccountsNotAllowed, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: 9, DebitAccountID: a.ID}},
		{ledger.ResultAmountMustBeZero, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: 9, Amount: 3}},
		{ledger.ResultPendingNotFound, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: 1 << 40}},
		{ledger.ResultKindInvalid, ledger.TransferRequest{Kind: ledger.KindExpire, PendingID: 9}},
		{ledger.ResultKindInvalid, ledger.TransferRequest{Kind: "refund", DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1}},
		{ledger.ResultMetadataTooLarge, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1, Metadata: map[string]string{"k": string(make([]byte, ledger.MetadataLenMax))}}},
	} {
		t.Run(string(tc.want), func(t *testing.T) { f.expect(tc.want, tc.req) })
	}
	t.Run("ReferenceRequired", func(t *testing.T) {
		res, err := f.engine.CreateTransfer(f.ctx, ledger.TransferRequest{Owner: "o1", DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1})
		if err != nil || res.Result != ledger.ResultReferenceRequired {
			t.Fatalf("= %v, %v", res.Result, err)
		}
	})
	t.Run("OKUnusualText", func(t *testing.T) {
		a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
		for _, ref := range []string{`quote"back\\slash`, "tab\tnew\nline", "日本語-参照", "emoji-🙂", "ctl-\x01\x1f"} {
			res := f.expect(ledger.ResultOK, ledger.TransferRequest{Reference: ref, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1,
				Code: ref, Metadata: map[string]string{ref: ref}})
			got, err := f.engine.FindTransferByID(f.ctx, res.Transfer.ID)
			if err != nil || got.Reference != ref || got.Code != ref || got.Metadata[ref] != ref {
				t.Fatalf("round trip of %q: %+v, %v", ref, got, err)
			}
			again := f.expect(ledger.ResultOK, ledger.TransferRequest{Reference: ref, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1,
				Code: ref, Metadata: map[string]string{ref: ref}})
			if !again.Replayed {
				t.Fatalf("retry of %q was not a replay", ref)
			}
			f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: a.ID, Amount: 2})
		}
	})
	// Nothing a rejection touched was written.
	f.wantBalance(a.ID, 0, 0, 0, 0)
	f.wantBalance(b.ID, 0, 0, 0, 0)
	f.verifyClean()
}

func testBalanceRules(t *testing.T, h Harness) {
	f := newFixture(t, h)
	funding := f.account(ledger.AccountRequest{})
	wallet := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true})
	shop := f.account(ledger.AccountRequest{})
	f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: funding.ID, CreditAccountID: wallet.ID, Amount: 100})

	t.Run("ErrInsufficientFunds", func(t *testing.T) {
		f.expect(ledger.ResultInsufficientFunds, ledger.TransferRequest{DebitAccountID: wallet.ID, CreditAccountID: shop.ID, Amount: 101})
	})
	t.Run("OKExactlyAll", func(t *testing.T) {
		f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: wallet.ID, CreditAccountID: shop.ID, Amount: 60})
		// The hold counts against the wallet: only 40 remain.
		f.expect(ledger.ResultInsufficientFunds, ledger.TransferRequest{DebitAccountID: wallet.ID, CreditAccountID: shop.ID, Amount: 41})
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: wallet.ID, CreditAccountID: shop.ID, Amount: 40})
	})
	t.Run("ErrLimitExceeded", func(t *testing.T) {
		credit := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true, Limit: 50})
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: credit.ID, CreditAccountID: shop.ID, Amount: 50})
		f.expect(ledger.ResultLimitExceeded, ledger.TransferRequest{DebitAccountID: credit.ID, CreditAccountID: shop.ID, Amount: 1})
	})
	t.Run("ErrExceedsDebits", func(t *testing.T) {
		liability := f.account(ledger.AccountRequest{CreditsMustNotExceedDebits: true})
		f.expect(ledger.ResultExceedsDebits, ledger.TransferRequest{DebitAccountID: shop.ID, CreditAccountID: liability.ID, Amount: 1})
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: liability.ID, CreditAccountID: shop.ID, Amount: 10})
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: shop.ID, CreditAccountID: liability.ID, Amount: 10})
		capped := f.account(ledger.AccountRequest{CreditsMustNotExceedDebits: true, Limit: 5})
		f.expect(ledger.ResultLimitExceeded, ledger.TransferRequest{DebitAccountID: shop.ID, CreditAccountID: capped.ID, Amount: 6})
	})
	f.verifyClean()
}

func testOverflow(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: math.MaxInt64})
	f.expect(ledger.ResultOverflow, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1})
	// A side's posted plus pending total must stay representable too.
	f.expect(ledger.ResultOverflow, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 1})
	c, d := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: c.ID, CreditAccountID: d.ID, Amount: math.MaxInt64 - 1})
	f.expect(ledger.ResultOverflow, ledger.TransferRequest{DebitAccountID: c.ID, CreditAccountID: d.ID, Amount: 2})
	f.wantBalance(a.ID, math.MaxInt64, 0, 0, 0)
	f.wantBalance(c.ID, 0, 0, math.MaxInt64-1, 0)
	// Totals across accounts exceed int64; verify must add them without overflow.
	f.verifyClean()
}

func testIdempotency(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b, c := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	base := ledger.TransferRequest{Reference: "once", Kind: ledger.KindPending, DebitAccountID: a.ID, CreditAccountID: b.ID,
		Amount: 10, Code: "c1", TimeoutSeconds: 60, Metadata: map[string]string{"k": "v"}}
	first := f.expect(ledger.ResultOK, base)
	f.clock.Advance(time.Second)

	t.Run("OKReplayReturnsOriginal", func(t *testing.T) {
		again := f.expect(ledger.ResultOK, base)
		if !again.Replayed || again.Transfer.ID != first.Transfer.ID || !again.Transfer.CreatedAt.Equal(first.Transfer.CreatedAt) {
			t.Fatalf("replay = %+v, want the original %+v", again, first)
		}
		f.wantBalance(a.ID, 0, 0, 10, 0)
	})
	change := func(fn func(*ledger.TransferRequest)) ledger.TransferRequest {
		r := base
		r.Metadata = map[string]string{"k": "v"}
		fn(&r)
		return r
	}
	for _, tc := range []struct {
		want ledger.Result
		req  ledger.TransferRequest
	}{
		{ledger.ResultExistsWithDifferentKind, change(func(r *ledger.TransferRequest) { r.Kind = ledger.KindImmediate; r.TimeoutSeconds = 0 })},
		{ledger.ResultExistsWithDifferentDebitAccountID, change(func(r *ledger.TransferRequest) { r.DebitAccountID = c.ID })},
		{ledger.ResultExistsWithDifferentCreditAccountID, change(func(r *ledger.TransferRequest) { r.CreditAccountID = c.ID })},
		{ledger.ResultExistsWithDifferentAmount, change(func(r *ledger.TransferRequest) { r.Amount = 11 })},
		{ledger.ResultExistsWithDifferentAsset, change(func(r *ledger.TransferRequest) { r.Asset = "USD" })},
		{ledger.ResultExistsWithDifferentCode, change(func(r *ledger.TransferRequest) { r.Code = "c2" })},
		{ledger.ResultExistsWithDifferentTimeout, change(func(r *ledger.TransferRequest) { r.TimeoutSeconds = 61 })},
		{ledger.ResultExistsWithDifferentMetadata, change(func(r *ledger.TransferRequest) { r.Metadata = nil })},
	} {
		t.Run(string(tc.want), func(t *testing.T) { f.expect(tc.want, tc.req) })
	}
	t.Run("ReferencesArePerOwner", func(t *testing.T) {
		x, y := f.account(ledger.AccountRequest{Owner: "o2"}), f.account(ledger.AccountRequest{Owner: "o2"})
		f.expect(ledger.ResultOK, ledger.TransferRequest{Owner: "o2", Reference: "once", DebitAccountID: x.ID, CreditAccountID: y.ID, Amount: 3})
	})
	t.Run("PostReplay", func(t *testing.T) {
		post := ledger.TransferRequest{Reference: "post-once", Kind: ledger.KindPost, PendingID: first.Transfer.ID}
		p := f.expect(ledger.ResultOK, post)
		if p.Transfer.Amount != 10 || p.Transfer.Code != "c1" {
			t.Fatalf("full post = %+v", p.Transfer)
		}
		again := f.expect(ledger.ResultOK, post)
		if !again.Replayed || again.Transfer.ID != p.Transfer.ID {
			t.Fatalf("replayed post = %+v", again)
		}
		// The full amount stated explicitly is the same request.
		post.Amount = 10
		f.expect(ledger.ResultOK, post)
		post.Amount = 9
		f.expect(ledger.ResultExistsWithDifferentAmount, post)
		f.wantBalance(a.ID, 10, 0, 0, 0)
	})
	t.Run("RejectedIsNotStored", func(t *testing.T) {
		w := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true})
		r := ledger.TransferRequest{Reference: "later", DebitAccountID: w.ID, CreditAccountID: b.ID, Amount: 5}
		f.expect(ledger.ResultInsufficientFunds, r)
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: c.ID, CreditAccountID: w.ID, Amount: 5})
		f.expect(ledger.ResultOK, r)
	})
	t.Run("SameReferenceTwiceInOneBatch", func(t *testing.T) {
		r := ledger.TransferRequest{Owner: "o1", Reference: "dup", DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 7}
		r2 := r
		r2.Amount = 8
		out, err := f.engine.CommitBatch(f.ctx, [][]ledger.TransferRequest{{r}, {r}, {r2}})
		if err != nil {
			t.Fatal(err)
		}
		if out[0][0].Result != ledger.ResultOK || out[0][0].Replayed || !out[1][0].Replayed || out[1][0].Transfer.ID != out[0][0].Transfer.ID ||
			out[2][0].Result != ledger.ResultExistsWithDifferentAmount {
			t.Fatalf("results %+v", out)
		}
	})
	f.verifyClean()
}

func testPendingPostVoid(t *testing.T, h Harness) {
	f := newFixture(t, h)
	src := f.account(ledger.AccountRequest{})
	dst := f.account(ledger.AccountRequest{})
	pending := func(amount int64) ledger.Transfer {
		return f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: amount}).Transfer
	}
	p1 := pending(100)
	f.wantBalance(src.ID, 0, 0, 100, 0)
	f.wantBalance(dst.ID, 0, 0, 0, 100)

	t.Run("OKPartialPostReleasesRest", func(t *testing.T) {
		post := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p1.ID, Amount: 30}).Transfer
		if post.Amount != 30 || post.PendingID != p1.ID || post.DebitAccountID != src.ID || post.CreditAccountID != dst.ID {
			t.Fatalf("post = %+v", post)
		}
		f.wantBalance(src.ID, 30, 0, 0, 0)
		f.wantBalance(dst.ID, 0, 30, 0, 0)
		hold, err := f.store.HoldByID(f.ctx, p1.ID)
		if err != nil || hold.State != ledger.HoldPosted {
			t.Fatalf("hold = %+v, %v", hold, err)
		}
	})
	t.Run("ErrAlreadyPosted", func(t *testing.T) {
		f.expect(ledger.ResultPendingAlreadyPosted, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p1.ID})
		f.expect(ledger.ResultPendingAlreadyPosted, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: p1.ID})
	})
	t.Run("OKVoid", func(t *testing.T) {
		p2 := pending(50)
		v := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: p2.ID}).Transfer
		if v.Amount != 50 || v.Kind != ledger.KindVoid {
			t.Fatalf("void = %+v", v)
		}
		f.wantBalance(src.ID, 30, 0, 0, 0)
		f.expect(ledger.ResultPendingAlreadyVoided, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p2.ID})
	})
	t.Run("ErrPostExceedsPending", func(t *testing.T) {
		p3 := pending(20)
		f.expect(ledger.ResultPostAmountExceedsPending, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p3.ID, Amount: 21})
		f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p3.ID, Amount: 20})
	})
	t.Run("ErrNotAPendingTransfer", func(t *testing.T) {
		imm := f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 1}).Transfer
		f.expect(ledger.ResultPendingNotFound, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: imm.ID})
	})
	t.Run("ErrOtherOwnersPending", func(t *testing.T) {
		p4 := pending(5)
		f.expect(ledger.ResultPendingNotFound, ledger.TransferRequest{Owner: "o2", Kind: ledger.KindVoid, PendingID: p4.ID})
	})
	f.verifyClean()
}

func testExpiry(t *testing.T, h Harness) {
	f := newFixture(t, h)
	src := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true, Limit: 100})
	dst := f.account(ledger.AccountRequest{})
	p := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 80, TimeoutSeconds: 60}).Transfer
	forever := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: src.ID, CreditAccountID: dst.ID, Amount: 10}).Transfer
	if !p.TimeoutAt.Equal(f.Now().Add(time.Minute)) {
		t.Fatalf("timeout_at = %v", p.TimeoutAt)
	}
	before := f.Now()

	f.clock.Advance(59 * time.Second)
	if n, err := f.engine.ExpireDue(f.ctx); err != nil || n != 0 {
		t.Fatalf("ExpireDue before the timeout = %d, %v", n, err)
	}
	f.clock.Advance(time.Second) // exactly at the timeout: expired from this instant

	t.Run("ErrPostAfterTimeoutBeforeSweep", func(t *testing.T) {
		f.expect(ledger.ResultPendingExpired, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p.ID})
		f.expect(ledger.ResultPendingExpired, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: p.ID})
		f.wantBalance(src.ID, 0, 0, 90, 0) // not yet swept
	})
	t.Run("OKSweepReleases", func(t *testing.T) {
		n, err := f.engine.ExpireDue(f.ctx)
		if err != nil || n != 1 {
			t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
		}
		f.wantBalance(src.ID, 0, 0, 10, 0)
		f.wantBalance(dst.ID, 0, 0, 0, 10)
		if n, err := f.engine.ExpireDue(f.ctx); err != nil || n != 0 {
			t.Fatalf("second ExpireDue = %d, %v; want 0", n, err)
		}
		f.expect(ledger.ResultPendingExpired, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: p.ID})
		page, err := f.engine.FindTransfersByAccount(f.ctx, ledger.TransferFilter{AccountID: src.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		last := page[len(page)-1]
		if last.Kind != ledger.KindExpire || last.PendingID != p.ID || last.Amount != 80 || last.Reference != "" {
			t.Fatalf("expiry transfer = %+v", last)
		}
	})
	t.Run("BalanceAtSeesTimeoutNotSweep", func(t *testing.T) {
		at := func(ts time.Time) int64 {
			b, err := f.engine.BalanceAt(f.ctx, src.ID, ts)
			if err != nil {
				t.Fatal(err)
			}
			return b.DebitsPending
		}
		if got := at(before); got != 90 {
			t.Errorf("pending at creation = %d, want 90", got)
		}
		if got := at(before.Add(59 * time.Second)); got != 90 {
			t.Errorf("pending 1s before timeout = %d, want 90", got)
		}
		if got := at(before.Add(60 * time.Second)); got != 10 {
			t.Errorf("pending at the timeout = %d, want 10", got)
		}
	})
	t.Run("OKSweepPagesThroughTies", func(t *testing.T) {
		// More holds than one page of the sweep, all timing out at the same
		// instant: the pages go on by transfer id.
		const holds = 2345
		reqs := make([]ledger.TransferRequest, holds)
		for i := range reqs {
			reqs[i] = ledger.TransferRequest{Owner: "o1", Kind: ledger.KindPending, DebitAccountID: dst.ID, CreditAccountID: src.ID,
				Amount: 1, TimeoutSeconds: 60, Reference: fmt.Sprintf("tie-%d", i)}
		}
		for start := 0; start < holds; start += 500 {
			res, err := f.engine.Submit(f.ctx, reqs[start:min(start+500, holds)])
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Result != ledger.ResultOK {
					t.Fatalf("pending transfer: %s", r.Result)
				}
			}
		}
		f.clock.Advance(time.Minute)
		if n, err := f.engine.ExpireDue(f.ctx); err != nil || n != holds {
			t.Fatalf("ExpireDue = %d, %v; want %d", n, err, holds)
		}
		f.wantBalance(dst.ID, 0, 0, 0, 10)
	})
	f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPost, PendingID: forever.ID})
	f.verifyClean()
}

func testLinkedSets(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true, Limit: 100})
	b, c := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	submit := func(reqs ...ledger.TransferRequest) []ledger.TransferResult {
		t.Helper()
		for i := range reqs {
			reqs[i].Owner = "o1"
			if reqs[i].Reference == "" {
				f.seq++
				reqs[i].Reference = "l-" + string(rune('a'+f.seq%26)) + time.Now().Format("150405.000000000")
			}
		}
		res, err := f.engine.Submit(f.ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	codes := func(rs []ledger.TransferResult) []ledger.Result {
		out := make([]ledger.Result, len(rs))
		for i, r := range rs {
			out[i] = r.Result
		}
		return out
	}
	t.Run("OKAllCommit", func(t *testing.T) {
		res := submit(
			ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 30, Linked: true},
			ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 30},
			ledger.TransferRequest{DebitAccountID: c.ID, CreditAccountID: b.ID, Amount: 1}, // independent
		)
		if got := codes(res); got[0] != ledger.ResultOK || got[1] != ledger.ResultOK || got[2] != ledger.ResultOK {
			t.Fatalf("results %v", got)
		}
		f.wantBalance(b.ID, 30, 31, 0, 0)
	})
	t.Run("ErrOneFailsAllFail", func(t *testing.T) {
		res := submit(
			ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 50, Linked: true},
			ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: a.ID, CreditAccountID: c.ID, Amount: 10, Linked: true},
			ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: c.ID, Amount: 20, Linked: true}, // 30+50+10+20 > 100
			ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 1},
			ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 2}, // after the chain: independent
		)
		want := []ledger.Result{ledger.ResultLinkedEventFailed, ledger.ResultLinkedEventFailed, ledger.ResultLimitExceeded,
			ledger.ResultLinkedEventFailed, ledger.ResultOK}
		if got := codes(res); !equalResults(got, want) {
			t.Fatalf("results %v, want %v", got, want)
		}
		f.wantBalance(a.ID, 30, 0, 0, 0)
		f.wantBalance(b.ID, 32, 31, 0, 0)
	})
	t.Run("ErrChainOpen", func(t *testing.T) {
		res := submit(
			ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 1, Linked: true},
			ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 1, Linked: true},
		)
		want := []ledger.Result{ledger.ResultLinkedEventFailed, ledger.ResultLinkedEventChainOpen}
		if got := codes(res); !equalResults(got, want) {
			t.Fatalf("results %v, want %v", got, want)
		}
	})
	t.Run("OKRetryOfWholeSetReplays", func(t *testing.T) {
		set := []ledger.TransferRequest{
			{Reference: "set-1", DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 5, Linked: true},
			{Reference: "set-2", Kind: ledger.KindPending, DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 5},
		}
		first := submit(append([]ledger.TransferRequest(nil), set...)...)
		again := submit(append([]ledger.TransferRequest(nil), set...)...)
		for i := range set {
			if first[i].Result != ledger.ResultOK || !again[i].Replayed || again[i].Transfer.ID != first[i].Transfer.ID {
				t.Fatalf("item %d: first %+v, again %+v", i, first[i], again[i])
			}
		}
	})
	t.Run("ErrFailedChainLeavesNoHold", func(t *testing.T) {
		before := f.balance(c.ID)
		res := submit(
			ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: b.ID, CreditAccountID: c.ID, Amount: 9, Linked: true},
			ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: b.ID, Amount: 1},
		)
		if res[0].Result != ledger.ResultLinkedEventFailed || res[1].Result != ledger.ResultAccountsMustDiffer {
			t.Fatalf("results %v", codes(res))
		}
		if got := f.balance(c.ID); got != before {
			t.Fatalf("balance changed by a failed chain: %v -> %v", before, got)
		}
	})
	f.verifyClean()
}

func equalResults(a, b []ledger.Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testBatchNeighbours drives one batch with rejected and accepted requests
// from several callers: each learns its own result, and rejections leave their
// neighbours' effects in place.
func testBatchNeighbours(t *testing.T, h Harness) {
	f := newFixture(t, h)
	w := f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true, Limit: 10})
	x := f.account(ledger.AccountRequest{})
	r := func(ref string, amount int64) []ledger.TransferRequest {
		return []ledger.TransferRequest{{Owner: "o1", Reference: ref, DebitAccountID: w.ID, CreditAccountID: x.ID, Amount: amount}}
	}
	out, err := f.engine.CommitBatch(f.ctx, [][]ledger.TransferRequest{r("n1", 6), r("n2", 6), r("n3", 4), r("n4", 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Result{ledger.ResultOK, ledger.ResultLimitExceeded, ledger.ResultOK, ledger.ResultAmountMustBePositive}
	for i, o := range out {
		if o[0].Result != want[i] {
			t.Fatalf("caller %d: %s, want %s", i, o[0].Result, want[i])
		}
	}
	f.wantBalance(w.ID, 10, 0, 0, 0)
	f.verifyClean()
}

func testHistory(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	var ids []int64
	var times []time.Time
	for i := range 7 {
		f.clock.Advance(time.Minute)
		tr := f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: int64(i + 1)}).Transfer
		ids = append(ids, tr.ID)
		times = append(times, tr.CreatedAt)
	}
	// Transfers touching b from either side page in id order.
	f.clock.Advance(time.Minute)
	f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: b.ID, CreditAccountID: a.ID, Amount: 100})
	t.Run("CursorPages", func(t *testing.T) {
		var got []int64
		var after int64
		for {
			page, err := f.engine.FindTransfersByAccount(f.ctx, ledger.TransferFilter{AccountID: b.ID, AfterID: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, tr := range page {
				got = append(got, tr.ID)
			}
			after = page[len(page)-1].ID
		}
		if len(got) != 8 {
			t.Fatalf("paged %d transfers, want 8: %v", len(got), got)
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("page order %v, want prefix %v", got, ids)
			}
		}
	})
	t.Run("ErrLimitOutOfRange", func(t *testing.T) {
		if _, err := f.engine.FindTransfersByAccount(f.ctx, ledger.TransferFilter{AccountID: b.ID, Limit: 0}); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("err = %v, want invalid", err)
		}
	})
	t.Run("BalanceAt", func(t *testing.T) {
		for i, ts := range times {
			want := int64((i + 1) * (i + 2) / 2)
			bal, err := f.engine.BalanceAt(f.ctx, b.ID, ts)
			if err != nil {
				t.Fatal(err)
			}
			if bal.CreditsPosted != want || bal.DebitsPosted != 0 {
				t.Errorf("at %v: credits %d debits %d, want %d, 0", ts, bal.CreditsPosted, bal.DebitsPosted, want)
			}
			bal, err = f.engine.BalanceAt(f.ctx, b.ID, ts.Add(-time.Microsecond))
			if err != nil {
				t.Fatal(err)
			}
			if bal.CreditsPosted != want-int64(i+1) {
				t.Errorf("just before %v: credits %d, want %d", ts, bal.CreditsPosted, want-int64(i+1))
			}
		}
		now, err := f.engine.BalanceAt(f.ctx, b.ID, f.Now())
		if err != nil {
			t.Fatal(err)
		}
		cur := f.balance(b.ID)
		if [4]int64{now.DebitsPosted, now.CreditsPosted, now.DebitsPending, now.CreditsPending} != cur {
			t.Fatalf("BalanceAt(now) = %+v, stored %v", now, cur)
		}
		if _, err := f.engine.BalanceAt(f.ctx, 1<<40, f.clock.Now()); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("unknown account: %v, want not_found", err)
		}
	})
}

func testVerifyTampering(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 5})
	rep := f.verifyClean()
	if rep.Accounts != 2 || rep.Assets != 1 {
		t.Fatalf("report %+v", rep)
	}
	h.Tamper(t, f.store, b.ID, 1)
	rep, err := ledger.Verify(f.ctx, f.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	var named, totals bool
	for _, v := range rep.Violations {
		named = named || v.AccountID == b.ID
		totals = totals || v.Asset == "JPY"
	}
	if !named || !totals {
		t.Fatalf("violations %v: want one naming account %d and one for JPY totals", rep.Violations, b.ID)
	}
}

// testVerifyOrphans writes, behind the ledger's back, a transfer whose debit
// account does not exist: with no foreign keys on the write path, verify is
// what must notice.
func testVerifyOrphans(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	tr := f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 5}).Transfer
	f.verifyClean()
	h.Exec(t, f.store, fmt.Sprintf(`INSERT INTO transfers (id, owner, reference, kind, debit_account_id, credit_account_id, amount, asset, code, created_at)
		SELECT id + 1000000000, owner, reference || '-orphan', kind, %d, credit_account_id, amount, asset, code, created_at FROM transfers WHERE id = %d`,
		int64(1)<<50, tr.ID))
	rep, err := ledger.Verify(f.ctx, f.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range rep.Violations {
		found = found || strings.Contains(v.Problem, "account or pending hold does not exist")
	}
	if !found {
		t.Fatalf("violations %v: want one for the orphaned transfer", rep.Violations)
	}
}

// testVerifyResolutions tampers, behind the ledger's back, with how a hold
// was resolved: verify names each as a resolution that does not match its
// hold, or a malformed transfer.
func testVerifyResolutions(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"VoidRelabelledPosted", "UPDATE holds SET state = 'posted' WHERE transfer_id = %[1]d", "do not match the hold"},
		{"VoidAmountChanged", "UPDATE transfers SET amount = 7 WHERE pending_id = %[1]d", "do not match the hold"},
		{"VoidMovedToAnotherAccount", "UPDATE transfers SET credit_account_id = %[2]d WHERE pending_id = %[1]d", "do not match the hold"},
		{"UnknownKind", "UPDATE transfers SET kind = 'gift' WHERE pending_id = %[1]d", "unknown kind"},
		{"SelfTransfer", "UPDATE transfers SET credit_account_id = debit_account_id WHERE id = %[1]d", "one account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h)
			a, b, c := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
			p := f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: a.ID, CreditAccountID: b.ID, Amount: 5}).Transfer
			f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: p.ID})
			f.verifyClean()
			h.Exec(t, f.store, fmt.Sprintf(tc.sql, p.ID, c.ID))
			rep, err := ledger.Verify(f.ctx, f.store, nil)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, v := range rep.Violations {
				found = found || strings.Contains(v.Problem, tc.want)
			}
			if !found {
				t.Fatalf("violations %v: want one saying %q", rep.Violations, tc.want)
			}
		})
	}
}

func testFindTransfers(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b, c := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	x, y := f.account(ledger.AccountRequest{Owner: "o2"}), f.account(ledger.AccountRequest{Owner: "o2"})
	start := f.Now()
	var ids []int64
	for i := range 6 {
		kind := ledger.KindImmediate
		if i%3 == 2 {
			kind = ledger.KindPending
		}
		dr, cr := a.ID, b.ID
		if i%2 == 1 {
			dr, cr = b.ID, c.ID
		}
		ids = append(ids, f.expect(ledger.ResultOK, ledger.TransferRequest{Kind: kind, DebitAccountID: dr, CreditAccountID: cr, Amount: 1}).Transfer.ID)
		f.clock.Advance(time.Minute)
	}
	f.expect(ledger.ResultOK, ledger.TransferRequest{Owner: "o2", DebitAccountID: x.ID, CreditAccountID: y.ID, Amount: 1})
	find := func(q ledger.TransferQuery) []int64 {
		t.Helper()
		if q.Owner == "" {
			q.Owner = "o1"
		}
		if q.Limit == 0 {
			q.Limit = 100
		}
		got, err := f.engine.FindTransfers(f.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out := []int64{}
		for _, tr := range got {
			if tr.Owner != q.Owner {
				t.Fatalf("another owner's transfer %+v", tr)
			}
			out = append(out, tr.ID)
		}
		return out
	}
	same := func(got, want []int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	same(find(ledger.TransferQuery{}), ids)
	same(find(ledger.TransferQuery{AccountID: a.ID}), []int64{ids[0], ids[2], ids[4]})
	same(find(ledger.TransferQuery{AccountID: c.ID, Kind: ledger.KindImmediate}), []int64{ids[1], ids[3]})
	same(find(ledger.TransferQuery{Kind: ledger.KindPending}), []int64{ids[2], ids[5]})
	same(find(ledger.TransferQuery{CreatedFrom: start.Add(2 * time.Minute), CreatedBefore: start.Add(4 * time.Minute)}), []int64{ids[2], ids[3]})
	same(find(ledger.TransferQuery{AfterID: ids[3], Limit: 1}), []int64{ids[4]})
	if got := find(ledger.TransferQuery{Owner: "o2"}); len(got) != 1 {
		t.Fatalf("o2 sees %v", got)
	}
	if _, err := f.engine.FindTransfers(f.ctx, ledger.TransferQuery{Owner: "o1", Limit: 10, Kind: "refund"}); !apperr.Is(err, apperr.CodeInvalid) {
		t.Fatalf("unknown kind: %v", err)
	}
}
