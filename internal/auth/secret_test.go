package auth

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, prefix, hash := newSecret()
		if len(secret) != SecretLen || SecretLen != 65 {
			t.Fatalf("secret %q has %d bytes, want %d (65)", secret, len(secret), SecretLen)
		}
		got, ok := ParseSecret(secret)
		if !ok || got != prefix || len(prefix) != SecretPrefixLen || !strings.HasPrefix(secret, prefix+"_") {
			t.Fatalf("ParseSecret(%q) = %q, %v; newSecret's prefix %q", secret, got, ok, prefix)
		}
		if sum := sha256.Sum256([]byte(secret)); string(hash) != string(sum[:]) {
			t.Fatalf("hash of %q is not its SHA-256", secret)
		}
		if seen[prefix] {
			t.Fatalf("prefix %q twice in 100 secrets", prefix)
		}
		seen[prefix] = true
	}
}

func TestParseSecret(t *testing.T) {
	good, prefix, _ := newSecret()
	if got, ok := ParseSecret(good); !ok || got != prefix {
		t.Fatalf("ParseSecret(good) = %q, %v", got, ok)
	}
	for name, bad := range map[string]string{
		"Empty":           "",
		"PrefixOnly":      prefix,
		"OtherScheme":     "kinko_pk_" + good[len(SecretPrefix):],
		"NoSeparator":     good[:SecretPrefixLen] + "x" + good[SecretPrefixLen+1:],
		"Short":           good[:SecretLen-1],
		"Long":            good + "a",
		"NonBase62Prefix": good[:len(SecretPrefix)] + "-" + good[len(SecretPrefix)+1:],
		"NonBase62Secret": good[:SecretLen-1] + "=",
		"NUL":             good[:SecretLen-1] + "\x00",
		"Bearer":          "Bearer " + good[:SecretLen-7],
		"Spaces":          " " + good[1:],
	} {
		t.Run(name, func(t *testing.T) {
			if got, ok := ParseSecret(bad); ok {
				t.Errorf("ParseSecret(%q) = %q, true; want false", bad, got)
			}
		})
	}
}

func TestRandomBase62(t *testing.T) {
	// Every character appears, and nothing else: a coarse check of the
	// rejection sampling, with a chance of a false failure below 1e-20.
	s := randomBase62(62 * 100)
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	if len(counts) != 62 || !isBase62(s) || len(s) != 6200 {
		t.Fatalf("randomBase62 used %d distinct characters in %d bytes, want all 62", len(counts), len(s))
	}
}

func TestIDs(t *testing.T) {
	org, key := newOrgID(), newKeyID()
	if !validOrgID(org) || !validID(key, KeyIDPrefix) || len(org) != 24 || len(key) != 24 {
		t.Fatalf("generated ids %q %q do not validate", org, key)
	}
	for _, bad := range []string{"", "org_", "key_" + org[4:], org + "x", org[:23] + "-", "org_operatorx"} {
		if validOrgID(bad) {
			t.Errorf("validOrgID(%q) = true", bad)
		}
	}
	if !validOrgID(OperatorOrgID) {
		t.Error("the operator's id does not validate")
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name     string
		value    string
		minBytes int
		ok       bool
	}{
		{"OK", "Acme 株式会社", 1, true},
		{"EmptyAllowed", "", 0, true},
		{"ErrEmpty", "", 1, false},
		{"MaxBytes", strings.Repeat("a", NameBytesMax), 1, true},
		{"ErrTooLong", strings.Repeat("a", NameBytesMax+1), 0, false},
		{"ErrNotUTF8", "a\xffb", 0, false},
		{"ErrNewline", "a\nb", 0, false},
		{"ErrNUL", "a\x00b", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkName("name", tc.value, tc.minBytes)
			if tc.ok != (err == nil) {
				t.Fatalf("checkName(%q) = %v, want ok %v", tc.value, err, tc.ok)
			}
			if err != nil {
				var ae *apperr.Error
				if !errors.As(err, &ae) || ae.Code != apperr.CodeInvalid || ae.Param != "name" {
					t.Errorf("checkName(%q) = %v, want invalid with param name", tc.value, err)
				}
			}
		})
	}
}

func TestCheckScopes(t *testing.T) {
	got, err := checkScopes("org_x", []Scope{"accounts:read", "transfers:write", "accounts:read"})
	if err != nil || len(got) != 2 || got[0] != "accounts:read" || got[1] != "transfers:write" {
		t.Fatalf("checkScopes = %v, %v", got, err)
	}
	if got, err := checkScopes(OperatorOrgID, []Scope{ScopeAdmin}); err != nil || len(got) != 1 {
		t.Errorf("admin for the operator: %v, %v", got, err)
	}
	for name, scopes := range map[string][]Scope{
		"ErrNone":               nil,
		"ErrUnknown":            {"accounts:delete"},
		"ErrAdminForAnotherOrg": {"accounts:read", ScopeAdmin},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := checkScopes("org_x", scopes); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("checkScopes(%v) = %v, want invalid", scopes, err)
			}
		})
	}
}
