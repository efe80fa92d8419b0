package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/idempotency"
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
	t.Run("ErrKeyLength", func(t *testing.T) {
		if _, err := svc.Begin(ctx, "org_1", "", hash); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("empty key: %v", err)
		}
	})
}
