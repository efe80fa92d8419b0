package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.UserStore = (*DB)(nil)

const (
	userCols           = "id, email, locale, email_verified_at, created_at, disabled_at"
	sqlUserInsert      = "INSERT INTO users (id, email, locale, email_verified_at, created_at, password_hash) VALUES ($1, $2, $3, $4, $5, $6)"
	sqlUserByEmail     = "SELECT " + userCols + ", password_hash FROM users WHERE email = $1"
	sqlUserByID        = "SELECT " + userCols + " FROM users WHERE id = $1"
	sqlUserSetLocale   = "UPDATE users SET locale = $1 WHERE id = $2"
	sqlUserDisable     = "UPDATE users SET disabled_at = coalesce(disabled_at, $1) WHERE id = $2"
	sqlVerificationAdd = "INSERT INTO email_verifications (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)"
	// The update applies only when the stored token is old enough; under
	// concurrent resends the later upsert re-checks the condition on the
	// row the earlier one committed.
	sqlVerificationReplace = sqlVerificationAdd + ` ON CONFLICT (user_id) DO UPDATE
		SET token_hash = excluded.token_hash, created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE email_verifications.created_at <= $5`
	// One statement: of two calls with one token, the second finds no row
	// to delete and so updates nothing.
	sqlVerificationConsume = `WITH v AS (
			DELETE FROM email_verifications WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id)
		UPDATE users SET email_verified_at = coalesce(users.email_verified_at, $2), password_hash = coalesce($3::text, users.password_hash)
		FROM v WHERE users.id = v.user_id
		RETURNING users.id, users.email, users.locale, users.email_verified_at, users.created_at, users.disabled_at`
	sqlVerificationPurge = `DELETE FROM email_verifications WHERE user_id IN (
		SELECT user_id FROM email_verifications WHERE expires_at <= $1 LIMIT $2)`
)

// UserInsert implements auth.UserStore: the user (enabled: u.Disabled is
// not stored) and their first verification token in one transaction.
// Errors: conflict (param "email").
func (db *DB) UserInsert(ctx context.Context, p auth.UserInsertParams) error {
	u, v := p.User, p.Verification
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlUserInsert, u.ID, u.Email, string(u.Locale), nullTime(u.EmailVerifiedAt), u.CreatedAt, p.PasswordHash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sqlVerificationAdd, u.ID, v.TokenHash, v.CreatedAt, v.ExpiresAt)
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

func scanUser(r pgx.Row, extra ...any) (auth.User, error) {
	var u auth.User
	var locale string
	var verified, disabled pgtype.Timestamptz
	if err := r.Scan(append([]any{&u.ID, &u.Email, &locale, &verified, &u.CreatedAt, &disabled}, extra...)...); err != nil {
		return auth.User{}, err
	}
	u.Locale, u.EmailVerifiedAt, u.CreatedAt, u.Disabled = auth.Locale(locale), fromNullTime(verified), u.CreatedAt.UTC(), disabled.Valid
	return u, nil
}

// UserByEmail implements auth.UserStore. Errors: not_found.
func (db *DB) UserByEmail(ctx context.Context, email string) (auth.User, string, error) {
	var hash string
	u, err := scanUser(db.pool.QueryRow(ctx, sqlUserByEmail, email), &hash)
	if err != nil {
		return auth.User{}, "", notFound(err, "user")
	}
	return u, hash, nil
}

// UserByID implements auth.UserStore. Errors: not_found.
func (db *DB) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, sqlUserByID, id))
	if err != nil {
		return auth.User{}, notFound(err, "user")
	}
	return u, nil
}

// UserSetLocale implements auth.UserStore. Errors: not_found.
func (db *DB) UserSetLocale(ctx context.Context, p auth.UserSetLocaleParams) error {
	return db.userExec(ctx, "set user locale", sqlUserSetLocale, string(p.Locale), p.ID)
}

// UserDisable implements auth.UserStore. Errors: not_found.
func (db *DB) UserDisable(ctx context.Context, p auth.UserDisableParams) error {
	return db.userExec(ctx, "disable user", sqlUserDisable, p.At, p.ID)
}

func (db *DB) userExec(ctx context.Context, op, q string, args ...any) error {
	tag, err := db.pool.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFound("user")
	}
	return nil
}

// EmailVerificationReplace implements auth.UserStore. Errors: too_soon, not_found.
func (db *DB) EmailVerificationReplace(ctx context.Context, p auth.EmailVerificationParams) error {
	tag, err := db.pool.Exec(ctx, sqlVerificationReplace, p.UserID, p.TokenHash, p.CreatedAt, p.ExpiresAt, p.NotAfter)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == codeForeignKeyViolation:
		return apperr.NotFound("user")
	case err != nil:
		return authError(err, "replace email verification")
	case tag.RowsAffected() == 0:
		return apperr.New(auth.CodeTooSoon, "a verification link was sent less than %s ago", auth.VerificationResendIntervalMin)
	}
	return nil
}

// EmailVerificationConsume implements auth.UserStore. Errors: not_found.
func (db *DB) EmailVerificationConsume(ctx context.Context, p auth.EmailVerificationConsumeParams) (auth.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, sqlVerificationConsume, p.TokenHash, p.At, newPasswordHash(p)))
	if err != nil {
		return auth.User{}, notFound(err, "verification token")
	}
	return u, nil
}

// EmailVerificationLive implements auth.UserStore.
func (db *DB) EmailVerificationLive(ctx context.Context, tokenHash []byte, at time.Time) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM email_verifications WHERE token_hash = $1 AND expires_at > $2)", tokenHash, at).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: look up email verification: %w", err)
	}
	return ok, nil
}

// EmailVerificationPurge implements auth.UserStore.
func (db *DB) EmailVerificationPurge(ctx context.Context, p auth.PurgeParams) (int, error) {
	tag, err := db.pool.Exec(ctx, sqlVerificationPurge, p.Before, p.Limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge email verifications: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// newPasswordHash is the password hash a verification sets, or nil for none.
func newPasswordHash(p auth.EmailVerificationConsumeParams) any {
	if p.PasswordHash == "" {
		return nil
	}
	return p.PasswordHash
}
