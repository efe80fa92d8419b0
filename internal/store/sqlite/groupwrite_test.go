package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/billing"
)

// TestGroupWriterIsolatesAFailingOperation commits one hand-made batch in
// which one operation fails after writing: its write is rolled back to its
// savepoint, it alone gets the error, and every neighbour is committed.
func TestGroupWriterIsolatesAFailingOperation(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	insert := func(key string, fail bool) groupOp {
		return func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ('org', ?, x'01', 0)", key); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		}
	}
	var ops []groupOp
	for i := range 5 {
		ops = append(ops, insert(fmt.Sprint("k", i), i == 2))
	}
	for i, err := range db.groupCommit(ops) {
		if (i == 2) != (err != nil) {
			t.Errorf("op %d: %v", i, err)
		}
	}
	var keys []string
	rows, err := db.read.Query("SELECT key FROM idempotency_keys WHERE org_id = 'org' ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	if fmt.Sprint(keys) != "[k0 k1 k3 k4]" {
		t.Fatalf("committed %v, want the four neighbours and not the failed one", keys)
	}
}

// TestBillingTransactIgnoresCancellation: a billing operation whose caller
// is gone before its turn does not run; once it runs, its statements use a
// context the caller cannot cancel, so a cancellation mid-way cannot
// interrupt (and so roll back) the transaction it shares with others.
func TestBillingTransactIgnoresCancellation(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := db.BillingTransact(gone, func(context.Context, billing.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("canceled caller: ran %v, err %v", ran, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = db.BillingTransact(ctx, func(fnCtx context.Context, tx billing.Tx) error {
		cancel()
		if fnCtx.Err() != nil {
			return fmt.Errorf("fn's context ended with its caller's: %w", fnCtx.Err())
		}
		_, err := tx.AssetByCode(fnCtx, "JPY")
		if !apperr.Is(err, apperr.CodeNotFound) {
			return fmt.Errorf("statement after the caller's cancel: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupWriterSurvivesAPanic: an operation that panics fails alone; the
// writer goes on and its neighbours commit.
func TestGroupWriterSurvivesAPanic(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	insert := func(key string) groupOp {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ('org', ?, x'01', 0)", key)
			return err
		}
	}
	boom := func(ctx context.Context, tx *sql.Tx) error {
		if err := insert("boom")(ctx, tx); err != nil {
			return err
		}
		panic("a bug")
	}
	errs := db.groupCommit([]groupOp{insert("a"), boom, insert("b")})
	if errs[0] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "a bug") || errs[2] != nil {
		t.Fatalf("errors %v", errs)
	}
	err := db.BillingTransact(context.Background(), func(context.Context, billing.Tx) error { panic("another bug") })
	if err == nil || !strings.Contains(err.Error(), "another bug") {
		t.Fatalf("a panicking billing operation: %v", err)
	}
	var n int
	if err := db.read.QueryRow("SELECT count(*) FROM idempotency_keys WHERE org_id = 'org'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d keys committed (%v), want the two neighbours", n, err)
	}
}
