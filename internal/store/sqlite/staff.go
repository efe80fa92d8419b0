package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.StaffStore = (*DB)(nil)

const staffCols = "id, email, name, role, created_at, disabled_at"

// StaffUserInsert implements auth.StaffStore. Errors: conflict (param "email").
func (db *DB) StaffUserInsert(ctx context.Context, u auth.StaffUser, passwordHash string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO staff_users ("+staffCols+", password_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
			u.ID, u.Email, u.Name, string(u.Role), micros(u.CreatedAt), nullMicros(u.DisabledAt), passwordHash)
		return err
	})
	if err != nil {
		if err := authError(err, "insert staff user"); apperr.Is(err, apperr.CodeConflict) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "email", Message: "a staff user has this email", Err: err}
		}
		return authError(err, "insert staff user")
	}
	return nil
}

func scanStaff(s scanner, extra ...any) (auth.StaffUser, error) {
	var u auth.StaffUser
	var role string
	var created int64
	var disabled sql.NullInt64
	err := s.Scan(append([]any{&u.ID, &u.Email, &u.Name, &role, &created, &disabled}, extra...)...)
	u.Role, u.CreatedAt, u.DisabledAt = auth.Role(role), fromMicros(created), fromNullMicros(disabled)
	return u, err
}

// StaffUserByEmail implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserByEmail(ctx context.Context, email string) (auth.StaffUser, string, error) {
	var hash string
	u, err := scanStaff(db.read.QueryRowContext(ctx, "SELECT "+staffCols+", password_hash FROM staff_users WHERE email = ?", email), &hash)
	if err != nil {
		return auth.StaffUser{}, "", notFound(err, "staff user")
	}
	return u, hash, nil
}

// StaffUserByID implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserByID(ctx context.Context, id string) (auth.StaffUser, error) {
	u, err := scanStaff(db.read.QueryRowContext(ctx, "SELECT "+staffCols+" FROM staff_users WHERE id = ?", id))
	if err != nil {
		return auth.StaffUser{}, notFound(err, "staff user")
	}
	return u, nil
}

// StaffUserList implements auth.StaffStore.
func (db *DB) StaffUserList(ctx context.Context, afterID string, limit int) ([]auth.StaffUser, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+staffCols+" FROM staff_users WHERE id > ? ORDER BY id LIMIT ?", afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list staff users: %w", err)
	}
	return collect(rows, func(s scanner) (auth.StaffUser, error) { return scanStaff(s) }, "sqlite: scan staff user")
}

// StaffUserSetRole implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserSetRole(ctx context.Context, id string, role auth.Role) error {
	return db.staffExec(ctx, "set staff role", "UPDATE staff_users SET role = ? WHERE id = ?", string(role), id)
}

// StaffUserDisable implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserDisable(ctx context.Context, id string, at time.Time) error {
	return db.staffExec(ctx, "disable staff user", "UPDATE staff_users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?", micros(at), id)
}

// StaffUserSetPassword implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserSetPassword(ctx context.Context, id, passwordHash string) error {
	return db.staffExec(ctx, "set staff password", "UPDATE staff_users SET password_hash = ? WHERE id = ?", passwordHash, id)
}

func (db *DB) staffExec(ctx context.Context, op, q string, args ...any) error {
	n, err := db.writeExec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return apperr.NotFound("staff user")
	}
	return nil
}
