package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// testIdempotencyKeys checks the Idempotency-Key records on a real store: claim,
// replay, reuse with another request, a concurrent duplicate, takeover of an
// abandoned claim, release and purge.
func testIdempotencyKeys(t *testing.T, h Harness) {
	s, ok := h.Open(t).(idempotency.Store)
	if !ok {
		t.Fatal("the store does not implement idempotency.Store")
	}
	ctx := context.Background()
	clock := NewClock()
	svc := idempotency.NewService(s, clock.Now)
	hash := idempotency.Hash("POST", "/v1/transfers", []byte(`{"a":1}`))
	other := idempotency.Hash("POST", "/v1/transfers", []byte(`{"a":2}`))

	if rec, err := svc.Begin(ctx, "org_1", "k1", hash); err != nil || rec != nil {
		t.Fatalf("first Begin = %+v, %v; want the claim", rec, err)
	}
	t.Run("ErrInUse", func(t *testing.T) {
		if _, err := svc.Begin(ctx, "org_1", "k1", hash); !apperr.Is(err, idempotency.CodeKeyInUse) {
			t.Fatalf("concurrent duplicate: %v, want %s", err, idempotency.CodeKeyInUse)
		}
	})
	body := []byte("{\"id\":\"tr_1\"}\n")
	if err := svc.Complete(ctx, "org_1", "k1", hash, 201, "application/json", body); err != nil {
		t.Fatal(err)
	}
	t.Run("OKReplayByteForByte", func(t *testing.T) {
		rec, err := svc.Begin(ctx, "org_1", "k1", hash)
		if err != nil || rec == nil || rec.Status != 201 || rec.ContentType != "application/json" || string(rec.Body) != string(body) {
			t.Fatalf("replay = %+v, %v", rec, err)
		}
	})
	t.Run("ErrReusedWithAnotherRequest", func(t *testing.T) {
		if _, err := svc.Begin(ctx, "org_1", "k1", other); !apperr.Is(err, idempotency.CodeKeyReused) {
			t.Fatalf("other body: %v, want %s", err, idempotency.CodeKeyReused)
		}
	})
	t.Run("KeysArePerOrganization", func(t *testing.T) {
		if rec, err := svc.Begin(ctx, "org_2", "k1", other); err != nil || rec != nil {
			t.Fatalf("another org's key: %+v, %v; want a fresh claim", rec, err)
		}
	})
	t.Run("ReleaseLetsARetryRun", func(t *testing.T) {
		if rec, err := svc.Begin(ctx, "org_1", "k2", hash); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		if err := svc.Release(ctx, "org_1", "k2"); err != nil {
			t.Fatal(err)
		}
		if rec, err := svc.Begin(ctx, "org_1", "k2", other); err != nil || rec != nil {
			t.Fatalf("after release: %+v, %v; want a fresh claim", rec, err)
		}
	})
	t.Run("AbandonedClaimIsTakenOver", func(t *testing.T) {
		if rec, err := svc.Begin(ctx, "org_1", "k3", hash); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		clock.Advance(idempotency.ClaimTimeout + time.Second)
		if rec, err := svc.Begin(ctx, "org_1", "k3", hash); err != nil || rec != nil {
			t.Fatalf("after the claim timeout: %+v, %v; want the claim", rec, err)
		}
		// A completed record is never taken over, however old.
		clock.Advance(idempotency.ClaimTimeout + time.Second)
		if rec, err := svc.Begin(ctx, "org_1", "k1", hash); err != nil || rec == nil {
			t.Fatalf("completed key after the claim timeout: %+v, %v; want a replay", rec, err)
		}
	})
	t.Run("ConcurrentCompletesOneInvalid", func(t *testing.T) {
		// Many completions at once, one of a key nobody claimed: every valid
		// one is kept and the invalid one fails. (Whether they share a group
		// transaction depends on timing; each adapter's groupwrite_test
		// builds such a batch by hand.)
		const n = 48
		for i := range n {
			if rec, err := svc.Begin(ctx, "org_n", fmt.Sprint("key-", i), hash); err != nil || rec != nil {
				t.Fatal(rec, err)
			}
		}
		errs := make([]error, n+1)
		var wg sync.WaitGroup
		for i := range n + 1 {
			wg.Go(func() {
				key := fmt.Sprint("key-", i) // key-48 was never claimed
				errs[i] = svc.Complete(ctx, "org_n", key, hash, 201, "application/json", []byte(key))
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("complete of claimed key-%d failed beside a failing neighbour: %v", i, errs[i])
			}
		}
		if errs[n] == nil {
			t.Fatal("completing a key nobody claimed succeeded")
		}
		for i := range n {
			rec, err := svc.Begin(ctx, "org_n", fmt.Sprint("key-", i), hash)
			if err != nil || rec == nil || string(rec.Body) != fmt.Sprint("key-", i) {
				t.Fatalf("key-%d after the batch: %+v, %v", i, rec, err)
			}
		}
	})
	t.Run("Purge", func(t *testing.T) {
		clock.Advance(idempotency.Retention + time.Hour)
		n, err := svc.Purge(ctx)
		if err != nil || n < 4 {
			t.Fatalf("Purge = %d, %v; want every record", n, err)
		}
		if rec, err := svc.Begin(ctx, "org_1", "k1", other); err != nil || rec != nil {
			t.Fatalf("after purge: %+v, %v; want a fresh claim", rec, err)
		}
	})
	t.Run("KeepStoresARefusalInOneCommit", func(t *testing.T) {
		refused := idempotency.Response{Status: 422, ContentType: "application/problem+json", Body: []byte(`{"code":"limit_exceeded"}`)}
		if rec, err := svc.Keep(ctx, "org_1", "k5", hash, refused); err != nil || rec != nil {
			t.Fatalf("Keep = %+v, %v; want it kept", rec, err)
		}
		rec, err := svc.Begin(ctx, "org_1", "k5", hash)
		if err != nil || rec == nil || !rec.Done || rec.Status != 422 || rec.ContentType != refused.ContentType || string(rec.Body) != string(refused.Body) {
			t.Fatalf("after Keep, Begin = %+v, %v; want the kept refusal", rec, err)
		}
		if _, err := svc.Keep(ctx, "org_1", "k5", other, refused); !apperr.Is(err, idempotency.CodeKeyReused) {
			t.Fatalf("Keep of another request: %v, want %s", err, idempotency.CodeKeyReused)
		}
		again, err := svc.Keep(ctx, "org_1", "k5", hash, idempotency.Response{Status: 400, ContentType: "application/problem+json", Body: []byte(`{}`)})
		if err != nil || again == nil || again.Status != 422 {
			t.Fatalf("Keep again = %+v, %v; want the first answer, unchanged", again, err)
		}

		if rec, err := svc.Begin(ctx, "org_1", "k6", hash); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		if _, err := svc.Keep(ctx, "org_1", "k6", hash, refused); !apperr.Is(err, idempotency.CodeKeyInUse) {
			t.Fatalf("Keep over a live claim: %v, want %s", err, idempotency.CodeKeyInUse)
		}
		clock.Advance(idempotency.ClaimTimeout + time.Second)
		if rec, err := svc.Keep(ctx, "org_1", "k6", hash, refused); err != nil || rec != nil {
			t.Fatalf("Keep over an abandoned claim = %+v, %v; want it taken over", rec, err)
		}
		if rec, err := svc.Begin(ctx, "org_1", "k6", hash); err != nil || rec == nil || rec.Status != 422 {
			t.Fatalf("after taking the claim over, Begin = %+v, %v; want the refusal", rec, err)
		}

		// A 5xx is not kept: the key stays free.
		if rec, err := svc.Keep(ctx, "org_1", "k7", hash, idempotency.Response{Status: 503}); err != nil || rec != nil {
			t.Fatalf("Keep of a 5xx = %+v, %v", rec, err)
		}
		if rec, err := svc.Begin(ctx, "org_1", "k7", hash); err != nil || rec != nil {
			t.Fatalf("after a 5xx, Begin = %+v, %v; want a fresh claim", rec, err)
		}
	})
	t.Run("DropAbandonedOnlyTheClaimRead", func(t *testing.T) {
		if rec, err := svc.Begin(ctx, "org_1", "k8", hash); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		old, err := svc.Lookup(ctx, "org_1", "k8")
		if err != nil || old == nil {
			t.Fatal(old, err)
		}
		clock.Advance(idempotency.ClaimTimeout + time.Second)
		if rec, err := svc.Begin(ctx, "org_1", "k8", hash); err != nil || rec != nil {
			t.Fatalf("takeover: %+v, %v", rec, err)
		}
		// The claim read before was taken over: it is not dropped.
		if err := svc.DropAbandoned(ctx, *old); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Begin(ctx, "org_1", "k8", hash); !apperr.Is(err, idempotency.CodeKeyInUse) {
			t.Fatalf("after dropping a claim taken over since: %v, want %s", err, idempotency.CodeKeyInUse)
		}
		now, err := svc.Lookup(ctx, "org_1", "k8")
		if err != nil || now == nil {
			t.Fatal(now, err)
		}
		if err := svc.DropAbandoned(ctx, *now); err != nil {
			t.Fatal(err)
		}
		if rec, err := svc.Lookup(ctx, "org_1", "k8"); err != nil || rec != nil {
			t.Fatalf("after dropping the claim read: %+v, %v; want no record", rec, err)
		}
		// A completed record is never dropped.
		if rec, err := svc.Keep(ctx, "org_1", "k9", hash, idempotency.Response{Status: 400, ContentType: "application/problem+json", Body: []byte(`{}`)}); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		done, err := svc.Lookup(ctx, "org_1", "k9")
		if err != nil || done == nil {
			t.Fatal(done, err)
		}
		if err := svc.DropAbandoned(ctx, *done); err != nil {
			t.Fatal(err)
		}
		if rec, err := svc.Lookup(ctx, "org_1", "k9"); err != nil || rec == nil || !rec.Done {
			t.Fatalf("a completed record after DropAbandoned: %+v, %v", rec, err)
		}
	})
	t.Run("ErrKeyLength", func(t *testing.T) {
		if _, err := svc.Begin(ctx, "org_1", "", hash); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("empty key: %v", err)
		}
	})
	t.Run("InLedgerBatch", func(t *testing.T) { testKeysInLedgerBatch(t, h) })
	t.Run("InLedgerBatchTwoWriters", func(t *testing.T) { testKeysInLedgerTwoWriters(t, h) })
}

