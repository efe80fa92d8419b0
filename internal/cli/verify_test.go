package cli

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	if r := runCLI(t, nil, "bench", "ledger", "--db", db, "--accounts", "20", "--transfers", "300", "--concurrency", "4"); r.code != exitOK {
		t.Fatalf("bench: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	t.Run("OK", func(t *testing.T) {
		r := runCLI(t, nil, "verify", "--db", db)
		if r.code != exitOK {
			t.Fatalf("verify on a clean ledger: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"accounts: 20 checked", "assets:   1 checked", "audit:    0 entries checked\n", "no violations"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("ErrTamperedBalance", func(t *testing.T) {
		id := tamperSQLite(t, db)
		r := runCLI(t, nil, "verify", "--db", db)
		if r.code != exitFailure {
			t.Fatalf("verify after tampering: exit %d, want %d\nstdout: %s", r.code, exitFailure, r.stdout)
		}
		if want := fmt.Sprintf("account %d:", id); !strings.Contains(r.stdout, want) {
			t.Errorf("stdout does not name the tampered account (%q):\n%s", want, r.stdout)
		}
	})
}

// tamperSQLite adds 1 to one account's credits_posted by hand, as an operator
// editing the file would, and returns the account's id.
func tamperSQLite(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int64
	if err := db.QueryRow("SELECT id FROM accounts ORDER BY id LIMIT 1 OFFSET 7").Scan(&id); err != nil {
		t.Fatalf("pick an account: %v", err)
	}
	if _, err := db.Exec("UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = ?", id); err != nil {
		t.Fatalf("tamper with account %d: %v", id, err)
	}
	return id
}
