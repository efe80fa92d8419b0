package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// OperatorOrgID is the operator's organization, which Bootstrap creates. Its
// id is fixed, so two nodes bootstrapping one empty store at once collide on
// the primary key and only one of them creates it.
const OperatorOrgID = "org_operator"

// Names Bootstrap gives what it creates.
const (
	OperatorOrgName  = "Operator"
	BootstrapKeyName = "bootstrap admin"
)

// LastUsedResolution is how precisely a key's last use is known: a key's
// last_used_at is written at most once per this interval, so that a busy key
// costs one write a minute, not one per request.
const LastUsedResolution = time.Minute

// Bounds of names and pages.
const (
	NameBytesMax    = 200  // organization names are 1..NameBytesMax bytes, key names 0..NameBytesMax
	KeyPageLimitMax = 1000 // FindKeys returns at most this many keys per call
)

// insertAttemptsMax bounds how often an insert is retried with fresh random
// ids after a conflict. With 119 random bits per id (71 per key prefix) a
// second attempt is already a curiosity.
const insertAttemptsMax = 3

// Config is a Service's dependencies besides its store.
type Config struct {
	// Clock reads the current time; nil means time.Now.
	Clock func() time.Time
	// TouchFailed, when set, is told when recording a key's last use failed.
	// Authenticate does not fail for that: the request was authenticated,
	// and only the last-used time is stale. Callers log it.
	TouchFailed func(keyID string, err error)
	// KeyCacheTTL, when positive, is how long Authenticate keeps a key it
	// read: a key revoked by another Service (`kinko keys revoke`, another
	// node) authenticates here for at most that long after, unless a
	// RevocationWatcher calls Forget sooner. Zero reads the key on every
	// request.
	KeyCacheTTL time.Duration
}

// Service creates organizations and keys and authenticates requests. It is
// safe for concurrent use.
type Service struct {
	store       Store
	clock       func() time.Time
	touchFailed func(keyID string, err error)
	keys        *keyCache // nil: no cache
}

// NewService returns a Service on s.
func NewService(s Store, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.TouchFailed == nil {
		cfg.TouchFailed = func(string, error) {}
	}
	return &Service{store: s, clock: cfg.Clock, touchFailed: cfg.TouchFailed, keys: newKeyCache(cfg.KeyCacheTTL)}
}

// now is one clock reading at the precision every store keeps.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// errUnauthenticated is the one answer to every secret that does not
// authenticate, whatever was wrong with it.
func errUnauthenticated() error {
	return &apperr.Error{Code: CodeUnauthenticated, Message: "missing, invalid or revoked API key"}
}

// CreateOrganization creates an organization with a fresh id.
//
// Errors: invalid (param "name": empty, longer than NameBytesMax bytes, not
// UTF-8 or holding control characters).
func (s *Service) CreateOrganization(ctx context.Context, name string) (Organization, error) {
	if err := checkName("name", name, 1); err != nil {
		return Organization{}, err
	}
	now := s.now()
	var err error
	for range insertAttemptsMax {
		org := Organization{ID: newOrgID(), Name: name, CreatedAt: now}
		err = s.store.OrganizationInsert(ctx, OrganizationInsertParams{Organization: org})
		if err == nil {
			return org, nil
		}
		if !apperr.Is(err, apperr.CodeConflict) {
			break
		}
	}
	return Organization{}, fmt.Errorf("auth: create organization: %w", err)
}

// FindOrganizationByID returns one organization.
//
// Errors: not_found.
func (s *Service) FindOrganizationByID(ctx context.Context, id string) (Organization, error) {
	if !validOrgID(id) {
		return Organization{}, apperr.NotFound("organization")
	}
	org, err := s.store.OrganizationByID(ctx, id)
	if err != nil {
		return Organization{}, fmt.Errorf("auth: find organization: %w", err)
	}
	return org, nil
}

