package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
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
