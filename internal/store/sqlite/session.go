package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.SessionStore = (*DB)(nil)

const sessionCols = "id, kind, subject_id, csrf_token, created_at, idle_expires_at, expires_at"

// SessionInsert implements auth.SessionStore. Errors: conflict.
func (db *DB) SessionInsert(ctx context.Context, p auth.SessionInsertParams) error {
	s := p.Session
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO web_sessions ("+sessionCols+", token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			s.ID, string(s.Kind), s.SubjectID, s.CSRFToken, micros(s.CreatedAt), micros(s.IdleExpiresAt), micros(s.ExpiresAt), p.TokenHash)
		return err
	})
	if err != nil {
		return authError(err, "insert session")
	}
	return nil
}

// SessionByTokenHash implements auth.SessionStore. Errors: not_found.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (auth.Session, error) {
	var s auth.Session
	var kind string
	var created, idle, expires int64
	err := db.read.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM web_sessions WHERE token_hash = ?", hash).
		Scan(&s.ID, &kind, &s.SubjectID, &s.CSRFToken, &created, &idle, &expires)
	if err != nil {
		return auth.Session{}, notFound(err, "session")
	}
	s.Kind, s.CreatedAt, s.IdleExpiresAt, s.ExpiresAt = auth.SessionKind(kind), fromMicros(created), fromMicros(idle), fromMicros(expires)
	return s, nil
}

// SessionTouch implements auth.SessionStore.
func (db *DB) SessionTouch(ctx context.Context, p auth.SessionTouchParams) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE web_sessions SET idle_expires_at = ? WHERE id = ? AND idle_expires_at <= ?",
			micros(p.IdleExpiresAt), p.ID, micros(p.Cutoff))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch session: %w", err)
	}
	return nil
}

// SessionDelete implements auth.SessionStore.
func (db *DB) SessionDelete(ctx context.Context, id string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return nil
}

// SessionPurge implements auth.SessionStore.
func (db *DB) SessionPurge(ctx context.Context, p auth.PurgeParams) (int, error) {
	return db.purge(ctx, "purge sessions", `DELETE FROM web_sessions WHERE id IN (
		SELECT id FROM web_sessions WHERE idle_expires_at <= ? LIMIT ?)`, p)
}