// keyedRender is a stand-in for the API's rendering: the results as text,
// 201 for a new transfer, 200 for a replay by reference, 422 otherwise.
func keyedRender(res []ledger.TransferResult) idempotency.Response {
	status := 201
	var body []byte
	for _, r := range res {
		body = fmt.Appendf(body, "%s:%d:%t;", r.Result, r.Transfer.ID, r.Replayed)
		switch {
		case r.Result != ledger.ResultOK:
			status = 422
		case r.Replayed && status == 201:
			status = 200
		}
	}
	return idempotency.Response{Status: status, ContentType: "text/plain", Body: body}
}

func keyedClaim(org, key string, req ledger.TransferRequest) ledger.KeyClaim {
	return ledger.KeyClaim{OrgID: org, Key: key, RequestHash: idempotency.Hash("POST", "/v1/transfers", fmt.Appendf(nil, "%+v", req)), Render: keyedRender}
}

// testKeysInLedgerBatch checks Idempotency-Keys kept by the ledger batch
// itself (Engine.SubmitKeyed): one transaction applies the transfer and keeps
// its response, a retry is answered from the record without applying
// anything, and the records are the same ones idempotency.Service keeps.
func testKeysInLedgerBatch(t *testing.T, h Harness) {
	s := h.Open(t)
	f := newFixtureOn(t, s, h.Workers)
	svc := idempotency.NewService(s.(idempotency.Store), f.clock.Now)
	src, wallet, shop := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{DebitsMustNotExceedCredits: true}), f.account(ledger.AccountRequest{})
	f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: src.ID, CreditAccountID: wallet.ID, Amount: 100})
	pay := func(ref string, amount int64) ledger.TransferRequest {
		return ledger.TransferRequest{Owner: "o1", Reference: ref, DebitAccountID: wallet.ID, CreditAccountID: shop.ID, Amount: amount}
	}
	submit := func(key string, req ledger.TransferRequest, render func([]ledger.TransferResult) idempotency.Response) (ledger.KeyedAnswer, error) {
		t.Helper()
		c := keyedClaim("o1", key, req)
		if render != nil {
			c.Render = render
		}
		return f.engine.SubmitKeyed(f.ctx, []ledger.TransferRequest{req}, c)
	}

	first, err := submit("k-pay", pay("pay-1", 10), nil)
	if err != nil || first.Replayed || first.Response.Status != 201 || len(first.Results) != 1 || first.Results[0].Result != ledger.ResultOK {
		t.Fatalf("first keyed transfer = %+v, %v", first, err)
	}
	f.wantBalance(wallet.ID, 10, 100, 0, 0)
	t.Run("OKReplayByteForByte", func(t *testing.T) {
		again, err := submit("k-pay", pay("pay-1", 10), nil)
		if err != nil || !again.Replayed || again.Results != nil || again.Response.Status != 201 ||
			again.Response.ContentType != "text/plain" || string(again.Response.Body) != string(first.Response.Body) {
			t.Fatalf("replay = %+v, %v; want %+v replayed", again, err, first.Response)
		}
		// The generic path reads the same record.
		rec, err := svc.Begin(f.ctx, "o1", "k-pay", keyedClaim("o1", "k-pay", pay("pay-1", 10)).RequestHash)
		if err != nil || rec == nil || rec.Status != 201 || string(rec.Body) != string(first.Response.Body) {
			t.Fatalf("Begin on a key the ledger kept = %+v, %v", rec, err)
		}
		if rec, err := svc.Lookup(f.ctx, "o1", "k-pay"); err != nil || rec == nil || !rec.Done || string(rec.Body) != string(first.Response.Body) {
			t.Fatalf("Lookup = %+v, %v", rec, err)
		}
		f.wantBalance(wallet.ID, 10, 100, 0, 0)
	})
	t.Run("ErrReusedWithAnotherRequestAppliesNothing", func(t *testing.T) {
		_, err := submit("k-pay", pay("pay-2", 20), nil)
		if !apperr.Is(err, idempotency.CodeKeyReused) {
			t.Fatalf("another request with the key: %v, want %s", err, idempotency.CodeKeyReused)
		}
		f.wantBalance(wallet.ID, 10, 100, 0, 0)
		if ts, err := f.engine.FindTransfers(f.ctx, ledger.TransferQuery{Owner: "o1", AccountID: shop.ID, Limit: 10}); err != nil || len(ts) != 1 {
			t.Fatalf("shop's transfers = %d, %v; want only pay-1", len(ts), err)
		}
	})
	t.Run("ErrInUseByAClaimAppliesNothing", func(t *testing.T) {
		req := pay("pay-3", 5)
		if rec, err := svc.Begin(f.ctx, "o1", "k-claimed", keyedClaim("o1", "k-claimed", req).RequestHash); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		if _, err := submit("k-claimed", req, nil); !apperr.Is(err, idempotency.CodeKeyInUse) {
			t.Fatalf("key held by a claim: %v, want %s", err, idempotency.CodeKeyInUse)
		}
		f.wantBalance(wallet.ID, 10, 100, 0, 0)
	})
	t.Run("RejectionIsKept", func(t *testing.T) {
		req := pay("pay-big", 500)
		a, err := submit("k-big", req, nil)
		if err != nil || a.Response.Status != 422 || a.Results[0].Result != ledger.ResultInsufficientFunds {
			t.Fatalf("rejected keyed transfer = %+v, %v", a, err)
		}
		f.expect(ledger.ResultOK, ledger.TransferRequest{DebitAccountID: src.ID, CreditAccountID: wallet.ID, Amount: 1000})
		again, err := submit("k-big", req, nil)
		if err != nil || !again.Replayed || again.Response.Status != 422 || string(again.Response.Body) != string(a.Response.Body) {
			t.Fatalf("retry of a kept rejection = %+v, %v; want the rejection replayed", again, err)
		}
		f.wantBalance(wallet.ID, 10, 1100, 0, 0)
	})
	t.Run("ServerErrorIsNotKept", func(t *testing.T) {
		req := pay("pay-5xx", 1)
		fail := func([]ledger.TransferResult) idempotency.Response { return idempotency.Response{Status: 500} }
		if a, err := submit("k-5xx", req, fail); err != nil || a.Response.Status != 500 {
			t.Fatalf("5xx rendering = %+v, %v", a, err)
		}
		if rec, err := svc.Lookup(f.ctx, "o1", "k-5xx"); err != nil || rec != nil {
			t.Fatalf("a 5xx was kept: %+v, %v", rec, err)
		}
		// The transfer itself committed; the retry runs again and is a replay by reference.
		a, err := submit("k-5xx", req, nil)
		if err != nil || a.Replayed || a.Response.Status != 200 || !a.Results[0].Replayed {
			t.Fatalf("retry after a 5xx = %+v, %v", a, err)
		}
	})
	t.Run("DuplicatesInOneBatch", func(t *testing.T) {
		same, other := pay("dup-1", 1), pay("dup-2", 2)
		theirs := other
		theirs.Owner = "o2"
		answers, errs, err := f.engine.CommitKeyedBatch(f.ctx, []ledger.KeyedSubmission{
			{Reqs: []ledger.TransferRequest{same}, Claim: keyedClaim("o1", "k-dup", same)},
			{Reqs: []ledger.TransferRequest{same}, Claim: keyedClaim("o1", "k-dup", same)},
			{Reqs: []ledger.TransferRequest{other}, Claim: keyedClaim("o1", "k-dup", other)},
			{Reqs: []ledger.TransferRequest{theirs}, Claim: keyedClaim("o2", "k-dup", theirs)}, // another organization's key
		})
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] != nil || answers[0].Replayed || answers[0].Response.Status != 201 {
			t.Fatalf("first of the batch = %+v, %v", answers[0], errs[0])
		}
		// The same request with the key, together with the first: in use
		// (409), as a duplicate racing a claim is; a retry replays.
		if !apperr.Is(errs[1], idempotency.CodeKeyInUse) || !errors.Is(errs[1], ledger.ErrKeyInBatch) || answers[1].Results != nil {
			t.Fatalf("same request again in the batch = %+v, %v; want %s", answers[1], errs[1], idempotency.CodeKeyInUse)
		}
		retry, err := f.engine.SubmitKeyed(f.ctx, []ledger.TransferRequest{same}, keyedClaim("o1", "k-dup", same))
		if err != nil || !retry.Replayed || string(retry.Response.Body) != string(answers[0].Response.Body) {
			t.Fatalf("the retry after the batch = %+v, %v; want the first's response replayed", retry, err)
		}
		if !apperr.Is(errs[2], idempotency.CodeKeyReused) {
			t.Fatalf("another request with the key in the batch: %v", errs[2])
		}
		// o2 does not own the accounts: applied and rejected, and kept for o2's key.
		if errs[3] != nil || answers[3].Replayed || answers[3].Results[0].Result != ledger.ResultDebitAccountNotFound {
			t.Fatalf("another organization's key = %+v, %v", answers[3], errs[3])
		}
		f.wantBalance(wallet.ID, 12, 1100, 0, 0)
	})
	t.Run("BatchOfSeveralTransfers", func(t *testing.T) {
		reqs := []ledger.TransferRequest{pay("multi-1", 1), pay("multi-2", 2)}
		reqs[0].Linked = true
		c := ledger.KeyClaim{OrgID: "o1", Key: "k-multi", RequestHash: []byte("multi"), Render: keyedRender}
		a, err := f.engine.SubmitKeyed(f.ctx, reqs, c)
		if err != nil || len(a.Results) != 2 || a.Response.Status != 201 {
			t.Fatalf("keyed submission of two = %+v, %v", a, err)
		}
		again, err := f.engine.SubmitKeyed(f.ctx, reqs, c)
		if err != nil || !again.Replayed || string(again.Response.Body) != string(a.Response.Body) {
			t.Fatalf("replay of two = %+v, %v", again, err)
		}
		f.wantBalance(wallet.ID, 15, 1100, 0, 0)
	})
	t.Run("ErrInvalidKey", func(t *testing.T) {
		for _, key := range []string{"", strings.Repeat("k", idempotency.KeyLenMax+1), "\xff", "a\x00b"} {
			if _, err := submit(key, pay("bad-key", 1), nil); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("key %q: %v, want invalid", key, err)
			}
		}
	})
	f.verifyClean()
}

