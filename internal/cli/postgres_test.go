package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// freshPostgres creates an empty database on the server KINKO_TEST_POSTGRES
// names, dropped when the test ends, and returns its URL. The test is skipped
// when the variable is unset; .ci/run always sets it.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("KINKO_TEST_POSTGRES")
	if base == "" {
		t.Skip("KINKO_TEST_POSTGRES is not set; skipping the PostgreSQL CLI tests")
	}
	ctx := context.Background()
	name := "kinko_cli_test_" + strings.ToLower(rand.Text()[:12])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to KINKO_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse KINKO_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestPostgres(t *testing.T) {
	db := freshPostgres(t)
	environ := map[string]string{"KINKO_DB": db} // the environment path, not --db

	r := runCLI(t, environ, "bench", "ledger", "--accounts", "40", "--transfers", "400", "--concurrency", "8", "--hot-share", "0.3", "--json")
	if r.code != exitOK {
		t.Fatalf("bench: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, `"store":"postgres"`) || !strings.Contains(r.stdout, fmt.Sprintf(`"engine_workers":%d`, workersPostgres)) {
		t.Errorf("bench result is not from PostgreSQL with %d workers: %s", workersPostgres, r.stdout)
	}

	t.Run("Serve", func(t *testing.T) {
		srv := startServe(t, db)
		for _, path := range []string{"/healthz", "/readyz"} {
			if status, body := get(t, "http://"+srv.addr+path); status != http.StatusOK {
				t.Errorf("GET %s = %d %v, want 200", path, status, body)
			}
		}
		// The node listens for key revocations made elsewhere.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(scrape(t, "http://"+srv.addr+"/metrics"), "\nkinko_api_key_revocations_listening 1\n") {
			if time.Now().After(deadline) {
				t.Fatal("kinko_api_key_revocations_listening never became 1")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := srv.stop(t); err != nil {
			t.Fatalf("serve after cancel: %v, want a clean return", err)
		}
	})

	if r := runCLI(t, environ, "verify"); r.code != exitOK {
		t.Fatalf("verify on a clean ledger: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id int64
	if err := conn.QueryRow(ctx, "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = (SELECT id FROM accounts ORDER BY id LIMIT 1 OFFSET 3) RETURNING id").Scan(&id); err != nil {
		t.Fatalf("tamper: %v", err)
	}
	r = runCLI(t, environ, "verify")
	if r.code != exitFailure || !strings.Contains(r.stdout, fmt.Sprintf("account %d:", id)) {
		t.Fatalf("verify after tampering with account %d: exit %d, want %d and the account named\nstdout: %s", id, r.code, exitFailure, r.stdout)
	}
}

// scrape returns the body of GET url.
func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
