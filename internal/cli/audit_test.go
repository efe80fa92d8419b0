package cli

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/audit"
)

// staffActions runs the four audited staff commands on db (through
// KINKO_DB when environ sets it) and returns the new user's id.
func staffActions(t *testing.T, environ map[string]string, db ...string) string {
	t.Helper()
	for _, args := range [][]string{
		{"staff", "create", "--email", "ops@example.com", "--name", "Aiko Ops", "--role", "finance"},
		{"staff", "role", "--email", "ops@example.com", "--role", "admin"},
		{"staff", "password", "--email", "ops@example.com"},
		{"staff", "disable", "--email", "ops@example.com"},
	} {
		if r := runCLI(t, environ, append(args, db...)...); r.code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	r := runCLI(t, environ, append([]string{"staff", "list"}, db...)...)
	id, _, _ := strings.Cut(strings.Split(r.stdout, "\n")[1], " ")
	if !strings.HasPrefix(id, "stf_") {
		t.Fatalf("staff list: %s", r.stdout)
	}
	return id
}

// auditJSON runs kinko audit list --json with args and decodes its lines,
// checking that each entry's hash is the hash of the fields printed.
func auditJSON(t *testing.T, environ map[string]string, args ...string) []auditEntryJSON {
	t.Helper()
	r := runCLI(t, environ, append([]string{"audit", "list", "--json"}, args...)...)
	if r.code != exitOK {
		t.Fatalf("audit list %v: exit %d: %s", args, r.code, r.stderr)
	}
	var out []auditEntryJSON
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var x auditEntryJSON
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		at, err := time.Parse(time.RFC3339Nano, x.At)
		if err != nil || at.UnixMicro() != x.AtUnixMicros {
			t.Errorf("seq %d: at %q and at_unix_micros %d disagree", x.Seq, x.At, x.AtUnixMicros)
		}
		prev, _ := hex.DecodeString(x.PrevHash)
		e := audit.Entry{Seq: x.Seq, At: time.UnixMicro(x.AtUnixMicros), Actor: audit.Actor{Type: audit.ActorType(x.Actor.Type), ID: x.Actor.ID},
			Action: x.Action, Subject: audit.Subject{Type: x.Subject.Type, ID: x.Subject.ID}, OrgID: x.OrgID, Data: x.Data, PrevHash: prev}
		if got := hex.EncodeToString(e.ComputeHash()); got != x.Hash {
			t.Errorf("seq %d: the printed fields hash to %s, printed hash %s", x.Seq, got, x.Hash)
		}
		out = append(out, x)
	}
	return out
}

func seqsOf(xs []auditEntryJSON) []int64 {
	var out []int64
	for _, x := range xs {
		out = append(out, x.Seq)
	}
	return out
}

