package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/store"
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

func TestEvents(t *testing.T) { storetest.RunEvents(t, harness()) }

func TestWebhooks(t *testing.T) { storetest.RunWebhooks(t, harness()) }

func TestMigrateTwiceIsNoop(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	n, err := db.Migrate(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
}

func TestMigrateConcurrentBothSucceed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kinko.db")
	dbs := make([]*DB, 2)
	for i := range dbs {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	ns := make([]int, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { ns[i], errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	ms, err := store.LoadMigrations(migrationFS, "migration")
	if err != nil {
		t.Fatal(err)
	}
	if ns[0]+ns[1] != len(ms) {
		t.Fatalf("the two Migrate calls applied %d and %d migrations, want %d in all", ns[0], ns[1], len(ms))
	}
	for _, db := range dbs {
		depth, err := db.JobQueueDepth(ctx)
		if err != nil || len(depth) != 4 || depth["available"] != 0 {
			t.Fatalf("JobQueueDepth after Migrate = %v, %v", depth, err)
		}
	}
}

// TestOpenConcurrentOnAFreshFile opens one fresh file from several handles
// at once, as two processes starting together do: each waits for the others
// to turn WAL on instead of failing with "database is locked".
func TestOpenConcurrentOnAFreshFile(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "kinko.db")
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				db, err := Open(ctx, path)
				if err == nil {
					_, err = db.Migrate(ctx)
					db.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: concurrent Open and Migrate of a fresh file: %v", round, err)
		}
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "kinko.db")
	db := openFile(t, path)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBankAccountRegisteredByBackfill: migration 0015 names who registered
// an account from the audit log, for accounts from before 0014.
func TestBankAccountRegisteredByBackfill(t *testing.T) {
	ctx := context.Background()
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	backfill, err := migrationFS.ReadFile("migration/0015_bank_account_registered_by_backfill.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO escrow_bank_accounts (email, bank_code, bank_name, branch_code, branch_name, account_type, account_number, holder_name, fingerprint, invalid, updated_at, registered_by)
			VALUES ('site@example.com', '0001', 'B', '100', 'H', 'ordinary', '1234567', 'N', 'f1', 0, 1, ''),
			       ('self@example.com', '0001', 'B', '100', 'H', 'ordinary', '7654321', 'N', 'f2', 0, 1, ''),
			       ('none@example.com', '0001', 'B', '100', 'H', 'ordinary', '1111111', 'N', 'f3', 0, 1, '')`,
		`INSERT INTO audit_entries (seq, at, actor_type, actor_id, action, subject_type, subject_id, org_id, data, prev_hash, hash) VALUES
			(1, 1, 'user', 'usr_x', 'payee.bank_account_set', 'payee', 'site@example.com', '', '{}', x'', x'01'),
			(2, 2, 'org', 'org_site', 'payee.bank_account_set', 'payee', 'site@example.com', 'org_site', '{}', x'01', x'02'),
			(3, 3, 'user', 'usr_self', 'payee.bank_account_set', 'payee', 'self@example.com', '', '{}', x'02', x'03')`,
		string(backfill),
	} {
		if _, err := db.write.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for email, want := range map[string]string{"site@example.com": "org_site", "self@example.com": "payee", "none@example.com": ""} {
		var got string
		if err := db.read.QueryRowContext(ctx, "SELECT registered_by FROM escrow_bank_accounts WHERE email = ?", email).Scan(&got); err != nil || got != want {
			t.Errorf("%s registered by %q, %v; want %q", email, got, err, want)
		}
	}
}

// TestTempStore checks that the write pool keeps its temporary files
// (statement journals) in memory and the read pool keeps SQLite's default.
func TestTempStore(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "kinko.db"))
	for _, c := range []struct {
		name string
		pool interface {
			QueryRow(string, ...any) *sql.Row
		}
		want int
	}{{"write", db.write, 2}, {"read", db.read, 0}} {
		var got int
		if err := c.pool.QueryRow("PRAGMA temp_store").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s pool: temp_store = %d, want %d", c.name, got, c.want)
		}
	}
}
