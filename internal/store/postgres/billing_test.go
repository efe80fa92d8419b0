package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/billing"
)

// TestBillingTransactLeavesWhenItsCallerDoes: a billing operation waiting
// for a lock another transaction holds gives up when its caller goes away,
// freeing its connection, and commits nothing.
func TestBillingTransactLeavesWhenItsCallerDoes(t *testing.T) {
	db := MustOpenFresh(t)
	bg := context.Background()
	holder, err := db.pool.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(bg)
	if _, err := holder.Exec(bg, "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- db.BillingTransact(ctx, func(ctx context.Context, tx billing.Tx) error {
			_, _, err := tx.AuditHeadForUpdate(ctx)
			return err
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a caller gone while waiting for a lock: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("BillingTransact still waits for the lock after its caller left")
	}
}
