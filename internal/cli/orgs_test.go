package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// TestOrgsMembersCommands drives kinko orgs members as an operator would:
// add a verified portal user, add them again (nothing changes), the
// refusals, list, remove twice, and the audit entries of the two changes.
func TestOrgsMembersCommands(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	r := runCLI(t, nil, "orgs", "create", "--db", db, "--name", "Provider")
	org := strings.TrimSpace(r.stdout)
	if r.code != exitOK || !strings.HasPrefix(org, auth.OrgIDPrefix) {
		t.Fatalf("orgs create: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewUserService(st, nil)
	_, token, err := users.SignUp(ctx, auth.SignUpParams{Email: "member@example.com", Password: userPassword, Locale: auth.LocaleJa})
	if err == nil {
		_, err = users.VerifyEmail(ctx, token, userPassword)
	}
	if err == nil {
		_, _, err = users.SignUp(ctx, auth.SignUpParams{Email: "unverified@example.com", Password: userPassword, Locale: auth.LocaleJa})
	}
	if cerr := st.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}

	add := func(email string) runResult {
		return runCLI(t, nil, "orgs", "members", "add", "--db", db, "--org", org, "--email", email)
	}
	if r := add("Member@Example.com"); r.code != exitOK || !strings.Contains(r.stderr, "added member@example.com") {
		t.Fatalf("add: exit %d: %s", r.code, r.stderr)
	}
	if r := add("member@example.com"); r.code != exitOK || !strings.Contains(r.stderr, "already a member") {
		t.Fatalf("add again: exit %d: %s", r.code, r.stderr)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"orgs", "members", "add", "--db", db, "--org", org, "--email", "nobody@example.com"}, exitFailure, "not found"},
		{[]string{"orgs", "members", "add", "--db", db, "--org", org, "--email", "unverified@example.com"}, exitFailure, "not confirmed"},
		{[]string{"orgs", "members", "add", "--db", db, "--org", "org_00000000000000000000", "--email", "member@example.com"}, exitFailure, "organization"},
		{[]string{"orgs", "members", "add", "--db", db, "--org", org}, exitUsage, "--email are required"},
		{[]string{"orgs", "members", "list", "--db", db}, exitUsage, "--org is required"},
		{[]string{"orgs", "members", "promote", "--db", db}, exitUsage, "unknown command \"promote\" for kinko orgs members"},
	} {
		if r := runCLI(t, nil, c.args...); r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d saying %q", c.args[2:], r.code, r.stderr, c.code, c.want)
		}
	}

	r = runCLI(t, nil, "orgs", "members", "list", "--db", db, "--org", org)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[1], auth.UserIDPrefix) || !strings.Contains(lines[1], "member@example.com") {
		t.Fatalf("list: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	userID, _, _ := strings.Cut(lines[1], " ")

	rm := func() runResult {
		return runCLI(t, nil, "orgs", "members", "remove", "--db", db, "--org", org, "--email", "member@example.com")
	}
	if r := rm(); r.code != exitOK || !strings.Contains(r.stderr, "removed member@example.com") {
		t.Fatalf("remove: exit %d: %s", r.code, r.stderr)
	}
	if r := rm(); r.code != exitOK || !strings.Contains(r.stderr, "not a member") {
		t.Fatalf("remove again: exit %d: %s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "orgs", "members", "list", "--db", db, "--org", org); strings.Contains(r.stdout, "member@example.com") {
		t.Fatalf("list after remove:\n%s", r.stdout)
	}

	// One entry per change, none for the repeats, newest first.
	entries := auditJSON(t, nil, "--db", db, "--org", org)
	if len(entries) != 2 || entries[0].Action != auth.AuditMemberRemoved || entries[1].Action != auth.AuditMemberAdded {
		t.Fatalf("audit entries of the organization: %+v", entries)
	}
	for _, x := range entries {
		if x.Subject.Type != auth.MemberAuditSubject || x.Subject.ID != userID || x.Actor.ID != "cli" {
			t.Errorf("audit entry %+v: want subject user:%s by the CLI", x, userID)
		}
	}
}
