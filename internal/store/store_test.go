package store

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
		"m/README":        {Data: []byte("ignored")},
	}
	got, err := LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != 1 || got[0].Name != "init" || got[1].SQL != "B" {
		t.Fatalf("got %+v", got)
	}
	if _, err := LoadMigrations(fstest.MapFS{"m/0002_x.sql": {}}, "m"); err == nil {
		t.Error("a gap in versions was accepted")
	}
	if _, err := LoadMigrations(fstest.MapFS{"m/init.sql": {}}, "m"); err == nil {
		t.Error("an unnumbered file was accepted")
	}
}

type fakeMigrator struct{ applied []int }

func (f *fakeMigrator) MigrationVersions(context.Context) ([]int, error) { return f.applied, nil }
func (f *fakeMigrator) MigrationApply(_ context.Context, m Migration) (bool, error) {
	f.applied = append(f.applied, m.Version)
	return true, nil
}

func TestMigrateAppliesOnlyMissing(t *testing.T) {
	ms := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	f := &fakeMigrator{applied: []int{1}}
	n, err := Migrate(context.Background(), f, ms)
	if err != nil || n != 2 {
		t.Fatalf("Migrate = %d, %v", n, err)
	}
	if n, err := Migrate(context.Background(), f, ms); err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v", n, err)
	}
	if _, err := Migrate(context.Background(), &fakeMigrator{applied: []int{4}}, ms); err == nil {
		t.Error("a newer database schema was accepted")
	}
}

func TestRetry(t *testing.T) {
	errConflict := errors.New("conflict")
	calls := 0
	err := Retry(context.Background(), func(err error) bool { return errors.Is(err, errConflict) }, func() error {
		calls++
		if calls < 3 {
			return errConflict
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls", err, calls)
	}
	calls = 0
	err = Retry(context.Background(), func(error) bool { return true }, func() error { calls++; return errConflict })
	if !errors.Is(err, errConflict) || calls != RetryMax {
		t.Fatalf("Retry = %v after %d calls, want conflict after %d", err, calls, RetryMax)
	}
}
