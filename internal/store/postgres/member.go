package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.MemberStore = (*DB)(nil)

const (
	// sqlMemberSelect reads memberships with their organization's name and
	// their user's email.
	sqlMemberSelect = `SELECT m.org_id, o.name, m.user_id, u.email, m.created_at FROM org_members m
		JOIN organizations o ON o.id = m.org_id JOIN users u ON u.id = m.user_id`
	sqlMemberInsert  = "INSERT INTO org_members (org_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (org_id, user_id) DO NOTHING"
	sqlMemberDelete  = "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2"
	sqlMemberByID    = sqlMemberSelect + " WHERE m.org_id = $1 AND m.user_id = $2"
	sqlMemberList    = sqlMemberSelect + " WHERE m.org_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3"
	sqlMembershipsOf = sqlMemberSelect + " WHERE m.user_id = $1 ORDER BY m.org_id LIMIT $2"
)

func scanMember(r pgx.Row) (auth.Member, error) {
	var m auth.Member
	err := r.Scan(&m.OrgID, &m.OrgName, &m.UserID, &m.Email, &m.CreatedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	return m, err
}

// OrgMemberInsert implements auth.MemberStore: a membership that exists is
// left as it is (of two concurrent inserts, the later waits for the earlier
// and then inserts nothing); a new one is inserted and recorded in one
// transaction. Errors: not_found, or record's.
func (db *DB) OrgMemberInsert(ctx context.Context, p auth.OrgMemberInsertParams, record auth.AuditFunc) (bool, error) {
	return db.memberChange(ctx, record, func(err error) error {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == codeForeignKeyViolation {
			return apperr.NotFound("organization or user")
		}
		return fmt.Errorf("postgres: insert org member: %w", err)
	}, sqlMemberInsert, p.OrgID, p.UserID, p.CreatedAt)
}

// OrgMemberDelete implements auth.MemberStore: the delete and its record in
// one transaction. Errors: record's.
func (db *DB) OrgMemberDelete(ctx context.Context, p auth.OrgMemberDeleteParams, record auth.AuditFunc) (bool, error) {
	return db.memberChange(ctx, record, func(err error) error {
		return fmt.Errorf("postgres: delete org member: %w", err)
	}, sqlMemberDelete, p.OrgID, p.UserID)
}

// memberChange runs q, a statement on one membership, in a transaction, and
// calls record in it when q changed the row; it reports whether q did. An
// error of q is returned through qErr, one of record as it is.
func (db *DB) memberChange(ctx context.Context, record auth.AuditFunc, qErr func(error) error, q string, args ...any) (bool, error) {
	var changed bool
	err := db.transact(ctx, func(t *txn) error {
		changed = false // a retry starts again
		t.batch().Queue(q, args...).Exec(func(tag pgconn.CommandTag) error {
			changed = tag.RowsAffected() == 1
			return nil
		})
		// Sent now: whether record runs depends on the rows q changed.
		if err := t.send(ctx); err != nil {
			return qErr(err)
		}
		if !changed {
			return nil
		}
		return record(ctx, t)
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// OrgMemberByID implements auth.MemberStore. Errors: not_found.
func (db *DB) OrgMemberByID(ctx context.Context, orgID, userID string) (auth.Member, error) {
	m, err := scanMember(db.pool.QueryRow(ctx, sqlMemberByID, orgID, userID))
	if err != nil {
		return auth.Member{}, notFound(err, "membership")
	}
	return m, nil
}

// OrgMemberList implements auth.MemberStore.
func (db *DB) OrgMemberList(ctx context.Context, f auth.OrgMemberFilter) ([]auth.Member, error) {
	return db.members(ctx, "list org members", sqlMemberList, f.OrgID, f.AfterUserID, f.Limit)
}

// OrgMembershipList implements auth.MemberStore.
func (db *DB) OrgMembershipList(ctx context.Context, userID string, limit int) ([]auth.Member, error) {
	return db.members(ctx, "list memberships", sqlMembershipsOf, userID, limit)
}

func (db *DB) members(ctx context.Context, op, q string, args ...any) ([]auth.Member, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	out, err := collect(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	return out, nil
}
