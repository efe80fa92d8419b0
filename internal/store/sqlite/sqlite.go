// Package sqlite is Kinko's embedded store: one SQLite file in WAL mode, the
// zero-setup default. It implements ledger.Store, auth.Store,
// auth.StaffStore, idempotency.Store, event.Store, webhook.Store and
// audit.Store (its write transaction is both a ledger.Tx and an audit.Tx), and
// keeps River's durable job queue in the same file (job.go).
//
// Writes go through one connection and begin with BEGIN IMMEDIATE, so a
// transaction holds the file's write lock from its first statement: writers in
// this process and in other processes on the same file are serialised, and
// every balance check the ledger makes under that lock stays exact. Reads use a
// separate pool and never block writers. Commits are synchronous=FULL: a
// caller is answered only after its transaction is on disk.
//
// SQL lives here and in store/postgres only; this package holds no business rules.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/store"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// driverName is mattn/go-sqlite3 with a connect hook that sets the pragmas
// the DSN cannot, so a connection the pool replaces gets them too;
// writeDriverName is the same for the write pool, which also keeps its
// temporary files in memory (writeTempStore).
const (
	driverName      = "sqlite3_kinko"
	writeDriverName = "sqlite3_kinko_write"
)

// writeTempStore keeps the write connection's temporary files in memory.
// Above all these are statement journals: SQLite keeps one for every
// statement of a transaction that changes several rows and could fail
// halfway (each ledger statement inserts or updates a whole batch's rows),
// holding the pages it changes so that the statement alone can be undone,
// and it moves one past 64 KiB into a file it creates, writes and deletes
// each time: under load that was an open, many writes and an unlink per
// statement on the one writer's path. They are no part of durability (the
// WAL is; a statement journal is deleted when its statement ends), so
// keeping them in memory changes nothing on disk. Memory is bounded by
// what one write transaction changes (a ledger batch by
// ledger.Config.BatchMax), except that a migration building an index on a
// large table sorts it in memory too; the read pool keeps files, for the
// large sorts of reports and kinko verify. Measured: docs/benchmarks.md.
const writeTempStore = "MEMORY"

// walAutocheckpointPages is how many WAL pages accumulate before SQLite copies
// them back into the database file (64 MiB at 4 KiB pages; SQLite's default is
// 1000). Account and index pages rewritten by many commits are then copied
// once per checkpoint, not once per few commits: +29% transfers/s on
// BenchmarkEngineTransfers (docs/benchmarks.md). Page size was measured too
// and made no difference.
const walAutocheckpointPages = 16384

// stmtCacheSize is how many prepared statements each connection keeps.
const stmtCacheSize = 256

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: connectHook})
	sql.Register(writeDriverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if err := connectHook(c); err != nil {
			return err
		}
		if _, err := c.Exec("PRAGMA temp_store = "+writeTempStore, nil); err != nil {
			return fmt.Errorf("sqlite: set temp_store: %w", err)
		}
		return nil
	}})
}

func connectHook(c *sqlite3.SQLiteConn) error {
	if _, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walAutocheckpointPages), nil); err != nil {
		return fmt.Errorf("sqlite: set wal_autocheckpoint: %w", err)
	}
	return nil
}

// DB is an open SQLite store.
type DB struct {
	reads  // the reads a snapshot serves too (BillingSnapshot), on the read pool
	path   string
	write  *sql.DB // one connection: SQLite has one writer
	read   *sql.DB
	group  *store.Batcher[groupOp] // small writes, gathered into one transaction per batch
	stmtMu sync.Mutex
	stmts  *statements            // prepared on first Transact
	jobs   *river.Client[*sql.Tx] // insert-only: enqueues jobs in our own transactions
}

// Open opens (creating if needed) the SQLite file at path. It does not apply
// migrations; call Migrate.
func Open(ctx context.Context, path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	q.Set("cache", "private")
	// Statements are kept prepared per connection, by their text: most of
	// a small write's time was going into sqlite3_prepare_v2 (measured:
	// docs/benchmarks.md, billing).
	q.Set("_stmt_cache_size", strconv.Itoa(stmtCacheSize))
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	write, err := sql.Open(writeDriverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	q.Set("_query_only", "on")
	q.Del("_txlock")
	read, err := sql.Open(driverName, "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	db := &DB{reads: reads{read}, path: path, write: write, read: read}
	db.group = newGroupWriter(db)
	if db.jobs, err = newInsertClient(db.write); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// openBusyWait bounds how long Open waits for another process that holds
// a fresh file while it turns WAL on: SQLite answers "database is locked"
// then at once, without waiting for the busy timeout.
const openBusyWait = 10 * time.Second

// start touches the file, so that a bad path fails in Open, not on first
// use, and turns WAL on. Two processes opening one fresh file at once (two
// `kinko bench` runs, a server and a CLI command) may find it locked while
// the other does the same; start tries again until openBusyWait has passed.
func (db *DB) start(ctx context.Context) error {
	deadline := time.Now().Add(openBusyWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.write.PingContext(ctx)
		if err == nil {
			if _, err = db.write.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
				err = fmt.Errorf("enable WAL: %w", err)
			}
		}
		if err == nil || !retryable(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// Kind names the store for reports.
func (db *DB) Kind() string { return "sqlite" }

// Close closes both pools.
func (db *DB) Close() error {
	db.group.Close()
	db.stmtMu.Lock()
	if db.stmts != nil {
		db.stmts.close()
	}
	db.stmtMu.Unlock()
	return errors.Join(db.write.Close(), db.read.Close())
}

// Ping checks that the file answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Migrate applies the embedded migrations not yet applied, then River's
// (see migrateJobs), and returns how many of the embedded ones it applied.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	ms, err := store.LoadMigrations(migrationFS, "migration")
	if err != nil {
		return 0, err
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return 0, fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	n, err := store.Migrate(ctx, db, ms)
	if err != nil {
		return n, err
	}
	return n, db.migrateJobs(ctx)
}

// MigrationVersions implements store.Migrator.
func (db *DB) MigrationVersions(ctx context.Context) ([]int, error) {
	rows, err := db.write.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// MigrationApply implements store.Migrator. BEGIN IMMEDIATE serialises two
// processes migrating at once; the loser sees the version recorded and skips.
func (db *DB) MigrationApply(ctx context.Context, m store.Migration) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

// retryable reports errors that a fresh attempt can resolve. With BEGIN
// IMMEDIATE and a busy timeout, conflicts are rare: a lock held longer than
// the timeout by another process.
func retryable(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.NotFound(what)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}
