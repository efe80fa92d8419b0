package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var (
	_ auth.Store             = (*DB)(nil)
	_ auth.RevocationWatcher = (*DB)(nil)
)

const (
	apiKeyCols = "id, org_id, name, prefix, scopes, created_at, revoked_at, last_used_at"

	sqlOrganizationInsert = "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)"
	sqlOrganizationByID   = "SELECT id, name, created_at FROM organizations WHERE id = $1"
	sqlAPIKeyInsert       = "INSERT INTO api_keys (" + apiKeyCols + ", secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	sqlAPIKeyByPrefix     = "SELECT " + apiKeyCols + ", secret_hash FROM api_keys WHERE prefix = $1"
	sqlAPIKeyList         = "SELECT " + apiKeyCols + " FROM api_keys WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
	sqlAPIKeyRevoke       = "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 AND org_id = $3 RETURNING " + apiKeyCols
	// The condition makes concurrent touches of one key within a resolution
	// write once: the later UPDATE re-checks it after the first commits.
	sqlAPIKeyTouch = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)"
)

// codeForeignKeyViolation is the SQLSTATE of an insert whose referenced row
// does not exist.
const codeForeignKeyViolation = "23503"

// authError maps constraint violations to the codes auth.Store promises: a
// taken id or prefix is a conflict, a key for a missing organization is
// not_found.
func authError(err error, op string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return &apperr.Error{Code: apperr.CodeConflict, Message: "the id exists", Err: err}
		case codeForeignKeyViolation:
			return apperr.NotFound("organization")
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// OrganizationInsert implements auth.Store: the organization and its keys in
// one transaction. Two nodes inserting one id at once: the later waits for
// the earlier to commit, then fails with a unique violation (conflict).
func (db *DB) OrganizationInsert(ctx context.Context, p auth.OrganizationInsertParams) error {
	o := p.Organization
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlOrganizationInsert, o.ID, o.Name, o.CreatedAt); err != nil {
			return err
		}
		for _, k := range p.Keys {
			if err := insertAPIKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return authError(err, "insert organization")
	}
	return nil
}

// OrganizationByID implements auth.Store.
func (db *DB) OrganizationByID(ctx context.Context, id string) (auth.Organization, error) {
	var o auth.Organization
	if err := db.pool.QueryRow(ctx, sqlOrganizationByID, id).Scan(&o.ID, &o.Name, &o.CreatedAt); err != nil {
		return auth.Organization{}, notFound(err, "organization")
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertAPIKey(ctx context.Context, x execer, p auth.APIKeyInsertParams) error {
	k := p.Key
	_, err := x.Exec(ctx, sqlAPIKeyInsert, k.ID, k.OrgID, k.Name, k.Prefix, joinScopes(k.Scopes), k.CreatedAt,
		nullTime(k.RevokedAt), nullTime(k.LastUsedAt), p.SecretHash)
	return err
}

// APIKeyInsert implements auth.Store.
func (db *DB) APIKeyInsert(ctx context.Context, p auth.APIKeyInsertParams) error {
	if err := insertAPIKey(ctx, db.pool, p); err != nil {
		return authError(err, "insert API key")
	}
	return nil
}

// APIKeyByPrefix implements auth.Store.
func (db *DB) APIKeyByPrefix(ctx context.Context, prefix string) (auth.APIKey, []byte, error) {
	var hash []byte
	k, err := scanAPIKey(db.pool.QueryRow(ctx, sqlAPIKeyByPrefix, prefix), &hash)
	if err != nil {
		return auth.APIKey{}, nil, notFound(err, "API key")
	}
	return k, hash, nil
}

// APIKeyList implements auth.Store.
func (db *DB) APIKeyList(ctx context.Context, f auth.APIKeyFilter) ([]auth.APIKey, error) {
	rows, err := db.pool.Query(ctx, sqlAPIKeyList, f.OrgID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list API keys: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (auth.APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list API keys: %w", err)
	}
	return out, nil
}

// APIKeyRevoke implements auth.Store.
// The revocation notifies keyRevokedChannel with the key's prefix in its
// transaction, so every node's WatchKeyRevocations hears of it once it has
// committed.
func (db *DB) APIKeyRevoke(ctx context.Context, p auth.APIKeyRevokeParams) (auth.APIKey, error) {
	var k auth.APIKey
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if k, err = scanAPIKey(tx.QueryRow(ctx, sqlAPIKeyRevoke, p.At, p.KeyID, p.OrgID)); err != nil {
			return notFound(err, "API key")
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", keyRevokedChannel, k.Prefix); err != nil {
			return fmt.Errorf("postgres: notify the revocation of an API key: %w", err)
		}
		return nil
	})
	if err != nil {
		return auth.APIKey{}, err
	}
	return k, nil
}

// keyRevokedChannel is the LISTEN/NOTIFY channel of API key revocations;
// the payload is the key's prefix.
const keyRevokedChannel = "kinko_api_key_revoked"

// watchRetry is how long WatchKeyRevocations waits before listening again
// after a failure.
const watchRetry = time.Second

// WatchKeyRevocations implements auth.RevocationWatcher on a connection of
// its own, outside the pool.
func (db *DB) WatchKeyRevocations(ctx context.Context, forget func(prefix string), failed func(error)) {
	for ctx.Err() == nil {
		err := db.listenKeyRevocations(ctx, forget)
		if ctx.Err() != nil {
			return
		}
		failed(fmt.Errorf("postgres: listen for API key revocations: %w", err))
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
}

// listenKeyRevocations listens on one connection until it fails or ctx ends.
func (db *DB) listenKeyRevocations(ctx context.Context, forget func(prefix string)) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+keyRevokedChannel); err != nil {
		return err
	}
	// Whatever was revoked while no one listened is forgotten now.
	forget("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != "" {
			forget(n.Payload)
		}
	}
}

// APIKeyTouch implements auth.Store.
func (db *DB) APIKeyTouch(ctx context.Context, p auth.APIKeyTouchParams) error {
	if _, err := db.pool.Exec(ctx, sqlAPIKeyTouch, p.At, p.KeyID, p.Cutoff); err != nil {
		return fmt.Errorf("postgres: record API key use: %w", err)
	}
	return nil
}

// scanAPIKey scans apiKeyCols, then into extra (the secret hash) when given.
func scanAPIKey(r pgx.Row, extra ...any) (auth.APIKey, error) {
	var k auth.APIKey
	var scopes string
	var revoked, lastUsed pgtype.Timestamptz
	err := r.Scan(append([]any{&k.ID, &k.OrgID, &k.Name, &k.Prefix, &scopes, &k.CreatedAt, &revoked, &lastUsed}, extra...)...)
	if err != nil {
		return auth.APIKey{}, err
	}
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = fromNullTime(revoked)
	k.LastUsedAt = fromNullTime(lastUsed)
	return k, nil
}

func joinScopes(scopes []auth.Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func splitScopes(list string) []auth.Scope {
	var out []auth.Scope
	for _, s := range strings.Split(list, ",") {
		if s != "" {
			out = append(out, auth.Scope(s))
		}
	}
	return out
}
