package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/store"
)

var _ auth.Store = (*DB)(nil)

const apiKeyCols = "id, org_id, name, prefix, scopes, created_at, revoked_at, last_used_at"

// writeTx runs fn in one write transaction on the write connection and
// commits it, retrying (store.Retry) when another process holds the file's
// write lock past the busy timeout.
func (db *DB) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return store.Retry(ctx, retryable, func() error {
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// writeExec runs one statement in a write transaction (writeTx) and
// returns how many rows it changed.
func (db *DB) writeExec(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// authError maps constraint violations to the codes auth.Store promises: a
// taken id or prefix is a conflict, a key for a missing organization is
// not_found.
func authError(err error, op string) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintPrimaryKey, sqlite3.ErrConstraintUnique:
			return &apperr.Error{Code: apperr.CodeConflict, Message: "the id exists", Err: err}
		case sqlite3.ErrConstraintForeignKey:
			return apperr.NotFound("organization")
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// OrganizationInsert implements auth.Store.
func (db *DB) OrganizationInsert(ctx context.Context, p auth.OrganizationInsertParams) error {
	o := p.Organization
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)",
			o.ID, o.Name, micros(o.CreatedAt)); err != nil {
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
	var created int64
	err := db.read.QueryRowContext(ctx, "SELECT id, name, created_at FROM organizations WHERE id = ?", id).
		Scan(&o.ID, &o.Name, &created)
	if err != nil {
		return auth.Organization{}, notFound(err, "organization")
	}
	o.CreatedAt = fromMicros(created)
	return o, nil
}

func insertAPIKey(ctx context.Context, tx *sql.Tx, p auth.APIKeyInsertParams) error {
	k := p.Key
	_, err := tx.ExecContext(ctx, "INSERT INTO api_keys ("+apiKeyCols+", secret_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.OrgID, k.Name, k.Prefix, joinScopes(k.Scopes), micros(k.CreatedAt),
		nullMicros(k.RevokedAt), nullMicros(k.LastUsedAt), p.SecretHash)
	return err
}

// APIKeyInsert implements auth.Store.
func (db *DB) APIKeyInsert(ctx context.Context, p auth.APIKeyInsertParams) error {
	if err := db.writeTx(ctx, func(tx *sql.Tx) error { return insertAPIKey(ctx, tx, p) }); err != nil {
		return authError(err, "insert API key")
	}
	return nil
}

// APIKeyByPrefix implements auth.Store. It reads from the read pool, so it
// never waits for the ledger's writes.
func (db *DB) APIKeyByPrefix(ctx context.Context, prefix string) (auth.APIKey, []byte, error) {
	var hash []byte
	k, err := scanAPIKey(db.read.QueryRowContext(ctx, "SELECT "+apiKeyCols+", secret_hash FROM api_keys WHERE prefix = ?", prefix), &hash)
	if err != nil {
		return auth.APIKey{}, nil, notFound(err, "API key")
	}
	return k, hash, nil
}

// APIKeyList implements auth.Store.
func (db *DB) APIKeyList(ctx context.Context, f auth.APIKeyFilter) ([]auth.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?",
		f.OrgID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list API keys: %w", err)
	}
	defer rows.Close()
	var out []auth.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list API keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list API keys: %w", err)
	}
	return out, nil
}

// APIKeyRevoke implements auth.Store.
func (db *DB) APIKeyRevoke(ctx context.Context, p auth.APIKeyRevokeParams) (auth.APIKey, error) {
	var k auth.APIKey
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) "+
			"WHERE id = ? AND org_id = ? RETURNING "+apiKeyCols, micros(p.At), p.KeyID, p.OrgID))
		return err
	})
	if err != nil {
		return auth.APIKey{}, notFound(err, "API key")
	}
	return k, nil
}

// APIKeyTouch implements auth.Store: one statement, which changes no row
// (and writes nothing) when the key's use is already recorded after p.Cutoff.
func (db *DB) APIKeyTouch(ctx context.Context, p auth.APIKeyTouchParams) error {
	err := store.Retry(ctx, retryable, func() error {
		_, err := db.write.ExecContext(ctx, "UPDATE api_keys SET last_used_at = ? "+
			"WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", micros(p.At), p.KeyID, micros(p.Cutoff))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record API key use: %w", err)
	}
	return nil
}

// scanAPIKey scans apiKeyCols, then into extra (the secret hash) when given.
func scanAPIKey(s scanner, extra ...any) (auth.APIKey, error) {
	var k auth.APIKey
	var scopes string
	var created int64
	var revoked, lastUsed sql.NullInt64
	err := s.Scan(append([]any{&k.ID, &k.OrgID, &k.Name, &k.Prefix, &scopes, &created, &revoked, &lastUsed}, extra...)...)
	if err != nil {
		return auth.APIKey{}, err
	}
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	k.LastUsedAt = fromNullMicros(lastUsed)
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