// TestAuditCommands drives the staff commands, reads what they recorded with
// kinko audit list, and has kinko verify catch the log edited by hand.
func TestAuditCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	env := map[string]string{"KINKO_DB": db}
	id := staffActions(t, env)

	all := auditJSON(t, env)
	if !slices.Equal(seqsOf(all), []int64{4, 3, 2, 1}) {
		t.Fatalf("audit list printed seqs %v, want the newest first", seqsOf(all))
	}
	wantActions := []string{"staff.disabled", "staff.password_changed", "staff.role_changed", "staff.created"}
	for i, x := range all {
		if x.Action != wantActions[i] || x.Actor != (auditPartyJSON{"system", "cli"}) || x.Subject != (auditPartyJSON{"staff_user", id}) {
			t.Errorf("entry %d: %+v; want %s by system:cli about staff_user:%s", x.Seq, x, wantActions[i], id)
		}
	}
	if got := string(all[2].Data); got != `{"email":"ops@example.com","previous_role":"finance","role":"admin"}` {
		t.Errorf("role change recorded %s", got)
	}
	if got := string(all[1].Data); got != `{"email":"ops@example.com","generated":true}` {
		t.Errorf("password change recorded %s", got)
	}

	t.Run("OKPages", func(t *testing.T) {
		r := runCLI(t, env, "audit", "list", "--limit", "2")
		if r.code != exitOK || !strings.Contains(r.stderr, "kinko audit list --before 3") {
			t.Fatalf("first page: exit %d, stderr %q", r.code, r.stderr)
		}
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "4 ") ||
			!strings.Contains(lines[1], "staff.disabled") || !strings.Contains(lines[1], "staff_user:"+id) {
			t.Fatalf("table:\n%s", r.stdout)
		}
		if got := seqsOf(auditJSON(t, env, "--before", "3")); !slices.Equal(got, []int64{2, 1}) {
			t.Errorf("--before 3: seqs %v", got)
		}
		if got := seqsOf(auditJSON(t, env, "--after", "2")); !slices.Equal(got, []int64{3, 4}) {
			t.Errorf("--after 2: seqs %v, want oldest first", got)
		}
		if got := seqsOf(auditJSON(t, env, "--subject", "staff_user:"+id, "--limit", "1")); !slices.Equal(got, []int64{4}) {
			t.Errorf("--subject: seqs %v", got)
		}
		if got := auditJSON(t, env, "--subject", "staff_user:stf_nobody"); len(got) != 0 {
			t.Errorf("--subject of nobody: %v", got)
		}
		if got := auditJSON(t, env, "--org", "org_x"); len(got) != 0 {
			t.Errorf("--org org_x: %v", got)
		}
	})

	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--subject", ":stf_1"}, {"--subject", "staff_user:"}, {"--limit", "0"}, {"--limit", fmt.Sprint(audit.PageLimitMax + 1)},
			{"--before", "3", "--after", "1"}, {"--before", "-1"}, {"--before", "0"}, {"--after", "-1"}, {"extra"},
		} {
			if r := runCLI(t, env, append([]string{"audit", "list"}, args...)...); r.code != exitUsage {
				t.Errorf("audit list %v: exit %d, want %d: %s", args, r.code, exitUsage, r.stderr)
			}
		}
		if r := runCLI(t, env, "audit", "list", "--subject", "Staff User"); r.code != exitFailure || !strings.Contains(r.stderr, "subject type") {
			t.Errorf("a bad subject type: exit %d: %s", r.code, r.stderr)
		}
		if r := runCLI(t, env, "audit", "frobnicate"); r.code != exitUsage {
			t.Errorf("audit frobnicate: exit %d", r.code)
		}
	})

	t.Run("OKVerify", func(t *testing.T) {
		r := runCLI(t, env, "verify")
		if r.code != exitOK || !strings.Contains(r.stdout, "audit:    4 entries checked; head seq 4, hash "+all[0].Hash) {
			t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("ErrVerifyTampered", func(t *testing.T) {
		execSQLite(t, db, `UPDATE audit_entries SET data = '{"email":"someone@example.com"}' WHERE seq = 2`)
		execSQLite(t, db, "DELETE FROM audit_entries WHERE seq = 3")
		r := runCLI(t, env, "verify")
		if r.code != exitFailure {
			t.Fatalf("verify of a tampered log: exit %d, want %d\n%s", r.code, exitFailure, r.stdout)
		}
		for _, want := range []string{"VIOLATION audit log: broken link at seq 2: the entry's fields do not match its hash (expected ",
			"VIOLATION audit log: seq 3 is missing", "result:   2 violations"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		if !strings.Contains(r.stderr, "hash chain is broken") {
			t.Errorf("stderr does not say the chain is broken: %s", r.stderr)
		}
	})
}

// TestAuditStaffUnaudited checks that a staff command whose change cannot be
// audited fails and changes nothing: the entry commits with the change or
// neither does.
func TestAuditStaffUnaudited(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	if r := runCLI(t, nil, "migrate", "--db", db); r.code != exitOK {
		t.Fatal(r.stderr)
	}
	// An audit log whose head names an entry that does not exist takes no
	// more entries (the next seq is taken).
	execSQLite(t, db, "UPDATE audit_head SET seq = 0, hash = X''")
	execSQLite(t, db, "INSERT INTO audit_entries (seq, at, actor_type, actor_id, action, subject_type, subject_id, org_id, data, prev_hash, hash) "+
		"VALUES (1, 0, 'system', 'x', 'a.b', 'c', 'd', '', '{}', X'', X'00')")
	r := runCLI(t, nil, "staff", "create", "--db", db, "--email", "a@example.com", "--name", "A", "--role", "support")
	if r.code != exitFailure || !strings.Contains(r.stderr, "record staff.created") || r.stdout != "" {
		t.Fatalf("staff create with a broken audit log: exit %d, stdout %q, stderr %q; want exit %d, no password, the audit error",
			r.code, r.stdout, r.stderr, exitFailure)
	}
	if r := runCLI(t, nil, "staff", "list", "--db", db); r.code != exitOK || strings.Contains(r.stdout, "a@example.com") {
		t.Fatalf("the user exists without their audit entry: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestAuditPostgres runs the audited staff commands, kinko audit list and
// kinko verify against PostgreSQL.
func TestAuditPostgres(t *testing.T) {
	db := freshPostgres(t)
	env := map[string]string{"KINKO_DB": db}
	id := staffActions(t, env)
	if got := auditJSON(t, env, "--subject", "staff_user:"+id, "--after", "0"); !slices.Equal(seqsOf(got), []int64{1, 2, 3, 4}) {
		t.Fatalf("audit list: seqs %v", seqsOf(got))
	}
	if r := runCLI(t, env, "verify"); r.code != exitOK || !strings.Contains(r.stdout, "audit:    4 entries checked") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE audit_entries SET actor_id = 'someone' WHERE seq = 1"); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, env, "verify")
	if r.code != exitFailure || !strings.Contains(r.stdout, "VIOLATION audit log: broken link at seq 1") {
		t.Fatalf("verify of a tampered log: exit %d, want %d\n%s", r.code, exitFailure, r.stdout)
	}
}

// execSQLite runs one statement on the SQLite file at path, as an operator
// editing it by hand would.
func execSQLite(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}