// testKeysInLedgerTwoWriters races one key on two engines sharing one
// database, as two nodes would: exactly one request is applied and both are
// answered consistently. With one request body, the second waits for the
// first's account locks and replays its response; with two bodies on
// different accounts nothing orders them, both may miss the key, and the
// loser's insert of the key fails and its batch is retried (PostgreSQL).
func testKeysInLedgerTwoWriters(t *testing.T, h Harness) {
	f, e2 := newPairFixture(t, h)
	e1 := f.engine
	attempts := 20
	if testing.Short() {
		attempts = 5
	}
	for i := range attempts {
		src := f.account(ledger.AccountRequest{})
		a := f.account(ledger.AccountRequest{})
		key := fmt.Sprint("race-", i)
		// The same request twice.
		req := ledger.TransferRequest{Owner: "o1", Reference: key, DebitAccountID: src.ID, CreditAccountID: a.ID, Amount: 7}
		var answers [2]ledger.KeyedAnswer
		var errs [2]error
		var wg sync.WaitGroup
		for k, e := range []*ledger.Engine{e1, e2} {
			wg.Go(func() {
				answers[k], errs[k] = e.SubmitKeyed(f.ctx, []ledger.TransferRequest{req}, keyedClaim("o1", key, req))
			})
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || answers[0].Replayed == answers[1].Replayed ||
			string(answers[0].Response.Body) != string(answers[1].Response.Body) || answers[0].Response.Status != 201 {
			t.Fatalf("attempt %d, one request: %+v, %v and %+v, %v; want one applied, one replaying it", i, answers[0], errs[0], answers[1], errs[1])
		}
		f.wantBalance(a.ID, 0, 7, 0, 0)
	}
	// Two requests with one key, on disjoint accounts, many keys at once so
	// that batches of the two engines overlap.
	const keys = 32
	src, c := f.account(ledger.AccountRequest{}), f.account(ledger.AccountRequest{})
	var pairs [keys][2]ledger.TransferRequest
	for i := range pairs {
		pairs[i] = [2]ledger.TransferRequest{
			{Owner: "o1", Reference: fmt.Sprint("two-", i, "-a"), DebitAccountID: src.ID, CreditAccountID: c.ID, Amount: 1},
			{Owner: "o1", Reference: fmt.Sprint("two-", i, "-b"), DebitAccountID: f.account(ledger.AccountRequest{}).ID, CreditAccountID: f.account(ledger.AccountRequest{}).ID, Amount: 1},
		}
	}
	var answers [keys][2]ledger.KeyedAnswer
	var errs [keys][2]error
	var wg sync.WaitGroup
	for i := range pairs {
		for k, e := range []*ledger.Engine{e1, e2} {
			wg.Go(func() {
				key := fmt.Sprint("two-", i)
				answers[i][k], errs[i][k] = e.SubmitKeyed(f.ctx, []ledger.TransferRequest{pairs[i][k]}, keyedClaim("o1", key, pairs[i][k]))
			})
		}
	}
	wg.Wait()
	wonA := int64(0)
	for i := range pairs {
		won := -1
		for k := range 2 {
			switch {
			case errs[i][k] == nil && !answers[i][k].Replayed && answers[i][k].Response.Status == 201:
				if won >= 0 {
					t.Fatalf("key two-%d: both requests with one key were applied", i)
				}
				won = k
			case !apperr.Is(errs[i][k], idempotency.CodeKeyReused):
				t.Fatalf("key two-%d: %+v, %v; want applied or %s", i, answers[i][k], errs[i][k], idempotency.CodeKeyReused)
			}
		}
		if won < 0 {
			t.Fatalf("key two-%d: neither request with the key was applied: %v, %v", i, errs[i][0], errs[i][1])
		}
		if won == 0 {
			wonA++
		} else {
			f.wantBalance(pairs[i][1].CreditAccountID, 0, 1, 0, 0)
		}
	}
	f.wantBalance(c.ID, 0, wonA, 0, 0)
	f.verifyClean()
}
