package auth

import (
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
)

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes(" accounts:read, transfers:write,accounts:read ")
	if err != nil || len(got) != 2 || got[0] != "accounts:read" || got[1] != "transfers:write" {
		t.Fatalf("ParseScopes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "accounts", "accounts:delete", "money:read", ","} {
		if _, err := ParseScopes(bad); !apperr.Is(err, apperr.CodeInvalid) {
			t.Errorf("ParseScopes(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestPrincipalCan(t *testing.T) {
	p := Principal{Scopes: []Scope{"accounts:read", "transfers:write"}}
	for _, tc := range []struct {
		family string
		write  bool
		want   bool
	}{
		{"accounts", false, true},
		{"accounts", true, false},
		{"transfers", false, true},
		{"transfers", true, true},
		{"webhooks", false, false},
	} {
		if got := p.Can(tc.family, tc.write); got != tc.want {
			t.Errorf("Can(%s, write=%v) = %v, want %v", tc.family, tc.write, got, tc.want)
		}
	}
	admin := Principal{Scopes: []Scope{ScopeAdmin}}
	if !admin.Can("keys", true) || !admin.IsAdmin() || p.IsAdmin() {
		t.Error("admin scope does not imply everything")
	}
	if err := p.Require("accounts", true); apperr.CodeOf(err) != CodeForbidden {
		t.Errorf("Require = %v, want forbidden", err)
	}
}