// CreateKey creates a key for the organization orgID and returns it with its
// secret, which is not kept anywhere: the caller shows it once. A key for
// OperatorOrgID creates the operator's organization with it when it does
// not exist yet. Only the operator's keys may hold ScopeAdmin, which acts
// for every organization.
//
// Errors: not_found (the organization), invalid (param "name": longer than
// NameBytesMax bytes, not UTF-8 or holding control characters; param
// "scopes": none, an unknown one, or admin for another organization).
func (s *Service) CreateKey(ctx context.Context, orgID, name string, scopes []Scope) (APIKey, string, error) {
	if !validOrgID(orgID) {
		return APIKey{}, "", apperr.NotFound("organization")
	}
	if err := checkName("name", name, 0); err != nil {
		return APIKey{}, "", err
	}
	scopes, err := checkScopes(orgID, scopes)
	if err != nil {
		return APIKey{}, "", err
	}
	now := s.now()
	for range insertAttemptsMax {
		key, secret, p := newKey(orgID, name, scopes, now)
		err = s.store.APIKeyInsert(ctx, p)
		if apperr.Is(err, apperr.CodeNotFound) && orgID == OperatorOrgID {
			// A conflict here is another node creating the operator's
			// organization at the same time: the next attempt adds the key to it.
			err = s.store.OrganizationInsert(ctx, operatorOrg(now, p))
		}
		if err == nil {
			return key, secret, nil
		}
		if !apperr.Is(err, apperr.CodeConflict) {
			break
		}
	}
	return APIKey{}, "", fmt.Errorf("auth: create key: %w", err)
}

// newKey returns a fresh key with its secret and what the store keeps of it.
func newKey(orgID, name string, scopes []Scope, now time.Time) (APIKey, string, APIKeyInsertParams) {
	secret, prefix, hash := newSecret()
	key := APIKey{ID: newKeyID(), OrgID: orgID, Name: name, Prefix: prefix, Scopes: scopes, CreatedAt: now}
	return key, secret, APIKeyInsertParams{Key: key, SecretHash: hash}
}

func operatorOrg(now time.Time, keys ...APIKeyInsertParams) OrganizationInsertParams {
	return OrganizationInsertParams{
		Organization: Organization{ID: OperatorOrgID, Name: OperatorOrgName, CreatedAt: now},
		Keys:         keys,
	}
}

// Bootstrap makes sure the operator can act on a new store. On a store
// without the operator's organization it creates it with one admin key and
// returns that key's secret and created = true; the caller shows the secret
// once. Otherwise it changes nothing and returns created = false, also when
// another node created the organization at the same time (the fixed
// OperatorOrgID makes the slower insert conflict). An operator whose keys
// are all lost or revoked makes a new one with CreateKey (kinko keys create).
func (s *Service) Bootstrap(ctx context.Context) (secret string, created bool, err error) {
	_, err = s.store.OrganizationByID(ctx, OperatorOrgID)
	switch {
	case err == nil:
		return "", false, nil
	case !apperr.Is(err, apperr.CodeNotFound):
		return "", false, fmt.Errorf("auth: bootstrap: %w", err)
	}
	now := s.now()
	_, secret, p := newKey(OperatorOrgID, BootstrapKeyName, []Scope{ScopeAdmin}, now)
	err = s.store.OrganizationInsert(ctx, operatorOrg(now, p))
	switch {
	case err == nil:
		return secret, true, nil
	case apperr.Is(err, apperr.CodeConflict):
		return "", false, nil
	}
	return "", false, fmt.Errorf("auth: bootstrap: %w", err)
}

