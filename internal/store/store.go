// Package store holds what every database adapter shares: the numbered
// migration runner and the bounded retry of conflicting transactions. The
// adapters live in store/sqlite and store/postgres, and store/storetest is the
// one suite they all pass.
//
// This package must never contain SQL of one dialect or business rules.
package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered SQL file, applied once, in a transaction.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads files named NNNN_name.sql from dir in fsys, in version order.
// Versions must be unique and start at 1 with no gaps, so a missing file is noticed.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %q is not named NNNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migration versions must run 1..%d without gaps; found %d at position %d", len(out), m.Version, i+1)
		}
	}
	return out, nil
}

// Migrator is what an adapter provides to apply migrations.
type Migrator interface {
	// MigrationVersions returns the versions already applied.
	MigrationVersions(ctx context.Context) ([]int, error)
	// MigrationApply runs m and records it, in one transaction. It must be
	// safe when another process applies the same migration at the same time:
	// one of them applies it and the other changes nothing. It reports
	// whether this call applied it.
	MigrationApply(ctx context.Context, m Migration) (bool, error)
}

// Migrate applies every migration not yet applied, in order, and returns how
// many it applied. A database with a version this binary does not know is an
// error: an older binary must not run against a newer schema.
func Migrate(ctx context.Context, m Migrator, migrations []Migration) (int, error) {
	done, err := m.MigrationVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: read applied migrations: %w", err)
	}
	applied := map[int]bool{}
	for _, v := range done {
		if v > len(migrations) {
			return 0, fmt.Errorf("store: database has migration %d but this binary knows only %d; upgrade kinko", v, len(migrations))
		}
		applied[v] = true
	}
	n := 0
	for _, mig := range migrations {
		if applied[mig.Version] {
			continue
		}
		applied, err := m.MigrationApply(ctx, mig)
		if err != nil {
			return n, fmt.Errorf("store: apply migration %d_%s: %w", mig.Version, mig.Name, err)
		}
		if applied {
			n++
		}
	}
	return n, nil
}

// RetryMax bounds how often Retry runs a conflicting transaction.
const RetryMax = 10

// Retry runs fn until it succeeds, fails with an error retryable does not
// accept, or has run RetryMax times. It waits a little longer after each
// conflict, with jitter, so that colliding writers drift apart.
func Retry(ctx context.Context, retryable func(error) bool, fn func() error) error {
	var err error
	for attempt := range RetryMax {
		err = fn()
		if err == nil || !retryable(err) {
			return err
		}
		wait := time.Duration(attempt+1) * time.Millisecond
		wait += time.Duration(time.Now().UnixNano() % int64(wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: %w (after conflict: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	return fmt.Errorf("store: gave up after %d conflicting attempts: %w", RetryMax, err)
}
