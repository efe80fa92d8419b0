package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/store/storetest"
)

func openFile(t testing.TB, path string) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func harness() storetest.Harness {
	return storetest.Harness{
		Open: func(t testing.TB) ledger.Store {
			return openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
		},
		OpenPair: func(t testing.TB) (ledger.Store, ledger.Store) {
			path := filepath.Join(t.TempDir(), "kinko.db")
			return openFile(t, path), openFile(t, path)
		},
		Tamper: func(t testing.TB, s ledger.Store, accountID, delta int64) {
			t.Helper()
			_, err := s.(*DB).write.Exec("UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?", delta, accountID)
			if err != nil {
				t.Fatal(err)
			}
		},
		Exec: func(t testing.TB, s ledger.Store, sql string) {
			t.Helper()
			if _, err := s.(*DB).write.Exec(sql); err != nil {
				t.Fatal(err)
			}
		},
		Workers: 1,
	}
}

func TestSuite(t *testing.T) { storetest.Run(t, harness()) }

func TestMigrateTwiceIsNoop(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	n, err := db.Migrate(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "kinko.db")
	db := openFile(t, path)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
