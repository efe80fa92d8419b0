package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.UserStore = (*DB)(nil)

const userCols = "id, email, locale, email_verified_at, created_at, disabled_at"

// UserInsert implements auth.UserStore: the user (enabled: u.Disabled is
// not stored) and their first verification token in one transaction. Errors: conflict (param "email").
func (db *DB) UserInsert(ctx context.Context, p auth.UserInsertParams) error {
	u, v := p.User, p.Verification
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO users (id, email, locale, email_verified_at, created_at, password_hash) VALUES (?, ?, ?, ?, ?, ?)",
			u.ID, u.Email, string(u.Locale), nullMicros(u.EmailVerifiedAt), micros(u.CreatedAt), p.PasswordHash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO email_verifications (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
			u.ID, v.TokenHash, micros(v.CreatedAt), micros(v.ExpiresAt))
		return err
	})
	if err != nil {
		if err := authError(err, "insert user"); apperr.Is(err, apperr.CodeConflict) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "email", Message: "a user has this email", Err: err}
		}
		return authError(err, "insert user")
	}
	return nil
}

func scanUser(s scanner, extra ...any) (auth.User, error) {
	var u auth.User
	var locale string
	var verified, disabled sql.NullInt64
	var created int64
	err := s.Scan(append([]any{&u.ID, &u.Email, &locale, &verified, &created, &disabled}, extra...)...)
	u.Locale, u.EmailVerifiedAt, u.CreatedAt, u.Disabled = auth.Locale(locale), fromNullMicros(verified), fromMicros(created), disabled.Valid
	return u, err
}

// UserByEmail implements auth.UserStore. Errors: not_found.
func (db *DB) UserByEmail(ctx context.Context, email string) (auth.User, string, error) {
	var hash string
	u, err := scanUser(db.read.QueryRowContext(ctx, "SELECT "+userCols+", password_hash FROM users WHERE email = ?", email), &hash)
	if err != nil {
		return auth.User{}, "", notFound(err, "user")
	}
	return u, hash, nil
}

// UserByID implements auth.UserStore. Errors: not_found.
func (db *DB) UserByID(ctx context.Context, id string) (auth.User, error) {
	return userByID(ctx, db.read, id)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func userByID(ctx context.Context, q queryRower, id string) (auth.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return auth.User{}, notFound(err, "user")
	}
	return u, nil
}

// UserSetLocale implements auth.UserStore. Errors: not_found.
func (db *DB) UserSetLocale(ctx context.Context, p auth.UserSetLocaleParams) error {
	return db.userExec(ctx, "set user locale", "UPDATE users SET locale = ? WHERE id = ?", string(p.Locale), p.ID)
}

// UserDisable implements auth.UserStore. Errors: not_found.
func (db *DB) UserDisable(ctx context.Context, p auth.UserDisableParams) error {
	return db.userExec(ctx, "disable user", "UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?", micros(p.At), p.ID)
}

func (db *DB) userExec(ctx context.Context, op, q string, args ...any) error {
	n, err := db.writeExec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return apperr.NotFound("user")
	}
	return nil
}

// EmailVerificationReplace implements auth.UserStore: one upsert whose
// update applies only when the stored token is old enough.
// Errors: too_soon, not_found.
func (db *DB) EmailVerificationReplace(ctx context.Context, p auth.EmailVerificationParams) error {
	n, err := db.writeExec(ctx, `INSERT INTO email_verifications (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE email_verifications.created_at <= ?`,
		p.UserID, p.TokenHash, micros(p.CreatedAt), micros(p.ExpiresAt), micros(p.NotAfter))
	var se sqlite3.Error
	switch {
	case errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey:
		return apperr.NotFound("user")
	case err != nil:
		return authError(err, "replace email verification")
	case n == 0:
		return apperr.New(auth.CodeTooSoon, "a verification link was sent less than %s ago", auth.VerificationResendIntervalMin)
	}
	return nil
}

// EmailVerificationConsume implements auth.UserStore. Errors: not_found.
func (db *DB) EmailVerificationConsume(ctx context.Context, p auth.EmailVerificationConsumeParams) (auth.User, error) {
	var u auth.User
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var userID string
		err := tx.QueryRowContext(ctx, "DELETE FROM email_verifications WHERE token_hash = ? AND expires_at > ? RETURNING user_id",
			p.TokenHash, micros(p.At)).Scan(&userID)
		if err != nil {
			return notFound(err, "verification token")
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET email_verified_at = coalesce(email_verified_at, ?), password_hash = coalesce(?, password_hash) WHERE id = ?",
			micros(p.At), newPasswordHash(p), userID); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, userID)
		return err
	})
	if err != nil {
		if apperr.Is(err, apperr.CodeNotFound) {
			return auth.User{}, err
		}
		return auth.User{}, fmt.Errorf("sqlite: consume email verification: %w", err)
	}
	return u, nil
}

// EmailVerificationLive implements auth.UserStore.
func (db *DB) EmailVerificationLive(ctx context.Context, tokenHash []byte, at time.Time) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM email_verifications WHERE token_hash = ? AND expires_at > ?", tokenHash, micros(at)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: look up email verification: %w", err)
	}
	return n > 0, nil
}

// EmailVerificationPurge implements auth.UserStore.
func (db *DB) EmailVerificationPurge(ctx context.Context, p auth.PurgeParams) (int, error) {
	return db.purge(ctx, "purge email verifications", `DELETE FROM email_verifications WHERE user_id IN (
		SELECT user_id FROM email_verifications WHERE expires_at <= ? LIMIT ?)`, p)
}

func (db *DB) purge(ctx context.Context, op, q string, p auth.PurgeParams) (int, error) {
	n, err := db.writeExec(ctx, q, micros(p.Before), p.Limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return int(n), nil
}

// newPasswordHash is the password hash a verification sets, or nil for none.
func newPasswordHash(p auth.EmailVerificationConsumeParams) any {
	if p.PasswordHash == "" {
		return nil
	}
	return p.PasswordHash
}
