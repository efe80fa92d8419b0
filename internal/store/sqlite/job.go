package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/kinko-pay/kinko/internal/store"
)

// River, the durable job queue, keeps its tables in the same file and runs on
// the write pool: River's SQLite driver needs a pool of one connection, and
// only on the connection of our own transactions can a job be enqueued in the
// same transaction as the rows that need it.

// jobQueueStates are the states JobQueueDepth counts: jobs not yet finished.
var jobQueueStates = []string{"available", "scheduled", "retryable", "running"}

// newInsertClient returns the client that enqueues jobs inside this store's
// transactions. It has no workers and is never started.
func newInsertClient(write *sql.DB) (*river.Client[*sql.Tx], error) {
	c, err := river.NewClient(riversqlite.New(write), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("sqlite: job insert client: %w", err)
	}
	return c, nil
}

// migrateJobs applies River's migrations not yet applied, in one
// transaction. The transaction begins IMMEDIATE, so two processes migrating
// at once serialise and the second finds nothing to do.
func (db *DB) migrateJobs(ctx context.Context) error {
	m, err := rivermigrate.New(riversqlite.New(db.write), nil)
	if err != nil {
		return fmt.Errorf("sqlite: job queue migrator: %w", err)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("sqlite: migrate job queue: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate job queue: commit: %w", err)
	}
	return nil
}

// NewJobClient returns a River client on this store's file for cfg (the
// workers and queues package jobs configures), to Start and Stop as a server
// runs. It shares the write connection, as River's SQLite driver requires.
func (db *DB) NewJobClient(cfg *river.Config) (store.JobClient, error) {
	c, err := river.NewClient(riversqlite.New(db.write), cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: job client: %w", err)
	}
	return c, nil
}

// JobQueueDepth counts the jobs not yet finished by state (available,
// scheduled, retryable, running); every one of those states is present,
// zero when no job is in it.
func (db *DB) JobQueueDepth(ctx context.Context) (map[string]int64, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT state, count(*) FROM river_job WHERE state IN (SELECT value FROM json_each(?)) GROUP BY state",
		stringsJSON(jobQueueStates))
	if err != nil {
		return nil, fmt.Errorf("sqlite: job queue depth: %w", err)
	}
	type count struct {
		state string
		n     int64
	}
	counts, err := collect(rows, func(s scanner) (count, error) {
		var c count
		return c, s.Scan(&c.state, &c.n)
	}, "sqlite: scan job queue depth")
	if err != nil {
		return nil, err
	}
	depth := make(map[string]int64, len(jobQueueStates))
	for _, s := range jobQueueStates {
		depth[s] = 0
	}
	for _, c := range counts {
		depth[c.state] = c.n
	}
	return depth, nil
}

// enqueueJobs inserts jobs with River's insert-only client in tx.
func (db *DB) enqueueJobs(ctx context.Context, tx *sql.Tx, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := db.jobs.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("sqlite: enqueue jobs: %w", err)
	}
	return nil
}
