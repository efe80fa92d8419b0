package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// TestUsersDisable: the operator shuts a portal user out by email; they
// can no longer sign in. An unknown email is an error, and nothing else
// changes.
func TestUsersDisable(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	if r := runCLI(t, nil, "migrate", "--db", db); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewUserService(st, nil)
	_, token, err := users.SignUp(ctx, auth.SignUpParams{Email: "buyer@example.com", Password: userPassword, Locale: auth.LocaleJa})
	if err == nil {
		_, err = users.VerifyEmail(ctx, token, userPassword)
	}
	if err == nil {
		_, err = users.AuthenticateUser(ctx, "buyer@example.com", userPassword)
	}
	if cerr := st.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}

	if r := runCLI(t, nil, "users", "disable", "--db", db, "--email", "nobody@example.com"); r.code == exitOK {
		t.Fatalf("disabling an unknown user: exit 0: %s", r.stderr)
	}
	if r := runCLI(t, nil, "users", "disable", "--db", db); r.code != exitUsage {
		t.Fatalf("no --email: exit %d", r.code)
	}
	r := runCLI(t, nil, "users", "disable", "--db", db, "--email", "Buyer@Example.com")
	if r.code != exitOK || !strings.Contains(r.stderr, "buyer@example.com") {
		t.Fatalf("users disable: exit %d: %s", r.code, r.stderr)
	}

	st, err = sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := auth.NewUserService(st, nil).AuthenticateUser(ctx, "buyer@example.com", userPassword); !apperr.Is(err, auth.CodeUserUnauthenticated) {
		t.Fatalf("a disabled user signs in: %v", err)
	}
}
