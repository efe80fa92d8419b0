// Package auth is who may act in Kinko: organizations, their API keys with
// scopes, and the principal a request acts as; the operator's staff users;
// portal users (end users) and the web sessions of both.
//
// A key's secret is shown once, at creation, and stored only as a SHA-256
// hash (secrets are 256-bit random strings, so a fast hash is safe; so are
// session and verification tokens); passwords, which are not, are stored as
// argon2id hashes. Staff and membership changes append their audit entries
// (internal/audit) in the transaction of the change (AuditFunc). This
// package never imports net/http or a SQL driver; store adapters implement
// Store, StaffStore, UserStore and SessionStore.
package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// CodeUnauthenticated is the error code for a missing, unknown or revoked key.
const CodeUnauthenticated = "unauthenticated"

// CodeForbidden is the error code for a key that lacks the scope it needs.
const CodeForbidden = apperr.CodeForbidden

// Scope is a permission: "<family>:read", "<family>:write" (which implies
// read), or ScopeAdmin, which implies every other scope and may act for any
// organization.
type Scope string

// ScopeAdmin is the operator's scope.
const ScopeAdmin Scope = "admin"

// Families are the resource families scopes name.
var Families = []string{"accounts", "transfers", "assets", "events", "webhooks", "keys", "escrow", "billing"}

// ParseScopes reads a comma-separated list such as "accounts:read,transfers:write".
//
// Errors: invalid (param "scopes").
func ParseScopes(list string) ([]Scope, error) {
	var out []Scope
	for _, raw := range strings.Split(list, ",") {
		s := Scope(strings.TrimSpace(raw))
		if s == "" {
			continue
		}
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, apperr.Invalid("scopes", "at least one scope is required")
	}
	return out, nil
}

// Validate reports whether s is a known scope.
func (s Scope) Validate() error {
	if s == ScopeAdmin {
		return nil
	}
	family, access, ok := strings.Cut(string(s), ":")
	if !ok || !slices.Contains(Families, family) || (access != "read" && access != "write") {
		return apperr.Invalid("scopes", "unknown scope %q: want admin or <family>:read|write with family one of %s", s, strings.Join(Families, ", "))
	}
	return nil
}

// Principal is who a request acts as: an organization, through one key.
type Principal struct {
	OrgID  string
	KeyID  string
	Scopes []Scope
}

// Can reports whether p may read (write false) or write the resource family.
func (p Principal) Can(family string, write bool) bool {
	for _, s := range p.Scopes {
		switch s {
		case ScopeAdmin, Scope(family + ":write"):
			return true
		case Scope(family + ":read"):
			if !write {
				return true
			}
		}
	}
	return false
}

// IsAdmin reports whether p holds the operator's scope.
func (p Principal) IsAdmin() bool { return slices.Contains(p.Scopes, ScopeAdmin) }

// Require returns a forbidden error unless p may act on family.
func (p Principal) Require(family string, write bool) error {
	if p.Can(family, write) {
		return nil
	}
	access := "read"
	if write {
		access = "write"
	}
	return &apperr.Error{Code: CodeForbidden, Message: fmt.Sprintf("this key lacks the %s:%s scope", family, access)}
}

// Organization is a tenant: a merchant, member site, card issuer or partner.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey is a key as stored; its secret is never kept.
type APIKey struct {
	ID         string
	OrgID      string
	Name       string
	Prefix     string // the secret's public start, shown in listings and logs
	Scopes     []Scope
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while active
	LastUsedAt time.Time // zero until first use; recorded at most once per LastUsedResolution
}
