package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.StaffStore = (*DB)(nil)

const (
	staffCols          = "id, email, name, role, created_at, disabled_at"
	sqlStaffInsert     = "INSERT INTO staff_users (" + staffCols + ", password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	sqlStaffByEmail    = "SELECT " + staffCols + ", password_hash FROM staff_users WHERE email = $1"
	sqlStaffByID       = "SELECT " + staffCols + " FROM staff_users WHERE id = $1"
	sqlStaffList       = "SELECT " + staffCols + " FROM staff_users WHERE id > $1 ORDER BY id LIMIT $2"
	sqlStaffSetRole    = "UPDATE staff_users SET role = $1 WHERE id = $2"
	sqlStaffDisable    = "UPDATE staff_users SET disabled_at = coalesce(disabled_at, $1) WHERE id = $2"
	sqlStaffSetPasword = "UPDATE staff_users SET password_hash = $1 WHERE id = $2"
)

// StaffUserInsert implements auth.StaffStore. Errors: conflict (param "email").
func (db *DB) StaffUserInsert(ctx context.Context, u auth.StaffUser, passwordHash string) error {
	_, err := db.pool.Exec(ctx, sqlStaffInsert, u.ID, u.Email, u.Name, string(u.Role), u.CreatedAt, nullTime(u.DisabledAt), passwordHash)
	if err != nil {
		if err := authError(err, "insert staff user"); apperr.Is(err, apperr.CodeConflict) {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "email", Message: "a staff user has this email", Err: err}
		}
		return authError(err, "insert staff user")
	}
	return nil
}

func scanStaff(r pgx.Row, extra ...any) (auth.StaffUser, error) {
	var u auth.StaffUser
	var role string
	var disabled pgtype.Timestamptz
	if err := r.Scan(append([]any{&u.ID, &u.Email, &u.Name, &role, &u.CreatedAt, &disabled}, extra...)...); err != nil {
		return auth.StaffUser{}, err
	}
	u.Role, u.CreatedAt, u.DisabledAt = auth.Role(role), u.CreatedAt.UTC(), fromNullTime(disabled)
	return u, nil
}

// StaffUserByEmail implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserByEmail(ctx context.Context, email string) (auth.StaffUser, string, error) {
	var hash string
	u, err := scanStaff(db.pool.QueryRow(ctx, sqlStaffByEmail, email), &hash)
	if err != nil {
		return auth.StaffUser{}, "", notFound(err, "staff user")
	}
	return u, hash, nil
}

// StaffUserByID implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserByID(ctx context.Context, id string) (auth.StaffUser, error) {
	u, err := scanStaff(db.pool.QueryRow(ctx, sqlStaffByID, id))
	if err != nil {
		return auth.StaffUser{}, notFound(err, "staff user")
	}
	return u, nil
}

// StaffUserList implements auth.StaffStore.
func (db *DB) StaffUserList(ctx context.Context, afterID string, limit int) ([]auth.StaffUser, error) {
	rows, err := db.pool.Query(ctx, sqlStaffList, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list staff users: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (auth.StaffUser, error) { return scanStaff(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list staff users: %w", err)
	}
	return out, nil
}

// StaffUserSetRole implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserSetRole(ctx context.Context, id string, role auth.Role) error {
	return db.staffExec(ctx, "set staff role", sqlStaffSetRole, string(role), id)
}

// StaffUserDisable implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserDisable(ctx context.Context, id string, at time.Time) error {
	return db.staffExec(ctx, "disable staff user", sqlStaffDisable, at, id)
}

// StaffUserSetPassword implements auth.StaffStore. Errors: not_found.
func (db *DB) StaffUserSetPassword(ctx context.Context, id, passwordHash string) error {
	return db.staffExec(ctx, "set staff password", sqlStaffSetPasword, passwordHash, id)
}

func (db *DB) staffExec(ctx context.Context, op, q string, args ...any) error {
	tag, err := db.pool.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFound("staff user")
	}
	return nil
}
