// Package postgres is Kinko's production store: PostgreSQL through a pgx
// connection pool. It implements ledger.Store, auth.Store, auth.StaffStore,
// idempotency.Store, event.Store, webhook.Store and audit.Store (its write
// transaction is both a ledger.Tx and an audit.Tx), and any number of kinko
// processes (nodes) may share one database.
//
// Each ledger transaction is READ COMMITTED. Balance checks stay exact across
// nodes because the ledger reads the holds and accounts it changes with
// SELECT … FOR UPDATE, in ascending id order, before it decides anything;
// a concurrent insert of the same (owner, reference) fails the later
// transaction with a unique violation, and the retry sees the first one.
// Serialization failures, deadlocks and those unique violations are retried a
// bounded number of times (store.RetryMax).
//
// Every Tx method is one SQL statement however many rows it touches, and
// statements travel in pipelines: BEGIN goes with the first read, and writes
// go with the next read or with COMMIT, so a typical batch costs three round
// trips.
//
// SQL lives here and in store/sqlite only; this package holds no business
// rules, and its schema must never depend on features that
// PostgreSQL-compatible distributed databases reject.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/store"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// PoolConnsMax is the pool size Open uses unless the URL sets pool_max_conns.
// The engine commits a few batches at once (its Workers), group writes take
// two and reads take most of the rest. River shares the pool: its LISTEN
// connection is taken out of the pool (one more server connection per node),
// but its fetches and completions, the dispatcher's transaction and the
// store calls of delivery jobs (up to jobs.WorkersDefault jobs at once, each
// call short) come in bursts; eight more keep those bursts from making the
// ledger wait. More than that only adds contention on a small server, and
// three nodes stay within PostgreSQL's default max_connections of 100.
const PoolConnsMax = 24

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations of one database across processes ("kinko" in ASCII).
const migrationLockKey int64 = 0x6b696e6b6f

// dispatchLockKey is the pg_advisory_xact_lock key that makes event
// dispatches run one at a time across nodes ("kinko" then "ev").
const dispatchLockKey int64 = 0x6b696e6b6f6576

// rollbackTimeout bounds the ROLLBACK sent after a failed attempt, which runs
// even when the caller's context has ended.
const rollbackTimeout = 5 * time.Second

// commitTimeout bounds a COMMIT that runs after its caller may have gone
// (BillingTransact): long enough for any lock wait a healthy database has,
// short enough that a stuck one frees the connection.
const commitTimeout = 30 * time.Second

// DB is an open PostgreSQL store.
type DB struct {
	reads // the reads a snapshot serves too (BillingSnapshot), on the pool
	pool  *pgxpool.Pool
	group *store.Batcher[*groupOp] // small writes, gathered into one transaction per batch
	jobs  *river.Client[pgx.Tx]    // inserts River jobs in this adapter's transactions; works none
}

var _ store.Migrator = (*DB)(nil)

// Open connects a pool to the database at url, a postgres:// URL or a
// key=value connection string as libpq accepts. It checks that the server
// answers but does not apply migrations; call Migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included: do not wrap it.
		return nil, errors.New("postgres: cannot parse the connection URL")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = PoolConnsMax
	}
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.AfterConnect = preferGenericPlans
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	db := &DB{reads: reads{pool}, pool: pool}
	if db.jobs, err = newJobInserter(db); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.group = newGroupWriter(db)
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return db, nil
}

// preferGenericPlans makes the server plan each of this package's prepared
// statements once per connection. Every hot statement is written so that its
// generic plan is index-driven whatever the table statistics; left on auto,
// PostgreSQL keeps re-planning the ones whose array arguments it cannot size
// (= ANY($1), unnest), which measured 5-10% of the server's CPU per
// transfer. A server that does not know the setting (PostgreSQL before 12,
// some compatible databases) keeps its default; a URL that sets
// plan_cache_mode wins.
func preferGenericPlans(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, "SET plan_cache_mode = force_generic_plan")
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return nil
	}
	return err
}

// Kind names the store for reports.
func (db *DB) Kind() string { return "postgres" }

// Close closes the pool, waiting for connections in use to be returned.
func (db *DB) Close() error {
	db.group.Close()
	db.pool.Close()
	return nil
}

// Ping checks that the server answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations not yet applied, then River's, and
// returns how many of its own it applied. Processes may migrate one database
// at once: each step holds an advisory lock, and a migration another process
// applied meanwhile is skipped.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	ms, err := store.LoadMigrations(migrationFS, "migration")
	if err != nil {
		return 0, err
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	n, err := store.Migrate(ctx, db, ms)
	if err != nil {
		return n, err
	}
	return n, db.migrateRiver(ctx)
}

// MigrationVersions implements store.Migrator.
func (db *DB) MigrationVersions(ctx context.Context) ([]int, error) {
	rows, err := db.pool.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	out, err := collect(rows, scanOne[int])
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	return out, nil
}

// MigrationApply implements store.Migrator. The advisory lock serialises
// processes migrating at once; the one that waited sees the version recorded
// and changes nothing.
func (db *DB) MigrationApply(ctx context.Context, m store.Migration) (bool, error) {
	applied := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return err
		}
		var done bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.Version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// runs several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", m.Version, m.Name)
		applied = err == nil
		return err
	})
	return applied && err == nil, err
}

// SQLSTATE codes that a fresh attempt of the same transaction can resolve.
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeUniqueViolation      = "23505"
)

// retryable reports errors that a fresh attempt can resolve: a serialization
// failure (distributed PostgreSQL-compatible databases report these at
// READ COMMITTED too), a deadlock, or a unique violation, which means another
// node inserted the same reference first; on retry the ledger finds that row
// and answers as an idempotent replay.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case codeSerializationFailure, codeDeadlockDetected, codeUniqueViolation:
		return true
	}
	return false
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFound(what)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
