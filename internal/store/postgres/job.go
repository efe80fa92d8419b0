package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/kinko-pay/kinko/internal/store"
)

// jobStates are the River job states JobQueueDepth reports, the work not yet
// finished, as sqlJobQueueDepth lists them.
var jobStates = []string{"available", "scheduled", "retryable", "running"}

// sqlJobQueueDepth walks River's (state, queue, priority, scheduled_at, id)
// index; a backlog of n jobs costs a scan of n index entries.
const sqlJobQueueDepth = "SELECT state::text, count(*) FROM river_job " +
	"WHERE state IN ('available', 'scheduled', 'retryable', 'running') GROUP BY state"

// newJobInserter returns the River client that inserts jobs in this
// adapter's transactions. It has no queues or workers, so it starts nothing:
// servers work jobs through NewJobClient.
func newJobInserter(db *DB) (*river.Client[pgx.Tx], error) {
	return river.NewClient(riverpgxv5.New(db.pool), &river.Config{})
}

// NewJobClient returns a River client on this database's pool, configured
// by cfg, for a server to register workers on and Start.
func (db *DB) NewJobClient(cfg *river.Config) (store.JobClient, error) {
	c, err := river.NewClient(riverpgxv5.New(db.pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: new River client: %w", err)
	}
	return c, nil
}

// JobQueueDepth counts River jobs by state: every state of jobStates is
// present, 0 when no job is in it.
func (db *DB) JobQueueDepth(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, len(jobStates))
	for _, s := range jobStates {
		out[s] = 0
	}
	type count struct {
		state string
		n     int64
	}
	rows, err := db.pool.Query(ctx, sqlJobQueueDepth)
	if err != nil {
		return nil, fmt.Errorf("postgres: job queue depth: %w", err)
	}
	counts, err := collect(rows, func(r pgx.Row) (count, error) {
		var c count
		err := r.Scan(&c.state, &c.n)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: job queue depth: %w", err)
	}
	for _, c := range counts {
		out[c.state] = c.n
	}
	return out, nil
}

// migrateRiver applies River's own migrations (its job tables), which
// River runs one transaction each on pooled connections. A session-level
// advisory lock on migrationLockKey, held on a connection of its own for the
// whole run, makes a second process wait until they are all in, then find
// nothing to do, as MigrationApply does for this package's migrations.
// (River's MigrateTx would run them all in one of our transactions, but River
// deprecates it: some of its migrations cannot share a transaction.) Closing
// the connection ends the session and with it the lock, whatever happened.
func (db *DB) migrateRiver(ctx context.Context) error {
	m, err := rivermigrate.New(riverpgxv5.New(db.pool), nil)
	if err != nil {
		return fmt.Errorf("postgres: River migrator: %w", err)
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire connection: %w", err)
	}
	conn := c.Hijack()
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("postgres: lock River migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("postgres: apply River migrations: %w", err)
	}
	return nil
}
