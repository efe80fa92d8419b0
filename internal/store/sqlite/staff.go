package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.StaffStore = (*DB)(nil)

const staffCols = "id, email, name, role, created_at, disabled_at"

// StaffUserInsert implements auth.StaffStore: the insert and record in one
// write transaction (transact, whose txn is an audit.Tx).
// Errors: conflict (param "email"), or record's.
func (db *DB) StaffUserInsert(ctx context.Context, u auth.StaffUser, passwordHash string, record auth.AuditFunc) error {
	return db.transact(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, "INSERT INTO staff_users ("+staffCols+", password_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
			u.ID, u.Email, u.Name, string(u.Role), micros(u.CreatedAt), nullMicros(u.DisabledAt), passwordHash)
		if err != nil {
			// Mapped here, so an error of record is never taken for the insert's.
			if err := authError(err, "insert staff user"); apperr.Is(err, apperr.CodeConflict) {
				return &apperr.Error{Code: apperr.CodeConflict, Param: "email", Message: "a staff user has this email", Err: err}
			}
			return authError(err, "insert staff user")
		}
		return record(ctx, t)
	})
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

// StaffUserSetRole implements auth.StaffStore: the user is read, updated
// and recorded in one write transaction. Errors: not_found, or record's.
func (db *DB) StaffUserSetRole(ctx context.Context, id string, role auth.Role, record func(context.Context, audit.Tx, auth.Role) error) error {
	return db.staffChange(ctx, id, func(t *txn, u auth.StaffUser) error {
		if u.Role == role {
			return nil
		}
		if _, err := t.tx.ExecContext(ctx, "UPDATE staff_users SET role = ? WHERE id = ?", string(role), id); err != nil {
			return fmt.Errorf("sqlite: set staff role: %w", err)
		}
		return record(ctx, t, u.Role)
	})
}

// StaffUserDisable implements auth.StaffStore. Errors: not_found, or record's.
func (db *DB) StaffUserDisable(ctx context.Context, id string, at time.Time, record auth.AuditFunc) error {
	return db.staffChange(ctx, id, func(t *txn, u auth.StaffUser) error {
		if !u.DisabledAt.IsZero() {
			return nil // disabling twice keeps the first time
		}
		if _, err := t.tx.ExecContext(ctx, "UPDATE staff_users SET disabled_at = ? WHERE id = ?", micros(at), id); err != nil {
			return fmt.Errorf("sqlite: disable staff user: %w", err)
		}
		return record(ctx, t)
	})
}

// StaffUserSetPassword implements auth.StaffStore. Errors: not_found, or
// record's.
func (db *DB) StaffUserSetPassword(ctx context.Context, id, passwordHash string, record auth.AuditFunc) error {
	return db.staffChange(ctx, id, func(t *txn, _ auth.StaffUser) error {
		if _, err := t.tx.ExecContext(ctx, "UPDATE staff_users SET password_hash = ? WHERE id = ?", passwordHash, id); err != nil {
			return fmt.Errorf("sqlite: set staff password: %w", err)
		}
		if _, err := t.tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE subject_id = ?", id); err != nil {
			return fmt.Errorf("sqlite: end the staff user's sessions: %w", err)
		}
		return record(ctx, t)
	})
}

// staffChange runs change on the staff user id as read in change's own write
// transaction, which began with BEGIN IMMEDIATE: no other writer changes the
// user between the read and the commit. Errors: not_found, or change's.
func (db *DB) staffChange(ctx context.Context, id string, change func(*txn, auth.StaffUser) error) error {
	return db.transact(ctx, func(t *txn) error {
		u, err := scanStaff(t.tx.QueryRowContext(ctx, "SELECT "+staffCols+" FROM staff_users WHERE id = ?", id))
		if err != nil {
			return notFound(err, "staff user")
		}
		return change(t, u)
	})
}
