package postgres

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.SessionStore = (*DB)(nil)

const (
	sessionCols           = "id, kind, subject_id, csrf_token, created_at, idle_expires_at, expires_at"
	sqlSessionInsert      = "INSERT INTO web_sessions (" + sessionCols + ", token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	sqlSessionByTokenHash = "SELECT " + sessionCols + " FROM web_sessions WHERE token_hash = $1"
	// The condition makes concurrent touches of one session within a
	// resolution write once: the later UPDATE re-checks it after the first
	// commits.
	sqlSessionTouch  = "UPDATE web_sessions SET idle_expires_at = $1 WHERE id = $2 AND idle_expires_at <= $3"
	sqlSessionDelete = "DELETE FROM web_sessions WHERE id = $1"
	sqlSessionPurge  = `DELETE FROM web_sessions WHERE id IN (
		SELECT id FROM web_sessions WHERE idle_expires_at <= $1 LIMIT $2)`
)

// SessionInsert implements auth.SessionStore. Errors: conflict.
func (db *DB) SessionInsert(ctx context.Context, p auth.SessionInsertParams) error {
	s := p.Session
	if _, err := db.pool.Exec(ctx, sqlSessionInsert, s.ID, string(s.Kind), s.SubjectID, s.CSRFToken, s.CreatedAt, s.IdleExpiresAt, s.ExpiresAt, p.TokenHash); err != nil {
		return authError(err, "insert session")
	}
	return nil
}

// SessionByTokenHash implements auth.SessionStore. Errors: not_found.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (auth.Session, error) {
	var s auth.Session
	var kind string
	err := db.pool.QueryRow(ctx, sqlSessionByTokenHash, hash).Scan(&s.ID, &kind, &s.SubjectID, &s.CSRFToken, &s.CreatedAt, &s.IdleExpiresAt, &s.ExpiresAt)
	if err != nil {
		return auth.Session{}, notFound(err, "session")
	}
	s.Kind, s.CreatedAt, s.IdleExpiresAt, s.ExpiresAt = auth.SessionKind(kind), s.CreatedAt.UTC(), s.IdleExpiresAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// SessionTouch implements auth.SessionStore.
func (db *DB) SessionTouch(ctx context.Context, p auth.SessionTouchParams) error {
	if _, err := db.pool.Exec(ctx, sqlSessionTouch, p.IdleExpiresAt, p.ID, p.Cutoff); err != nil {
		return fmt.Errorf("postgres: touch session: %w", err)
	}
	return nil
}

// SessionDelete implements auth.SessionStore.
func (db *DB) SessionDelete(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, sqlSessionDelete, id); err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	return nil
}

// SessionPurge implements auth.SessionStore.
func (db *DB) SessionPurge(ctx context.Context, p auth.PurgeParams) (int, error) {
	tag, err := db.pool.Exec(ctx, sqlSessionPurge, p.Before, p.Limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
