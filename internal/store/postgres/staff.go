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
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.StaffStore = (*DB)(nil)

const (
	staffCols          = "id, email, name, role, created_at, disabled_at"
	sqlStaffInsert     = "INSERT INTO staff_users (" + staffCols + ", password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	sqlStaffByEmail    = "SELECT " + staffCols + ", password_hash FROM staff_users WHERE email = $1"
	sqlStaffByID       = "SELECT " + staffCols + " FROM staff_users WHERE id = $1"
	sqlStaffForUpdate  = sqlStaffByID + " FOR UPDATE"
	sqlStaffList       = "SELECT " + staffCols + " FROM staff_users WHERE id > $1 ORDER BY id LIMIT $2"
	sqlStaffSetRole    = "UPDATE staff_users SET role = $1 WHERE id = $2"
	sqlStaffDisable    = "UPDATE staff_users SET disabled_at = $1 WHERE id = $2"
	sqlStaffSetPasword = "UPDATE staff_users SET password_hash = $1 WHERE id = $2"
)

// errStaffEmailTaken is the conflict of a staff user whose email (or id) is
// taken. It wraps no PostgreSQL error: transact retries a unique violation,
// and a retry cannot free an email.
var errStaffEmailTaken = &apperr.Error{Code: apperr.CodeConflict, Param: "email", Message: "a staff user has this email"}

// StaffUserInsert implements auth.StaffStore: the insert and record in one
// transaction (transact, whose txn is an audit.Tx). Two nodes inserting one
// email at once: the later waits for the earlier to commit, then fails.
// Errors: conflict (param "email"), or record's.
func (db *DB) StaffUserInsert(ctx context.Context, u auth.StaffUser, passwordHash string, record auth.AuditFunc) error {
	return db.transact(ctx, func(t *txn) error {
		t.queue(sqlStaffInsert, u.ID, u.Email, u.Name, string(u.Role), u.CreatedAt, nullTime(u.DisabledAt), passwordHash)
		// Sent now, so an error of record is never taken for the insert's.
		if err := t.send(ctx); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == codeUniqueViolation {
				return errStaffEmailTaken
			}
			return fmt.Errorf("postgres: insert staff user: %w", err)
		}
		return record(ctx, t)
	})
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

// StaffUserSetRole implements auth.StaffStore: the user is locked and read,
// updated and recorded in one transaction, so record is given the role this
// change replaced. Errors: not_found, or record's.
func (db *DB) StaffUserSetRole(ctx context.Context, id string, role auth.Role, record func(context.Context, audit.Tx, auth.Role) error) error {
	return db.staffChange(ctx, id, func(t *txn, u auth.StaffUser) error {
		if u.Role == role {
			return nil
		}
		t.queue(sqlStaffSetRole, string(role), id) // sent with record's first statement
		return record(ctx, t, u.Role)
	})
}

// StaffUserDisable implements auth.StaffStore. Errors: not_found, or record's.
func (db *DB) StaffUserDisable(ctx context.Context, id string, at time.Time, record auth.AuditFunc) error {
	return db.staffChange(ctx, id, func(t *txn, u auth.StaffUser) error {
		if !u.DisabledAt.IsZero() {
			return nil // disabling twice keeps the first time
		}
		t.queue(sqlStaffDisable, at, id)
		return record(ctx, t)
	})
}

// StaffUserSetPassword implements auth.StaffStore. Errors: not_found, or
// record's.
func (db *DB) StaffUserSetPassword(ctx context.Context, id, passwordHash string, record auth.AuditFunc) error {
	return db.staffChange(ctx, id, func(t *txn, _ auth.StaffUser) error {
		t.queue(sqlStaffSetPasword, passwordHash, id)
		t.queue("DELETE FROM web_sessions WHERE subject_id = $1", id)
		return record(ctx, t)
	})
}

// staffChange runs change on the staff user id, locked (FOR UPDATE) and read
// in change's own transaction, so no other writer on any node changes the
// user between the read and the commit. Errors: not_found, or change's.
func (db *DB) staffChange(ctx context.Context, id string, change func(*txn, auth.StaffUser) error) error {
	return db.transact(ctx, func(t *txn) error {
		var u auth.StaffUser
		t.batch().Queue(sqlStaffForUpdate, id).QueryRow(func(r pgx.Row) error {
			var err error
			u, err = scanStaff(r)
			return err
		})
		if err := t.send(ctx); err != nil {
			return notFound(err, "staff user")
		}
		return change(t, u)
	})
}
