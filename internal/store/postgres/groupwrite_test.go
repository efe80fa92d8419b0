package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestGroupWriterIsolatesAFailingStatement commits one hand-made batch in
// which one statement fails: it alone gets the error and every neighbour is
// written.
func TestGroupWriterIsolatesAFailingStatement(t *testing.T) {
	db := MustOpenFresh(t)
	ctx := context.Background()
	var ops []*groupOp
	for i := range 5 {
		op := &groupOp{sql: "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)",
			args: []any{"org", fmt.Sprint("k", i), []byte{1}, time.Now()}}
		if i == 2 {
			op.check = func(pgconn.CommandTag) error { return errors.New("refused") } // fails after it ran
		}
		ops = append(ops, op)
	}
	for i, err := range db.groupCommit(ops) {
		if (i == 2) != (err != nil) {
			t.Errorf("op %d: %v", i, err)
		}
	}
	var n int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM idempotency_keys WHERE org_id = 'org' AND key <> 'k2'").Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d neighbours written, %v; want 4", n, err)
	}
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM idempotency_keys WHERE org_id = 'org' AND key = 'k2'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused op's row was kept (%d), %v", n, err)
	}
}
