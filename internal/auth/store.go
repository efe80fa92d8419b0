package auth

import (
	"context"
	"time"
)

// Store is what auth needs of a database. Adapters in internal/store
// implement it; store/storetest checks that they all behave alike.
//
// Lookups of a single row return an error with apperr code not_found when the
// row does not exist; inserts of an id (or key prefix) that exists return
// one with code conflict and change nothing.
type Store interface {
	// OrganizationInsert inserts an organization and, in the same
	// transaction, the keys it starts with (none is fine), so that an
	// organization created for a key never exists without it.
	//
	// Errors: conflict (the organization's id, or a key's id or prefix,
	// exists).
	OrganizationInsert(ctx context.Context, p OrganizationInsertParams) error
	// OrganizationByID returns one organization.
	//
	// Errors: not_found.
	OrganizationByID(ctx context.Context, id string) (Organization, error)

	// APIKeyInsert inserts a key with the hash of its secret.
	//
	// Errors: not_found (the key's organization does not exist), conflict
	// (the key's id or prefix exists).
	APIKeyInsert(ctx context.Context, p APIKeyInsertParams) error
	// APIKeyByPrefix returns the key whose prefix is prefix, revoked or not,
	// and the SHA-256 hash of its secret. It is the one lookup on every
	// authenticated request: a unique-index probe.
	//
	// Errors: not_found.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, []byte, error)
	// APIKeyList returns up to f.Limit keys of f.OrgID, revoked ones
	// included, with ids greater than f.AfterID, in id order.
	APIKeyList(ctx context.Context, f APIKeyFilter) ([]APIKey, error)
	// APIKeyRevoke sets a key's revoked_at to p.At unless it is already set,
	// and returns the key as stored afterwards. Revoking twice keeps the
	// first time.
	//
	// Errors: not_found (no key p.KeyID belongs to p.OrgID).
	APIKeyRevoke(ctx context.Context, p APIKeyRevokeParams) (APIKey, error)
	// APIKeyTouch sets a key's last_used_at to p.At when it is unset or at
	// or before p.Cutoff, and does nothing otherwise (nor for an unknown
	// key): concurrent touches of one key within a resolution write once.
	APIKeyTouch(ctx context.Context, p APIKeyTouchParams) error
}

// OrganizationInsertParams is an organization and the keys it starts with.
type OrganizationInsertParams struct {
	Organization Organization
	Keys         []APIKeyInsertParams // each with OrgID set to Organization.ID
}

// APIKeyInsertParams is a new key and the SHA-256 hash of its secret.
type APIKeyInsertParams struct {
	Key        APIKey
	SecretHash []byte
}

// APIKeyFilter selects one page of an organization's keys.
type APIKeyFilter struct {
	OrgID   string
	AfterID string // "" starts at the first key
	Limit   int
}

// APIKeyRevokeParams names a key by its organization and id.
type APIKeyRevokeParams struct {
	OrgID string
	KeyID string
	At    time.Time
}

// APIKeyTouchParams records a key's use at At unless it was recorded after Cutoff.
type APIKeyTouchParams struct {
	KeyID  string
	At     time.Time
	Cutoff time.Time
}

// RevocationWatcher is a store that can tell every node of revoked keys as
// their revocations commit (PostgreSQL, with LISTEN/NOTIFY). A node with a
// key cache runs WatchKeyRevocations, passing Service.Forget.
type RevocationWatcher interface {
	// WatchKeyRevocations calls forget with the prefix of each key revoked
	// from now on, by any node, and with "" whenever it may have missed
	// some (each time it starts listening, after a lost connection too),
	// until ctx ends. It tells failed of each failure to listen and tries
	// again a second later.
	WatchKeyRevocations(ctx context.Context, forget func(prefix string), failed func(error))
}
