package postgres

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store"
	"github.com/kinko-pay/kinko/internal/store/storetest"
)

// envURL names the variable that points the tests at a PostgreSQL server,
// e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. The user
// must be allowed to create and drop databases.
const envURL = "KINKO_TEST_POSTGRES"

func serverURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		tb.Skip("KINKO_TEST_POSTGRES is not set; skipping the PostgreSQL suite")
	}
	return u
}

// newDatabase creates an empty database on the test server, dropped when the
// test ends, and returns its URL.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabaseFrom(tb, "")
}

// newDatabaseFrom is newDatabase copying the database template ("" for the
// server's default).
func newDatabaseFrom(tb testing.TB, template string) string {
	tb.Helper()
	base := serverURL(tb)
	ctx := context.Background()
	name := createDatabase(tb, base, "kinko_test_", template)
	tb.Cleanup(func() {
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return databaseURL(tb, base, name)
}

// createDatabase creates a database named prefix and random hex on the
// server at base, copying template unless it is "", and returns its name.
func createDatabase(tb testing.TB, base, prefix, template string) string {
	tb.Helper()
	ctx := context.Background()
	var buf [6]byte
	if _, err := crand.Read(buf[:]); err != nil {
		tb.Fatal(err)
	}
	name := prefix + hex.EncodeToString(buf[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", envURL, err)
	}
	defer admin.Close(ctx)
	sql := "CREATE DATABASE " + name
	if template != "" {
		sql += " TEMPLATE " + template
	}
	if _, err := admin.Exec(ctx, sql); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return name
}

// databaseURL is base with its database replaced by name.
func databaseURL(tb testing.TB, base, name string) string {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		tb.Fatalf("%s must be a postgres:// URL", envURL)
	}
	u.Path = "/" + name
	return u.String()
}

// migrated is the database that MustOpenFresh copies: migrated once per test
// process, as copying a database is a file copy and migrating one (this
// package's migrations and River's) costs some hundred milliseconds more.
// TestMain drops it.
var migrated struct {
	once sync.Once
	name string
	err  error
}

// migratedTemplate returns the name of the migrated template database,
// creating it on first use.
func migratedTemplate(tb testing.TB) string {
	tb.Helper()
	base := serverURL(tb)
	migrated.once.Do(func() {
		migrated.err = errors.New("the template database was not created") // until it is
		name := createDatabase(tb, base, "kinko_template_", "")
		migrated.name = name
		db, err := Open(context.Background(), databaseURL(tb, base, name))
		if err != nil {
			migrated.err = err
			return
		}
		// Closed before any copy: a template must have no sessions.
		defer db.Close()
		_, migrated.err = db.Migrate(context.Background())
	})
	if migrated.err != nil {
		tb.Fatalf("migrate the template database: %v", migrated.err)
	}
	return migrated.name
}

func TestMain(m *testing.M) {
	code := m.Run()
	if migrated.name != "" {
		ctx := context.Background()
		if admin, err := pgx.Connect(ctx, os.Getenv(envURL)); err == nil {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+migrated.name+" WITH (FORCE)")
			admin.Close(ctx)
		}
	}
	os.Exit(code)
}

// MustOpen opens url, closed when the test ends (before its database is dropped).
func MustOpen(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustOpenFresh opens a fresh, migrated, empty database.
func MustOpenFresh(tb testing.TB) *DB {
	tb.Helper()
	return MustOpen(tb, newMigratedDatabase(tb))
}

// newMigratedDatabase is newDatabase with every migration applied.
func newMigratedDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabaseFrom(tb, migratedTemplate(tb))
}

func harness() storetest.Harness {
	return storetest.Harness{
		Open: func(tb testing.TB) ledger.Store { return MustOpenFresh(tb) },
		OpenPair: func(tb testing.TB) (ledger.Store, ledger.Store) {
			u := newMigratedDatabase(tb)
			return MustOpen(tb, u), MustOpen(tb, u)
		},
		Exec: func(tb testing.TB, s ledger.Store, sql string) {
			tb.Helper()
			if _, err := s.(*DB).pool.Exec(context.Background(), sql); err != nil {
				tb.Fatal(err)
			}
		},
		Tamper: func(tb testing.TB, s ledger.Store, accountID, delta int64) {
			tb.Helper()
			tag, err := s.(*DB).pool.Exec(context.Background(),
				"UPDATE accounts SET credits_posted = credits_posted + $1 WHERE id = $2", delta, accountID)
			if err != nil || tag.RowsAffected() != 1 {
				tb.Fatalf("tamper with account %d: %v (%d rows)", accountID, err, tag.RowsAffected())
			}
		},
		Workers: 4,
	}
}

func TestStore(t *testing.T) {
	serverURL(t)
	storetest.Run(t, harness())
}

func TestEvents(t *testing.T) {
	serverURL(t)
	storetest.RunEvents(t, harness())
}

func TestWebhooks(t *testing.T) {
	serverURL(t)
	storetest.RunWebhooks(t, harness())
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	ms, err := store.LoadMigrations(migrationFS, "migration")
	if err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, m := range ms {
		all = append(all, m.Version)
	}
	t.Run("TwiceIsNoOp", func(t *testing.T) {
		db := MustOpen(t, newDatabase(t))
		n, err := db.Migrate(ctx)
		if err != nil || n != len(ms) {
			t.Fatalf("first Migrate = %d, %v; want %d, nil", n, err, len(ms))
		}
		n, err = db.Migrate(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("ConcurrentBothSucceed", func(t *testing.T) {
		u := newDatabase(t)
		dbs := []*DB{MustOpen(t, u), MustOpen(t, u)}
		errs := make([]error, len(dbs))
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() { _, errs[i] = db.Migrate(ctx) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
		versions, err := dbs[0].MigrationVersions(ctx)
		if err != nil || !slices.Equal(versions, all) {
			t.Fatalf("versions = %v, %v; want %v", versions, err, all)
		}
		if n, err := dbs[1].Migrate(ctx); err != nil || n != 0 {
			t.Fatalf("Migrate after both = %d, %v; want 0, nil", n, err)
		}
		for _, db := range dbs {
			if depth, err := db.JobQueueDepth(ctx); err != nil || len(depth) != 4 || depth["available"] != 0 {
				t.Fatalf("JobQueueDepth after Migrate = %v, %v; want River's tables, empty", depth, err)
			}
		}
	})
	t.Run("ErrNewerSchema", func(t *testing.T) {
		db := MustOpenFresh(t)
		if _, err := db.pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', now())"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err == nil {
			t.Fatal("Migrate on a newer schema succeeded; want an error")
		}
	})
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"SerializationFailure", &pgconn.PgError{Code: "40001"}, true},
		{"Deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, true},
		{"Wrapped", fmt.Errorf("ledger: insert: %w", &pgconn.PgError{Code: "40001"}), true},
		{"ForeignKeyViolation", &pgconn.PgError{Code: "23503"}, false},
		{"LockTimeout", &pgconn.PgError{Code: "55P03"}, false},
		{"NotFound", apperr.NotFound("account"), false},
		{"Plain", errors.New("connection reset"), false},
		{"Nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Run("ErrBadURL", func(t *testing.T) {
		if _, err := Open(context.Background(), "postgres://u:secret@[::1"); err == nil {
			t.Fatal("Open accepted a malformed URL")
		}
	})
	t.Run("OK", func(t *testing.T) {
		db := MustOpen(t, serverURL(t))
		if db.Kind() != "postgres" {
			t.Errorf("Kind = %q", db.Kind())
		}
		if err := db.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

// Bounds of BenchmarkEngine: concurrent callers, each submitting one
// transfer at a time, between random pairs of benchAccounts accounts.
const (
	benchClients  = 64
	benchAccounts = 10000
)

var benchWorkers = flag.Int("bench.workers", 4, "engine workers for BenchmarkEngine")

// BenchmarkEngine measures group-commit throughput on this store: 64 callers
// each send one immediate transfer at a time through one engine with 4
// workers. Run it with a fixed count so the setup happens once per run:
//
//	KINKO_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//	  go test ./internal/store/postgres/ -run '^$' -bench Engine -benchtime 200000x -count 3
func BenchmarkEngine(b *testing.B) { benchEngine(b, nil) }

// BenchmarkEngineEvents is BenchmarkEngine with the outbox on: every account
// and transfer also writes an event of about 300 bytes, as the server does.
func BenchmarkEngineEvents(b *testing.B) { benchEngine(b, benchEncoder{}) }

// benchEncoder renders objects as the API roughly does: a JSON object of
// about 300 bytes.
type benchEncoder struct{}

func (benchEncoder) TransferEventData(t ledger.Transfer) []byte {
	return fmt.Appendf(nil, `{"object":"transfer","id":"tr_%d","owner":%q,"reference":%q,"kind":%q,`+
		`"debit_account_id":"acct_%d","credit_account_id":"acct_%d","amount":"%d","asset":%q,"code":%q,`+
		`"pending_id":null,"timeout_at":null,"metadata":{},"created_at":%q}`,
		t.ID, t.Owner, t.Reference, t.Kind, t.DebitAccountID, t.CreditAccountID, t.Amount, t.Asset, t.Code,
		t.CreatedAt.Format(time.RFC3339Nano))
}

func (benchEncoder) AccountEventData(a ledger.Account) []byte {
	return fmt.Appendf(nil, `{"object":"account","id":"acct_%d","owner":%q,"reference":%q,"asset":%q,"created_at":%q}`,
		a.ID, a.Owner, a.Reference, a.Asset, a.CreatedAt.Format(time.RFC3339Nano))
}

func benchEngine(b *testing.B, events ledger.EventEncoder) {
	ctx := context.Background()
	db := MustOpenFresh(b)
	var batches, requests atomic.Int64
	e := ledger.NewEngine(db, ledger.Config{Workers: *benchWorkers, Events: events, Observe: func(s ledger.BatchStats) {
		if s.Err != nil {
			b.Errorf("batch: %v", s.Err)
		}
		batches.Add(1)
		requests.Add(int64(s.Requests))
	}})
	defer e.Close()
	if err := e.CreateAsset(ctx, money.Asset{Code: "JPY", Scale: 0}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]ledger.AccountRequest, benchAccounts)
	for i := range reqs {
		reqs[i] = ledger.AccountRequest{Owner: "bench", Reference: fmt.Sprint("acct-", i), Asset: "JPY"}
	}
	accts, err := e.CreateAccounts(ctx, reqs)
	if err != nil {
		b.Fatal(err)
	}
	batches.Store(0)
	requests.Store(0)

	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range benchClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), uint64(b.N)))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				dr := r.IntN(benchAccounts)
				cr := (dr + 1 + r.IntN(benchAccounts-1)) % benchAccounts
				res, err := e.CreateTransfer(ctx, ledger.TransferRequest{Owner: "bench", Reference: fmt.Sprint("t-", i),
					DebitAccountID: accts[dr].ID, CreditAccountID: accts[cr].ID, Amount: 1 + r.Int64N(1000)})
				if err != nil || res.Result != ledger.ResultOK {
					b.Errorf("transfer %d: %v %v", i, res.Result, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "transfers/s")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(requests.Load())/float64(n), "transfers/batch")
	}
}

// BenchmarkBillingPairs: reserve + final charge pairs through the billing
// service (storetest.BenchBillingPairs).
func BenchmarkBillingPairs(b *testing.B) { storetest.BenchBillingPairs(b, harness()) }
