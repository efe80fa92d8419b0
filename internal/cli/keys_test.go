package cli

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// secretLine is what keys create prints on stdout: the secret and nothing else.
var secretLine = regexp.MustCompile(`^kinko_sk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}\n$`)

// secretAnywhere finds a secret in free text.
var secretAnywhere = regexp.MustCompile(`kinko_sk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}`)

// authOn opens db (migrating it) and returns an auth.Service on it, closed
// when the test ends.
func authOn(t *testing.T, db string) *auth.Service {
	t.Helper()
	st, _, err := openStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return auth.NewService(st, auth.Config{})
}

// createKey runs kinko keys create and returns the secret it printed.
func createKey(t *testing.T, environ map[string]string, args ...string) string {
	t.Helper()
	r := runCLI(t, environ, append([]string{"keys", "create"}, args...)...)
	if r.code != exitOK || !secretLine.MatchString(r.stdout) {
		t.Fatalf("keys create %v: exit %d, stdout %q (want the secret alone), stderr %q", args, r.code, r.stdout, r.stderr)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")

	// Without --org the key is the operator's; the organization is created with it.
	adminSecret := createKey(t, nil, "--db", db, "--scopes", "admin", "--name", "ops")
	svc := authOn(t, db)
	p, err := svc.Authenticate(ctx, adminSecret)
	if err != nil || p.OrgID != auth.OperatorOrgID || !p.IsAdmin() {
		t.Fatalf("admin key authenticates as %+v, %v", p, err)
	}
	// A server started now does not make another admin key.
	if secret, created, err := svc.Bootstrap(ctx); err != nil || created || secret != "" {
		t.Fatalf("Bootstrap after keys create = %q, %v, %v; want nothing created", secret, created, err)
	}

	acme, err := svc.CreateOrganization(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.CreateOrganization(ctx, "Other")
	if err != nil {
		t.Fatal(err)
	}
	secret := createKey(t, map[string]string{"KINKO_DB": db}, "--org", acme.ID, "--scopes", "accounts:read, transfers:write")
	p, err = svc.Authenticate(ctx, secret)
	if err != nil || p.OrgID != acme.ID || len(p.Scopes) != 2 || !p.Can("transfers", true) || p.Can("accounts", true) {
		t.Fatalf("acme key authenticates as %+v, %v", p, err)
	}
	prefix := secret[:auth.SecretPrefixLen]

	t.Run("List", func(t *testing.T) {
		r := runCLI(t, nil, "keys", "list", "--db", db, "--org", acme.ID)
		if r.code != exitOK || !strings.Contains(r.stdout, p.KeyID) || !strings.Contains(r.stdout, prefix) ||
			!strings.Contains(r.stdout, "accounts:read,transfers:write") {
			t.Fatalf("keys list: exit %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if secretAnywhere.MatchString(r.stdout) {
			t.Fatalf("keys list printed a secret:\n%s", r.stdout)
		}
		ops := runCLI(t, nil, "keys", "list", "--db", db)
		if ops.code != exitOK || strings.Contains(ops.stdout, p.KeyID) || !strings.Contains(ops.stdout, `"ops"`) {
			t.Fatalf("keys list without --org lists other than the operator's keys: exit %d\n%s", ops.code, ops.stdout)
		}
	})

	t.Run("ErrRevokeOtherOrgsKey", func(t *testing.T) {
		r := runCLI(t, nil, "keys", "revoke", "--db", db, "--org", other.ID, p.KeyID)
		if r.code != exitFailure || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("revoke through another org: exit %d, stderr %q; want 1 and not found", r.code, r.stderr)
		}
		if _, err := svc.Authenticate(ctx, secret); err != nil {
			t.Fatalf("the key stopped working: %v", err)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		// Flags after KEY_ID work too.
		r := runCLI(t, nil, "keys", "revoke", p.KeyID, "--db", db, "--org", acme.ID)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "revoked "+p.KeyID) || !strings.Contains(r.stderr, "--key-cache-ttl") {
			t.Fatalf("keys revoke: exit %d, stdout %q, stderr %q (want a note on running servers)", r.code, r.stdout, r.stderr)
		}
		if _, err := svc.Authenticate(ctx, secret); !apperr.Is(err, auth.CodeUnauthenticated) {
			t.Fatalf("revoked key authenticates: %v", err)
		}
		if again := runCLI(t, nil, "keys", "revoke", "--db", db, "--org", acme.ID, p.KeyID); again.code != exitOK {
			t.Fatalf("revoking twice: exit %d, stderr %q", again.code, again.stderr)
		}
	})

	t.Run("ErrMissingOrg", func(t *testing.T) {
		r := runCLI(t, nil, "keys", "create", "--db", db, "--org", "org_"+strings.Repeat("0", 20), "--scopes", "accounts:read")
		if r.code != exitFailure || r.stdout != "" || !strings.Contains(r.stderr, "organization not found") {
			t.Fatalf("create for a missing org: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("ErrAdminForMerchant", func(t *testing.T) {
		r := runCLI(t, nil, "keys", "create", "--db", db, "--org", acme.ID, "--scopes", "admin")
		if r.code != exitFailure || r.stdout != "" {
			t.Fatalf("admin key for a merchant: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestKeysUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"NoSubcommand", []string{"keys"}, exitUsage},
		{"Help", []string{"keys", "-h"}, exitOK},
		{"CreateHelp", []string{"keys", "create", "-h"}, exitOK},
		{"UnknownSubcommand", []string{"keys", "rotate"}, exitUsage},
		{"CreateWithoutScopes", []string{"keys", "create"}, exitUsage},
		{"CreateUnknownScope", []string{"keys", "create", "--scopes", "money:write"}, exitUsage},
		{"CreateExtraArgument", []string{"keys", "create", "--scopes", "admin", "extra"}, exitUsage},
		{"RevokeWithoutKey", []string{"keys", "revoke", "--org", "org_x"}, exitUsage},
		{"RevokeWithoutOrg", []string{"keys", "revoke", "key_x"}, exitUsage},
		{"RevokeTwoKeys", []string{"keys", "revoke", "--org", "org_x", "key_x", "key_y"}, exitUsage},
		{"RevokeUnknownFlag", []string{"keys", "revoke", "--nope", "key_x"}, exitUsage},
		{"ListExtraArgument", []string{"keys", "list", "extra"}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no stray ./kinko.db in the package directory
			r := runCLI(t, nil, tc.args...)
			if r.code != tc.code || r.stdout != "" {
				t.Fatalf("kinko %v: exit %d (want %d), stdout %q, stderr %q", tc.args, r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveAndStop starts serve on db, waits until it listens, stops it and
// returns what it printed on stderr and in its log.
func serveAndStop(t *testing.T, db string) (stderr, logged string) {
	t.Helper()
	var errOut, logOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan error, 1)
	go func() {
		cfg := serveConfig{DB: db, Addr: "127.0.0.1:0", Logger: slog.New(slog.NewJSONHandler(&logOut, nil)), Stderr: &errOut}
		returned <- serve(ctx, cfg, func(string) { cancel() })
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("serve: %v\nlog: %s", err, logOut.String())
		}
	case <-time.After(serveWaitMax):
		t.Fatal("serve did not return")
	}
	return errOut.String(), logOut.String()
}

func TestServeBootstrap(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	stderr, logged := serveAndStop(t, db)
	secrets := secretAnywhere.FindAllString(stderr, -1)
	if len(secrets) != 1 || !strings.Contains(stderr, "ADMIN API KEY") {
		t.Fatalf("first serve printed %d secrets on stderr, want one in a marked line:\n%s", len(secrets), stderr)
	}
	if secretAnywhere.MatchString(logged) || !strings.Contains(logged, "admin API key") {
		t.Fatalf("the log must say an admin key was made, without its secret:\n%s", logged)
	}
	p, err := authOn(t, db).Authenticate(context.Background(), secrets[0])
	if err != nil || p.OrgID != auth.OperatorOrgID || !p.IsAdmin() {
		t.Fatalf("the printed secret authenticates as %+v, %v; want the operator with admin", p, err)
	}

	stderr, logged = serveAndStop(t, db)
	if secretAnywhere.MatchString(stderr) || strings.Contains(logged, "admin API key") {
		t.Fatalf("second serve made another admin key:\nstderr: %s\nlog: %s", stderr, logged)
	}
}

func TestPostgresKeys(t *testing.T) {
	db := freshPostgres(t)
	secret := createKey(t, map[string]string{"KINKO_DB": db}, "--scopes", "admin")
	p, err := authOn(t, db).Authenticate(context.Background(), secret)
	if err != nil || p.OrgID != auth.OperatorOrgID {
		t.Fatalf("key authenticates as %+v, %v", p, err)
	}
	r := runCLI(t, map[string]string{"KINKO_DB": db}, "keys", "list")
	if r.code != exitOK || !strings.Contains(r.stdout, p.KeyID) {
		t.Fatalf("keys list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, map[string]string{"KINKO_DB": db}, "keys", "revoke", "--org", auth.OperatorOrgID, p.KeyID)
	if r.code != exitOK {
		t.Fatalf("keys revoke: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := authOn(t, db).Authenticate(context.Background(), secret); !apperr.Is(err, auth.CodeUnauthenticated) {
		t.Fatalf("revoked key authenticates: %v", err)
	}
}
