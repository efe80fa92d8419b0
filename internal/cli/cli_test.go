package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runResult is what one in-process run of the command line printed and returned.
type runResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line in-process with the given environment.
// cliOut runs kinko with args in-process and returns its stdout, trimmed,
// failing the test unless it exits 0.
func cliOut(t *testing.T, args ...string) string {
	t.Helper()
	r := runCLI(t, nil, args...)
	if r.code != exitOK {
		t.Fatalf("kinko %v: exit %d: %s", args, r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func runCLI(t *testing.T, environ map[string]string, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return environ[k] }}
	code := run(context.Background(), args, e)
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"NoCommand", nil, exitUsage},
		{"UnknownCommand", []string{"frobnicate"}, exitUsage},
		{"Help", []string{"help"}, exitOK},
		{"SubcommandHelp", []string{"verify", "-h"}, exitOK},
		{"UnknownFlag", []string{"migrate", "--nope"}, exitUsage},
		{"PositionalArgument", []string{"migrate", "extra"}, exitUsage},
		{"BenchWithoutName", []string{"bench"}, exitUsage},
		{"UnknownBench", []string{"bench", "nope"}, exitUsage},
		{"BenchTooFewAccounts", []string{"bench", "ledger", "--accounts", "1"}, exitUsage},
		{"BenchHotShareOutOfRange", []string{"bench", "ledger", "--hot-share", "1.5"}, exitUsage},
		{"BenchHotShareNaN", []string{"bench", "ledger", "--hot-share", "NaN"}, exitUsage},
		{"BenchZeroConcurrency", []string{"bench", "ledger", "--concurrency", "0"}, exitUsage},
		{"EmptyDB", []string{"migrate", "--db", ""}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Flags are checked before any store is opened; a stray default
			// ./kinko.db would land in the package directory.
			t.Chdir(t.TempDir())
			r := runCLI(t, nil, tc.args...)
			if r.code != tc.code {
				t.Fatalf("kinko %v: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestUsageHidesSecretsFromTheEnvironment: a mistyped flag prints usage,
// with defaults; an API key, a database URL with its password or an SMTP
// URL taken from the environment must not be among them.
func TestUsageHidesSecretsFromTheEnvironment(t *testing.T) {
	environ := map[string]string{"KINKO_KEY": "kinko_sk_secret_value", "KINKO_DB": "postgres://u:dbpassword@127.0.0.1/x",
		"KINKO_SMTP_URL": "smtp://u:smtppassword@127.0.0.1:25"}
	for _, args := range [][]string{{"transfers", "get", "--bogus"}, {"bench", "api", "-h"}, {"bench", "billing", "-h"},
		{"bench", "webhooks", "-h"}, {"migrate", "--bogus"}, {"serve", "--bogus"}} {
		t.Chdir(t.TempDir())
		r := runCLI(t, environ, args...)
		for _, secret := range []string{"secret_value", "dbpassword", "smtppassword"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("kinko %v printed %q:\n%s", args, secret, r.stderr)
			}
		}
		if args[len(args)-1] == "--bogus" && args[0] == "migrate" && !strings.Contains(r.stderr, "kinko.db") {
			t.Errorf("kinko %v no longer shows --db's built-in default:\n%s", args, r.stderr)
		}
	}
}

func TestDBSelection(t *testing.T) {
	t.Run("DefaultIsKinkoDBInWorkingDirectory", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		if r := runCLI(t, nil, "migrate"); r.code != exitOK {
			t.Fatalf("migrate: exit %d: %s", r.code, r.stderr)
		}
		mustExist(t, filepath.Join(dir, "kinko.db"))
	})
	t.Run("EnvBeatsDefault", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		fromEnv := filepath.Join(dir, "env.db")
		if r := runCLI(t, map[string]string{"KINKO_DB": fromEnv}, "migrate"); r.code != exitOK {
			t.Fatalf("migrate: exit %d: %s", r.code, r.stderr)
		}
		mustExist(t, fromEnv)
		mustNotExist(t, filepath.Join(dir, "kinko.db"))
	})
	t.Run("FlagBeatsEnv", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		fromEnv, fromFlag := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
		r := runCLI(t, map[string]string{"KINKO_DB": fromEnv}, "migrate", "--db", fromFlag)
		if r.code != exitOK {
			t.Fatalf("migrate: exit %d: %s", r.code, r.stderr)
		}
		mustExist(t, fromFlag)
		mustNotExist(t, fromEnv)
	})
}

func TestMigrate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	first := runCLI(t, nil, "migrate", "--db", db)
	if first.code != exitOK || strings.HasPrefix(first.stdout, "applied 0 ") {
		t.Fatalf("first migrate: exit %d, stdout %q, stderr %q; want some migrations applied", first.code, first.stdout, first.stderr)
	}
	again := runCLI(t, nil, "migrate", "--db", db)
	if again.code != exitOK || !strings.HasPrefix(again.stdout, "applied 0 migrations") {
		t.Fatalf("second migrate: exit %d, stdout %q; want 0 applied", again.code, again.stdout)
	}
}

func TestIsPostgresURL(t *testing.T) {
	for db, want := range map[string]bool{
		"postgres://u@h/db":   true,
		"postgresql://u@h/db": true,
		"./kinko.db":          false,
		"/var/lib/kinko.db":   false,
		"postgres.db":         false,
	} {
		if got := isPostgresURL(db); got != want {
			t.Errorf("isPostgresURL(%q) = %v, want %v", db, got, want)
		}
	}
}

func TestRedactDB(t *testing.T) {
	for db, want := range map[string]string{
		"./kinko.db":                                "./kinko.db",
		"postgres://kinko:s3cret@db:5432/kinko":     "postgres://kinko:xxxxx@db:5432/kinko",
		"postgres://kinko@db/kinko?password=s3cret": "postgres://kinko@db/kinko?password=xxxxx",
	} {
		if got := redactDB(db); got != want {
			t.Errorf("redactDB(%q) = %q, want %q", db, got, want)
		}
	}
}

func TestEngineConfig(t *testing.T) {
	if w := engineConfig("sqlite").Workers; w != workersSQLite {
		t.Errorf("sqlite workers = %d, want %d", w, workersSQLite)
	}
	if w := engineConfig("postgres").Workers; w != workersPostgres {
		t.Errorf("postgres workers = %d, want %d", w, workersPostgres)
	}
}

func mustExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("want %s to exist: %v", path, err)
	}
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("want %s not to exist", path)
	}
}
