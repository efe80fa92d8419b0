package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.MemberStore = (*DB)(nil)

// memberSelect reads memberships with their organization's name and their
// user's email.
const memberSelect = `SELECT m.org_id, o.name, m.user_id, u.email, m.created_at FROM org_members m
	JOIN organizations o ON o.id = m.org_id JOIN users u ON u.id = m.user_id`

func scanMember(s scanner) (auth.Member, error) {
	var m auth.Member
	var created int64
	err := s.Scan(&m.OrgID, &m.OrgName, &m.UserID, &m.Email, &created)
	m.CreatedAt = fromMicros(created)
	return m, err
}

// OrgMemberInsert implements auth.MemberStore: a membership that exists is
// left as it is; a new one is inserted and recorded in one write
// transaction. Errors: not_found, or record's.
func (db *DB) OrgMemberInsert(ctx context.Context, p auth.OrgMemberInsertParams, record auth.AuditFunc) (bool, error) {
	return db.memberChange(ctx, record, func(t *txn) (sql.Result, error) {
		res, err := t.tx.ExecContext(ctx, "INSERT INTO org_members (org_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT (org_id, user_id) DO NOTHING",
			p.OrgID, p.UserID, micros(p.CreatedAt))
		var se sqlite3.Error
		if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey {
			return nil, apperr.NotFound("organization or user")
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert org member: %w", err)
		}
		return res, nil
	})
}

// OrgMemberDelete implements auth.MemberStore: the delete and its record in
// one write transaction. Errors: record's.
func (db *DB) OrgMemberDelete(ctx context.Context, p auth.OrgMemberDeleteParams, record auth.AuditFunc) (bool, error) {
	return db.memberChange(ctx, record, func(t *txn) (sql.Result, error) {
		res, err := t.tx.ExecContext(ctx, "DELETE FROM org_members WHERE org_id = ? AND user_id = ?", p.OrgID, p.UserID)
		if err != nil {
			return nil, fmt.Errorf("sqlite: delete org member: %w", err)
		}
		return res, nil
	})
}

// memberChange runs change, one statement on one membership, in a write
// transaction, and calls record in it when the statement changed the row.
// It reports whether it did.
func (db *DB) memberChange(ctx context.Context, record auth.AuditFunc, change func(*txn) (sql.Result, error)) (bool, error) {
	var changed bool
	err := db.transact(ctx, func(t *txn) error {
		changed = false // a retry starts again
		res, err := change(t)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: org member: %w", err)
		}
		if n == 0 {
			return nil
		}
		changed = true
		return record(ctx, t)
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// OrgMemberByID implements auth.MemberStore. Errors: not_found.
func (db *DB) OrgMemberByID(ctx context.Context, orgID, userID string) (auth.Member, error) {
	m, err := scanMember(db.read.QueryRowContext(ctx, memberSelect+" WHERE m.org_id = ? AND m.user_id = ?", orgID, userID))
	if err != nil {
		return auth.Member{}, notFound(err, "membership")
	}
	return m, nil
}

// OrgMemberList implements auth.MemberStore.
func (db *DB) OrgMemberList(ctx context.Context, f auth.OrgMemberFilter) ([]auth.Member, error) {
	rows, err := db.read.QueryContext(ctx, memberSelect+" WHERE m.org_id = ? AND m.user_id > ? ORDER BY m.user_id LIMIT ?",
		f.OrgID, f.AfterUserID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list org members: %w", err)
	}
	return collect(rows, scanMember, "sqlite: scan org member")
}

// OrgMembershipList implements auth.MemberStore.
func (db *DB) OrgMembershipList(ctx context.Context, userID string, limit int) ([]auth.Member, error) {
	rows, err := db.read.QueryContext(ctx, memberSelect+" WHERE m.user_id = ? ORDER BY m.org_id LIMIT ?", userID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list memberships: %w", err)
	}
	return collect(rows, scanMember, "sqlite: scan membership")
}
