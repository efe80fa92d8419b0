package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// runCLIStdin is runCLI with stdin.
func runCLIStdin(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	var stdout, stderr strings.Builder
	e := env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	code := run(context.Background(), args, e)
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestStaffCommands drives kinko staff as an operator would and checks the
// result by signing in through the auth service on the same file.
func TestStaffCommands(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	signIn := func(email, password string) (auth.StaffUser, error) {
		t.Helper()
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		return auth.NewStaffService(st, nil).AuthenticateStaff(ctx, email, password)
	}

	r := runCLI(t, nil, "staff", "create", "--db", db, "--email", "Ops@Example.com", "--name", "Aiko Ops", "--role", "finance")
	if r.code != exitOK {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	generated := strings.TrimSpace(r.stdout)
	if len(generated) != 20 || strings.Contains(r.stderr, generated) {
		t.Fatalf("generated password %q (stderr %q)", generated, r.stderr)
	}
	if u, err := signIn("ops@example.com", generated); err != nil || u.Role != auth.RoleFinance {
		t.Fatalf("sign-in with the printed password: %+v, %v", u, err)
	}

	r = runCLIStdin(t, "a long chosen password\n", "staff", "create", "--db", db, "--email", "help@example.com", "--name", "Help", "--role", "support", "--password-stdin")
	if r.code != exitOK || r.stdout != "" {
		t.Fatalf("create from stdin: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := signIn("help@example.com", "a long chosen password"); err != nil {
		t.Fatalf("sign-in with the password from stdin: %v", err)
	}

	for _, bad := range [][]string{
		{"staff", "create", "--db", db, "--email", "x@example.com", "--name", "X", "--role", "owner"},
		{"staff", "create", "--db", db, "--email", "ops@example.com", "--name", "Twin", "--role", "admin"},
		{"staff", "create", "--db", db, "--email", "x@example.com", "--role", "admin"},
		{"staff", "role", "--db", db, "--email", "nobody@example.com", "--role", "admin"},
	} {
		if r := runCLI(t, nil, bad...); r.code == exitOK || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want a failure that says why", bad, r.code, r.stderr)
		}
	}

	if r := runCLI(t, nil, "staff", "role", "--db", db, "--email", "help@example.com", "--role", "admin"); r.code != exitOK {
		t.Fatalf("role: %s", r.stderr)
	}
	r = runCLI(t, nil, "staff", "list", "--db", db)
	if r.code != exitOK || !strings.Contains(r.stdout, "help@example.com  admin") || !strings.Contains(r.stdout, "ops@example.com") {
		t.Fatalf("list: %s%s", r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "staff", "password", "--db", db, "--email", "ops@example.com")
	fresh := strings.TrimSpace(r.stdout)
	if r.code != exitOK || len(fresh) != 20 || fresh == generated {
		t.Fatalf("password: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := signIn("ops@example.com", generated); err == nil {
		t.Fatal("the replaced password still signs in")
	}
	if r := runCLI(t, nil, "staff", "disable", "--db", db, "--email", "ops@example.com"); r.code != exitOK {
		t.Fatalf("disable: %s", r.stderr)
	}
	if _, err := signIn("ops@example.com", fresh); err == nil {
		t.Fatal("a disabled user signed in")
	}
}