// Authenticate returns the principal a secret acts as. A malformed secret,
// an unknown or wrong one and a revoked key's all get the same error, which
// never says which it was. The hashes are compared in constant time; a
// prefix is not secret, so the time a lookup of an unknown one takes gives
// nothing away.
//
// It records the key's last use when the stored time is older than
// LastUsedResolution: one conditional write per key per resolution. A failure
// of that write goes to Config.TouchFailed and does not fail the call.
//
// Errors: unauthenticated.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	prefix, ok := ParseSecret(secret)
	if !ok {
		return Principal{}, errUnauthenticated()
	}
	key, hash, err := s.keyByPrefix(ctx, prefix)
	switch {
	case apperr.Is(err, apperr.CodeNotFound):
		return Principal{}, errUnauthenticated()
	case err != nil:
		return Principal{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(hashSecret(secret), hash) != 1 || !key.RevokedAt.IsZero() {
		return Principal{}, errUnauthenticated()
	}
	now := s.now()
	cutoff := now.Add(-LastUsedResolution)
	if key.LastUsedAt.IsZero() || !key.LastUsedAt.After(cutoff) {
		if err := s.store.APIKeyTouch(ctx, APIKeyTouchParams{KeyID: key.ID, At: now, Cutoff: cutoff}); err != nil {
			s.touchFailed(key.ID, fmt.Errorf("auth: record last use: %w", err))
		} else if s.keys != nil {
			s.keys.touched(prefix, now)
		}
	}
	return Principal{OrgID: key.OrgID, KeyID: key.ID, Scopes: key.Scopes}, nil
}

// keyByPrefix reads the key with prefix, from the cache when it holds it.
func (s *Service) keyByPrefix(ctx context.Context, prefix string) (APIKey, []byte, error) {
	if s.keys == nil {
		return s.store.APIKeyByPrefix(ctx, prefix)
	}
	now := s.clock()
	if key, hash, ok := s.keys.get(prefix, now); ok {
		return key, hash, nil
	}
	gen := s.keys.generation()
	key, hash, err := s.store.APIKeyByPrefix(ctx, prefix)
	if err == nil {
		s.keys.put(key, hash, now, gen)
	}
	return key, hash, err
}

// Forget drops the key with prefix from this Service's cache, or every key
// when prefix is "": a store that hears of revocations made elsewhere
// (RevocationWatcher) calls it, so they hold here at once rather than when
// the entry expires.
func (s *Service) Forget(prefix string) {
	if s.keys == nil {
		return
	}
	if prefix == "" {
		s.keys.clear()
		return
	}
	s.keys.drop(prefix)
}

// RevokeKey revokes the key keyID of the organization orgID and returns it.
// From then on its secret authenticates nothing. Revoking a revoked key
// changes nothing and succeeds.
//
// Errors: not_found (no such key in that organization; another
// organization's key is not found too).
func (s *Service) RevokeKey(ctx context.Context, orgID, keyID string) (APIKey, error) {
	if !validOrgID(orgID) || !validID(keyID, KeyIDPrefix) {
		return APIKey{}, apperr.NotFound("API key")
	}
	key, err := s.store.APIKeyRevoke(ctx, APIKeyRevokeParams{OrgID: orgID, KeyID: keyID, At: s.now()})
	if err != nil {
		return APIKey{}, fmt.Errorf("auth: revoke key: %w", err)
	}
	if s.keys != nil {
		s.keys.drop(key.Prefix)
	}
	return key, nil
}

// FindKeys returns up to limit keys of the organization orgID, revoked ones
// included, in id order, starting after the key id after ("" for the first
// page).
//
// Errors: not_found (the organization), invalid (param "limit": outside
// 1..KeyPageLimitMax; param "starting_after": not a key id).
func (s *Service) FindKeys(ctx context.Context, orgID, after string, limit int) ([]APIKey, error) {
	if limit < 1 || limit > KeyPageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be between 1 and %d", KeyPageLimitMax)
	}
	if _, err := s.FindOrganizationByID(ctx, orgID); err != nil {
		return nil, err
	}
	if after != "" && !validID(after, KeyIDPrefix) {
		return nil, apperr.Invalid("starting_after", "starting_after must be a key id")
	}
	keys, err := s.store.APIKeyList(ctx, APIKeyFilter{OrgID: orgID, AfterID: after, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("auth: find keys: %w", err)
	}
	return keys, nil
}

// checkName validates a name of minBytes..NameBytesMax bytes.
func checkName(param, name string, minBytes int) error {
	switch {
	case len(name) < minBytes || len(name) > NameBytesMax:
		return apperr.Invalid(param, "%s must be %d to %d bytes long", param, minBytes, NameBytesMax)
	case !utf8.ValidString(name):
		return apperr.Invalid(param, "%s must be UTF-8", param)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return apperr.Invalid(param, "%s must not contain control characters", param)
	}
	return nil
}

// checkScopes validates scopes for a key of orgID and returns them without
// repeats, in their first order.
func checkScopes(orgID string, scopes []Scope) ([]Scope, error) {
	var out []Scope
	for _, sc := range scopes {
		if err := sc.Validate(); err != nil {
			return nil, err
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, apperr.Invalid("scopes", "at least one scope is required")
	}
	if orgID != OperatorOrgID && slices.Contains(out, ScopeAdmin) {
		return nil, apperr.Invalid("scopes", "only the operator's keys may hold the admin scope")
	}
	return out, nil
}
